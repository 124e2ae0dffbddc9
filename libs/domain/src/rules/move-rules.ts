import type { ErrorCode, MoveMode } from '@locus/contracts';

/**
 * The network rules of VM mobility, the heart of the seed: a hot move keeps IP, MAC and the
 * VM's ARP cache and so needs L2 adjacency; a warm or cold move may leave the L2 domain only
 * where host routes or a mapping system keep the IP reachable, and only to a site carrying the
 * VM's first-hop gateway. Pure: the topology comes in through this small view.
 */
export interface RuleTopology {
  hypervisor(name: string): { name: string; site: string; l2Domains: readonly string[]; memoryMb: number } | undefined;
  site(name: string): { name: string; hostRoutes: boolean; mappingSystem: boolean; l3VirtualSwitch: boolean; anycastGateways: readonly { subnet: string; ip: string; mac: string }[] } | undefined;
  l2Domain(name: string): { name: string; kind: string; sites: readonly string[]; subnet: string; gateway: string; encapsulation: string; segmentId: number } | undefined;
  readonly hypervisors: readonly { name: string; site: string; l2Domains: readonly string[] }[];
  readonly sites: readonly { name: string; hostRoutes: boolean; mappingSystem: boolean; anycastGateways: readonly { subnet: string; ip: string; mac: string }[] }[];
}

export interface MoveRuleInput {
  vm: { name: string; l2Domain: string; memoryMb: number; hypervisor: string };
  mode: MoveMode;
  to: string;
  /** Hypervisors declared failed. */
  hostsDown: ReadonlySet<string>;
  /** Memory already committed on the target (VMs placed there plus moves heading there). */
  targetUsedMb: number;
}

/** Network planes a move changes, so a plan can say what will happen and the tracker what to wait for. */
export type NetworkPlane = 'location' | 'l2-announce' | 'mapping' | 'host-routes' | 'arp-proxy';

export type RuleVerdict = { ok: true; warnings: string[]; planes: NetworkPlane[]; leavesL2Domain: boolean } | { ok: false; code: ErrorCode; message: string };

export function checkMoveRules(t: RuleTopology, input: MoveRuleInput): RuleVerdict {
  const { vm, mode, to } = input;
  const target = t.hypervisor(to);
  const source = t.hypervisor(vm.hypervisor);
  const domain = t.l2Domain(vm.l2Domain);
  if (!target || !source || !domain) return { ok: false, code: 'UNKNOWN_TARGET', message: `no hypervisor named ${to}` };
  const targetSite = t.site(target.site)!;
  const sourceSite = t.site(source.site)!;
  const warnings: string[] = [];
  const reachesDomain = target.l2Domains.includes(domain.name);
  const domainName = `${domain.name} (${domain.encapsulation.toUpperCase()} ${domain.segmentId}, ${domain.subnet})`;
  const adjacentHosts = t.hypervisors.filter((h) => h.l2Domains.includes(domain.name) && h.name !== vm.hypervisor).map((h) => h.name);

  if (input.hostsDown.has(to)) return { ok: false, code: 'HOST_DOWN', message: `${to} is declared failed (no heartbeat); pick another hypervisor` };

  if (mode === 'hot' && !reachesDomain) {
    if (!targetSite.l3VirtualSwitch)
      return {
        ok: false,
        code: 'HOT_MOVE_NEEDS_L2_ADJACENCY',
        message:
          `a hot move keeps ${vm.name}'s IP, MAC and ARP cache, so ${to} must reach its L2 domain ${domainName}, which spans ${domain.sites.join(', ')}; ` +
          `hypervisors that reach it: ${adjacentHosts.join(', ') || 'none'}. ` +
          `Move it cold or warm instead (the IP stays reachable through host routes or the mapping system), or extend the domain to ${target.site} (but keep the hot domain small).`,
      };
    warnings.push(
      `${to} does not reach ${domain.name}, but ${target.site}'s virtual switch is L3-capable (Hyper-V NV / VPC style): it answers ARP for the VM's gateway and neighbours and routes, so the hot move is allowed`,
    );
  }

  if (!reachesDomain) {
    if (mode !== 'hot' && !targetSite.hostRoutes && !targetSite.mappingSystem) {
      const sitesThatCan = t.sites.filter((s) => s.hostRoutes || s.mappingSystem).map((s) => s.name);
      return {
        ok: false,
        code: 'IP_NOT_REACHABLE_AT_TARGET',
        message:
          `a ${mode} move out of ${domainName} keeps ${vm.name}'s IP only if ${target.site} takes part in host-route injection or the mapping system, and it does neither. ` +
          `Pick a hypervisor that reaches ${domain.name} (${adjacentHosts.join(', ') || 'none'}) or one at a site with host routes or the mapping system (${sitesThatCan.join(', ')}).`,
      };
    }
    const gateway = targetSite.anycastGateways.find((g) => g.subnet === domain.subnet && g.ip === domain.gateway);
    if (!gateway) {
      const carriers = t.sites.filter((s) => s.anycastGateways.some((g) => g.subnet === domain.subnet)).map((s) => s.name);
      return {
        ok: false,
        code: 'FIRST_HOP_GATEWAY_MISSING',
        message:
          `${vm.name} keeps its configured first-hop gateway ${domain.gateway}` +
          (mode === 'cold' ? '' : ` and that gateway's MAC in its ARP cache`) +
          `, but ${target.site} does not carry it as an anycast gateway (same IP and virtual MAC). Sites that do: ${carriers.join(', ')}. Add it to ${target.site}'s anycastGateways or move the VM there.`,
      };
    }
  }

  const freeMb = target.memoryMb - input.targetUsedMb;
  if (vm.memoryMb > freeMb) return { ok: false, code: 'TARGET_FULL', message: `${to} has ${Math.max(0, freeMb)} MiB free of ${target.memoryMb} MiB; ${vm.name} needs ${vm.memoryMb} MiB` };

  const planes: NetworkPlane[] = ['location'];
  if (reachesDomain && mode === 'hot') planes.push('l2-announce');
  if (target.site !== source.site || !reachesDomain) {
    if (targetSite.mappingSystem || sourceSite.mappingSystem) planes.push('mapping');
    if (targetSite.hostRoutes || sourceSite.hostRoutes) planes.push('host-routes');
  }
  if (!reachesDomain) planes.push('arp-proxy');
  return { ok: true, warnings, planes, leavesL2Domain: !reachesDomain };
}
