import type { ErrorCode, VmEvent } from '@locus/contracts';
import type { VmCommand } from './vm.commands';
import { initialVmState, type ActiveMove, type MovePhase, type PlacedVm, type VmState } from './vm.state';
import { moveInProgress, sameLocation } from '../move/move-request';

/** A decision: the events to append (possibly none: the command was already applied), or a refusal. */
export type Decision = { ok: true; events: VmEvent[] } | { ok: false; code: ErrorCode; message: string };

const accept = (...events: VmEvent[]): Decision => ({ ok: true, events });
const refuse = (code: ErrorCode, message: string): Decision => ({ ok: false, code, message });
/** Already applied, or about a move that is no longer active: nothing to append (idempotent). */
const nothing: Decision = { ok: true, events: [] };

/** Phases from which a move can still be cancelled or fail back to the source. */
const BEFORE_SWITCHOVER: ReadonlySet<MovePhase> = new Set(['queued', 'started', 'source-stopped', 'config-transferred', 'suspended', 'state-transferred', 'precopy']);

export function decide(command: VmCommand, state: VmState): Decision {
  if (command.type === 'PlaceVm') {
    if (state.status === 'placed') return nothing;
    const { vm, ip, mac, l2Domain, memoryMb, location } = command;
    return accept({ type: 'VmPlaced', data: { vm, ip, mac, l2Domain, memoryMb, site: location.site, hypervisor: location.hypervisor, locationVersion: 1 } });
  }
  if (state.status !== 'placed') return refuse('UNKNOWN_VM', `no VM with that name is placed`);

  switch (command.type) {
    case 'RequestMove':
      return decideRequestMove(command, state);
    case 'StartMove': {
      const move = activeMove(state, command.moveId, 'queued');
      return move ? accept({ type: 'MoveStarted', data: { moveId: move.moveId, hypervisor: move.from.hypervisor } }) : nothing;
    }
    case 'RecordSourceStopped': {
      const move = activeMove(state, command.moveId, 'started');
      if (!move) return nothing;
      return accept({ type: 'VmStoppedAtSource', data: { moveId: move.moveId, hypervisor: command.hypervisor, durationMs: command.durationMs, ...downAtOf(command) } });
    }
    case 'RecordConfigTransferred': {
      const move = activeMove(state, command.moveId, 'source-stopped');
      if (!move) return nothing;
      const { bytes, durationMs } = command;
      return accept({ type: 'VmConfigTransferred', data: { moveId: move.moveId, from: move.from.hypervisor, to: move.to.hypervisor, bytes, durationMs } });
    }
    case 'RecordSuspended': {
      const move = activeMove(state, command.moveId, 'started');
      if (!move) return nothing;
      const { hypervisor, bytes, durationMs } = command;
      return accept({ type: 'VmSuspendedAtSource', data: { moveId: move.moveId, hypervisor, bytes, durationMs, ...downAtOf(command) } });
    }
    case 'RecordStateTransferred': {
      const move = activeMove(state, command.moveId, 'suspended');
      if (!move) return nothing;
      const { bytes, durationMs } = command;
      return accept({ type: 'VmStateTransferred', data: { moveId: move.moveId, from: move.from.hypervisor, to: move.to.hypervisor, bytes, durationMs } });
    }
    case 'RecordPrecopyRound': {
      const move = state.move;
      if (!move || move.moveId !== command.moveId || (move.phase !== 'started' && move.phase !== 'precopy')) return nothing;
      if (command.round.round !== move.rounds.length) return nothing; // a repeated or out-of-order round
      return accept({ type: 'PreCopyRoundCompleted', data: { moveId: move.moveId, ...command.round } });
    }
    case 'StartSwitchover': {
      const move = state.move;
      if (!move || move.moveId !== command.moveId || move.phase !== 'precopy') return nothing;
      const { reason, remainingBytes, expectedDowntimeMs } = command;
      return accept({ type: 'SwitchoverStarted', data: { moveId: move.moveId, reason, remainingBytes, expectedDowntimeMs } });
    }
    case 'RecordPausedAndCopied': {
      const move = activeMove(state, command.moveId, 'switching');
      if (!move) return nothing;
      const { hypervisor, bytes, durationMs } = command;
      return accept({ type: 'VmPausedAndCopied', data: { moveId: move.moveId, hypervisor, bytes, durationMs, reason: move.switchoverReason ?? 'converged', ...downAtOf(command) } });
    }
    case 'CommitLocation': {
      const move = state.move;
      if (!move || move.moveId !== command.moveId) return nothing;
      const ready = move.cause === 'ha-restart' ? move.phase === 'started' : ['config-transferred', 'state-transferred', 'switched'].includes(move.phase);
      if (!ready) return nothing;
      return accept({
        type: 'VmRelocated',
        data: { moveId: move.moveId, vm: state.vm, ip: state.ip, mac: state.mac, from: move.from, to: move.to, locationVersion: state.locationVersion + 1, mode: move.mode },
      });
    }
    case 'RecordTargetStarted': {
      const move = activeMove(state, command.moveId, 'relocated');
      if (!move || move.mode !== 'cold') return nothing;
      if (command.locationVersion !== state.locationVersion) return refuse('FENCED', `target started the VM for location version ${command.locationVersion}, current is ${state.locationVersion}`);
      const modelMs = move.downMs + command.durationMs;
      const up = upAtOf(move, command);
      return accept(
        { type: 'VmStartedAtTarget', data: { moveId: move.moveId, hypervisor: command.hypervisor, locationVersion: state.locationVersion, durationMs: command.durationMs, ...up } },
        completed(move, state.locationVersion, { modelMs, observedMs: up.observedDowntimeMs }, move.liveMs + modelMs),
      );
    }
    case 'RecordResumed': {
      const move = activeMove(state, command.moveId, 'relocated');
      if (!move || move.mode === 'cold') return nothing;
      if (command.locationVersion !== state.locationVersion) return refuse('FENCED', `target resumed the VM for location version ${command.locationVersion}, current is ${state.locationVersion}`);
      const up = upAtOf(move, command);
      const resumed: VmEvent = {
        type: 'VmResumedAtTarget',
        data: { moveId: move.moveId, hypervisor: command.hypervisor, locationVersion: state.locationVersion, durationMs: command.durationMs, ...up },
      };
      if (move.mode === 'hot') return accept(resumed); // the announce follows
      const modelMs = move.downMs + command.durationMs;
      return accept(resumed, completed(move, state.locationVersion, { modelMs, observedMs: up.observedDowntimeMs }, move.liveMs + modelMs));
    }
    case 'RecordAnnounced': {
      const move = activeMove(state, command.moveId, 'resumed');
      if (!move) return nothing;
      const announced: VmEvent = { type: 'RarpAnnounced', data: { moveId: move.moveId, hypervisor: command.hypervisor, offsetsMs: command.offsetsMs } };
      if (move.postcopy) return accept(announced); // pages are still pulled from the source
      return accept(announced, completed(move, state.locationVersion, { modelMs: move.downMs, observedMs: move.observedDowntimeMs }, move.liveMs + move.downMs));
    }
    case 'RecordPostcopyPulled': {
      const move = activeMove(state, command.moveId, 'announced');
      if (!move) return nothing;
      return accept(
        { type: 'PostcopyCompleted', data: { moveId: move.moveId, bytes: command.bytes, durationMs: command.durationMs } },
        completed(
          { ...move, dataSentBytes: move.dataSentBytes + command.bytes },
          state.locationVersion,
          { modelMs: move.downMs, observedMs: move.observedDowntimeMs },
          move.liveMs + move.downMs + command.durationMs,
        ),
      );
    }
    case 'FailMove': {
      const move = state.move;
      if (!move || move.moveId !== command.moveId || move.phase === 'restarting-at-source') return nothing;
      if (move.postcopy && (move.phase === 'resumed' || move.phase === 'announced'))
        // The source died while the target still pulled pages: the VM's memory is split and lost.
        return accept({ type: 'MoveFailed', data: { moveId: move.moveId, code: command.code, message: command.message, phase: move.phase, restartAtSource: false } });
      if (!BEFORE_SWITCHOVER.has(move.phase) && move.phase !== 'switching') return refuse('TOO_LATE', 'the location is already committed at the target; the move can only go forward');
      return accept({
        type: 'MoveFailed',
        data: { moveId: move.moveId, code: command.code, message: command.message, phase: move.phase, restartAtSource: mayBeStopped(state, move) },
      });
    }
    case 'CancelMove': {
      const move = state.move;
      if (!move || move.moveId !== command.moveId) return nothing;
      if (!BEFORE_SWITCHOVER.has(move.phase)) return refuse('TOO_LATE', `move ${move.moveId} is past its switchover (${move.phase}); it can only complete`);
      return accept({ type: 'MoveCancelled', data: { moveId: move.moveId, phase: move.phase, restartAtSource: mayBeStopped(state, move) } });
    }
    case 'RecordRestartedAtSource': {
      const move = activeMove(state, command.moveId, 'restarting-at-source');
      if (!move) return nothing;
      return accept({ type: 'VmRestartedAtSource', data: { moveId: move.moveId, hypervisor: command.hypervisor, durationMs: command.durationMs } });
    }
    case 'RecordConverged': {
      // Only the last committed move, once completed, and only once.
      const c = state.convergence;
      if (!c || c.moveId !== command.moveId || c.locationVersion !== command.locationVersion || c.converged || state.move?.moveId === command.moveId) return nothing;
      const { moveId, locationVersion, convergenceMs, planes } = command;
      return accept({ type: 'MoveConverged', data: { moveId, locationVersion, convergenceMs: round3(convergenceMs), planes } });
    }
    case 'RecordConvergenceLate': {
      // May come before the move completes (a slow boot does not hide a stale plane), once per move.
      const c = state.convergence;
      if (!c || c.moveId !== command.moveId || c.locationVersion !== command.locationVersion || c.converged || c.late) return nothing;
      if (command.stale.length === 0) return refuse('BAD_REQUEST', 'a late convergence names at least one stale component');
      const { moveId, locationVersion, afterMs, stale, planes } = command;
      return accept({ type: 'MoveConvergenceLate', data: { moveId, locationVersion, afterMs: round3(afterMs), stale, planes } });
    }
    case 'ReassertLocation':
      return decideReassert(command, state);
    case 'RecordRepairRestarted': {
      if (state.repair?.repairId === command.repairId && state.repair.restarted) return nothing;
      if (command.hypervisor !== state.location.hypervisor || command.locationVersion !== state.locationVersion)
        return refuse('FENCED', `${command.hypervisor} booted ${state.vm} for location version ${command.locationVersion}; the DB places it on ${state.location.hypervisor} v${state.locationVersion}`);
      const { repairId, hypervisor, locationVersion, durationMs } = command;
      return accept({ type: 'VmRestartedByRepair', data: { repairId, hypervisor, locationVersion, durationMs } });
    }
    case 'DeclareRepairStuck': {
      if (state.repair?.repairId === command.repairId && state.repair.stuck) return nothing;
      const { repairId, hypervisor, locationVersion, findings, reason, action } = command;
      return accept({ type: 'VmRepairStuck', data: { repairId, hypervisor, locationVersion, findings, reason, action } });
    }
    default:
      return assertNever(command);
  }
}

