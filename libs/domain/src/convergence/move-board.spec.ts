import type { PlaneEvent, RecordedEvent } from '@locus/contracts';
import { MoveBoard } from './move-board';
import { MoveConvergenceBook } from './move-convergence';
import { convergenceInputOf, convergenceTopologyOf } from './convergence-input';

/** The default lab's sites and web-01's stretched domain, as `topology.get` answers them. */
const topology = convergenceTopologyOf({
  sites: [
    { name: 'dc1', hostRoutes: true, mappingSystem: true },
    { name: 'dc2', hostRoutes: true, mappingSystem: true },
    { name: 'branch', hostRoutes: false, mappingSystem: true },
  ],
  l2Domains: [{ name: 'web-stretched', sites: ['dc1', 'dc2'] }],
  vms: [{ name: 'web-01', l2Domain: 'web-stretched' }],
});

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const MOVE = '0c4a83df-f936-4580-b8d1-464644c93c97';
const dc1 = { hypervisor: 'dc1-hv1', site: 'dc1' };
const dc2 = { hypervisor: 'dc2-hv1', site: 'dc2' };

/** A VM event as the outbox relay publishes it: `metadata.at` when decided, `recordedAt` a little later in the store. */
function vmEvent(type: string, data: Record<string, unknown>, atMs: number, recordedLaterMs = 7): RecordedEvent<any> {
  return {
    id: `${type}-${atMs}`,
    streamId: 'vm:web-01',
    streamVersion: 1,
    position: '1',
    type,
    data,
    metadata: { correlationId: 'c', component: 'move-saga', at: iso(atMs) },
    recordedAt: iso(atMs + recordedLaterMs),
  };
}
function plane(p: PlaneEvent['plane'], type: string, component: string, atMs: number, data: Record<string, unknown>, over: Partial<PlaneEvent> = {}): PlaneEvent {
  return { id: `${type}-${component}-${atMs}`, plane: p, type, component, vm: 'web-01', moveId: MOVE, locationVersion: 2, at: iso(atMs), data, ...over };
}

/** A cold move of web-01 dc1 -> dc2 on the wire: subject and payload, in stream order. */
const coldMove: [string, unknown][] = [
  [
    'locus.evt.vm.web-01.MoveAccepted',
    vmEvent('MoveAccepted', { moveId: MOVE, vm: 'web-01', mode: 'cold', from: dc1, to: dc2, locationVersion: 1, planes: ['location', 'mapping', 'host-routes'] }, 0),
  ],
  ['locus.evt.vm.web-01.MoveStarted', vmEvent('MoveStarted', { moveId: MOVE, hypervisor: 'dc1-hv1' }, 1)],
  ['locus.evt.vm.web-01.loc.VmRelocated', vmEvent('VmRelocated', { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: 'x', from: dc1, to: dc2, locationVersion: 2 }, 100)],
  [
    'locus.live.map.web-01.Registered',
    plane('map', 'Registered', 'map-server', 104, { site: 'dc2', rloc: '192.0.2.2', kind: 'moved', previousSite: 'dc1', publishTo: ['branch'], smrTo: [] }, { eid: '10.1.0.10/32' }),
  ],
  [
    'locus.live.map.web-01.CacheUpdated',
    plane('map', 'CacheUpdated', 'itr:branch', 108, { itr: 'branch', eid: '10.1.0.10/32', version: 2, rloc: '192.0.2.2', site: 'dc2', via: 'publish' }, { eid: '10.1.0.10/32' }),
  ],
  [
    'locus.evt.map.web-01.MappingConverged',
    plane('map', 'MappingConverged', 'map-server', 109, { site: 'dc2', previousSite: 'dc1', kind: 'moved', itrs: ['branch'], dropped: [], ms: 5 }, { eid: '10.1.0.10/32' }),
  ],
  [
    'locus.live.route.web-01.RouteAdvertised',
    plane('route', 'RouteAdvertised', 'route-injector:dc2', 110, {
      site: 'dc2',
      prefix: '10.1.0.10/32',
      nextHop: '198.51.100.12',
      localPref: 101,
      largeCommunity: '65000:1:2',
      cause: 'relocated',
      reason: 'the VM is here',
    }),
  ],
  ['locus.evt.route.web-01.RouteConfirmed', plane('route', 'RouteConfirmed', 'route-injector:dc2', 120, { site: 'dc2', prefix: '10.1.0.10/32', nextHop: '198.51.100.12', ms: 10, via: 'core-rib' })],
  ['locus.evt.vm.web-01.MoveCompleted', vmEvent('MoveCompleted', { moveId: MOVE, locationVersion: 2, downtimeMs: 28000, totalMs: 28000 }, 125)],
  [
    'locus.evt.route.web-01.RouteWithdrawn',
    plane(
      'route',
      'RouteWithdrawn',
      'route-injector:dc1',
      146,
      {
        site: 'dc1',
        prefix: '10.1.0.10/32',
        nextHop: '198.51.100.11',
        cause: 'relocated',
        reason: 'the VM left',
        replacedBy: { site: 'dc2', locationVersion: 2, source: 'route-confirmed' },
        breakBeforeMake: false,
      },
      { locationVersion: 1, moveId: undefined },
    ),
  ],
];

