import type { RecordedEvent, VmEvent } from '@locus/contracts';
import { hostLoadDeltas, memoryHeading, type VmRowsView } from './host-load';
import { projectMove } from './move.projection';
import { projectLocation } from '../vm/location.projection';

const MOVE = '7f3a0000-0000-4000-8000-000000000002';
const dc1 = { site: 'dc1', hypervisor: 'dc1-hv1' };
const dc2 = { site: 'dc2', hypervisor: 'dc2-hv1' };
const placed: VmEvent = {
  type: 'VmPlaced',
  data: { vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'vlan-100', site: 'dc1', hypervisor: 'dc1-hv1', memoryMb: 2048, locationVersion: 1 },
} as VmEvent;
const accepted: VmEvent = {
  type: 'MoveAccepted',
  data: { moveId: MOVE, vm: 'web-01', mode: 'cold', from: dc1, to: dc2, locationVersion: 1, cause: 'operator', warnings: [], planes: ['location'] },
};
const started: VmEvent = { type: 'MoveStarted', data: { moveId: MOVE, hypervisor: 'dc1-hv1' } };
const relocated: VmEvent = { type: 'VmRelocated', data: { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', from: dc1, to: dc2, locationVersion: 2 } };
const completed: VmEvent = { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 10, totalMs: 10, rounds: 0, dataSentBytes: 0 } };
const failed: VmEvent = { type: 'MoveFailed', data: { moveId: MOVE, code: 'AGENT_TIMEOUT', message: 'no answer', restartAtSource: false } } as VmEvent;

/** The VM's rows after `events`, folded by the projections' own reducers. */
function rowsAfter(events: VmEvent[]): VmRowsView {
  let location: VmRowsView['location'];
  let move: ReturnType<typeof projectMove>;
  events.forEach((event, i) => {
    const recorded = {
      id: `e${i}`,
      streamId: 'vm:web-01',
      streamVersion: i + 1,
      position: String(i + 1),
      ...event,
      metadata: { correlationId: MOVE, component: 'test', at: '2030-01-01T00:00:00.000Z' },
      recordedAt: '2030-01-01T00:00:00.000Z',
    } as RecordedEvent;
    location = projectLocation(location, recorded);
    if (event.type !== 'VmPlaced') move = projectMove(move, recorded);
  });
  return { location, moves: [move] };
}

describe('host load: memory located and heading, moves running and waiting, per host', () => {
  it('given nothing, when a VM is placed, then its memory is located on its host and heads nowhere', () => {
    expect(hostLoadDeltas({ moves: [] }, rowsAfter([placed]))).toEqual([{ hypervisor: 'dc1-hv1', locatedMb: 2048, headingMb: 0, movesRunning: 0, movesWaiting: 0 }]);
  });

  it('given a placed VM, when a move to another host is accepted, then its memory heads there and stays located at the source, where the move waits', () => {
    const before = rowsAfter([placed]);
    const after = rowsAfter([placed, accepted]);
    expect(memoryHeading(after)).toEqual({ hypervisor: 'dc2-hv1', mb: 2048 });
    expect(hostLoadDeltas(before, after)).toEqual([
      { hypervisor: 'dc1-hv1', locatedMb: 0, headingMb: 0, movesRunning: 0, movesWaiting: 1 },
      { hypervisor: 'dc2-hv1', locatedMb: 0, headingMb: 2048, movesRunning: 0, movesWaiting: 0 },
    ]);
  });

  it('given an accepted move, when it starts, then it leaves the source queue for a running slot', () => {
    expect(hostLoadDeltas(rowsAfter([placed, accepted]), rowsAfter([placed, accepted, started]))).toEqual([{ hypervisor: 'dc1-hv1', locatedMb: 0, headingMb: 0, movesRunning: 1, movesWaiting: -1 }]);
  });

  it('given an accepted HA restart, when it starts, then it leaves the queue and takes no slot', () => {
    const ha: VmEvent = { ...accepted, data: { ...accepted.data, cause: 'ha-restart' } } as VmEvent;
    expect(hostLoadDeltas(rowsAfter([placed, ha]), rowsAfter([placed, ha, started]))).toEqual([{ hypervisor: 'dc1-hv1', locatedMb: 0, headingMb: 0, movesRunning: 0, movesWaiting: -1 }]);
  });

  it('given a move in progress, when the VM is relocated, then its memory is located at the target and no longer heads there (counted once); the move still runs', () => {
    const before = rowsAfter([placed, accepted, started]);
    const after = rowsAfter([placed, accepted, started, relocated]);
    expect(memoryHeading(after)).toBeUndefined();
    expect(hostLoadDeltas(before, after)).toEqual([
      { hypervisor: 'dc1-hv1', locatedMb: -2048, headingMb: 0, movesRunning: 0, movesWaiting: 0 },
      { hypervisor: 'dc2-hv1', locatedMb: 2048, headingMb: -2048, movesRunning: 0, movesWaiting: 0 },
    ]);
  });

  it('given a relocated move, when it completes, then its source slot is free', () => {
    expect(hostLoadDeltas(rowsAfter([placed, accepted, started, relocated]), rowsAfter([placed, accepted, started, relocated, completed]))).toEqual([
      { hypervisor: 'dc1-hv1', locatedMb: 0, headingMb: 0, movesRunning: -1, movesWaiting: 0 },
    ]);
  });

  it('given a move in progress, when it fails before the relocation, then the target no longer expects the memory and the source slot is free', () => {
    expect(hostLoadDeltas(rowsAfter([placed, accepted, started]), rowsAfter([placed, accepted, started, failed]))).toEqual([
      { hypervisor: 'dc1-hv1', locatedMb: 0, headingMb: 0, movesRunning: -1, movesWaiting: 0 },
      { hypervisor: 'dc2-hv1', locatedMb: 0, headingMb: -2048, movesRunning: 0, movesWaiting: 0 },
    ]);
  });

  it('given a whole move in one batch, when folded from nothing, then only the final location counts', () => {
    expect(hostLoadDeltas({ moves: [] }, rowsAfter([placed, accepted, started, relocated, completed]))).toEqual([
      { hypervisor: 'dc2-hv1', locatedMb: 2048, headingMb: 0, movesRunning: 0, movesWaiting: 0 },
    ]);
  });

  it('given a move row without the VM location, when asked, then no memory heads anywhere (nothing to size it by)', () => {
    const { moves } = rowsAfter([placed, accepted]);
    expect(memoryHeading({ moves })).toBeUndefined();
  });
});
