/** A VM as the ARP proxies know it: where it is and which L2 domain its address belongs to. */
export interface KnownVm {
  vm: string;
  ip: string;
  mac: string;
  l2Domain: string;
  site: string;
  locationVersion: number;
}

/** What one location event did to the table, the same for every site that asks. */
export interface KnownChange {
  /** The VM as known before the event (undefined: first heard of it). */
  before?: KnownVm;
  /** The VM after it (equal to `before` when the event changed nothing). */
  after?: KnownVm;
  /** true when the event was newer than what was known and was applied. */
  applied: boolean;
}

/**
 * The VMs known to the ARP proxies of one process, one table for all their sites (it is the same
 * for each). A location event is applied once; the next site handling the same event gets the
 * same change, so each site still decides for itself. A VM's events come one at a time, so
 * remembering the last change per VM is enough.
 */
export class KnownVms {
  private readonly byName = new Map<string, KnownVm>();
  private readonly byAddress = new Map<string, KnownVm>();
  private readonly last = new Map<string, { id: string; change: KnownChange }>();

  get(vm: string): KnownVm | undefined {
    return this.byName.get(vm);
  }

  byIp(ip: string): KnownVm | undefined {
    return this.byAddress.get(ip);
  }

  /** From the location DB's snapshot: newer rows replace what is known. */
  remember(vm: KnownVm): void {
    const known = this.byName.get(vm.vm);
    if (known && known.locationVersion > vm.locationVersion) return;
    this.byName.set(vm.vm, vm);
    this.byAddress.set(vm.ip, vm);
  }

  /**
   * Applies event `eventId` once: `next` builds the VM from what was known; it is applied when
   * `accept(before)` says the event is newer. Every later call with the same event gets the same change.
   */
  apply(eventId: string, vm: string, accept: (before: KnownVm | undefined) => boolean, next: (before: KnownVm | undefined) => KnownVm): KnownChange {
    const last = this.last.get(vm);
    if (last?.id === eventId) return last.change;
    const before = this.byName.get(vm);
    let change: KnownChange = { before, after: before, applied: false };
    if (accept(before)) {
      const after = next(before);
      this.byName.set(vm, after);
      this.byAddress.set(after.ip, after);
      change = { before, after, applied: true };
    }
    this.last.set(vm, { id: eventId, change });
    return change;
  }
}
