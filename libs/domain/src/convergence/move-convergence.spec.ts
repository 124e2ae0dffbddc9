import type { PlaneEvent } from '@locus/contracts';
import { MoveConvergenceBook, type ConvergenceInput, type ConvergenceTopology, type ConvergenceVerdict } from './move-convergence';
import { convergedLine, lateLine } from './convergence-summary';

/** The default lab, as far as convergence is concerned. */
const topology: ConvergenceTopology = {
  site: (name) =>
    ({
      dc1: { hostRoutes: true, mappingSystem: true },
      dc2: { hostRoutes: true, mappingSystem: true },
      cloud: { hostRoutes: true, mappingSystem: true },
      colo: { hostRoutes: false, mappingSystem: false },
    })[name],
  domainSitesOf: (vm) => (vm.startsWith('web') ? ['dc1', 'dc2'] : vm.startsWith('db') ? ['dc1'] : []),
};

const MOVE = '7f3a0c1d-0000-4000-8000-000000000001';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const dc1 = { site: 'dc1', hypervisor: 'dc1-hv1' };
const dc2 = { site: 'dc2', hypervisor: 'dc2-hv1' };
const cloud = { site: 'cloud', hypervisor: 'cloud-hv1' };

let seq = 100;
const accepted = (over: Partial<Extract<ConvergenceInput, { kind: 'accepted' }>> = {}): ConvergenceInput => ({
  kind: 'accepted',
  seq: 10,
  moveId: MOVE,
  vm: 'web-01',
  mode: 'cold',
  from: dc1,
  to: dc2,
  planes: ['location', 'mapping', 'host-routes'],
  ...over,
});
const relocated = (over: Partial<Extract<ConvergenceInput, { kind: 'relocated' }>> = {}): ConvergenceInput => ({
  kind: 'relocated',
  seq: 20,
  moveId: MOVE,
  vm: 'web-01',
  ip: '10.1.0.10',
  locationVersion: 2,
  at: T0,
  ...over,
});
const completed = (ms = 40, vm = 'web-01'): ConvergenceInput => ({ kind: 'completed', moveId: MOVE, vm, downtimeMs: 28000, totalMs: 28000, rounds: 0, at: T0 + ms });
function plane(p: PlaneEvent['plane'], type: string, component: string, ms: number, data: Record<string, unknown>, over: Partial<PlaneEvent> = {}): ConvergenceInput {
  const event: PlaneEvent = { id: `${type}:${component}:${ms}:${JSON.stringify(data)}`, plane: p, type, component, vm: 'web-01', locationVersion: 2, at: at(ms), data, ...over };
  return { kind: 'plane', seq: ++seq, event };
}
const registered = (ms: number, publishTo = ['branch', 'dc1'], smrTo: string[] = ['dc2']) =>
  plane('map', 'Registered', 'map-server', ms, { site: 'dc2', kind: 'moved', previousSite: 'dc1', publishTo, smrTo }, { eid: '10.1.0.10/32' });
const cacheUpdated = (itr: string, ms: number) => plane('map', 'CacheUpdated', `itr:${itr}`, ms, { itr, version: 2, via: 'publish' }, { eid: '10.1.0.10/32' });
const mappingConverged = (ms: number, itrs = ['branch', 'dc1', 'dc2']) => plane('map', 'MappingConverged', 'map-server', ms, { site: 'dc2', itrs, dropped: [], ms: ms - 1 }, { eid: '10.1.0.10/32' });
const advertised = (site: string, ms: number) => plane('route', 'RouteAdvertised', `route-injector:${site}`, ms, { site, prefix: '10.1.0.10/32' });
const confirmed = (site: string, ms: number) => plane('route', 'RouteConfirmed', `route-injector:${site}`, ms, { site, prefix: '10.1.0.10/32', ms: 15 });
const withdrawn = (site: string, ms: number, over: Record<string, unknown> = {}) =>
  plane('route', 'RouteWithdrawn', `route-injector:${site}`, ms, { site, prefix: '10.1.0.10/32', replacedBy: { site: 'dc2', locationVersion: 2 }, ...over }, { locationVersion: 1 });

/** Given inputs, when more come in (and time passes), then these verdicts. */
function given(...inputs: ConvergenceInput[]) {
  const book = new MoveConvergenceBook(topology, 30_000);
  for (const i of inputs) book.apply(i);
  return {
    book,
    when: (...more: ConvergenceInput[]) => more.flatMap((i) => book.apply(i)),
  };
}
const kinds = (verdicts: ConvergenceVerdict[]) => verdicts.map((v) => v.kind);

