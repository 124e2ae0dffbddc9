import type { Locator } from '@locus/contracts';
import { parseEidPrefix, prefixCovers, type ParsedPrefix } from './eid-prefix';

/** A site of the mapping system as the map-server sees it (built from the topology by the adapter). */
export interface MappingSite {
  name: string;
  /** The RLOC of the site's xTR: the only locator its ETR may register. */
  rloc: string;
  /**
   * Prefixes the site's ETR may claim EIDs in: the subnets of its L2 domains and of the anycast
   * gateways it carries (the cloud carries dc1-local's gateway, so it may host dc1-local VMs).
   * Empty for a branch: an ITR only.
   */
  claimable: readonly string[];
}

export type ClaimVerdict = { ok: true } | { ok: false; code: 'EID_NOT_ALLOWED' | 'BAD_REQUEST'; reason: string };

/** Which sites exist in the mapping system and which EIDs and RLOCs each may register. */
export class SitePolicy {
  private readonly byName = new Map<string, { site: MappingSite; prefixes: ParsedPrefix[] }>();

  constructor(sites: readonly MappingSite[]) {
    for (const site of sites) {
      const prefixes = site.claimable.map((c) => {
        const p = parseEidPrefix(c);
        if (!p) throw new Error(`site ${site.name}: claimable prefix ${c} is not a canonical IPv4 prefix`);
        return p;
      });
      this.byName.set(site.name, { site, prefixes });
    }
  }

  has(site: string): boolean {
    return this.byName.has(site);
  }

  site(name: string): MappingSite | undefined {
    return this.byName.get(name)?.site;
  }

  sites(): MappingSite[] {
    return [...this.byName.values()].map((s) => s.site);
  }

  /** A site with prefixes to claim runs an ETR; every site runs an ITR. */
  hasEtr(site: string): boolean {
    return (this.byName.get(site)?.prefixes.length ?? 0) > 0;
  }

  /** May `site` claim the EID prefix (wholly inside one of its claimable prefixes)? */
  mayClaim(site: string, eid: string): boolean {
    const entry = this.byName.get(site);
    const p = parseEidPrefix(eid);
    return !!entry && !!p && entry.prefixes.some((allowed) => prefixCovers(allowed, p));
  }

  /** The per-record checks of a Map-Register from a known site. */
  checkRecord(site: string, record: { eid: string; locators: readonly Locator[] }): ClaimVerdict {
    const entry = this.byName.get(site);
    if (!entry) return { ok: false, code: 'EID_NOT_ALLOWED', reason: `unknown site ${site}` };
    if (!parseEidPrefix(record.eid)) return { ok: false, code: 'BAD_REQUEST', reason: `${record.eid} is not a canonical EID prefix (host bits set?)` };
    if (!this.mayClaim(site, record.eid)) {
      const allowed = entry.site.claimable.length ? entry.site.claimable.join(', ') : 'none (ITR only)';
      return { ok: false, code: 'EID_NOT_ALLOWED', reason: `site ${site} may not claim ${record.eid}; it may claim EIDs in ${allowed}` };
    }
    const foreign = record.locators.find((l) => l.rloc !== entry.site.rloc);
    if (foreign) return { ok: false, code: 'EID_NOT_ALLOWED', reason: `locator ${foreign.rloc} is not the RLOC of site ${site} (${entry.site.rloc})` };
    return { ok: true };
  }
}
