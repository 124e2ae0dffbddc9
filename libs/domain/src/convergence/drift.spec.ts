import type { DriftView } from '@locus/contracts';
import { driftKey, findDrift, isSilentSinceStart, nextKnownDrift, orphanRoutePrefix, uniqueDrift, type DriftInput, type DriftLocation, type DriftScope } from './drift';

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
    {
      itr: 'branch',
      entries: [
        { prefix: '10.1.0.10/32', site: 'dc2', version: 2 },
        { prefix: '10.99.0.1/32', negative: true },
      ],
    },
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
      {
        site: 'dc1',
        routes: [
          { prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 1, state: 'withdrawing' },
          { prefix: '10.9.9.9/32', state: 'stale' },
        ],
      },
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

const web02: DriftLocation = { vm: 'web-02', ip: '10.1.0.11', site: 'dc1', state: 'running', locationVersion: 1 };

describe('drift: comparing some of the VMs (a chunk, the VMs that changed, a page of routes)', () => {
  it('given only web-01 compared (partial), when the planes answer for it, then its disagreements are named and entries of other addresses are left alone', () => {
    const input: DriftInput = {
      locations: [web01],
      sites,
      skip: new Set(),
      partial: true,
      registry: [{ prefix: '10.1.0.10/32', vm: 'web-01', site: 'dc1', version: 1 }],
      itrs: [{ itr: 'branch', entries: [{ prefix: '10.1.0.11/32', site: 'dc2', version: 9 }] }],
      routes: [
        { site: 'dc1', routes: [{ prefix: '10.1.0.11/32', vm: 'web-02', locationVersion: 1, state: 'confirmed' }] },
        { site: 'dc2', routes: [{ prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 2, state: 'confirmed' }] },
      ],
      arpStale: [{ vm: 'web-02', ip: '10.1.0.11', site: 'dc2', neighbour: 'dc2-n1', heldMac: '52:54:00:01:00:11', rightMac: null, since: '2030-01-01T00:00:00.000Z' }],
    };
    expect(findDrift(input)).toEqual([{ plane: 'mapping', component: 'map-server', vm: 'web-01', detail: 'registers 10.1.0.10/32 at dc1 v1; web-01 is at dc2 v2' }]);
  });

  it('given a plane left out, then it is not compared (no "no registration" for every VM)', () => {
    const input: DriftInput = { locations: [web01, legacy], sites, skip: new Set(), partial: true, routes: agreeing().routes };
    expect(findDrift(input)).toEqual([]);
  });

  it("given one page of a site's routes and the VMs owning its addresses (not partial), then a route no VM has is named, and so is an owner's old route", () => {
    const input: DriftInput = {
      locations: [web02],
      sites,
      skip: new Set(),
      routes: [
        {
          site: 'dc2',
          routes: [
            { prefix: '10.1.0.11/32', vm: 'web-02', locationVersion: 1, state: 'stale' },
            { prefix: '10.1.0.99/32', state: 'stale' },
          ],
        },
      ],
    };
    expect(findDrift(input)).toEqual([
      { plane: 'host-routes', component: 'route-injector:dc2', vm: 'web-02', detail: 'still originates 10.1.0.11/32 v1 (stale); web-02 is at dc1 v1' },
      { plane: 'host-routes', component: 'route-injector:dc2', detail: 'originates 10.1.0.99/32, which no VM has' },
    ]);
    expect(orphanRoutePrefix(findDrift(input)[1])).toBe('10.1.0.99/32');
    expect(orphanRoutePrefix(findDrift(input)[0])).toBeUndefined();
  });
});