describe('move convergence: a cold move between data centers (mapping, host routes)', () => {
  const everyPlane = () => [
    registered(2),
    cacheUpdated('branch', 3),
    cacheUpdated('dc1', 3),
    cacheUpdated('dc2', 5),
    mappingConverged(5),
    advertised('dc2', 1),
    confirmed('dc2', 16),
    withdrawn('dc1', 18),
  ];

  it('given every plane agreeing, when the move completes, then converged with the time of the last plane after the commit and per-plane times', () => {
    const { when } = given(accepted(), relocated(), ...everyPlane());
    const [v] = when(completed());
    expect(v).toMatchObject({
      kind: 'converged',
      convergenceMs: 18,
      wasLate: false,
      move: { moveId: MOVE, vm: 'web-01', locationVersion: 2, downtimeMs: 28000, rounds: 0 },
      planes: {
        location: { ms: 0 },
        mapping: { ms: 5, registeredMs: 2, itrs: 3, of: 3, itrMs: { branch: 3, dc1: 3, dc2: 5 } },
        'host-routes': { ms: 18, advertised: 'dc2', confirmedMs: 16, coreMs: 15, withdrawn: 'dc1', withdrawnMs: 18 },
      },
    });
  });

  it('given the move completed, when the last plane agrees, then converged then, and only once', () => {
    const all = everyPlane();
    const { when } = given(accepted(), relocated(), completed(), ...all.slice(0, -1));
    expect(kinds(when(all[all.length - 1]))).toEqual(['converged']);
    expect(when(completed(), all[0], withdrawn('dc1', 30, { cause: 'again' }))).toEqual([]);
  });

  it('in any order: plane events before the VM events, the completion before the commit, duplicates', () => {
    const all = everyPlane();
    const { when } = given(...all.slice(3), ...all, completed());
    expect(when(relocated())).toEqual([]); // the move's planes are not known before MoveAccepted
    expect(kinds(when(accepted(), ...all))).toEqual(['converged']);
  });

  it('facts of VMs with no tracked move are kept for the 4,096 most recently reported VMs only; a tracked move keeps its own', () => {
    const all = everyPlane();
    // web-01's facts arrive first, then the planes report 4,096 other idle VMs (a lab starting).
    const others = Array.from({ length: 4096 }, (_, i) =>
      plane('route', 'RouteConfirmed', 'route-injector:dc1', 1, { site: 'dc1', prefix: `10.9.${i >> 8}.${i & 255}/32` }, { vm: `idle-${i}`, locationVersion: 1 }),
    );
    const { when } = given(...all, ...others);
    // web-01's facts were the oldest idle ones: forgotten, so its move waits for the planes again.
    expect(when(accepted(), relocated(), completed())).toEqual([]);
    // Tracked now: its facts stay however many idle VMs report meanwhile.
    const more = Array.from({ length: 5000 }, (_, i) =>
      plane('route', 'RouteConfirmed', 'route-injector:dc1', 1, { site: 'dc1', prefix: `10.8.${i >> 8}.${i & 255}/32` }, { vm: `later-${i}`, locationVersion: 1 }),
    );
    expect(when(...all.slice(0, -1), ...more)).toEqual([]);
    expect(kinds(when(all[all.length - 1]))).toEqual(['converged']);
  });

  it('a withdrawal at the old site from before the move does not count (stream order), one that names the move does', () => {
    const old = plane('route', 'RouteWithdrawn', 'route-injector:dc1', -5000, { site: 'dc1', prefix: '10.1.0.10/32', cause: 'fall' }, { locationVersion: 1 });
    const early = { ...old, seq: 5 } as ConvergenceInput;
    const rest = everyPlane().slice(0, -1);
    const { when } = given(early, accepted(), relocated(), ...rest);
    expect(when(completed())).toEqual([]);
    expect(kinds(when(plane('route', 'RouteWithdrawn', 'route-injector:dc1', 19, { site: 'dc1', prefix: '10.1.0.10/32' }, { locationVersion: 1, moveId: MOVE })))).toEqual(['converged']);
  });

  it('does not wait for planes the move does not touch: a move inside a site and its L2 domain converges at once', () => {
    const { when } = given(accepted({ to: { site: 'dc1', hypervisor: 'dc1-hv2' }, planes: ['location'] }), relocated());
    expect(when(completed(3))).toMatchObject([{ kind: 'converged', convergenceMs: 0, planes: { location: { ms: 0 } } }]);
  });

  it('a hot move inside the L2 domain waits for the RARP announce', () => {
    const { when } = given(accepted({ mode: 'hot', to: { site: 'dc1', hypervisor: 'dc1-hv2' }, planes: ['location', 'l2-announce'] }), relocated());
    expect(when(completed(500))).toEqual([]);
    expect(when({ kind: 'announced', moveId: MOVE, vm: 'web-01', hypervisor: 'dc1-hv2', at: T0 + 470 })).toMatchObject([
      { kind: 'converged', convergenceMs: 470, planes: { 'l2-announce': { ms: 470 } } },
    ]);
  });
});

