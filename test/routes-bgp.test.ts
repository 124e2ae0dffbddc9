import { randomUUID } from 'node:crypto';
import { requestJson } from './support/request';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { planeEvents, publishSyntheticVmEvent } from './support/planes';
import { startRouteInjectors, routeSites, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { gobgpdBinary, startGoBgpFabric, type GoBgpFabric } from '../apps/route-injector/src';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';

/**
 * Host routes against a real BGP fabric: one gobgpd per site plus a core gobgpd (the WAN),
 * driven over gRPC, with the real NATS and Postgres. Routers: dc1 198.51.100.11, dc2 .12, cloud .21.
 */
const DC1 = '198.51.100.11';
const DC2 = '198.51.100.12';
const describeBgp = gobgpdBinary() ? describe : describe.skip;
if (!gobgpdBinary()) console.warn('gobgpd is not installed: the BGP integration tests are skipped (.ci/install-gobgp.sh installs it)');

describeBgp('host routes through gobgpd: make-before-break, reconcile, restart, rise/fall', () => {
  let fabric: GoBgpFabric | undefined;
  let lab: TestLab | undefined;
  let mainInjectors: RunningRouteInjectors | undefined;
  let dc2: RunningRouteInjectors | undefined;
  const { logger, lines } = capturingLogger();

  const corePaths = async (prefix: string) => (await fabric!.core().list(prefix)).map((p) => ({ nextHop: p.nextHop, v: p.locationVersion }));

  beforeAll(async () => {
    const topology = loadTopologyFile(defaultTopologyPath()).index;
    fabric = await startGoBgpFabric(
      routeSites(topology).filter((s) => s.hostRoutes),
      logger,
    );
    lab = await startTestLab();
    mainInjectors = await startRouteInjectors(lab.config, logger, { sites: ['dc1', 'cloud'], fabric });
    dc2 = await startRouteInjectors(lab.config, logger, { sites: ['dc2'], fabric });
  }, 60_000);

  afterAll(async () => {
    try {
      await dc2?.stop();
      await mainInjectors?.stop();
      await lab?.stop();
    } finally {
      await fabric?.stop();
    }
  });

  it('originates a /32 per running VM from its site, carrying the location version', async () => {
    await eventually(
      async () => {
        const paths = await corePaths('10.1.0.10/32');
        return paths.length === 1 && paths[0].nextHop === DC1 && paths[0].v === 1;
      },
      15_000,
      'web-01 /32 via dc1 in the core',
    );
    const reply = await req('routes.list', { site: 'dc1' });
    expect(reply.ok).toBe(true);
    expect(reply.sites[0].rib).toBe('gobgp');
    expect(reply.sites[0].routes).toEqual(expect.arrayContaining([expect.objectContaining({ prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 1, nextHop: DC1 })]));
  });

  it('routes.list filtered by prefixes (one ListPath of those prefixes) and paged by prefix answers what the whole list does', async () => {
    const whole = await eventually(
      async () => {
        const view = (await req('routes.list', { site: 'dc1' })).sites[0];
        return view.routes.length > 3 && view.routes.every((r: any) => r.state === 'confirmed') ? view : undefined;
      },
      10_000,
      "dc1's routes confirmed in the core",
    );
    const some = (await req('routes.list', { prefixes: ['10.1.0.10/32', '10.11.0.10/32', '10.1.0.99/32'] })).sites;
    expect(some.find((s: any) => s.site === 'dc1').routes).toEqual(whole.routes.filter((r: any) => ['10.1.0.10/32', '10.11.0.10/32'].includes(r.prefix)));
    expect(some.filter((s: any) => s.site !== 'dc1').flatMap((s: any) => s.routes)).toEqual([]);
    const paged: any[] = [];
    for (let after: string | undefined; ;) {
      const [page] = (await req('routes.list', { site: 'dc1', limit: 2, ...(after ? { after } : {}) })).sites;
      expect(page.total).toBe(whole.routes.length);
      paged.push(...page.routes);
      if (!page.next) break;
      after = page.next;
    }
    expect(paged).toEqual(whole.routes);
  });

  it('cold move web-01 dc1 -> dc2: the /32 is in the core via dc2 and gone via dc1, advertised and confirmed before the old one is withdrawn', async () => {
    const accepted = await lab!.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(accepted.ok).toBe(true);
    await lab!.waitForMove(accepted.moveId);
    await eventually(
      async () => {
        const paths = await corePaths('10.1.0.10/32');
        return paths.length === 1 && paths[0].nextHop === DC2 && paths[0].v === 2;
      },
      15_000,
      'web-01 /32 only via dc2 in the core',
    );
    const events = await eventually(
      async () => {
        const e = await planeEvents(lab!.client, lab!.config.streamName, 'route', 'web-01');
        return e.some((x) => x.type === 'RouteWithdrawn') ? e : undefined;
      },
      10_000,
      'RouteWithdrawn of web-01',
    );
    const order = events.map((e) => `${e.type}:${e.data.site}:v${e.locationVersion}`);
    const adv = order.indexOf('RouteAdvertised:dc2:v2');
    const conf = order.indexOf('RouteConfirmed:dc2:v2');
    const wd = order.indexOf('RouteWithdrawn:dc1:v1');
    expect(adv).toBeGreaterThanOrEqual(0);
    expect(conf).toBeGreaterThan(adv);
    expect(wd).toBeGreaterThan(conf);
    const confirmed = events.find((e) => e.type === 'RouteConfirmed' && e.data.site === 'dc2');
    expect(confirmed.data.ms).toEqual(expect.any(Number));
    expect(confirmed.moveId).toBe(accepted.moveId);
    const withdrawn = events.find((e) => e.type === 'RouteWithdrawn');
    expect(withdrawn.data.replacedBy).toMatchObject({ site: 'dc2', locationVersion: 2 });
    console.log(`web-01 /32 reached the core RIB in ${confirmed.data.ms} ms`);
    const reply = await req('routes.list', {});
    const dc2Routes = reply.sites.find((s: any) => s.site === 'dc2').routes;
    expect(dc2Routes).toEqual(expect.arrayContaining([expect.objectContaining({ prefix: '10.1.0.10/32', vm: 'web-01', locationVersion: 2, state: 'confirmed' })]));
    expect(reply.sites.find((s: any) => s.site === 'dc1').routes.map((r: any) => r.prefix)).not.toContain('10.1.0.10/32');
  });

  it('reconcile finds drift planted in a RIB and fixes it, one ReconcileFixed per fix', async () => {
    const dc1 = fabric!.client('dc1');
    try {
      await dc1.addPath({ prefix: '10.1.0.10/32', nextHop: DC1, localPref: 101, locationVersion: 1 }); // stale: web-01 is at dc2 now
      await dc1.addPath({ prefix: '10.1.0.99/32', nextHop: DC1, localPref: 100 }); // nobody's address
      await dc1.deletePath({ prefix: '10.1.0.11/32', nextHop: DC1, localPref: 101, locationVersion: 1 }); // web-02's route lost
    } finally {
      dc1.close();
    }
    await eventually(async () => (await corePaths('10.1.0.99/32')).length === 1, 10_000, 'planted route in the core');
    const reply = await req('routes.reconcile', { site: 'dc1' });
    expect(reply.ok).toBe(true);
    const fixes = reply.sites[0].fixes.map((f: any) => `${f.fix} ${f.prefix}`).sort();
    expect(fixes).toEqual(['added 10.1.0.11/32', 'withdrawn 10.1.0.10/32', 'withdrawn 10.1.0.99/32']);
    await eventually(
      async () => {
        const [a, b, c] = await Promise.all([corePaths('10.1.0.10/32'), corePaths('10.1.0.11/32'), corePaths('10.1.0.99/32')]);
        return a.length === 1 && a[0].nextHop === DC2 && b.length === 1 && b[0].nextHop === DC1 && c.length === 0;
      },
      10_000,
      'core RIB repaired',
    );
    const fixed = (await planeEvents(lab!.client, lab!.config.streamName, 'route')).filter((e) => e.type === 'ReconcileFixed' && e.data.trigger === 'request');
    expect(fixed.map((e) => e.eid).sort()).toEqual(['10.1.0.10/32', '10.1.0.11/32', '10.1.0.99/32']);
    expect(lines().some((l) => /reconcile fixed drift/.test(l.msg) && l.prefix === '10.1.0.99/32')).toBe(true);
    const again = await req('routes.reconcile', { site: 'dc1' });
    expect(again.sites[0].fixes).toEqual([]);
  });

  it('an injector killed mid-move: the old route stays (no break) and the restarted injector ends with the right RIB', async () => {
    await dc2!.stop();
    dc2 = undefined;
    const accepted = await lab!.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'cold' });
    expect(accepted.ok).toBe(true);
    await lab!.waitForMove(accepted.moveId);
    // dc1 holds its route until dc2 confirms the new one: the /32 never disappears from the core.
    await eventually(
      async () => {
        const view = await req('routes.list', { site: 'dc1' });
        return view.sites[0].routes.some((r: any) => r.prefix === '10.1.0.11/32' && r.state === 'withdrawing');
      },
      10_000,
      'dc1 holding web-02 for make-before-break',
    );
    expect(await corePaths('10.1.0.11/32')).toEqual([{ nextHop: DC1, v: 1 }]);
    const dc2View = await req('routes.list', { site: 'dc2' });
    expect(dc2View.sites[0].unavailable).toBe(true);

    dc2 = await startRouteInjectors(lab!.config, logger, { sites: ['dc2'], fabric });
    await eventually(
      async () => {
        const paths = await corePaths('10.1.0.11/32');
        return paths.length === 1 && paths[0].nextHop === DC2 && paths[0].v === 2;
      },
      15_000,
      'web-02 only via dc2 after the restart',
    );
    // The RIB is right before every plane event is stored: wait for both facts, then check their order.
    const events = await eventually(
      async () => {
        const all = (await planeEvents(lab!.client, lab!.config.streamName, 'route', 'web-02')).map((e) => `${e.type}:${e.data.site}`);
        return all.includes('RouteWithdrawn:dc1') && all.includes('RouteConfirmed:dc2') ? all : undefined;
      },
      10_000,
      'RouteConfirmed at dc2 and RouteWithdrawn at dc1 in the stream',
    );
    expect(events.indexOf('RouteWithdrawn:dc1')).toBeGreaterThan(events.indexOf('RouteConfirmed:dc2'));
  });

  it("a stopped VM's route falls and comes back when it runs again (rise/fall)", async () => {
    const moveId = randomUUID();
    await publishSyntheticVmEvent(lab!.client, lab!.config.subjectPrefix, 'burst-01', 'MoveFailed', { moveId, code: 'AGENT_FAILED', message: 'test', phase: 'boot', restartAtSource: true });
    await eventually(async () => (await corePaths('10.21.0.10/32')).length === 0, 10_000, 'burst-01 /32 withdrawn');
    await publishSyntheticVmEvent(lab!.client, lab!.config.subjectPrefix, 'burst-01', 'VmRestartedAtSource', { moveId, hypervisor: 'cloud-hv1', durationMs: 1 });
    await eventually(
      async () => {
        const paths = await corePaths('10.21.0.10/32');
        return paths.length === 1 && paths[0].nextHop === '198.51.100.21';
      },
      10_000,
      'burst-01 /32 back',
    );
    const events = (await planeEvents(lab!.client, lab!.config.streamName, 'route', 'burst-01')).map((e) => `${e.type}:${e.data.cause ?? ''}`);
    expect(events).toEqual(expect.arrayContaining(['RouteWithdrawn:fall', 'RouteAdvertised:rise']));
  });

  async function req(endpoint: 'routes.list' | 'routes.reconcile', body: unknown): Promise<any> {
    return requestJson(lab!.client, `${lab!.config.subjectPrefix}.${endpoint}`, body, 30_000);
  }
});
