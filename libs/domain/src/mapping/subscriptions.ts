import { ExpiryQueue } from './expiry-queue';

/**
 * Who holds which EID, so that a mapping change touches only those ITRs:
 * - subscribers (RFC 9437): ITRs that asked to be told; they get the new mapping published;
 * - requesters: ITRs that resolved the EID without subscribing, while their copy's TTL runs;
 *   they get a Solicit-Map-Request and ask again.
 * Both are indexed by EID, so a change costs O(ITRs holding it), whatever the number of EIDs.
 */
export class SubscriptionIndex {
  private readonly byEid = new Map<string, Set<string>>();
  private readonly byItr = new Map<string, Set<string>>();
  private pairs = 0;

  get size(): number {
    return this.pairs;
  }

  subscribe(itr: string, eid: string): boolean {
    const itrs = this.byEid.get(eid) ?? new Set<string>();
    if (itrs.has(itr)) return false;
    itrs.add(itr);
    this.byEid.set(eid, itrs);
    const eids = this.byItr.get(itr) ?? new Set<string>();
    eids.add(eid);
    this.byItr.set(itr, eids);
    this.pairs++;
    return true;
  }

  unsubscribe(itr: string, eid: string): boolean {
    const itrs = this.byEid.get(eid);
    if (!itrs?.delete(itr)) return false;
    if (itrs.size === 0) this.byEid.delete(eid);
    const eids = this.byItr.get(itr)!;
    eids.delete(eid);
    if (eids.size === 0) this.byItr.delete(itr);
    this.pairs--;
    return true;
  }

  isSubscribed(itr: string, eid: string): boolean {
    return this.byEid.get(eid)?.has(itr) ?? false;
  }

  subscribers(eid: string): string[] {
    return [...(this.byEid.get(eid) ?? [])];
  }

  eidsOf(itr: string): string[] {
    return [...(this.byItr.get(itr) ?? [])];
  }
}

export class RequesterIndex {
  private readonly byEid = new Map<string, Map<string, number>>();
  private readonly expiry = new ExpiryQueue<string>();
  private pairs = 0;

  get size(): number {
    return this.pairs;
  }

  /** `itr` holds a copy of `eid` until `until` (lab ms). */
  record(itr: string, eid: string, until: number): void {
    const itrs = this.byEid.get(eid) ?? new Map<string, number>();
    if (!itrs.has(itr)) this.pairs++;
    itrs.set(itr, until);
    this.byEid.set(eid, itrs);
    this.expiry.schedule(pairKey(eid, itr), until);
  }

  forget(itr: string, eid: string): void {
    const itrs = this.byEid.get(eid);
    if (!itrs?.delete(itr)) return;
    this.pairs--;
    if (itrs.size === 0) this.byEid.delete(eid);
  }

  /** ITRs whose copy of `eid` may still be live. */
  live(eid: string, now: number): string[] {
    const itrs = this.byEid.get(eid);
    if (!itrs) return [];
    return [...itrs].filter(([, until]) => until > now).map(([itr]) => itr);
  }

  /** Forgets the copies whose TTL ran out. */
  sweep(now: number): number {
    const due = this.expiry.due(now, (k) => {
      const [eid, itr] = k.split('\u0000');
      return this.byEid.get(eid)?.get(itr);
    });
    for (const k of due) {
      const [eid, itr] = k.split('\u0000');
      this.forget(itr, eid);
    }
    return due.length;
  }
}

const pairKey = (eid: string, itr: string) => `${eid}\u0000${itr}`;