/**
 * A drift repair asserts the DB's own location again, never another one, and only on the facts
 * the check compared: not if the VM changed since (a move, another repair), and not while it moves
 * (its saga owns it), except a move stuck restarting at the source, which the new version unfences.
 */
function decideReassert(command: Extract<VmCommand, { type: 'ReassertLocation' }>, state: PlacedVm): Decision {
  if (state.repair?.repairId === command.repairId) return nothing;
  if (command.expectedLocationVersion !== state.locationVersion)
    return refuse('VERSION_CONFLICT', `${state.vm} is at location version ${state.locationVersion} now, not ${command.expectedLocationVersion}: compare it again`);
  if (command.hypervisor !== state.location.hypervisor) return refuse('BAD_REQUEST', `a repair asserts the DB's location: ${state.vm} is on ${state.location.hypervisor}, not ${command.hypervisor}`);
  if (state.move && state.move.phase !== 'restarting-at-source')
    return refuse('MOVE_IN_PROGRESS', `${state.vm} is moving (move ${state.move.moveId}, ${state.move.phase}): its saga settles where it runs`);
  if (command.locationVersion <= state.locationVersion) return refuse('BAD_REQUEST', `a repair needs a location version above ${state.locationVersion}, not ${command.locationVersion}`);
  if (command.findings.length === 0) return refuse('BAD_REQUEST', 'a repair names at least one finding');
  const { repairId, hypervisor, locationVersion, findings, evict, start } = command;
  return accept({
    type: 'VmLocationReasserted',
    data: { repairId, vm: state.vm, ip: state.ip, mac: state.mac, site: state.location.site, hypervisor, locationVersion, previousVersion: state.locationVersion, findings, evict, start },
  });
}

