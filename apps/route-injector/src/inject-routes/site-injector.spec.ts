import pino from 'pino';
import type { NatsConnection } from 'nats';
import { locationEventFixtures as ev, type PlaneEvent, type VmView } from '@locus/contracts';
import type { PlaneEventPublisher } from '@locus/messaging';
import { InMemoryFabric } from '../rib/in-memory-rib';
import { SiteRouteInjector } from './site-injector';

/**
 * The facts a site's injector publishes when a move left it before it started: it never originated
 * the old /32, so no RouteWithdrawn will come, and `RoutesReconciled` says it agrees instead.
 * The RIB is the in-memory fabric; the publisher keeps what it is given.
 */
const sites = [
  { name: 'dc1', routerIp: '198.51.100.1', hostRoutes: true },
  { name: 'dc2', routerIp: '198.51.100.2', hostRoutes: true },
];
const webAtDc2: VmView = { name: 'web-01', ip: '10.1.0.10', mac: '02:00:0a:01:00:0a', site: 'dc2', hypervisor: 'dc2-hv1', l2Domain: 'web', state: 'running', locationVersion: 2 };

function injectorAt(site: 'dc1' | 'dc2', fabric: InMemoryFabric, logger: pino.Logger = pino({ level: 'silent' })) {
  const published: PlaneEvent[] = [];
  const publisher = { publish: async (event: PlaneEvent) => (published.push(event), { duplicate: false, seq: published.length }) } as unknown as PlaneEventPublisher;
  const injector = new SiteRouteInjector(
    { site: sites.find((s) => s.name === site)!, sites, driver: fabric.driverFor(site), core: fabric.core(), holdMs: 60_000, confirmTimeoutMs: 10_000 },
    { nc: {} as NatsConnection, prefix: 'spec', logger, publisher },
  );
  return { injector, published };
}

describe('a site injector that starts after a move left its site', () => {
  let fabric: InMemoryFabric;
  beforeEach(() => (fabric = new InMemoryFabric(['dc1', 'dc2'])));
  afterEach(() => fabric.stop());

  it('given a snapshot with the VM already at dc2, when dc1 starts, then it says it reconciled the whole site through the snapshot, holding nothing', async () => {
    const { injector, published } = injectorAt('dc1', fabric);
    injector.loadSnapshot([webAtDc2]);
    await injector.start(41);
    await injector.stop();
    expect(published).toEqual([
      expect.objectContaining({
        plane: 'route',
        type: 'RoutesReconciled',
        component: 'route-injector:dc1',
        locationVersion: 0,
        data: { site: 'dc1', trigger: 'start', through: 41, held: [], routes: 0 },
      }),
    ]);
    expect(published[0].vm).toBeUndefined();
  });

  it('when the relocation the snapshot held is delivered after all, then RoutesReconciled of that VM at its version, and nothing else', async () => {
    const { injector, published } = injectorAt('dc1', fabric);
    injector.loadSnapshot([webAtDc2]);
    await injector.start(41);
    published.length = 0;
    await injector.handle(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']));
    await injector.stop();
    expect(published).toEqual([
      expect.objectContaining({ type: 'RoutesReconciled', vm: 'web-01', eid: '10.1.0.10/32', locationVersion: 2, moveId: expect.any(String), data: { site: 'dc1', trigger: 'snapshot', held: [] } }),
    ]);
  });

  it('but a site that still originates an older /32 of the VM says nothing (its RouteWithdrawn will)', async () => {
    await fabric.driverFor('dc1').advertise({ prefix: '10.1.0.10/32', site: 'dc1', nextHop: '198.51.100.1', localPref: 101, locationVersion: 1, vm: 'web-01' });
    const { injector, published } = injectorAt('dc1', fabric);
    injector.loadSnapshot([webAtDc2]);
    // the start reconcile holds the old route until dc2 confirms v2 (make-before-break)
    await injector.start(41);
    expect(published.map((e) => e.type)).toEqual(['ReconcileFixed', 'RoutesReconciled']);
    expect(published[1].data).toMatchObject({ trigger: 'start', held: ['10.1.0.10/32'], routes: 1 });
    published.length = 0;
    await injector.handle(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']));
    await injector.stop();
    expect(published).toEqual([]);
  });
});

describe("a site injector's start on a RIB that lacks the site's routes (a first start)", () => {
  let fabric: InMemoryFabric;
  beforeEach(() => (fabric = new InMemoryFabric(['dc1', 'dc2'])));
  afterEach(() => fabric.stop());

  it('says the routes it originates in one summary line, and what it found wrong as drift, line by line', async () => {
    const lines: { level: number; msg: string; prefix?: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    // a route dc2 must not originate (no VM of it is there): drift, whatever the start
    await fabric.driverFor('dc2').advertise({ prefix: '10.1.0.99/32', site: 'dc2', nextHop: '198.51.100.2', localPref: 101, locationVersion: 1, vm: 'gone' });
    const { injector, published } = injectorAt('dc2', fabric, logger);
    injector.loadSnapshot([webAtDc2, { ...webAtDc2, name: 'web-02', ip: '10.1.0.11' }]);
    await injector.start(41);
    const info = () => lines.filter((l) => l.level === 30).map((l) => l.msg);
    for (let waited = 0; !info().some((m) => m.startsWith('the core RIB has the 2 routes this start originated')); waited += 10) {
      if (waited > 5000) throw new Error(`no summary of the core RIB: ${JSON.stringify(info())}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await injector.stop();
    expect(info().filter((m) => /^reconcile fixed drift|^route advertised|^route confirmed|^start-up reconcile/.test(m))).toEqual(['reconcile fixed drift: withdrawn 10.1.0.99/32']);
    expect(info()).toContain('reconcile done: 2 added, 1 withdrawn (the RIB held 1 route of this site)');
    expect(lines.filter((l) => l.level === 20 && /^start-up reconcile: added/.test(l.msg)).map((l) => l.prefix)).toEqual(['10.1.0.10/32', '10.1.0.11/32']);
    // the events are the same as ever: one ReconcileFixed a fix
    expect(published.filter((e) => e.type === 'ReconcileFixed').map((e) => `${String(e.data.fix)} ${e.eid}`)).toEqual(['added 10.1.0.10/32', 'added 10.1.0.11/32', 'withdrawn 10.1.0.99/32']);
  });
});
