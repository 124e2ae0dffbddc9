import type { RecordedEvent } from '@locus/contracts';
import type { ConvergenceInput, ConvergenceTopology } from './move-convergence';

/** The VM event types the convergence book reads (`convergenceInputOf` returns nothing for the others). */
export const CONVERGENCE_INPUT_TYPES: ReadonlySet<string> = new Set([
  'MoveAccepted',
  'VmRelocated',
  'RarpAnnounced',
  'MoveCompleted',
  'MoveFailed',
  'MoveCancelled',
  'MoveConverged',
  'MoveConvergenceLate',
]);

/**
 * What a VM event on the stream tells the convergence book (undefined: nothing). One reading,
 * shared by the manager's convergence tracker, the CLI, the bench and the console, so that they
 * all time a move from the same instant: the location commit, `metadata.at` of its `VmRelocated`
 * (for a hot move that is after the switchover, when the target's copy becomes the VM).
 * `seq` orders the facts: the stream sequence, or the order a subscriber received them in.
 */
export function convergenceInputOf(event: RecordedEvent, seq: number): ConvergenceInput | undefined {
  if (typeof event.streamId !== 'string' || !event.streamId.startsWith('vm:')) return undefined;
  const vm = event.streamId.slice(3);
  const at = Date.parse(event.metadata?.at ?? event.recordedAt);
  switch (event.type) {
    case 'MoveAccepted': {
      const d = event.data;
      return { kind: 'accepted', seq, moveId: d.moveId, vm, mode: d.mode, from: d.from, to: d.to, planes: d.planes ?? [] };
    }
    case 'VmRelocated': {
      const d = event.data;
      return { kind: 'relocated', seq, moveId: d.moveId, vm, ip: d.ip, locationVersion: d.locationVersion, at };
    }
    case 'RarpAnnounced': {
      const d = event.data;
      return { kind: 'announced', moveId: d.moveId, vm, hypervisor: d.hypervisor, at };
    }
    case 'MoveCompleted': {
      const d = event.data;
      return { kind: 'completed', moveId: d.moveId, vm, downtimeMs: d.downtimeMs, totalMs: d.totalMs, rounds: d.rounds ?? 0, at };
    }
    case 'MoveFailed':
    case 'MoveCancelled':
      return { kind: 'ended', moveId: event.data.moveId };
    case 'MoveConverged':
      return { kind: 'recorded', moveId: event.data.moveId, outcome: 'converged' };
    case 'MoveConvergenceLate':
      return { kind: 'recorded', moveId: event.data.moveId, outcome: 'late' };
    // the steps between, and placements and repairs (no move to converge)
    case 'VmPlaced':
    case 'MoveStarted':
    case 'VmStoppedAtSource':
    case 'VmConfigTransferred':
    case 'VmSuspendedAtSource':
    case 'VmStateTransferred':
    case 'PreCopyRoundCompleted':
    case 'SwitchoverStarted':
    case 'VmPausedAndCopied':
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
    case 'PostcopyCompleted':
    case 'VmRestartedAtSource':
    case 'VmLocationReasserted':
    case 'VmRestartedByRepair':
    case 'VmRepairStuck':
      return undefined;
  }
}

/** The part of a topology (the YAML's, or `topology.get`'s answer) that convergence needs. */
export interface ConvergenceTopologySource {
  sites: readonly { name: string; hostRoutes?: boolean; mappingSystem?: boolean }[];
  l2Domains?: readonly { name: string; sites: readonly string[] }[];
  vms?: readonly { name: string; l2Domain: string }[];
}

/** Who injects host routes, who is in the mapping system, where each VM's L2 domain is. */
export function convergenceTopologyOf(topology: ConvergenceTopologySource): ConvergenceTopology {
  const sites = new Map(topology.sites.map((s) => [s.name, { hostRoutes: !!s.hostRoutes, mappingSystem: !!s.mappingSystem }]));
  const domains = new Map((topology.l2Domains ?? []).map((d) => [d.name, d.sites]));
  const domainOf = new Map((topology.vms ?? []).map((v) => [v.name, v.l2Domain]));
  return {
    site: (name) => sites.get(name),
    domainSitesOf: (vm) => [...(domains.get(domainOf.get(vm) ?? '') ?? [])],
  };
}
