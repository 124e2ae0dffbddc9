import type { AgentStepReply, ErrorBody, VmEvent } from '@locus/contracts';
import type { VmCommand } from '../vm/vm.commands';
import { decide, fold } from '../vm/vm.decider';
import type { VmState } from '../vm/vm.state';
import { nextSagaStep, type AgentStep, type SagaStep } from './move.saga';

/**
 * What a saga step comes to, as a command for the VM's decider: written once, used by the saga
 * runner (with the agents' real replies) and by the specs (with a perfect agent's).
 */

/** A step the manager records by itself, without asking an agent. */
export type OwnStep = Exclude<SagaStep, { kind: 'agent' }>;
/** The part of an agent's reply that the saga records. */
export type StepAnswer = Pick<
  AgentStepReply,
  'durationMs' | 'startedAt' | 'endedAt' | 'bytes' | 'dirtyBytes' | 'offsetsMs' | 'measured' | 'completed' | 'throttlePct' | 'expectedDowntimeMs' | 'dirtyRateBps'
>;

/** The command of a step the manager takes itself: admit (once admission lets it), commit, switchover, fail. */
export function commandOfStep(step: OwnStep): VmCommand {
  switch (step.kind) {
    case 'admit':
      return { type: 'StartMove', moveId: step.moveId };
    case 'commit':
      return { type: 'CommitLocation', moveId: step.moveId };
    case 'switchover': {
      const { moveId, reason, remainingBytes, expectedDowntimeMs } = step;
      return { type: 'StartSwitchover', moveId, reason, remainingBytes, expectedDowntimeMs };
    }
    case 'fail':
      return failureOf(step, step);
    default: {
      const never: never = step;
      throw new Error(`unhandled saga step ${JSON.stringify(never)}`);
    }
  }
}

/** The command that fails a step's move with an error (an agent's refusal, silence, or the saga's own verdict). */
export function failureOf(step: { moveId: string }, error: Pick<ErrorBody, 'code' | 'message'>): VmCommand {
  return { type: 'FailMove', moveId: step.moveId, code: error.code, message: error.message };
}

/**
 * The command that records an agent's answer to its step; the moments the agent saw the VM stop
 * (`startedAt` of a stop, suspend or pause) and serve again (`endedAt` of a start or resume) go
 * with it, with `timeScale` (simulated ms per real ms) to turn them into the observed downtime.
 */
export function commandOfAnswer(step: AgentStep, answer: StepAnswer, timeScale: number): VmCommand {
  const { moveId, hypervisor, locationVersion } = step;
  const durationMs = answer.durationMs;
  const downAt = answer.startedAt;
  const up = { upAt: answer.endedAt, timeScale };
  if (step.purpose === 'restart') return { type: 'RecordRestartedAtSource', moveId, hypervisor, durationMs };
  switch (step.action) {
    case 'stop':
      return { type: 'RecordSourceStopped', moveId, hypervisor, durationMs, downAt };
    case 'transfer':
      return { type: 'RecordConfigTransferred', moveId, bytes: answer.bytes ?? 0, durationMs };
    case 'start':
      return { type: 'RecordTargetStarted', moveId, hypervisor, locationVersion, durationMs, ...up };
    case 'suspend':
      return { type: 'RecordSuspended', moveId, hypervisor, bytes: answer.bytes ?? 0, durationMs, downAt };
    case 'receive-state':
      return { type: 'RecordStateTransferred', moveId, bytes: answer.bytes ?? 0, durationMs };
    case 'resume':
      return { type: 'RecordResumed', moveId, hypervisor, locationVersion, durationMs, ...up };
    case 'precopy-round': {
      const p = step.params;
      const bandwidthBps = p.bandwidthBps as number;
      const dirtyBytes = answer.dirtyBytes ?? 0;
      // A real hypervisor's pass carries its own throttle, expected downtime and dirty rate: recorded as they are.
      return {
        type: 'RecordPrecopyRound',
        moveId,
        round: {
          round: step.meta?.round ?? 0,
          sentBytes: answer.bytes ?? 0,
          durationMs,
          dirtyBytes,
          throttlePct: answer.throttlePct ?? (p.throttlePct as number) ?? 0,
          expectedDowntimeMs: answer.expectedDowntimeMs ?? (dirtyBytes / bandwidthBps) * 1000 + (step.meta?.resumeMs ?? 0),
          ...(answer.measured ? { measured: true, completed: answer.completed === true } : {}),
          ...(answer.dirtyRateBps !== undefined ? { dirtyRateBps: answer.dirtyRateBps } : {}),
        },
      };
    }
    case 'pause-and-copy':
      return { type: 'RecordPausedAndCopied', moveId, hypervisor, bytes: answer.bytes ?? 0, durationMs, downAt };
    case 'announce':
      return { type: 'RecordAnnounced', moveId, hypervisor, offsetsMs: answer.offsetsMs ?? [] };
    case 'postcopy-pull':
      return { type: 'RecordPostcopyPulled', moveId, bytes: answer.bytes ?? 0, durationMs };
    default: {
      const never: never = step.action;
      throw new Error(`unhandled agent action ${never}`);
    }
  }
}

/** A decision the saga takes alone, and the events it comes to. */
export interface DecidedStep {
  step: Exclude<OwnStep, { kind: 'admit' }>;
  events: VmEvent[];
}

/** Decisions chained after one answer at most (a cold move has one: the commit). */
const MAX_CHAINED_DECISIONS = 4;

/**
 * The steps the saga can decide at once on `state` (the state right after an agent's answer is
 * recorded), with their events, in order: the location commit after the last transfer, a
 * switchover, a failure verdict. They ask no one, so they can be recorded in the answer's own
 * append. The chain ends at a step that asks someone (an agent; admission, which reads its host's
 * queue) and at one the decider refuses or finds already done: the saga takes that one later, alone.
 */
export function decisionsAfter(state: VmState): DecidedStep[] {
  const out: DecidedStep[] = [];
  for (let i = 0; i < MAX_CHAINED_DECISIONS; i++) {
    const step = nextSagaStep(state);
    if (!step || step.kind === 'agent' || step.kind === 'admit') break;
    const decision = decide(commandOfStep(step), state);
    if (!decision.ok || decision.events.length === 0) break;
    out.push({ step, events: decision.events });
    state = fold(decision.events, state);
  }
  return out;
}
