import type { Location, MoveMode, MoveState, RecordedEvent, TimelineEntry, VmEvent } from '@locus/contracts';
import { assertNever } from '../vm/vm.decider';

/** Read model of one move, as `locus.move.get` returns it. Built only from events, so a rebuild is identical. */
export interface MoveRow {
  moveId: string;
  vm: string;
  mode: MoveMode;
  from: Location;
  to: Location;
  state: MoveState;
  locationVersion: number;
  requestId: string | null;
  acceptedAt: string;
  finishedAt: string | null;
  downtimeMs: number | null;
  totalMs: number | null;
  timeline: TimelineEntry[];
  error: { code: string; message: string } | null;
}

export function moveIdOf(event: VmEvent): string | undefined {
  return event.type === 'VmPlaced' ? undefined : event.data.moveId;
}

/** Applies one recorded VM event to the move it belongs to. `row` is undefined before MoveAccepted. */
export function projectMove(row: MoveRow | undefined, recorded: RecordedEvent): MoveRow | undefined {
  const event = { type: recorded.type, data: recorded.data } as VmEvent;
  const entry = (detail?: Record<string, unknown>): TimelineEntry => ({
    at: recorded.metadata.at,
    component: recorded.metadata.component,
    event: recorded.type,
    ...(detail ? { detail } : {}),
  });
  if (event.type === 'VmPlaced') return row;
  if (event.type === 'MoveAccepted') {
    if (row) return row;
    const d = event.data;
    return {
      moveId: d.moveId,
      vm: d.vm,
      mode: d.mode,
      from: d.from,
      to: d.to,
      state: 'accepted',
      locationVersion: d.locationVersion,
      requestId: d.requestId ?? null,
      acceptedAt: recorded.metadata.at,
      finishedAt: null,
      downtimeMs: null,
      totalMs: null,
      timeline: [entry()],
      error: null,
    };
  }
  if (!row) return row;
  const step = (patch: Partial<MoveRow>, detail?: Record<string, unknown>): MoveRow => ({
    ...row,
    ...patch,
    timeline: [...row.timeline, entry(detail)],
  });
  switch (event.type) {
    case 'VmStoppedAtSource':
      return step({ state: 'in-progress' }, { hypervisor: event.data.hypervisor, durationMs: event.data.durationMs });
    case 'VmConfigTransferred':
      return step({}, { bytes: event.data.bytes, durationMs: event.data.durationMs });
    case 'VmRelocated':
      return step({ locationVersion: event.data.locationVersion }, { locationVersion: event.data.locationVersion });
    case 'VmStartedAtTarget':
      return step({}, { hypervisor: event.data.hypervisor, durationMs: event.data.durationMs });
    case 'MoveCompleted':
      return step(
        { state: 'completed', finishedAt: recorded.metadata.at, downtimeMs: event.data.downtimeMs, totalMs: event.data.totalMs },
        { downtimeMs: event.data.downtimeMs },
      );
    case 'MoveFailed':
      return step(
        { state: 'failed', finishedAt: recorded.metadata.at, error: { code: event.data.code, message: event.data.message } },
        { phase: event.data.phase },
      );
    case 'VmRestartedAtSource':
      return step({}, { hypervisor: event.data.hypervisor, durationMs: event.data.durationMs });
    default:
      return assertNever(event);
  }
}
