/**
 * What a route injector believes about every VM: where it is (site), at which location
 * version, and whether it is up (rise/fall). Built from the location events and the
 * location DB snapshot; a fact older than what is known changes nothing (version guard).
 */
export interface TrackedVm {
  vm: string;
  ip: string;
  site: string;
  locationVersion: number;
  /** false while the VM is stopped outside a move (its route falls), true once it runs again (rises). */
  up: boolean;
}

export type RouteFact =
  | { type: 'placed'; vm: string; ip: string; site: string; locationVersion: number; up?: boolean }
  | { type: 'relocated'; vm: string; ip: string; from: string; to: string; locationVersion: number; moveId: string }
  /** The VM stopped and will not run anywhere until it is started again (failed/cancelled move, host failure). */
  | { type: 'down'; vm: string; reason: string }
  /** The VM runs again (restarted at the source, started or resumed at the target). */
  | { type: 'up'; vm: string; reason: string; locationVersion?: number };

export type TrackOutcome = 'applied' | 'duplicate' | 'stale' | 'unknown-vm';

export class RouteTracker {
  private readonly vms = new Map<string, TrackedVm>();
  /** VM names by IP (a VM keeps its IP when it moves): every prefix the injector touches is looked up by it. */
  private readonly names = new Map<string, string>();
  /** The last event applied per VM and its outcome, so that the sites sharing this tracker all see it. */
  private readonly lastEvent = new Map<string, { id: string; outcome: TrackOutcome }>();

  get(vm: string): TrackedVm | undefined {
    return this.vms.get(vm);
  }

  byIp(ip: string): TrackedVm | undefined {
    const name = this.names.get(ip);
    const vm = name === undefined ? undefined : this.vms.get(name);
    return vm?.ip === ip ? vm : undefined;
  }

  private set(vm: TrackedVm): void {
    this.vms.set(vm.vm, vm);
    this.names.set(vm.ip, vm.vm);
  }

  all(): TrackedVm[] {
    return [...this.vms.values()];
  }

  /**
   * Applies the fact of one event once, however many sites of a process share this tracker: the
   * same event again (the next site handling it) gets the first outcome. A VM's events come one at
   * a time, so remembering the last per VM is enough.
   */
  applyEvent(eventId: string, fact: RouteFact): TrackOutcome {
    const last = this.lastEvent.get(fact.vm);
    if (last?.id === eventId) return last.outcome;
    const outcome = this.apply(fact);
    this.lastEvent.set(fact.vm, { id: eventId, outcome });
    return outcome;
  }

  /** Applies one fact. Location facts are version-guarded; up/down facts apply to the current location. */
  apply(fact: RouteFact): TrackOutcome {
    const current = this.vms.get(fact.vm);
    switch (fact.type) {
      case 'placed': {
        const up = fact.up ?? true;
        if (current && fact.locationVersion < current.locationVersion) return 'stale';
        if (current && fact.locationVersion === current.locationVersion && current.site === fact.site && current.up === up) return 'duplicate';
        this.set({ vm: fact.vm, ip: fact.ip, site: fact.site, locationVersion: fact.locationVersion, up });
        return 'applied';
      }
      case 'relocated': {
        if (current && fact.locationVersion < current.locationVersion) return 'stale';
        if (current && fact.locationVersion === current.locationVersion) return 'duplicate';
        // A cold move's VM is down between stop and boot, but the route follows the location
        // commit at once: make-before-break needs the new route up before the old one goes.
        this.set({ vm: fact.vm, ip: fact.ip, site: fact.to, locationVersion: fact.locationVersion, up: true });
        return 'applied';
      }
      case 'down': {
        if (!current) return 'unknown-vm';
        if (!current.up) return 'duplicate';
        current.up = false;
        return 'applied';
      }
      case 'up': {
        if (!current) return 'unknown-vm';
        if (fact.locationVersion !== undefined && fact.locationVersion < current.locationVersion) return 'stale';
        if (current.up) return 'duplicate';
        current.up = true;
        return 'applied';
      }
    }
  }

  /** A newer version seen elsewhere (e.g. a RouteConfirmed of another site) moves the VM there. */
  observe(vm: string, ip: string, site: string, locationVersion: number): TrackOutcome {
    const current = this.vms.get(vm);
    if (current && locationVersion <= current.locationVersion) return current.locationVersion === locationVersion ? 'duplicate' : 'stale';
    this.set({ vm, ip, site, locationVersion, up: true });
    return 'applied';
  }
}