describe('drift: which disagreements a check may call resolved', () => {
  const itrOld: DriftView = { plane: 'mapping', component: 'itr:branch', vm: 'web-01', detail: 'caches 10.1.0.10/32 at dc1 v1; web-01 is at dc2 v2' };
  const routeOld: DriftView = { plane: 'host-routes', component: 'route-injector:dc1', vm: 'web-02', detail: 'originates 10.1.0.11/32 at v0; web-02 is at dc1 v1' };
  const orphan: DriftView = { plane: 'host-routes', component: 'route-injector:dc1', detail: 'originates 10.1.0.99/32, which no VM has' };
  const down: DriftView = { plane: 'mapping', component: 'map-server', detail: 'not answering: timeout' };
  const known = () => new Map([itrOld, routeOld, orphan, down].map((d) => [driftKey(d), d]));
  const scope = (over: Partial<DriftScope> = {}): DriftScope => ({ vms: new Set(), asked: new Set(), silent: new Set(), routePages: new Map(), ...over });

  it('given a disagreement about a VM outside the compared set, when the check finds nothing, then it is not resolved but still known', () => {
    const r = nextKnownDrift(known(), [], scope({ vms: new Set(['web-02']) }));
    expect(r.resolved).toEqual([routeOld]);
    expect([...r.known.values()]).toEqual([itrOld, orphan, down]);
    expect(r.appeared).toEqual([]);
  });

  it('given the component did not answer this time, then what it said before about a compared VM stands', () => {
    const r = nextKnownDrift(known(), [], scope({ vms: new Set(['web-01', 'web-02']), silent: new Set(['route-injector']) }));
    expect(r.resolved).toEqual([itrOld]);
    expect(r.known.has(driftKey(routeOld))).toBe(true);
  });

  it("given a route no VM has, then only a page of that site's RIB covering its prefix resolves it", () => {
    const before = nextKnownDrift(known(), [], scope({ routePages: new Map([['route-injector:dc1', { after: '10.1.0.99/32' }]]) }));
    expect(before.resolved).toEqual([]);
    const other = nextKnownDrift(known(), [], scope({ routePages: new Map([['route-injector:dc2', {}]]) }));
    expect(other.resolved).toEqual([]);
    const covering = nextKnownDrift(known(), [], scope({ routePages: new Map([['route-injector:dc1', { after: '10.1.0.9/32', through: '10.1.0.100/32' }]]) }));
    expect(covering.resolved).toEqual([orphan]);
  });

  it('given a component that was not answering answers again, then that is resolved; found again, it stays known and does not appear twice', () => {
    expect(nextKnownDrift(known(), [], scope({ asked: new Set(['map-server']) })).resolved).toEqual([down]);
    const again = nextKnownDrift(known(), [down, itrOld], scope({ vms: new Set(['web-01']), asked: new Set(['map-server']) }));
    expect(again.appeared).toEqual([]);
    expect(again.resolved).toEqual([]);
    expect(again.known.size).toBe(4);
  });

  /** A known disagreement of the hypervisors: dc2-hv1 holds a copy of web-01, which the DB places on dc1-hv1. */
  const copy: DriftView = {
    plane: 'hypervisors',
    component: 'agent:dc2-hv1',
    vm: 'web-01',
    kind: 'extra-copy',
    hosts: ['dc2-hv1', 'dc1-hv1'],
    detail: 'dc2-hv1 holds a copy of web-01 (running v1)',
  };
  const withCopy = new Map([[driftKey(copy), copy]]);

  it('given a disagreement of the hypervisors, then only a check that compared the VM with the agents resolves it (a moving VM is compared there, not on the network planes)', () => {
    expect(nextKnownDrift(withCopy, [], scope({ vms: new Set(['web-01']) })).resolved).toEqual([]);
    expect(nextKnownDrift(withCopy, [], scope({ hostVms: new Set(['web-01']) })).resolved).toEqual([copy]);
    expect(nextKnownDrift(withCopy, [], scope({ hostVms: new Set(['web-01']), silent: new Set(['agent:dc2-hv1']) })).resolved).toEqual([]);
  });

  it("given a copy on a third host, when the check asked only the VM's own host and the one it left, then the copy is not resolved; asked of every host involved, it is", () => {
    const byHost = (...hosts: string[]) => scope({ hostVms: new Set(['web-01']), hostAsked: new Map([['web-01', new Set(hosts.map((h) => `agent:${h}`))]]) });
    expect(nextKnownDrift(withCopy, [], byHost('dc1-hv1', 'colo-hv1')).resolved).toEqual([]);
    expect(nextKnownDrift(withCopy, [], byHost('dc1-hv1', 'dc2-hv1')).resolved).toEqual([copy]);
  });

  it('given an agent not answering, then only a check that asked that agent again resolves it', () => {
    const silent: DriftView = { plane: 'hypervisors', component: 'agent:dc2-hv1', detail: 'not answering: timeout' };
    const known = new Map([[driftKey(silent), silent]]);
    expect(nextKnownDrift(known, [], scope({ asked: new Set(['agent:dc1-hv1']) })).resolved).toEqual([]);
    expect(nextKnownDrift(known, [], scope({ asked: new Set(['agent:dc2-hv1']) })).resolved).toEqual([silent]);
  });

  it('given the same disagreement found by two passes of one check, then it is reported once', () => {
    expect(uniqueDrift([routeOld, orphan, { ...routeOld }])).toEqual([routeOld, orphan]);
  });
});

describe('isSilentSinceStart: a component not answering before it ever has is still starting', () => {
  const silent: DriftView = { plane: 'host-routes', component: 'route-injector', detail: 'not answering: 503' };
  it('given a component that has not answered any check yet, then it is (said at info level)', () => {
    expect(isSilentSinceStart(silent, new Set(['map-server']))).toBe(true);
  });
  it("given one that answered before, or a VM's disagreement, or another detail, then it is drift", () => {
    expect(isSilentSinceStart(silent, new Set(['route-injector']))).toBe(false);
    expect(isSilentSinceStart({ ...silent, vm: 'web-01' }, new Set())).toBe(false);
    expect(isSilentSinceStart({ ...silent, detail: 'still originates 10.1.0.10/32 v1 (stale)' }, new Set())).toBe(false);
  });
});
