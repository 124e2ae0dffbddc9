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
 * The newest location version of each VM, as the location facts said: one table for all the ETRs
 * of a process (every ETR hears every VM; a table per site would hold sites × VMs entries).
 */
export type LocationVersions = Map<string, number>;

/**
 * The EIDs one site's ETR claims: every VM whose location is this site (and whose address the
 * site may claim), each at its location version. Location facts apply once and never go back;
 * a VM that moves away, or a Map-Notify saying its EID now lives elsewhere, ends the claim.
 * The ETRs of a process share their `LocationVersions`: whichever learns a fact first records its
 * version, and a fact at the recorded version is not stale for the others (it applies once each).
 */
export class EtrClaims {
  private readonly byEid = new Map<string, EidClaim>();
  /** Map-Notify (away) received per EID: the latest one. */
  readonly away = new Map<string, AwayNotice>();

  constructor(
    readonly site: string,
    private readonly mayClaim: (eid: string) => boolean,
    private readonly versions: LocationVersions = new Map(),
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
    const held = this.versions.get(fact.vm);
    if (held !== undefined && isNewerVersion(held, fact.locationVersion)) return 'stale';
    const fresh = held === undefined || isNewerVersion(fact.locationVersion, held);
    if (fresh) this.versions.set(fact.vm, fact.locationVersion);
    // Every site's ETR hears of every VM: the address is checked only where it is claimed.
    const eid = fact.site === this.site ? hostEid(fact.ip) : fact.ip.endsWith('/32') ? fact.ip : `${fact.ip}/32`;
    const mine = this.byEid.get(eid);
    if (fact.site === this.site) {
      // A Map-Notify already said the EID lives elsewhere at a newer version: this fact is old news.
      const away = this.away.get(eid);
      if (away && isNewerVersion(away.version, fact.locationVersion)) return 'stale';
      if (!this.mayClaim(eid)) {
        if (mine) this.byEid.delete(eid);
        return 'not-allowed';
      }
      if (mine && mine.vm === fact.vm && isSameVersion(mine.version, fact.locationVersion)) return 'duplicate';
      this.byEid.set(eid, { eid, vm: fact.vm, version: fact.locationVersion, ...(fact.moveId ? { moveId: fact.moveId } : {}) });
      return 'claimed';
    }
    if (mine && mine.vm === fact.vm && !isNewerVersion(mine.version, fact.locationVersion)) {
      this.byEid.delete(eid);
      return 'released';
    }
    return fresh ? 'not-mine' : 'duplicate';
  }

  /**
   * Map-Notify (away) or a refused record: the EID is registered elsewhere at `version`. A claim
   * older than that ends; a claim at the same or a newer version stays (the notice is old).
   */
  notifiedAway(notice: AwayNotice): 'released' | 'kept' | 'not-claimed' {
    const claim = this.byEid.get(notice.eid);
    const previous = this.away.get(notice.eid);
    if (!previous || isNewerVersion(notice.version, previous.version)) this.away.set(notice.eid, notice);
    if (!claim) return 'not-claimed';
    if (!isNewerVersion(notice.version, claim.version) && !(isSameVersion(notice.version, claim.version) && notice.site !== this.site)) return 'kept';
    this.byEid.delete(notice.eid);
    return 'released';
  }
}
