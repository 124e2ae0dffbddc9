import { hostRouteFor, localPrefFor, versionCommunity, versionFromCommunities, type RibPath } from './host-route';
import { RouteTracker } from './route-tracker';
import { planPrefix, reconcileDiff, type RouteSite } from './route-plan';

const dc1: RouteSite = { name: 'dc1', routerIp: '198.51.100.11', hostRoutes: true };
const dc2: RouteSite = { name: 'dc2', routerIp: '198.51.100.12', hostRoutes: true };
const branch: RouteSite = { name: 'branch', routerIp: '198.51.100.31', hostRoutes: false };
const path = (site: RouteSite, v?: number, prefix = '10.1.0.10/32'): RibPath => ({ prefix, nextHop: site.routerIp, localPref: localPrefFor(v ?? 0), locationVersion: v });

describe('host route attributes', () => {
  it('given a newer location version, then its route is preferred (higher LOCAL_PREF) and carries the version', () => {
    expect(localPrefFor(2)).toBeGreaterThan(localPrefFor(1));
    expect(versionFromCommunities([versionCommunity(7)])).toBe(7);
    expect(hostRouteFor({ vm: 'web-01', ip: '10.1.0.10', locationVersion: 2 }, dc2)).toEqual({
      prefix: '10.1.0.10/32',
      vm: 'web-01',
      site: 'dc2',
      nextHop: '198.51.100.12',
      localPref: 102,
      locationVersion: 2,
    });
  });
});

