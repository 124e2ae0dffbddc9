import type { AgentInventoryRequest } from '@locus/contracts';

/**
 * How the periodic drift check spends its work: which agent is asked about which VM, how big a
 * page of each site's RIB is, and when each step of a paced check starts. Pure.
 */

/** Most VM names in one `inventory` request (the agents' filter limit). */
export const AGENT_FILTER_LIMIT = 1000;

/** A VM to compare with the agents' inventories. */
export interface HostAskVm {
  vm: string;
  /** The location DB's host. */
  hypervisor?: string;
  /** Ask every agent (the sweep, a VM due again): a copy on a host nobody named is found too. */
  everyAgent: boolean;
  /** Otherwise the DB's host is asked, and these hosts too (those the VM's recent events named, e.g. the host it just left). */
  related?: Iterable<string>;
}

export interface AgentAskPlan {
  /** The requests of each agent asked; an agent not named here is not asked. */
  requests: Map<string, AgentInventoryRequest[]>;
  /** Per VM asked of some agents only: those agents; a VM not named here was asked of every agent. */
  askedOf: Map<string, Set<string>>;
}

/**
 * Which agent is asked about which VM. The VMs asked of every agent go by name when there are
 * few, or when `contiguous` (a page of VMs by name, nothing between them left out) and many, by
 * the range of their names: a request of a few bytes per agent. The others are asked by name of
 * their DB host and their related hosts only, so that an agent answers for the VMs it may hold,
 * not for the whole range random names span.
 */
export function planAgentAsks(hosts: readonly string[], vms: readonly HostAskVm[], options: { contiguous: boolean; namesPerRequest: number }): AgentAskPlan {
  const known = new Set(hosts);
  const every = vms.filter((v) => v.everyAgent).map((v) => v.vm);
  const range: AgentInventoryRequest | undefined =
    options.contiguous && every.length > options.namesPerRequest ? { from: every.reduce((a, b) => (b < a ? b : a)), through: every.reduce((a, b) => (b > a ? b : a)) } : undefined;
  const byName = new Map<string, string[]>(hosts.map((h) => [h, range ? [] : [...every]]));
  const askedOf = new Map<string, Set<string>>();
  for (const v of vms) {
    if (v.everyAgent) continue;
    const targets = new Set([v.hypervisor, ...(v.related ?? [])].filter((h): h is string => !!h && known.has(h)));
    askedOf.set(v.vm, targets);
    for (const h of targets) byName.get(h)!.push(v.vm);
  }
  const requests = new Map<string, AgentInventoryRequest[]>();
  for (const h of hosts) {
    const names = [...new Set(byName.get(h))];
    const asks: AgentInventoryRequest[] = range ? [range] : [];
    for (let i = 0; i < names.length; i += AGENT_FILTER_LIMIT) asks.push({ vms: names.slice(i, i + AGENT_FILTER_LIMIT) });
    if (asks.length) requests.set(h, asks);
  }
  return { requests, askedOf };
}

/**
 * The hypervisors a VM event's data names: where the VM is, was or goes (`hypervisor`,
 * `from.hypervisor`, `to.hypervisor`) and the hosts a repair evicts. A host a VM just left may
 * still hold a copy: the periodic check asks it about the VM too.
 */
export function hostsNamedBy(data: unknown): string[] {
  if (!data || typeof data !== 'object') return [];
  const d = data as { hypervisor?: unknown; from?: { hypervisor?: unknown }; to?: { hypervisor?: unknown }; evict?: unknown };
  const out = [d.hypervisor, d.from?.hypervisor, d.to?.hypervisor, ...(Array.isArray(d.evict) ? d.evict : [])];
  return [...new Set(out.filter((h): h is string => typeof h === 'string' && h.length > 0))];
}

/**
 * The size of a site's page of routes in one periodic check: its RIB (`total`, as the site said
 * last time, or a guess) walked in about `periods` periods, at least `min` (and 1), at most `max`
 * (the planes' filter limit). A RIB bigger than `periods × max` takes more periods.
 */
export function routePageLimit(total: number, periods: number, bounds: { min: number; max: number }): number {
  const walk = Math.ceil(Math.max(0, total) / Math.max(1, periods));
  return Math.max(1, Math.min(bounds.max, Math.max(bounds.min, walk)));
}

/**
 * When step `i` (from 0) of a paced check of `steps` steps may start, in ms from the check's
 * start: the steps spread evenly over `spreadMs`, the first at once. A step that starts late
 * (the ones before it took longer) starts at once; the rest keep their times.
 */
export function pacedStepStartMs(i: number, steps: number, spreadMs: number): number {
  if (steps <= 1 || i <= 0 || spreadMs <= 0) return 0;
  return Math.round((Math.min(i, steps - 1) * spreadMs) / steps);
}