describe('move convergence: the ARP proxy when a VM leaves its subnet (db-01 dc1-local -> cloud)', () => {
  const db = (over: Partial<Extract<ConvergenceInput, { kind: 'accepted' }>> = {}) => accepted({ vm: 'db-01', to: cloud, planes: ['location', 'mapping', 'host-routes', 'arp-proxy'], ...over });
  const dbRelocated = relocated({ vm: 'db-01', ip: '10.11.0.10' });
  const p = (input: ConvergenceInput) => (input.kind === 'plane' ? { ...input, event: { ...input.event, vm: 'db-01', eid: input.event.eid?.replace('10.1.0.10', '10.11.0.10') } } : input);
  const routesAndMap = () =>
    [
      plane('map', 'Registered', 'map-server', 2, { site: 'cloud', publishTo: [], smrTo: [] }),
      plane('map', 'MappingConverged', 'map-server', 2, { site: 'cloud', itrs: [], dropped: [] }),
      plane('route', 'RouteConfirmed', 'route-injector:cloud', 10, { site: 'cloud' }),
      withdrawn('dc1', 12),
    ].map(p);

  it('waits for every ARP proxy of the domain, then counts proxy entries and repaired neighbours', () => {
    const { when } = given(db(), dbRelocated, completed(40, 'db-01'), ...routesAndMap());
    expect(when(p(plane('arp', 'ProxyInstalled', 'arp-proxy:dc1', 1, { site: 'dc1', ip: '10.11.0.10' })))).toEqual([]);
    const [v] = when(p(plane('arp', 'ArpConverged', 'arp-proxy:dc1', 4, { site: 'dc1', rule: 'leaves-domain', proxy: 'install', stale: 3, repaired: 3, ms: 2 })));
    expect(v).toMatchObject({ kind: 'converged', convergenceMs: 12, planes: { 'arp-proxy': { ms: 4, proxied: 1, stale: 3, repaired: 3, sites: { dc1: { ms: 4, rule: 'leaves-domain' } } } } });
    if (v.kind !== 'converged') throw new Error('not converged');
    expect(convergedLine(v.move, v.convergenceMs, v.planes)).toBe(
      'move 7f3a0c1d db-01 cold dc1-hv1 -> cloud-hv1: converged in 12.0 ms after commit (downtime 28.00 s, 0 rounds) | map 2.0 ms, itr 0/0 2.0 ms | routes +cloud -dc1 12.0 ms | arp 1 proxied, 3/3 neighbours repaired 4.0 ms',
    );
  });

  it('at the deadline names the neighbours still holding the old MAC (proxy switched off), and converges when their timers drop it', () => {
    const stale = ['n1', 'n2'].map((n) => p(plane('arp', 'NeighbourStale', 'arp-proxy:dc1', 1, { site: 'dc1', neighbour: n })));
    const { book, when } = given(db(), dbRelocated, completed(40, 'db-01'), ...routesAndMap(), ...stale, p(plane('arp', 'NeighbourRepaired', 'arp-proxy:dc1', 2, { site: 'dc1', neighbour: 'n1' })));
    expect(book.due(T0 + 29_999)).toEqual([]);
    const late = book.due(T0 + 30_000);
    expect(late).toMatchObject([{ kind: 'late', afterMs: 30_000, stale: [{ plane: 'arp-proxy', component: 'arp-proxy:dc1', detail: "1 neighbour(s) still hold db-01's old MAC (n2)" }] }]);
    expect(book.due(T0 + 60_000)).toEqual([]); // late once
    expect(book.converging().has('db-01')).toBe(false); // late moves are drift
    const [v] = when(p(plane('arp', 'ArpConverged', 'arp-proxy:dc1', 45_000, { site: 'dc1', rule: 'leaves-domain-proxy-off', proxy: 'none', stale: 2, repaired: 2 })));
    expect(v).toMatchObject({ kind: 'converged', convergenceMs: 45_000, wasLate: true });
  });
});