describe('route tracker: version guard and rise/fall', () => {
  it('given web-01 relocated to dc2 at version 2, when the older placement is redelivered, then it is stale', () => {
    const t = new RouteTracker();
    t.apply({ type: 'placed', vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
    expect(t.apply({ type: 'relocated', vm: 'web-01', ip: '10.1.0.10', from: 'dc1', to: 'dc2', locationVersion: 2, moveId: 'm' })).toBe('applied');
    expect(t.apply({ type: 'placed', vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 })).toBe('stale');
    expect(t.get('web-01')).toMatchObject({ site: 'dc2', locationVersion: 2, up: true });
  });
  it('given a running VM, when it stops and runs again, then it falls once and rises once', () => {
    const t = new RouteTracker();
    t.apply({ type: 'placed', vm: 'burst-01', ip: '10.21.0.10', site: 'cloud', locationVersion: 1 });
    expect(t.apply({ type: 'down', vm: 'burst-01', reason: 'x' })).toBe('applied');
    expect(t.apply({ type: 'down', vm: 'burst-01', reason: 'x' })).toBe('duplicate');
    expect(t.apply({ type: 'up', vm: 'burst-01', reason: 'y' })).toBe('applied');
  });
  it('given sites sharing one tracker, when each applies the same event, then each sees it applied; a redelivery is a duplicate', () => {
    const t = new RouteTracker();
    t.apply({ type: 'placed', vm: 'web-01', ip: '10.1.0.10', site: 'dc1', locationVersion: 1 });
    const relocated = { type: 'relocated', vm: 'web-01', ip: '10.1.0.10', from: 'dc1', to: 'dc2', locationVersion: 2, moveId: 'm' } as const;
    expect(['dc1', 'dc2', 'cloud'].map(() => t.applyEvent('event-7', relocated))).toEqual(['applied', 'applied', 'applied']);
    expect(t.applyEvent('event-7-redelivered-copy', relocated)).toBe('duplicate');
    expect(t.byIp('10.1.0.10')).toMatchObject({ vm: 'web-01', site: 'dc2' });
  });
});

describe('make-before-break, one prefix', () => {
  const moved = { vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2, up: true };
  it('given web-01 now at dc2, when dc2 plans, then it advertises version 2 with the preferred LOCAL_PREF', () => {
    const [a] = planPrefix({ site: dc2, prefix: '10.1.0.10/32', vm: moved, ownerSite: dc2, own: [] });
    expect(a).toMatchObject({ kind: 'advertise', route: { nextHop: dc2.routerIp, locationVersion: 2, localPref: 102 } });
  });
  it('given web-01 now at dc2 and no confirmation yet, when dc1 plans, then it holds its old route', () => {
    const [a] = planPrefix({ site: dc1, prefix: '10.1.0.10/32', vm: moved, ownerSite: dc2, own: [path(dc1, 1)] });
    expect(a).toMatchObject({ kind: 'hold', waitFor: { site: 'dc2', locationVersion: 2 } });
  });
  it('given dc2 confirmed version 2, when dc1 plans, then it withdraws, naming the replacement', () => {
    const [a] = planPrefix({ site: dc1, prefix: '10.1.0.10/32', vm: moved, ownerSite: dc2, own: [path(dc1, 1)], replacement: { site: 'dc2', locationVersion: 2, source: 'route-confirmed' } });
    expect(a).toMatchObject({ kind: 'withdraw', replacedBy: { site: 'dc2' } });
  });
  it('given a confirmation of an older version only, then dc1 still holds', () => {
    const [a] = planPrefix({
      site: dc1,
      prefix: '10.1.0.10/32',
      vm: { ...moved, locationVersion: 3 },
      ownerSite: dc2,
      own: [path(dc1, 1)],
      replacement: { site: 'dc2', locationVersion: 2, source: 'route-confirmed' },
    });
    expect(a.kind).toBe('hold');
  });
  it('given the hold ran out, then dc1 withdraws and says it broke before make', () => {
    const [a] = planPrefix({ site: dc1, prefix: '10.1.0.10/32', vm: moved, ownerSite: dc2, own: [path(dc1, 1)], holdExpired: true });
    expect(a).toMatchObject({ kind: 'withdraw', breakBeforeMake: true });
  });
  it('given the VM stopped (fall) or moved to a site without host routes, then the route goes at once', () => {
    expect(planPrefix({ site: dc1, prefix: '10.1.0.10/32', vm: { ...moved, site: 'dc1', up: false }, ownerSite: dc1, own: [path(dc1, 2)] })[0].kind).toBe('withdraw');
    expect(planPrefix({ site: dc1, prefix: '10.1.0.10/32', vm: { ...moved, site: 'branch' }, ownerSite: branch, own: [path(dc1, 1)] })[0].kind).toBe('withdraw');
  });
  it('given the route is in the RIB at an older version, then it is re-advertised (replaced)', () => {
    const [a] = planPrefix({ site: dc2, prefix: '10.1.0.10/32', vm: moved, ownerSite: dc2, own: [path(dc2, 1)] });
    expect(a).toMatchObject({ kind: 'advertise', replaces: [expect.objectContaining({ locationVersion: 1 })] });
  });
});

describe('reconcile diff', () => {
  it('given drift in dc1 (a stale /32 whose VM is confirmed at dc2, an orphan, a missing /32), then each is fixed and nothing in sync is touched', () => {
    const vms = [
      { vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2, up: true },
      { vm: 'web-02', ip: '10.1.0.11', site: 'dc1', locationVersion: 1, up: true },
      { vm: 'web-05', ip: '10.1.0.14', site: 'dc1', locationVersion: 1, up: true },
    ];
    const own = [path(dc1, 1, '10.1.0.10/32'), path(dc1, undefined, '10.1.0.99/32'), path(dc1, 1, '10.1.0.14/32')];
    const core = [path(dc2, 2, '10.1.0.10/32'), ...own];
    const actions = reconcileDiff({ site: dc1, vms, sites: [dc1, dc2], own, core });
    expect(actions.map((a) => `${a.kind} ${a.prefix}`)).toEqual(['withdraw 10.1.0.10/32', 'advertise 10.1.0.11/32', 'withdraw 10.1.0.99/32']);
  });
  it('given the stale /32 has no confirmed replacement in the core, then reconcile holds it (make-before-break)', () => {
    const vms = [{ vm: 'web-01', ip: '10.1.0.10', site: 'dc2', locationVersion: 2, up: true }];
    const own = [path(dc1, 1)];
    expect(reconcileDiff({ site: dc1, vms, sites: [dc1, dc2], own, core: own })[0].kind).toBe('hold');
  });
});