describe('MoveBoard: one convergence figure per move', () => {
  it('given messages that are not the event their subject carries, then they are counted as rejected and change nothing', () => {
    const board = new MoveBoard({ topology });
    for (const [subject, payload] of coldMove.slice(0, 3)) board.apply(subject, payload);
    const before = JSON.stringify([...board.moves.values()]);
    // a route fact on the ARP plane's subject; a RouteConfirmed without its figure; a VM event on another VM's subject; not JSON-shaped
    expect(board.apply('locus.evt.arp.web-01.RouteConfirmed', coldMove[7][1])).toEqual([]);
    expect(board.apply('locus.evt.route.web-01.RouteConfirmed', { ...(coldMove[7][1] as object), data: { site: 'dc2' } })).toEqual([]);
    expect(board.apply('locus.evt.vm.web-02.MoveStarted', coldMove[1][1])).toEqual([]);
    expect(board.apply('locus.evt.vm.web-01.MoveStarted', 'nonsense')).toEqual([]);
    expect(board.rejected).toEqual({ 'wrong-source': 2, undecodable: 2 });
    expect(JSON.stringify([...board.moves.values()])).toBe(before);
  });

  it("given the events of a cold move, then the board times it as the tracker's book does, from the commit (VmRelocated metadata.at)", () => {
    const board = new MoveBoard({ topology });
    const lines = coldMove.flatMap(([subject, payload]) => board.apply(subject, payload));
    // the tracker's book, fed the same events the way the manager's tracker feeds it
    const book = new MoveConvergenceBook(topology, Infinity);
    const verdicts = coldMove.flatMap(([, payload], i) => {
      const p = payload as RecordedEvent & PlaneEvent;
      const input = typeof p.plane === 'string' ? ({ kind: 'plane', seq: i, event: p } as const) : convergenceInputOf(p, i);
      return input ? book.apply(input) : [];
    });
    const tracker = verdicts.find((v) => v.kind === 'converged');
    const m = board.moves.get(MOVE)!;
    expect(tracker).toMatchObject({ convergenceMs: 46 });
    expect(m.computed?.ms).toBe(46);
    expect(board.convergence(m)).toEqual({ ms: 46, source: 'computed' });
    expect(board.plane(m, 'map')).toMatchObject({ status: 'done', ms: 9, detail: '1/1 ITRs' });
    expect(board.plane(m, 'routes')).toMatchObject({ status: 'done', ms: 46, detail: '+dc2 -dc1' });
    expect(board.plane(m, 'arp')).toEqual({ status: 'n/a' });
    expect(lines.filter((l) => /converged/.test(l))).toEqual(['web-01 cold dc1-hv1->dc2-hv1: converged in 46 ms after the location commit']);
    expect(lines).toContain('web-01 cold dc1-hv1->dc2-hv1: mapping done in 9 ms (1/1 ITRs)');
  });

  it("given the tracker's MoveConverged with the same figure, then it is said once and becomes the move's figure", () => {
    const board = new MoveBoard({ topology });
    for (const [subject, payload] of coldMove) board.apply(subject, payload);
    const lines = board.apply(
      'locus.evt.vm.web-01.MoveConverged',
      vmEvent(
        'MoveConverged',
        { moveId: MOVE, locationVersion: 2, convergenceMs: 46, planes: { location: { ms: 0 }, mapping: { ms: 9, itrs: 1, of: 1 }, 'host-routes': { ms: 46, advertised: 'dc2', withdrawn: 'dc1' } } },
        150,
      ),
    );
    const m = board.moves.get(MOVE)!;
    expect(lines).toEqual([]);
    expect(m.state).toBe('converged');
    expect(board.convergence(m)).toEqual({ ms: 46, source: 'tracker' });
  });

  it("given no topology, then only the tracker's record counts, and until it comes the planes wait", () => {
    const board = new MoveBoard();
    for (const [subject, payload] of coldMove) board.apply(subject, payload);
    const m = board.moves.get(MOVE)!;
    expect(board.convergence(m)).toBeUndefined();
    expect(board.plane(m, 'map')).toEqual({ status: 'pending' });
    const lines = board.apply('locus.evt.vm.web-01.MoveConverged', vmEvent('MoveConverged', { moveId: MOVE, locationVersion: 2, convergenceMs: 46, planes: { 'host-routes': { ms: 46 } } }, 150));
    expect(lines).toEqual(['web-01 cold dc1-hv1->dc2-hv1: converged in 46 ms after the location commit (convergence tracker)']);
  });

  it('keeps a timeline of the move in the order received, each event in words with its component', () => {
    const board = new MoveBoard({ topology });
    for (const [subject, payload] of coldMove) board.apply(subject, payload);
    const timeline = board.moves.get(MOVE)!.timeline;
    expect(timeline.map((e) => e.event)).toEqual([
      'MoveAccepted',
      'MoveStarted',
      'VmRelocated',
      'Registered',
      'CacheUpdated',
      'MappingConverged',
      'RouteAdvertised',
      'RouteConfirmed',
      'MoveCompleted',
      'RouteWithdrawn',
    ]);
    expect(timeline[2]).toMatchObject({ at: T0 + 100, component: 'move-saga', text: 'location committed: web-01 at dc2-hv1 (dc2), version 2' });
    expect(timeline[9]).toMatchObject({ component: 'route-injector:dc1', text: 'dc1 withdrew its /32 v1' });
  });
});