describe('move convergence: the site a move left started after the commit (it never originated the old route)', () => {
  /** dc1's route injector, after its start-up reconcile: every location event up to stream sequence `through` was in its snapshot. */
  const siteReconciled = (site: string, ms: number, through: number, held: string[] = []) =>
    plane('route', 'RoutesReconciled', `route-injector:${site}`, ms, { site, trigger: 'start', through, held, routes: 0 }, { vm: undefined, locationVersion: 0 });
  /** dc1 got the commit after its snapshot held it already, and originates no /32 of the VM below v2. */
  const vmReconciled = (site: string, ms: number, locationVersion = 2) =>
    plane('route', 'RoutesReconciled', `route-injector:${site}`, ms, { site, trigger: 'snapshot', held: [] }, { eid: '10.1.0.10/32', locationVersion, moveId: MOVE });
  const streamBook = (...inputs: ConvergenceInput[]) => {
    const book = new MoveConvergenceBook(topology, 30_000, 'stream');
    for (const i of inputs) book.apply(i);
    return { book, when: (...more: ConvergenceInput[]) => more.flatMap((i) => book.apply(i)) };
  };
  const rest = () => [registered(2), mappingConverged(5), confirmed('dc2', 7000)];

  it('given the commit at stream sequence 20, when dc1 says it reconciled through 20 or later, then host routes agree (dc1 "had none") and the move converges', () => {
    const { book, when } = streamBook(accepted(), relocated({ seq: 20 }), completed(), ...rest());
    expect(book.progress(MOVE)!.stale).toMatchObject([{ component: 'route-injector:dc1', detail: 'still originates 10.1.0.10/32 at an older version' }]);
    const [v] = when(siteReconciled('dc1', 6900, 20));
    expect(v).toMatchObject({ kind: 'converged', convergenceMs: 7000, planes: { 'host-routes': { ms: 7000, advertised: 'dc2', reconciled: 'dc1', reconciledMs: 6900 } } });
    if (v.kind !== 'converged') throw new Error('not converged');
    expect(convergedLine(v.move, v.convergenceMs, v.planes)).toContain('routes +dc2 dc1 had none 7.00 s');
  });

  it('a reconcile through an earlier sequence, or one that still holds the /32, settles nothing', () => {
    const { book, when } = streamBook(accepted(), relocated({ seq: 20 }), completed(), ...rest());
    expect(when(siteReconciled('dc1', 6900, 19), siteReconciled('dc2', 6900, 50), siteReconciled('dc1', 6950, 25, ['10.1.0.10/32']))).toEqual([]);
    expect(book.progress(MOVE)!.stale.map((s) => s.component)).toEqual(['route-injector:dc1']);
    expect(book.due(T0 + 30_000)).toMatchObject([{ kind: 'late', stale: [{ component: 'route-injector:dc1' }] }]);
  });

  it('the reconcile may come before the move is tracked (the tracker resumed): it counts when the move shows up', () => {
    const { when } = streamBook(siteReconciled('dc1', 6900, 40));
    expect(when(accepted(), relocated({ seq: 20 }), completed(), ...rest())).toMatchObject([{ kind: 'converged', convergenceMs: 7000 }]);
  });

  it('a book fed in arrival order (a watcher on core NATS) cannot compare stream sequences: it leaves that to the tracker', () => {
    const { book } = given(accepted(), relocated({ seq: 20 }), completed(), ...rest(), siteReconciled('dc1', 6900, 40));
    expect(book.progress(MOVE)!.stale.map((s) => s.component)).toEqual(['route-injector:dc1']);
  });

  it("an ARP proxy that started after the commit: its ArpReconciled through the commit settles its site, unless it holds the VM's address", () => {
    const arpReconciled = (site: string, ms: number, through: number, held: string[] = []) =>
      plane('arp', 'ArpReconciled', `arp-proxy:${site}`, ms, { site, trigger: 'start', through, held }, { vm: undefined, locationVersion: 0 });
    const dbMove = (): ConvergenceInput[] => [accepted({ vm: 'db-01', to: cloud, planes: ['location', 'arp-proxy'] }), relocated({ vm: 'db-01', ip: '10.11.0.10', seq: 20 }), completed(40, 'db-01')];
    const held = streamBook(...dbMove(), arpReconciled('dc1', 500, 30, ['10.11.0.10']));
    expect(held.book.progress(MOVE)!.stale).toMatchObject([{ plane: 'arp-proxy', component: 'arp-proxy:dc1' }]);
    const { when } = streamBook(...dbMove());
    expect(when(arpReconciled('dc1', 500, 19))).toEqual([]);
    expect(when(arpReconciled('dc1', 600, 20))).toMatchObject([
      { kind: 'converged', convergenceMs: 600, planes: { 'arp-proxy': { ms: 600, sites: { dc1: { ms: 600, rule: 'reconciled at start' } } } } },
    ]);
  });

  it('an ETR that started after the commit: its MappingReconciled through the commit settles the mapping, unless it still follows the EID to ITRs', () => {
    const mappingReconciled = (site: string, ms: number, through: number, held: string[] = []) =>
      plane('map', 'MappingReconciled', `etr:${site}`, ms, { site, trigger: 'start', through, held, eids: 3 }, { vm: undefined, locationVersion: 0 });
    const routes = () => [confirmed('dc2', 300), withdrawn('dc1', 310)];
    const { book, when } = streamBook(accepted(), relocated({ seq: 20 }), completed(), ...routes());
    expect(book.progress(MOVE)!.stale).toMatchObject([{ plane: 'mapping', component: 'map-server', detail: expect.stringContaining('no MappingConverged yet') }]);
    // through an earlier sequence, another site's, or the EID held: not this move's
    expect(when(mappingReconciled('dc2', 400, 19), mappingReconciled('dc1', 400, 50), mappingReconciled('dc2', 450, 30, ['10.1.0.10/32']))).toEqual([]);
    expect(book.progress(MOVE)!.stale.map((s) => s.plane)).toEqual(['mapping']);
    // held: the map-server's MappingConverged at v2 (no move id: a registration from a snapshot) settles it
    const [v] = when(mappingConverged(480, ['branch']));
    expect(v).toMatchObject({ kind: 'converged', convergenceMs: 480, planes: { mapping: { ms: 480, itrs: 1 } } });

    const fresh = streamBook(accepted(), relocated({ seq: 20 }), completed(), ...routes());
    const [w] = fresh.when(mappingReconciled('dc2', 500, 20));
    expect(w).toMatchObject({ kind: 'converged', convergenceMs: 500, planes: { mapping: { ms: 500, reconciled: 'dc2', itrs: 0, of: 0 } } });
    if (w.kind !== 'converged') throw new Error('not converged');
    expect(convergedLine(w.move, w.convergenceMs, w.planes)).toContain('| map dc2 registered at start 500.0 ms |');
  });

  it("a commit the snapshot held but the feed delivered again: the VM's own RoutesReconciled at v2 settles it, one at v1 does not", () => {
    for (const b of [streamBook, given]) {
      const { when } = b(accepted(), relocated({ seq: 20 }), completed(), ...rest());
      expect(when(vmReconciled('dc1', 6800, 1))).toEqual([]);
      expect(when(vmReconciled('dc1', 6900))).toMatchObject([{ kind: 'converged', convergenceMs: 7000, planes: { 'host-routes': { reconciled: 'dc1', reconciledMs: 6900 } } }]);
    }
  });
});