function decideRequestMove(command: Extract<VmCommand, { type: 'RequestMove' }>, state: PlacedVm): Decision {
  const refused = moveInProgress(state.vm, state.move && { moveId: state.move.moveId, stage: state.move.phase }) ?? sameLocation(state.vm, state.location.hypervisor, command.to.hypervisor);
  if (refused) return refuse(refused.code, refused.message);
  if (command.plan && command.plan.mode !== command.mode) return refuse('BAD_REQUEST', `plan is for a ${command.plan.mode} move, not ${command.mode}`);
  return accept({
    type: 'MoveAccepted',
    data: {
      moveId: command.moveId,
      vm: state.vm,
      mode: command.mode,
      from: state.location,
      to: command.to,
      ...(command.requestId ? { requestId: command.requestId } : {}),
      locationVersion: state.locationVersion,
      cause: command.cause ?? 'operator',
      ...(command.plan ? { plan: command.plan } : {}),
      warnings: command.warnings ?? [],
      planes: command.planes ?? [],
    },
  });
}

/**
 * Whether the VM may have stopped at the source: a cold or warm move whose first step was
 * sent (the stop or suspend may be in flight), or a hot move past its pause. Restarting a
 * VM that still runs is a no-op at the agent, so erring on "maybe" is safe.
 */
