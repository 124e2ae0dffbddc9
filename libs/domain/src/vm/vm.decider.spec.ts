import type { VmEvent } from '@locus/contracts';
import type { VmCommand } from './vm.commands';
import { decide, fold } from './vm.decider';
import { nextSagaStep } from '../move/move.saga';

/** Given/when/then over events: the spec reads as the history, the command and the facts that follow. */
function given(...history: VmEvent[]) {
  const state = fold(history);
  return {
    when: (command: VmCommand) => {
      const decision = decide(command, state);
      return {
        then: (...expected: VmEvent[]) => expect(decision).toEqual({ ok: true, events: expected }),
        thenNothing: () => expect(decision).toEqual({ ok: true, events: [] }),
        thenRefused: (code: string) => expect(decision).toMatchObject({ ok: false, code }),
      };
    },
  };
}

const MOVE = '7f3a0000-0000-4000-8000-000000000001';
const dc1 = { site: 'dc1', hypervisor: 'dc1-hv1' };
const dc2 = { site: 'dc2', hypervisor: 'dc2-hv1' };
const placed: VmEvent = {
  type: 'VmPlaced',
  data: { vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', site: 'dc1', hypervisor: 'dc1-hv1', memoryMb: 4096, locationVersion: 1 },
};
const accepted: VmEvent = { type: 'MoveAccepted', data: { moveId: MOVE, vm: 'web-01', mode: 'cold', from: dc1, to: dc2, requestId: 'r1', locationVersion: 1 } };
const stopped: VmEvent = { type: 'VmStoppedAtSource', data: { moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 } };
const transferred: VmEvent = { type: 'VmConfigTransferred', data: { moveId: MOVE, from: 'dc1-hv1', to: 'dc2-hv1', bytes: 65536, durationMs: 5 } };
const relocated: VmEvent = {
  type: 'VmRelocated',
  data: { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', from: dc1, to: dc2, locationVersion: 2 },
};

describe('VM decider: placing a VM', () => {
  it('given nothing, when placed, then VmPlaced at location version 1', () => {
    given().when({ type: 'PlaceVm', vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', memoryMb: 4096, location: dc1 }).then(placed);
  });
  it('given a placed VM, when placed again, then nothing (idempotent seeding)', () => {
    given(placed).when({ type: 'PlaceVm', vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', memoryMb: 4096, location: dc1 }).thenNothing();
  });
});

describe('VM decider: requesting a cold move', () => {
  it('given a placed VM, when a cold move is requested, then MoveAccepted from its current location', () => {
    given(placed).when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc2, requestId: 'r1' }).then(accepted);
  });
  it('given no VM, when a move is requested, then UNKNOWN_VM', () => {
    given().when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc2 }).thenRefused('UNKNOWN_VM');
  });
  it('given a placed VM, when moved to its own hypervisor, then SAME_LOCATION', () => {
    given(placed).when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc1 }).thenRefused('SAME_LOCATION');
  });
  it('given a move in progress, when another is requested, then MOVE_IN_PROGRESS', () => {
    given(placed, accepted).when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc2 }).thenRefused('MOVE_IN_PROGRESS');
  });
  it.each(['hot', 'warm'] as const)('given a placed VM, when a %s move is requested, then MODE_NOT_SUPPORTED until its engine exists', (mode) => {
    given(placed).when({ type: 'RequestMove', moveId: MOVE, mode, to: dc2 }).thenRefused('MODE_NOT_SUPPORTED');
  });
});

