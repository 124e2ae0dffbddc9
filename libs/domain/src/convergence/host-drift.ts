import type { DriftView, HostDriftFinding } from '@locus/contracts';
import type { HostedState } from '../agent/host-inventory';

/**
 * Drift on the hypervisors: where a VM runs, by the agents' inventories, against the location DB.
 * The DB is the truth. A VM the DB says runs on X must run on X and nowhere else, and no host may
 * have seen a location version the DB does not have (that host would fence the DB's own steps).
 * Pure: given the DB's row and what the agents say, the disagreements and the repair.
 */
export interface HostView {
  hypervisor: string;
  /** What the host holds of the VM, if anything. */
  held?: { state: HostedState; locationVersion: number };
  /** The newest location version of the VM the host has seen (its fence), 0 if none. */
  seen: number;
}

export interface HostDriftInput {
  /** The location DB's row of the VM. */
  location: { vm: string; site: string; hypervisor: string; state: 'running' | 'stopped' | 'moving'; locationVersion: number };
  /** The agents that answered and hold or have seen the VM (one that answered without it is left out). */
  hosts: readonly HostView[];
  /**
   * Whether the DB's host answered. If not, nothing is decided: a host that does not answer is
   * down or cut off, and its VMs are the HA monitor's (a restart elsewhere), not drift's.
   */
  locationHostAnswered: boolean;
  /**
   * The VM's last move is still converging within its deadline (the convergence tracker's book). A
   * host it left may not have heard of the commit yet (its location feed lags: a process still
   * starting, a busy one): the stopped copy it still holds, at a version older than the DB's, is
   * that lag, not drift, until the deadline.
   */
  converging?: boolean;
}

/** The repair of one VM, done through the recorded paths by the drift detector. */
export interface HostRepairPlan {
  vm: string;
  /** The DB's host: where the VM must run. */
  hypervisor: string;
  findings: HostDriftFinding[];
  /**
   * Record the DB's location again (VmLocationReasserted) at `locationVersion`, above every version
   * any host has seen: every other host drops its copy on it (`evict`: those the check saw), and the fence is the DB's again.
   * Appended only if the VM is still at `expectedLocationVersion`.
   */
  reassert?: { expectedLocationVersion: number; locationVersion: number; evict: string[] };
  /** Boot the VM on the DB's host for this location version (after the reassert, if any). */
  start?: { locationVersion: number };
}

export interface HostDriftDecision {
  disagreements: DriftView[];
  repair?: HostRepairPlan;
}

/**
 * Compares one VM. A VM that is moving is its saga's: only a host ahead of the DB is named (a
 * forged event fences every step of the move; the repair may unfence a move stuck restarting at
 * its source). A VM the DB says is stopped may be held stopped (or not at all) on its host.
 */
export function decideHostDrift(input: HostDriftInput): HostDriftDecision {
  const l = input.location;
  if (!input.locationHostAnswered) return { disagreements: [] };
  const where = `the DB places ${l.vm} on ${l.hypervisor} (${l.site}) v${l.locationVersion}`;
  const atHost = input.hosts.find((h) => h.hypervisor === l.hypervisor)?.held;
  const elsewhere = input.hosts.filter((h) => h.hypervisor !== l.hypervisor && h.held);
  const newest = (h: HostView) => Math.max(h.seen, h.held?.locationVersion ?? 0);
  // While a VM moves its target may hold it: a copy only once nothing moves, and not a host's stopped copy it has not yet heard is stale.
  const lagging = (h: HostView) => !!input.converging && h.held!.state !== 'running' && newest(h) < l.locationVersion;
  const copies = l.state === 'moving' ? [] : elsewhere.filter((h) => !lagging(h));
  const ahead = input.hosts.filter((h) => newest(h) > l.locationVersion);
  const mustRun = l.state === 'running';

  const findings: HostDriftFinding[] = [];
  if (mustRun && !atHost) {
    const holders = copies.map((c) => `${c.hypervisor} (${c.held!.state} v${c.held!.locationVersion})`);
    findings.push({
      kind: 'missing',
      hosts: [l.hypervisor, ...copies.map((c) => c.hypervisor)],
      detail: `${l.hypervisor} does not hold ${l.vm}; ${holders.length ? `a copy is on ${holders.join(', ')}` : 'no agent holds it'}; ${where}`,
    });
  } else if (mustRun && atHost && atHost.state !== 'running')
    findings.push({ kind: 'not-running', hosts: [l.hypervisor], detail: `${l.hypervisor} holds ${l.vm} ${atHost.state} (v${atHost.locationVersion}); ${where}, running` });
  for (const c of copies)
    findings.push({ kind: 'extra-copy', hosts: [c.hypervisor, l.hypervisor], detail: `${c.hypervisor} holds a copy of ${l.vm} (${c.held!.state} v${c.held!.locationVersion}); ${where}` });
  for (const a of ahead)
    findings.push({ kind: 'version-ahead', hosts: [a.hypervisor], detail: `${a.hypervisor} has seen ${l.vm} at location version ${newest(a)}, which the DB does not have; ${where}` });
  if (findings.length === 0) return { disagreements: [] };

  const disagreements: DriftView[] = findings.map((f) => ({ plane: 'hypervisors', component: `agent:${f.hosts[0]}`, vm: l.vm, kind: f.kind, hosts: f.hosts, detail: f.detail }));
  const reassert = copies.length > 0 || ahead.length > 0;
  const version = reassert ? Math.max(l.locationVersion, ...input.hosts.map(newest)) + 1 : l.locationVersion;
  const start = mustRun && atHost?.state !== 'running';
  const repair: HostRepairPlan = {
    vm: l.vm,
    hypervisor: l.hypervisor,
    findings,
    // Every host but the DB's drops its copy on the reassert (a repair of a moving VM ends its move's copies too).
    ...(reassert ? { reassert: { expectedLocationVersion: l.locationVersion, locationVersion: version, evict: elsewhere.map((c) => c.hypervisor) } } : {}),
    ...(start ? { start: { locationVersion: version } } : {}),
  };
  return { disagreements, repair };
}

/** What a human must do about a repair that could not be done (the VM does not run where the DB says). */
export function stuckRepairAction(plan: Pick<HostRepairPlan, 'vm' | 'hypervisor'>, reason: string): string {
  return (
    `${plan.vm} does not run on ${plan.hypervisor}, where the location DB places it, and the repair could not boot it there (${reason}). ` +
    `Make ${plan.hypervisor} able to boot it (bring its agent back, free what it lacks), then run drift.check {"vms":["${plan.vm}"]} to repair it again`
  );
}