function mayBeStopped(state: PlacedVm, move: ActiveMove): boolean {
  if (state.run === 'stopped') return true;
  if (move.phase === 'queued' || move.cause === 'ha-restart') return false;
  if (move.mode === 'hot') return move.phase === 'switching';
  return true;
}

/**
 * The move's end. Its downtime is the one the agents measured (the VM stopped at the source to
 * it running at the target) when they did, else the model's (the down phases' durations, e.g. an
 * HA restart, whose VM went down with its host); the model's is kept beside it. `totalMs` is modelled.
 */
function completed(move: ActiveMove, locationVersion: number, downtime: { modelMs: number; observedMs?: number }, totalMs: number): VmEvent {
  return {
    type: 'MoveCompleted',
    data: {
      moveId: move.moveId,
      locationVersion,
      downtimeMs: round3(downtime.observedMs ?? downtime.modelMs),
      modelDowntimeMs: round3(downtime.modelMs),
      totalMs: round3(totalMs),
      rounds: move.rounds.length,
      dataSentBytes: Math.round(move.dataSentBytes),
    },
  };
}

const downAtOf = (command: { downAt?: number }) => (command.downAt !== undefined ? { downAt: command.downAt } : {});

/** Downtime as the agents measured it: wall-clock ms from the VM stopping at the source to it serving at the target, in simulated ms. */
export function observedDowntimeMs(downAt: number | undefined, upAt: number | undefined, timeScale: number | undefined): number | undefined {
  if (downAt === undefined || upAt === undefined || timeScale === undefined) return undefined;
  return round3(Math.max(0, upAt - downAt) * timeScale);
}