describe('VM decider: the cold move steps', () => {
  it('given accepted, when the source reports the stop, then VmStoppedAtSource', () => {
    given(placed, accepted).when({ type: 'RecordSourceStopped', moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 }).then(stopped);
  });
  it('given already stopped, when the stop is reported again (redelivery), then nothing', () => {
    given(placed, accepted, stopped).when({ type: 'RecordSourceStopped', moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 }).thenNothing();
  });
  it('given the config transferred, when the location is committed, then VmRelocated with the next location version', () => {
    given(placed, accepted, stopped, transferred).when({ type: 'CommitLocation', moveId: MOVE }).then(relocated);
  });
  it('given relocated, when the target reports the boot, then started and completed with downtime = stop + transfer + boot', () => {
    given(placed, accepted, stopped, transferred, relocated)
      .when({ type: 'RecordTargetStarted', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000 })
      .then(
        { type: 'VmStartedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000 } },
        { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 28005, totalMs: 28005 } },
      );
  });
  it('given relocated, when a start for an older location version is reported, then FENCED', () => {
    given(placed, accepted, stopped, transferred, relocated)
      .when({ type: 'RecordTargetStarted', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 1, durationMs: 1 })
      .thenRefused('FENCED');
  });
  it('given a step for another move id, when reported, then nothing', () => {
    given(placed, accepted).when({ type: 'RecordSourceStopped', moveId: '7f3a0000-0000-4000-8000-000000000002', hypervisor: 'dc1-hv1', durationMs: 1 }).thenNothing();
  });
});

describe('VM decider: failures', () => {
  it('given stopped at the source, when the transfer fails, then MoveFailed asking for a restart at the source', () => {
    given(placed, accepted, stopped)
      .when({ type: 'FailMove', moveId: MOVE, code: 'AGENT_FAILED', message: 'disk full' })
      .then({ type: 'MoveFailed', data: { moveId: MOVE, code: 'AGENT_FAILED', message: 'disk full', phase: 'source-stopped', restartAtSource: true } });
  });
  it('given accepted only, when the stop fails, then MoveFailed and the VM stays running', () => {
    given(placed, accepted)
      .when({ type: 'FailMove', moveId: MOVE, code: 'UNAVAILABLE', message: 'agent unreachable' })
      .then({ type: 'MoveFailed', data: { moveId: MOVE, code: 'UNAVAILABLE', message: 'agent unreachable', phase: 'accepted', restartAtSource: false } });
  });
  it('given the location committed, when a failure is reported, then refused: the move only goes forward', () => {
    given(placed, accepted, stopped, transferred, relocated).when({ type: 'FailMove', moveId: MOVE, code: 'AGENT_FAILED', message: 'x' }).thenRefused('VERSION_CONFLICT');
  });
});

describe('cold-move saga: next step from state', () => {
  it('walks stop -> transfer -> commit -> start -> nothing', () => {
    expect(nextSagaStep(fold([placed, accepted]))).toMatchObject({ kind: 'agent', action: 'stop', hypervisor: 'dc1-hv1' });
    expect(nextSagaStep(fold([placed, accepted, stopped]))).toMatchObject({ kind: 'agent', action: 'transfer', hypervisor: 'dc2-hv1', peer: 'dc1-hv1' });
    expect(nextSagaStep(fold([placed, accepted, stopped, transferred]))).toEqual({ kind: 'commit', moveId: MOVE });
    expect(nextSagaStep(fold([placed, accepted, stopped, transferred, relocated]))).toMatchObject({ kind: 'agent', action: 'start', hypervisor: 'dc2-hv1', locationVersion: 2 });
    const done = fold([placed, accepted, stopped, transferred, relocated, { type: 'VmStartedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 1 } }, { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 1, totalMs: 1 } }]);
    expect(nextSagaStep(done)).toBeNull();
  });
  it('after a failure past the stop, restarts at the source with the unchanged location version', () => {
    const failed: VmEvent = { type: 'MoveFailed', data: { moveId: MOVE, code: 'AGENT_FAILED', message: 'x', phase: 'source-stopped', restartAtSource: true } };
    expect(nextSagaStep(fold([placed, accepted, stopped, failed]))).toMatchObject({ kind: 'agent', action: 'restart', hypervisor: 'dc1-hv1', locationVersion: 1 });
  });
});
