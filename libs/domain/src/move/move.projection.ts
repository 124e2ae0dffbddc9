import type { Location, MoveCause, MoveMode, MoveState, PlaneTiming, PrecopyRoundView, RecordedEvent, StaleComponent, TimelineEntry, VmEvent } from '@locus/contracts';
import { assertNever } from '../vm/vm.decider';

/** Read model of one move, as `locus.move.get` returns it. Built only from events, so a rebuild is identical. */
export interface MoveRow {
  moveId: string;
  vm: string;
  mode: MoveMode;
  cause: MoveCause;
  from: Location;
  to: Location;
  state: MoveState;
  locationVersion: number;
  requestId: string | null;
  acceptedAt: string;
  finishedAt: string | null;
  downtimeMs: number | null;
  /** What the model says the downtime was (the down phases' durations); absent in rows projected before it was recorded. */
  modelDowntimeMs?: number | null;
  totalMs: number | null;
  phases: Record<string, number>;
  rounds: PrecopyRoundView[];
  dataSentBytes: number | null;
  warnings: string[];
  planes: string[];
  timeline: TimelineEntry[];
  error: { code: string; message: string } | null;
  /** Real ms from the location commit to the last plane (MoveConverged). Absent in rows projected before convergence tracking. */
  convergenceMs?: number | null;
  planeTimes?: Record<string, PlaneTiming> | null;
  convergenceLate?: { afterMs: number; at: string; stale: StaleComponent[] } | null;
}

/** The move an event belongs to; placements and drift repairs belong to none. */
export function moveIdOf(event: VmEvent): string | undefined {
  return 'moveId' in event.data ? event.data.moveId : undefined;
}

/** Simulated duration each event reports, by the phase name the move view shows. */
const PHASE_OF: Partial<Record<VmEvent['type'], string>> = {
  VmStoppedAtSource: 'shutdown',
  VmConfigTransferred: 'transfer',
  VmStartedAtTarget: 'boot',
  VmSuspendedAtSource: 'suspend',
  VmStateTransferred: 'state-transfer',
  VmResumedAtTarget: 'resume',
  PreCopyRoundCompleted: 'precopy',
  VmPausedAndCopied: 'stop-and-copy',
  PostcopyCompleted: 'postcopy',
  VmRestartedAtSource: 'restart-at-source',
};

/** Applies one recorded VM event to the move it belongs to. `row` is undefined before MoveAccepted. */
export function projectMove(row: MoveRow | undefined, recorded: RecordedEvent): MoveRow | undefined {
  const event: VmEvent = recorded;
  const entry = (detail?: Record<string, unknown>): TimelineEntry => ({
    at: recorded.metadata.at,
    component: recorded.metadata.component,
    event: recorded.type,
    ...(detail ? { detail } : {}),
  });
  if (event.type === 'VmPlaced' || event.type === 'VmLocationReasserted' || event.type === 'VmRestartedByRepair' || event.type === 'VmRepairStuck') return row;
  if (event.type === 'MoveAccepted') {
    if (row) return row;
    const d = event.data;
    return {
      moveId: d.moveId,
      vm: d.vm,
      mode: d.mode,
      cause: d.cause,
      from: d.from,
      to: d.to,
      state: 'accepted',
      locationVersion: d.locationVersion,
      requestId: d.requestId ?? null,
      acceptedAt: recorded.metadata.at,
      finishedAt: null,
      downtimeMs: null,
      totalMs: null,
      phases: {},
      rounds: [],
      dataSentBytes: null,
      warnings: d.warnings,
      planes: d.planes,
      timeline: [entry(d.cause === 'ha-restart' ? { cause: d.cause } : undefined)],
      error: null,
      convergenceMs: null,
      planeTimes: null,
      convergenceLate: null,
    };
  }
  if (!row) return row;
  const phase = PHASE_OF[event.type];
  const ms = phase && 'durationMs' in event.data ? (event.data.durationMs as number) : 0;
  const step = (patch: Partial<MoveRow>, detail?: Record<string, unknown>): MoveRow => ({
    ...row,
    ...patch,
    phases: phase ? { ...row.phases, [phase]: round3((row.phases[phase] ?? 0) + ms) } : row.phases,
    timeline: [...row.timeline, entry(detail)],
  });
  switch (event.type) {
    case 'MoveStarted':
      return step({ state: 'in-progress' });
    case 'VmStoppedAtSource':
    case 'VmRestartedAtSource':
    case 'VmStartedAtTarget':
    case 'VmResumedAtTarget':
      return step({}, { hypervisor: event.data.hypervisor, durationMs: event.data.durationMs });
    case 'VmConfigTransferred':
    case 'VmStateTransferred':
    case 'VmSuspendedAtSource':
    case 'PostcopyCompleted':
      return step({}, { bytes: event.data.bytes, durationMs: event.data.durationMs });
    case 'PreCopyRoundCompleted': {
      const { moveId: _m, ...round } = event.data;
      return step(
        { rounds: [...row.rounds, round] },
        { round: round.round, sentBytes: round.sentBytes, dirtyBytes: Math.round(round.dirtyBytes), throttlePct: round.throttlePct, expectedDowntimeMs: round3(round.expectedDowntimeMs) },
      );
    }
    case 'SwitchoverStarted':
      return step({}, { reason: event.data.reason, remainingBytes: Math.round(event.data.remainingBytes), expectedDowntimeMs: round3(event.data.expectedDowntimeMs) });
    case 'VmPausedAndCopied':
      return step({}, { bytes: Math.round(event.data.bytes), durationMs: event.data.durationMs, reason: event.data.reason });
    case 'VmRelocated':
      return step({ locationVersion: event.data.locationVersion }, { locationVersion: event.data.locationVersion });
    case 'RarpAnnounced':
      return step({}, { offsetsMs: event.data.offsetsMs });
    case 'MoveCompleted':
      return step(
        {
          state: 'completed',
          finishedAt: recorded.metadata.at,
          downtimeMs: event.data.downtimeMs,
          modelDowntimeMs: event.data.modelDowntimeMs ?? null,
          totalMs: event.data.totalMs,
          dataSentBytes: event.data.dataSentBytes,
        },
        { downtimeMs: event.data.downtimeMs, modelDowntimeMs: event.data.modelDowntimeMs, totalMs: event.data.totalMs },
      );
    case 'MoveFailed':
      return step({ state: 'failed', finishedAt: recorded.metadata.at, error: { code: event.data.code, message: event.data.message } }, { phase: event.data.phase, code: event.data.code });
    case 'MoveCancelled':
      return step({ state: 'cancelled', finishedAt: recorded.metadata.at }, { phase: event.data.phase });
    case 'MoveConverged':
      return step(
        { state: row.state === 'completed' ? 'converged' : row.state, convergenceMs: event.data.convergenceMs, planeTimes: event.data.planes },
        { convergenceMs: event.data.convergenceMs, planes: Object.fromEntries(Object.entries(event.data.planes).map(([plane, t]) => [plane, t.ms])) },
      );
    case 'MoveConvergenceLate':
      return step(
        { convergenceLate: { afterMs: event.data.afterMs, at: recorded.metadata.at, stale: event.data.stale } },
        { afterMs: event.data.afterMs, stale: event.data.stale.map((s) => s.component) },
      );
    default:
      return assertNever(event);
  }
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;
