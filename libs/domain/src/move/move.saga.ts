import type { AgentAction } from '@locus/contracts';
import { nextPrecopyStep, precopyParamsOf } from '../precopy/precopy.model';
import type { VmState } from '../vm/vm.state';

/**
 * The move saga as a pure function of the VM's state: what must happen next. The runner
 * asks this after every event, so a crash anywhere resumes at the right step, and a
 * repeated event repeats nothing that was recorded.
 */
export type SagaStep =
  | { kind: 'admit'; moveId: string; hypervisor: string }
  | { kind: 'commit'; moveId: string }
  | { kind: 'switchover'; moveId: string; reason: 'converged' | 'max-rounds' | 'max-data' | 'postcopy'; remainingBytes: number; expectedDowntimeMs: number }
  | { kind: 'fail'; moveId: string; code: 'NOT_CONVERGING'; message: string }
  | {
      kind: 'agent';
      action: Exclude<AgentAction, 'inventory'>;
      /** Restarting at the source after a failure or cancel records a different fact. */
      purpose?: 'restart';
      hypervisor: string;
      peer?: string;
      moveId: string;
      locationVersion: number;
      /** Step parameters from the move's plan, sent to the agent. */
      params: Record<string, number | string | null>;
      /** What the saga needs to record the answer (pre-copy round number, resume time). */
      meta?: { round: number; resumeMs: number };
    };

/** A step that asks an agent. */
export type AgentStep = Extract<SagaStep, { kind: 'agent' }>;

export function nextSagaStep(state: VmState): SagaStep | null {
  if (state.status !== 'placed' || !state.move) return null;
  const { move, locationVersion } = state;
  const plan = move.plan;
  const agent = (action: Exclude<AgentAction, 'inventory'>, hypervisor: string, params: Record<string, number | string | null> = {}, peer?: string): SagaStep => ({
    kind: 'agent',
    action,
    hypervisor,
    moveId: move.moveId,
    locationVersion,
    params,
    ...(peer ? { peer } : {}),
  });
  switch (move.phase) {
    case 'queued':
      return { kind: 'admit', moveId: move.moveId, hypervisor: move.from.hypervisor };
    case 'started':
      if (move.cause === 'ha-restart') return { kind: 'commit', moveId: move.moveId };
      if (plan?.mode === 'warm') return agent('suspend', move.from.hypervisor, { bytes: plan.memoryBytes, diskBps: plan.sourceDiskBps });
      if (plan?.mode === 'hot') return precopyStep(state);
      return agent('stop', move.from.hypervisor, { durationMs: plan?.mode === 'cold' ? plan.shutdownMs : null });
    case 'source-stopped':
      return agent('transfer', move.to.hypervisor, { bytes: plan?.mode === 'cold' ? plan.configBytes : null, bandwidthBps: plan?.bandwidthBps ?? null }, move.from.hypervisor);
    case 'suspended':
      return plan?.mode === 'warm' ? agent('receive-state', move.to.hypervisor, { bytes: plan.memoryBytes, bandwidthBps: plan.bandwidthBps }, move.from.hypervisor) : null;
    case 'precopy':
      return precopyStep(state);
    case 'switching':
      return agent('pause-and-copy', move.from.hypervisor, { bytes: move.postcopy ? 0 : lastDirty(state), bandwidthBps: plan?.bandwidthBps ?? null });
    case 'config-transferred':
    case 'state-transferred':
    case 'switched':
      return { kind: 'commit', moveId: move.moveId };
    case 'relocated':
      if (move.mode === 'cold') return agent('start', move.to.hypervisor, { durationMs: plan?.mode === 'cold' ? plan.bootMs : null });
      if (plan?.mode === 'warm') return agent('resume', move.to.hypervisor, { bytes: plan.memoryBytes, diskBps: plan.targetDiskBps });
      return agent('resume', move.to.hypervisor, { durationMs: plan?.mode === 'hot' ? plan.resumeMs : 0 });
    case 'resumed':
      return agent('announce', move.to.hypervisor);
    case 'announced':
      return agent('postcopy-pull', move.to.hypervisor, { bytes: lastDirty(state), bandwidthBps: plan?.bandwidthBps ?? null }, move.from.hypervisor);
    case 'restarting-at-source':
      return { ...agent('start', move.from.hypervisor, {}), purpose: 'restart' } as SagaStep;
    default: {
      const never: never = move.phase;
      throw new Error(`unhandled phase ${never}`);
    }
  }
}

function lastDirty(state: Extract<VmState, { status: 'placed' }>): number {
  const rounds = state.move!.rounds;
  return rounds.length ? rounds[rounds.length - 1].dirtyBytes : 0;
}

function precopyStep(state: Extract<VmState, { status: 'placed' }>): SagaStep | null {
  const move = state.move!;
  if (move.plan?.mode !== 'hot') return null;
  const params = precopyParamsOf(move.plan);
  const next = nextPrecopyStep(params, move.rounds);
  switch (next.kind) {
    case 'round':
      return {
        kind: 'agent',
        action: 'precopy-round',
        hypervisor: move.from.hypervisor,
        // A real hypervisor migrates to its peer itself (QEMU: the target listens with -incoming).
        peer: move.to.hypervisor,
        moveId: move.moveId,
        locationVersion: state.locationVersion,
        meta: { round: next.round, resumeMs: params.resumeMs },
        params: {
          bytes: next.sendBytes,
          throttlePct: next.throttlePct,
          bandwidthBps: params.bandwidthBps,
          dirtyRateBps: params.dirtyRateBps,
          workingSetBytes: move.plan.workingSetBytes,
          downtimeLimitMs: params.downtimeLimitMs,
          policy: params.policy,
        },
      };
    case 'switchover':
      return { kind: 'switchover', moveId: move.moveId, reason: next.reason, remainingBytes: next.remainingBytes, expectedDowntimeMs: next.downtimeMs };
    case 'postcopy':
      return { kind: 'switchover', moveId: move.moveId, reason: 'postcopy', remainingBytes: next.remainingBytes, expectedDowntimeMs: next.downtimeMs };
    case 'abort':
      return {
        kind: 'fail',
        moveId: move.moveId,
        code: 'NOT_CONVERGING',
        message: `hot move aborted: ${next.reason}; the VM keeps running at ${move.from.hypervisor}. Try a warm or cold move, a higher downtime limit, or the throttle or postcopy policy.`,
      };
    default: {
      const never: never = next;
      throw new Error(`unhandled pre-copy step ${JSON.stringify(never)}`);
    }
  }
}