function upAtOf(move: ActiveMove, command: { upAt?: number; timeScale?: number }): { upAt?: number; observedDowntimeMs?: number } {
  if (command.upAt === undefined) return {};
  const observed = observedDowntimeMs(move.downAt, command.upAt, command.timeScale);
  return observed === undefined ? { upAt: command.upAt } : { upAt: command.upAt, observedDowntimeMs: observed };
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

function activeMove(state: PlacedVm, moveId: string, phase: MovePhase) {
  return state.move && state.move.moveId === moveId && state.move.phase === phase ? state.move : undefined;
}

export function evolve(state: VmState, event: VmEvent): VmState {
  if (event.type === 'VmPlaced') {
    const d = event.data;
    return {
      status: 'placed',
      vm: d.vm,
      ip: d.ip,
      mac: d.mac,
      l2Domain: d.l2Domain,
      memoryMb: d.memoryMb,
      location: { site: d.site, hypervisor: d.hypervisor },
      locationVersion: d.locationVersion,
      run: 'running',
    };
  }
  if (state.status !== 'placed') return state;
  switch (event.type) {
    case 'MoveAccepted': {
      const d = event.data;
      return {
        ...state,
        move: {
          moveId: d.moveId,
          mode: d.mode,
          cause: d.cause,
          from: d.from,
          to: d.to,
          requestId: d.requestId,
          plan: d.plan,
          phase: 'queued',
          rounds: [],
          phases: {},
          liveMs: 0,
          downMs: 0,
          dataSentBytes: 0,
          postcopy: false,
        },
      };
    }
    case 'MoveStarted':
      return withMove(state, () => ({ phase: 'started' }));
    case 'VmStoppedAtSource':
      return withMove({ ...state, run: 'stopped' }, (m) => down(m, 'shutdown', event.data.durationMs, { phase: 'source-stopped', downAt: event.data.downAt }));
    case 'VmConfigTransferred':
      return withMove(state, (m) => down(m, 'transfer', event.data.durationMs, { phase: 'config-transferred', dataSentBytes: m.dataSentBytes + event.data.bytes }));
    case 'VmSuspendedAtSource':
      return withMove({ ...state, run: 'stopped' }, (m) => down(m, 'suspend', event.data.durationMs, { phase: 'suspended', downAt: event.data.downAt }));
    case 'VmStateTransferred':
      return withMove(state, (m) => down(m, 'state-transfer', event.data.durationMs, { phase: 'state-transferred', dataSentBytes: m.dataSentBytes + event.data.bytes }));
    case 'PreCopyRoundCompleted': {
      const { moveId: _moveId, ...round } = event.data;
      return withMove(state, (m) => ({
        phase: 'precopy',
        rounds: [...m.rounds, round],
        liveMs: m.liveMs + round.durationMs,
        dataSentBytes: m.dataSentBytes + round.sentBytes,
        phases: { ...m.phases, precopy: (m.phases.precopy ?? 0) + round.durationMs },
      }));
    }
    case 'SwitchoverStarted':
      return withMove(state, () => ({ phase: 'switching', postcopy: event.data.reason === 'postcopy', switchoverReason: event.data.reason }));
    case 'VmPausedAndCopied':
      return withMove({ ...state, run: 'stopped' }, (m) =>
        down(m, 'stop-and-copy', event.data.durationMs, { phase: 'switched', dataSentBytes: m.dataSentBytes + event.data.bytes, downAt: event.data.downAt }),
      );
    case 'VmRelocated': {
      const convergence = { moveId: event.data.moveId, locationVersion: event.data.locationVersion, converged: false, late: false };
      return withMove({ ...state, location: event.data.to, locationVersion: event.data.locationVersion, convergence }, () => ({ phase: 'relocated' }));
    }
    case 'VmStartedAtTarget':
      return withMove({ ...state, run: 'running' }, (m) => down(m, 'boot', event.data.durationMs, {}));
    case 'VmResumedAtTarget':
      return withMove({ ...state, run: 'running' }, (m) => down(m, 'resume', event.data.durationMs, { phase: 'resumed', observedDowntimeMs: event.data.observedDowntimeMs }));
    case 'RarpAnnounced':
      return withMove(state, () => ({ phase: 'announced' }));
    case 'PostcopyCompleted':
      return withMove(state, (m) => ({ phases: { ...m.phases, postcopy: event.data.durationMs } }));
    case 'MoveCompleted':
      return { ...state, move: undefined };
    case 'MoveFailed': {
      if (event.data.restartAtSource) return withMove(state, () => ({ phase: 'restarting-at-source' }));
      // Failed after its commit (postcopy source lost): the VM is stopped, its network will not converge.
      const convergence = state.convergence?.moveId === event.data.moveId ? undefined : state.convergence;
      return { ...state, move: undefined, convergence, run: event.data.code === 'POSTCOPY_SOURCE_LOST' ? 'stopped' : state.run };
    }
    case 'MoveCancelled':
      return event.data.restartAtSource ? withMove(state, () => ({ phase: 'restarting-at-source' })) : { ...state, move: undefined };
    case 'VmRestartedAtSource':
      return { ...state, run: 'running', move: undefined };
    case 'MoveConverged':
      return state.convergence?.moveId === event.data.moveId ? { ...state, convergence: { ...state.convergence, converged: true } } : state;
    case 'MoveConvergenceLate':
      return state.convergence?.moveId === event.data.moveId ? { ...state, convergence: { ...state.convergence, late: true } } : state;
    case 'VmLocationReasserted': {
      const d = event.data;
      return {
        ...state,
        location: { site: d.site, hypervisor: d.hypervisor },
        locationVersion: d.locationVersion,
        repair: { repairId: d.repairId, locationVersion: d.locationVersion, restarted: false, stuck: false },
      };
    }
    case 'VmRestartedByRepair': {
      const d = event.data;
      const repair = { ...(state.repair ?? { locationVersion: d.locationVersion, stuck: false }), repairId: d.repairId, restarted: true };
      // A move accepted meanwhile keeps its own run state.
      return { ...state, run: state.move ? state.run : 'running', repair };
    }
    case 'VmRepairStuck': {
      const d = event.data;
      return { ...state, repair: { ...(state.repair ?? { locationVersion: d.locationVersion, restarted: false }), repairId: d.repairId, stuck: true } };
    }
    default:
      return assertNever(event);
  }
}

function down(m: ActiveMove, phase: string, ms: number, patch: Partial<ActiveMove>): Partial<ActiveMove> {
  return { ...patch, downMs: m.downMs + ms, phases: { ...m.phases, ...(patch.phases ?? {}), [phase]: (m.phases[phase] ?? 0) + ms } };
}

function withMove(state: PlacedVm, patch: (move: ActiveMove) => Partial<ActiveMove>): PlacedVm {
  return state.move ? { ...state, move: { ...state.move, ...patch(state.move) } } : state;
}

export function fold(events: Iterable<VmEvent>, from: VmState = initialVmState()): VmState {
  let state = from;
  for (const event of events) state = evolve(state, event);
  return state;
}

export const vmDecider = { decide, evolve, initialState: initialVmState };

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
