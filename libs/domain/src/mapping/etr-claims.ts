import { hostEid } from './eid-prefix';
import { isNewerVersion, isSameVersion } from './serial';

/** Where a VM is, as the location events (or the vm.list snapshot) say. */
export interface EtrLocationFact {
  vm: string;
  ip: string;
  site: string;
  locationVersion: number;
  moveId?: string;
}

/** An EID this site's ETR registers, at the VM's location version. */
export interface EidClaim {
  eid: string;
  vm: string;
  version: number;
  moveId?: string;
}

export interface AwayNotice {
  eid: string;
  vm?: string;
  version: number;
  site: string;
  at: number;
}

export type ClaimOutcome = 'claimed' | 'released' | 'duplicate' | 'stale' | 'not-mine' | 'not-allowed';

/**
 * The EIDs one site's ETR claims: every VM whose location is this site (and whose address the
 * site may claim), each at its location version. Location facts apply once and never go back;
 * a VM that moves away, or a Map-Notify saying its EID now lives elsewhere, ends the claim.
 */
export class EtrClaims {
  private readonly seen = new Map<string, number>();
  private readonly byEid = new Map<string, EidClaim>();
  /** Map-Notify (away) received per EID: the latest one. */
  readonly away = new Map<string, AwayNotice>();

  constructor(
    readonly site: string,
    private readonly mayClaim: (eid: string) => boolean,
  ) {}

  get size(): number {
    return this.byEid.size;
  }

  claims(): EidClaim[] {
    return [...this.byEid.values()];
  }

  claim(eid: string): EidClaim | undefined {
    return this.byEid.get(eid);
  }

  learn(fact: EtrLocationFact): ClaimOutcome {
    const held = this.seen.get(fact.vm);
    if (held !== undefined && !isNewerVersion(fact.locationVersion, held)) return isSameVersion(fact.locationVersion, held) ? 'duplicate' : 'stale';
    this.seen.set(fact.vm, fact.locationVersion);
    // Every site's ETR hears of every VM: the address is checked only where it is claimed.
    const eid = fact.site === this.site ? hostEid(fact.ip) : fact.ip.endsWith('/32') ? fact.ip : `${fact.ip}/32`;
    const mine = this.byEid.get(eid);
    if (fact.site === this.site) {
      if (!this.mayClaim(eid)) {
        if (mine) this.byEid.delete(eid);
        return 'not-allowed';
      }
      this.byEid.set(eid, { eid, vm: fact.vm, version: fact.locationVersion, ...(fact.moveId ? { moveId: fact.moveId } : {}) });
      return 'claimed';
    }
    if (mine && mine.vm === fact.vm) {
      this.byEid.delete(eid);
      return 'released';
    }
    return 'not-mine';
  }

  /**
   * Map-Notify (away) or a refused record: the EID is registered elsewhere at `version`. A claim
   * older than that ends; a claim at the same or a newer version stays (the notice is old).
   */
  notifiedAway(notice: AwayNotice): 'released' | 'kept' | 'not-claimed' {
    const claim = this.byEid.get(notice.eid);
    const previous = this.away.get(notice.eid);
    if (!previous || isNewerVersion(notice.version, previous.version)) this.away.set(notice.eid, notice);
    if (notice.vm && isNewerVersion(notice.version, this.seen.get(notice.vm))) this.seen.set(notice.vm, notice.version);
    if (!claim) return 'not-claimed';
    if (!isNewerVersion(notice.version, claim.version) && !(isSameVersion(notice.version, claim.version) && notice.site !== this.site)) return 'kept';
    this.byEid.delete(notice.eid);
    return 'released';
  }
}