describe('move convergence: a plane held back is named until it recovers', () => {
  it('the new site injector is down: both injectors are named (the old one holds its route, make-before-break), then it converges', () => {
    const { book, when } = given(accepted(), relocated(), completed(), registered(2, [], []), mappingConverged(3, []));
    expect(book.due(T0 + 1000)).toEqual([]);
    const [late] = book.due(T0 + 30_001);
    expect(late).toMatchObject({
      kind: 'late',
      afterMs: 30_001,
      stale: [
        { plane: 'host-routes', component: 'route-injector:dc2', detail: '10.1.0.10/32 v2 not advertised' },
        { plane: 'host-routes', component: 'route-injector:dc1', detail: 'still originates 10.1.0.10/32 at an older version, held until dc2 confirms v2 (make-before-break)' },
      ],
      planes: { location: { ms: 0 }, mapping: { ms: 3 } },
    });
    if (late.kind !== 'late') throw new Error('not late');
    expect(lateLine(late.move, late.afterMs, late.stale, late.planes)).toBe(
      'move 7f3a0c1d web-01 cold dc1-hv1 -> dc2-hv1: NOT converged 30.00 s after commit, still stale: route-injector:dc2: 10.1.0.10/32 v2 not advertised; route-injector:dc1: still originates 10.1.0.10/32 at an older version, held until dc2 confirms v2 (make-before-break) | done: map 2.0 ms, itr 0/0 3.0 ms',
    );
    expect(when(advertised('dc2', 40_000))).toEqual([]);
    expect(book.progress(MOVE)!.stale.map((s) => s.detail)[0]).toBe('10.1.0.10/32 v2 advertised, not in the core RIB yet');
    expect(when(confirmed('dc2', 40_015))).toEqual([]);
    expect(when(withdrawn('dc1', 40_020))).toMatchObject([{ kind: 'converged', convergenceMs: 40_020, wasLate: true }]);
  });

  it('an ITR that does not answer the publication is named', () => {
    const { book } = given(accepted(), relocated(), completed(), registered(2), cacheUpdated('branch', 3), cacheUpdated('dc1', 3), confirmed('dc2', 5), withdrawn('dc1', 6));
    expect(book.due(T0 + 30_000)).toMatchObject([{ stale: [{ plane: 'mapping', component: 'itr:dc2', detail: 'still caches 10.1.0.10/32 at an older version (SMR of v2 not answered)' }] }]);
  });

  it('nothing registered (mapping system not running), seen by a board fed the live steps: the ETR of the new site is named', () => {
    const { book } = given(accepted(), relocated(), completed(), advertised('dc2', 4), confirmed('dc2', 5), withdrawn('dc1', 6));
    expect(book.due(T0 + 30_000)).toMatchObject([{ stale: [{ component: 'etr:dc2', detail: '10.1.0.10/32 v2 not registered with the map-server' }] }]);
  });

  it('the same seen from the stored outcomes only (the manager): the missing outcome is named, not steps it never reads', () => {
    const { book } = given(accepted(), relocated(), completed(), confirmed('dc2', 5), withdrawn('dc1', 6));
    expect(book.due(T0 + 30_000)).toMatchObject([
      { stale: [{ component: 'map-server', detail: '10.1.0.10/32 v2: no MappingConverged yet (not registered, or ITRs still on an older version: map.list says which)' }] },
    ]);
  });

  it('from the stored outcomes only, the times of the steps come from the outcomes that carry them', () => {
    const at = (ms: number) => new Date(T0 + ms).toISOString();
    const { book } = given(
      accepted(),
      relocated(),
      plane('map', 'MappingConverged', 'map-server', 9, { site: 'dc2', kind: 'moved', itrs: ['dc1'], dropped: [], ms: 7, registeredAt: at(2), itrAt: { dc1: at(9) } }),
      plane('route', 'RouteConfirmed', 'route-injector:dc2', 5, { site: 'dc2', prefix: '10.1.0.10/32', ms: 15, advertisedAt: at(3) }),
      withdrawn('dc1', 6),
      completed(),
    );
    expect(book.progress(MOVE)?.done).toMatchObject({
      mapping: { registeredMs: 2, itrs: 1, of: 1, itrMs: { dc1: 9 } },
      'host-routes': { advertised: 'dc2', advertisedMs: 3, confirmedMs: 5 },
    });
  });

  it('a move whose VM is still booting at the deadline but whose planes agree is not late; it converges when it completes', () => {
    const { book, when } = given(accepted({ planes: ['location'] }), relocated());
    expect(book.due(T0 + 31_000)).toEqual([]);
    expect(kinds(when(completed(90_000)))).toEqual(['converged']);
  });

  it('the recorded outcome closes the move: a replay decides nothing again', () => {
    const { book, when } = given(accepted({ planes: ['location'] }), relocated());
    when({ kind: 'recorded', moveId: MOVE, outcome: 'converged' });
    expect(book.isTracked(MOVE)).toBe(false);
    expect(when(accepted({ planes: ['location'] }), relocated(), completed())).toEqual([]);
  });

  it('a failed move is dropped; a newer commit of the same VM supersedes an older move still converging', () => {
    const g = given(accepted(), relocated(), completed());
    expect(g.when({ kind: 'ended', moveId: MOVE })).toEqual([]);
    expect(g.book.size).toBe(0);

    const next = '7f3a0c1d-0000-4000-8000-000000000002';
    const h = given(accepted(), relocated(), completed(), accepted({ moveId: next, seq: 50, from: dc2, to: dc1 }));
    expect(h.when(relocated({ moveId: next, seq: 60, locationVersion: 3 }))).toMatchObject([{ kind: 'superseded', move: { moveId: MOVE }, by: next }]);
    expect(h.book.isTracked(MOVE)).toBe(false);
    expect(h.book.converging()).toEqual(new Set(['web-01']));
  });
});
