import { LocusError } from '@locus/contracts';
import type { MappingSite, SitePolicy } from '@locus/domain';
import type { TopologyIndex } from '@locus/topology';

/**
 * The sites that take part in the mapping system (`mappingSystem: true`) and what each may claim:
 * the subnets of its L2 domains plus the subnets of the anycast gateways it carries. A branch has
 * neither and runs an ITR only.
 */
export function mappingSitesOf(topology: TopologyIndex): MappingSite[] {
  return topology.sites
    .filter((s) => s.mappingSystem)
    .map((s) => ({
      name: s.name,
      rloc: s.rloc,
      claimable: [...new Set([...topology.l2DomainsAt(s.name).map((d) => d.subnet), ...s.anycastGateways.map((g) => g.subnet)])],
    }));
}

/** An ITR a request names must exist: UNKNOWN_SITE naming the ITRs there are, before anything is asked. */
export function checkItrKnown(policy: SitePolicy, itr: string): void {
  if (!policy.has(itr))
    throw new LocusError(
      'UNKNOWN_SITE',
      `no ITR named ${itr}; the ITRs are ${policy
        .sites()
        .map((s) => s.name)
        .join(', ')}`,
    );
}
