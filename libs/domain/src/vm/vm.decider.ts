import type { ErrorCode, VmEvent } from '@locus/contracts';
import type { VmCommand } from './vm.commands';
import { initialVmState, type PlacedVm, type VmState } from './vm.state';

/** A decision: the events to append (possibly none: the command was already applied), or a refusal. */
export type Decision = { ok: true; events: VmEvent[] } | { ok: false; code: ErrorCode; message: string };

const accept = (...events: VmEvent[]): Decision => ({ ok: true, events });
const refuse = (code: ErrorCode, message: string): Decision => ({ ok: false, code, message });
/** Already applied, or about a move that is no longer active: nothing to append (idempotent). */
const nothing: Decision = { ok: true, events: [] };

/** Modes whose engines exist. Hot and warm are accepted by the contract but executed later. */
export const EXECUTABLE_MODES = new Set(['cold']);

export function decide(command: VmCommand, state: VmState): Decision {
  if (command.type === 'PlaceVm') {
    if (state.status === 'placed') return nothing;
    return accept({
      type: 'VmPlaced',
      data: {
        vm: command.vm,
        ip: command.ip,
        mac: command.mac,
        l2Domain: command.l2Domain,
        memoryMb: command.memoryMb,
        site: command.location.site,
        hypervisor: command.location.hypervisor,
        locationVersion: 1,
      },
    });
  }
  if (state.status !== 'placed') return refuse('UNKNOWN_VM', `no VM with that name is placed`);

  switch (command.type) {
    case 'RequestMove':
      return decideRequestMove(command, state);
    case 'RecordSourceStopped': {
      const move = activeMove(state, command.moveId, 'accepted');
      if (!move) return nothing;
      return accept({
        type: 'VmStoppedAtSource',
        data: { moveId: move.moveId, hypervisor: command.hypervisor, durationMs: command.durationMs },
      });
    }
    case 'RecordConfigTransferred': {
      const move = activeMove(state, command.moveId, 'source-stopped');
      if (!move) return nothing;
      return accept({
        type: 'VmConfigTransferred',
        data: {
          moveId: move.moveId,
          from: move.from.hypervisor,
          to: move.to.hypervisor,
          bytes: command.bytes,
          durationMs: command.durationMs,
        },
      });
    }
    case 'CommitLocation': {
      const move = activeMove(state, command.moveId, 'config-transferred');
      if (!move) return nothing;
      return accept({
        type: 'VmRelocated',
        data: {
          moveId: move.moveId,
          vm: state.vm,
          ip: state.ip,
          mac: state.mac,
          from: move.from,
          to: move.to,
          locationVersion: state.locationVersion + 1,
        },
      });
    }
    case 'RecordTargetStarted': {
      const move = activeMove(state, command.moveId, 'relocated');
      if (!move) return nothing;
      if (command.locationVersion !== state.locationVersion)
        return refuse('FENCED', `target started the VM for location version ${command.locationVersion}, current is ${state.locationVersion}`);
      const downtimeMs = move.stopMs + move.transferMs + command.durationMs;
      return accept(
        {
          type: 'VmStartedAtTarget',
          data: {
            moveId: move.moveId,
            hypervisor: command.hypervisor,
            locationVersion: state.locationVersion,
            durationMs: command.durationMs,
          },
        },
        // A cold move is down from the stop to the boot: downtime and total coincide.
        { type: 'MoveCompleted', data: { moveId: move.moveId, locationVersion: state.locationVersion, downtimeMs, totalMs: downtimeMs } },
      );
    }
    case 'FailMove': {
      const move = state.move;
      if (!move || move.moveId !== command.moveId || move.phase === 'restarting-at-source') return nothing;
      if (move.phase === 'relocated')
        // Past the location commit the move can only go forward: the target owns the VM.
        return refuse('VERSION_CONFLICT', 'the location is already committed at the target; the move can no longer fail back');
      return accept({
        type: 'MoveFailed',
        data: {
          moveId: move.moveId,
          code: command.code,
          message: command.message,
          phase: move.phase,
          restartAtSource: state.run === 'stopped',
        },
      });
    }
    case 'RecordRestartedAtSource': {
      const move = activeMove(state, command.moveId, 'restarting-at-source');
      if (!move) return nothing;
      return accept({
        type: 'VmRestartedAtSource',
        data: { moveId: move.moveId, hypervisor: command.hypervisor, durationMs: command.durationMs },
      });
    }
    default:
      return assertNever(command);
  }
}

function decideRequestMove(command: Extract<VmCommand, { type: 'RequestMove' }>, state: PlacedVm): Decision {
  if (state.move)
    return refuse('MOVE_IN_PROGRESS', `VM ${state.vm} is already moving (move ${state.move.moveId}, ${state.move.phase})`);
  if (state.location.hypervisor === command.to.hypervisor)
    return refuse('SAME_LOCATION', `VM ${state.vm} already runs on ${command.to.hypervisor}`);
  if (!EXECUTABLE_MODES.has(command.mode))
    return refuse('MODE_NOT_SUPPORTED', `${command.mode} moves are not executed yet; use "mode":"cold"`);
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
    },
  });
}

function activeMove(state: PlacedVm, moveId: string, phase: string) {
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
        move: { moveId: d.moveId, mode: d.mode, from: d.from, to: d.to, requestId: d.requestId, phase: 'accepted', stopMs: 0, transferMs: 0 },
      };
    }
    case 'VmStoppedAtSource':
      return withMove({ ...state, run: 'stopped' }, { phase: 'source-stopped', stopMs: event.data.durationMs });
    case 'VmConfigTransferred':
      return withMove(state, { phase: 'config-transferred', transferMs: event.data.durationMs });
    case 'VmRelocated':
      return withMove({ ...state, location: event.data.to, locationVersion: event.data.locationVersion }, { phase: 'relocated' });
    case 'VmStartedAtTarget':
      return { ...state, run: 'running' };
    case 'MoveCompleted':
      return { ...state, move: undefined };
    case 'MoveFailed':
      return event.data.restartAtSource ? withMove(state, { phase: 'restarting-at-source' }) : { ...state, move: undefined };
    case 'VmRestartedAtSource':
      return { ...state, run: 'running', move: undefined };
    default:
      return assertNever(event);
  }
}

function withMove(state: PlacedVm, patch: Partial<NonNullable<PlacedVm['move']>>): PlacedVm {
  return state.move ? { ...state, move: { ...state.move, ...patch } } : state;
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
