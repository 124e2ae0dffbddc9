import { driftKey, findDrift, type DriftInput, type DriftLocation } from './drift';

const sites = [
  { name: 'dc1', hostRoutes: true, mappingSystem: true },
  { name: 'dc2', hostRoutes: true, mappingSystem: true },
  { name: 'colo', hostRoutes: false, mappingSystem: false },
];
const web01: DriftLocation = { vm: 'web-01', ip: '10.1.0.10', site: 'dc2', state: 'running', locationVersion: 2 };
const legacy: DriftLocation = { vm: 'legacy-01', ip: '10.31.0.10', site: 'colo', state: 'running', locationVersion: 1 };

/** Every plane agrees with the location DB. */
const agreeing = (): DriftInput => ({
  locations: [web01, legacy],
  sites,
  skip: new Set(),
  registry: [{ prefix: '10.1.0.10/32', vm: 'web-01', site: 'dc2', version: 2 }],
  itrs: [
    { itr: 'branch', entries: [{ prefix: '10.1.0.10/32', site: 'dc2', version: 2 }, { prefix: '10.99.0.1/32', negative: true }] },
    { itr: 'dc1', entries: [] },
  ],
  routes: [
    { site: 'dc1', routes: [] },
    { site: 'dc2', routes: [{ prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 2, state: 'confirmed' }] },
  ],
  arpStale: [],
});

describe('drift: every plane compared with the location DB', () => {
  it('given every plane agreeing (and a VM outside both systems), then no disagreement', () => {
    expect(findDrift(agreeing())).toEqual([]);
  });

  it('names an ITR holding an old mapping, a stale registration, an old route left behind and a missing one', () => {
    const input = agreeing();
    input.registry = [{ prefix: '10.1.0.10/32', vm: 'web-01', site: 'dc1', version: 1 }];
    input.itrs = [{ itr: 'branch', entries: [{ prefix: '10.1.0.10/32', site: 'dc1', version: 1 }] }];
    input.routes = [
      { site: 'dc1', routes: [{ prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 1, state: 'withdrawing' }, { prefix: '10.9.9.9/32', state: 'stale' }] },
      { site: 'dc2', routes: [{ prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 2, state: 'advertised' }] },
    ];
    expect(findDrift(input)).toEqual([
      { plane: 'mapping', component: 'map-server', vm: 'web-01', detail: 'registers 10.1.0.10/32 at dc1 v1; web-01 is at dc2 v2' },
      { plane: 'mapping', component: 'itr:branch', vm: 'web-01', detail: 'caches 10.1.0.10/32 at dc1 v1; web-01 is at dc2 v2' },
      { plane: 'host-routes', component: 'route-injector:dc1', vm: 'web-01', detail: 'still originates 10.1.0.10/32 v1 (withdrawing); web-01 is at dc2 v2' },
      { plane: 'host-routes', component: 'route-injector:dc1', detail: 'originates 10.9.9.9/32, which no VM has' },
      { plane: 'host-routes', component: 'route-injector:dc2', vm: 'web-01', detail: 'no confirmed 10.1.0.10/32 v2; web-01 is at dc2 v2' },
    ]);
  });

  it('leaves out VMs that are moving or still converging, and says which plane did not answer', () => {
    const input = agreeing();
    input.registry = [];
    input.skip = new Set(['web-01']);
    input.routes = [{ site: 'dc1', unavailable: true, routes: [] }];
    input.arpStale = { unavailable: 'no responders' };
    expect(findDrift(input)).toEqual([
      { plane: 'host-routes', component: 'route-injector:dc1', detail: 'not answering' },
      { plane: 'arp-proxy', component: 'arp-proxy', detail: 'not answering: no responders' },
    ]);
  });

  it('names each neighbour holding a wrong MAC; the key ignores when it started', () => {
    const input = agreeing();
    input.arpStale = [{ vm: 'web-01', ip: '10.1.0.10', site: 'dc1', neighbour: 'dc1-n1', heldMac: '52:54:00:01:00:10', rightMac: null, since: '2030-01-01T00:00:00.000Z' }];
    const [d] = findDrift(input);
    expect(d).toEqual({
      plane: 'arp-proxy',
      component: 'arp-proxy:dc1',
      vm: 'web-01',
      detail: 'neighbour dc1-n1 holds 52:54:00:01:00:10 for 10.1.0.10 since 2030-01-01T00:00:00.000Z (nobody answers for it on that segment)',
    });
    expect(driftKey(d)).toBe('arp-proxy|arp-proxy:dc1|web-01|neighbour dc1-n1 holds 52:54:00:01:00:10 for 10.1.0.10 (nobody answers for it on that segment)');
  });
});
