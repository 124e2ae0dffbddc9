import type { RecordedEvent, VmEvent } from '@locus/contracts';
import { projectMove, type MoveRow } from './move.projection';
import { projectLocation, type LocationRow } from '../vm/location.projection';

const MOVE = '7f3a0000-0000-4000-8000-000000000001';
const dc1 = { site: 'dc1', hypervisor: 'dc1-hv1' };
const dc2 = { site: 'dc2', hypervisor: 'dc2-hv1' };
let version = 0;
function rec(event: VmEvent, component = 'mobility-manager'): RecordedEvent {
  version++;
  return {
    id: `e${version}`,
    streamId: 'vm:web-01',
    streamVersion: version,
    position: String(version),
    type: event.type,
    data: event.data,
    metadata: { correlationId: MOVE, component, at: `2030-01-01T00:00:0${version % 10}.000Z` },
    recordedAt: '2030-01-01T00:00:00.000Z',
  } as RecordedEvent;
}
const project = (events: VmEvent[]) => events.reduce<MoveRow | undefined>((row, e) => projectMove(row, rec(e)), undefined)!;
const move: VmEvent[] = [
  { type: 'MoveAccepted', data: { moveId: MOVE, vm: 'web-01', mode: 'cold', from: dc1, to: dc2, locationVersion: 1, cause: 'operator', warnings: [], planes: ['location', 'host-routes'] } },
  { type: 'MoveStarted', data: { moveId: MOVE, hypervisor: 'dc1-hv1' } },
  { type: 'VmRelocated', data: { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', from: dc1, to: dc2, locationVersion: 2 } },
  { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 10, totalMs: 10, rounds: 0, dataSentBytes: 0 } },
];
const stale = [{ plane: 'host-routes', component: 'route-injector:dc2', detail: '10.1.0.10/32 v2 not advertised' }];
const late: VmEvent = { type: 'MoveConvergenceLate', data: { moveId: MOVE, locationVersion: 2, afterMs: 30000, stale, planes: { location: { ms: 0 } } } };
const converged: VmEvent = {
  type: 'MoveConverged',
  data: { moveId: MOVE, locationVersion: 2, convergenceMs: 31000, planes: { location: { ms: 0 }, 'host-routes': { ms: 31000, advertised: 'dc2' } } },
};

describe('move projection: convergence', () => {
  it('a completed move is not converged yet', () => {
    expect(project(move)).toMatchObject({ state: 'completed', convergenceMs: null, planeTimes: null, convergenceLate: null });
  });
  it('late: flagged with what was stale, still completed; converged later: state converged with per-plane times, the late flag kept', () => {
    const flagged = project([...move, late]);
    expect(flagged).toMatchObject({ state: 'completed', convergenceLate: { afterMs: 30000, stale } });
    expect(flagged.timeline[flagged.timeline.length - 1]).toMatchObject({ event: 'MoveConvergenceLate', detail: { afterMs: 30000, stale: ['route-injector:dc2'] } });
    const done = project([...move, late, converged]);
    expect(done).toMatchObject({ state: 'converged', convergenceMs: 31000, planeTimes: { 'host-routes': { ms: 31000, advertised: 'dc2' } }, convergenceLate: { afterMs: 30000 } });
    expect(done.timeline[done.timeline.length - 1]).toMatchObject({ event: 'MoveConverged', detail: { convergenceMs: 31000, planes: { location: 0, 'host-routes': 31000 } } });
  });
  it('the location row only moves its stream version', () => {
    const row: LocationRow = {
      name: 'web-01',
      ip: '10.1.0.10',
      mac: 'm',
      l2Domain: 'web',
      site: 'dc2',
      hypervisor: 'dc2-hv1',
      memoryMb: 4096,
      state: 'running',
      locationVersion: 2,
      streamVersion: 4,
      updatedAt: 'x',
    };
    expect(projectLocation(row, rec(converged))).toMatchObject({ site: 'dc2', state: 'running', locationVersion: 2 });
  });
});
