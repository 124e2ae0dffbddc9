import type { Subscription } from 'nats';
import { mappingSubjects, routingSubjects } from '@locus/contracts';
import { requestJson } from './support/request';
import { startLabWithPlanes, untilNoDrift } from './support/planes-lab';
import { capturingLogger, eventually, type TestLab } from './support/harness';
import { startMobilityManager } from '../apps/mobility-manager/src/start-mobility-manager';
import { DriftDetector } from '../apps/mobility-manager/src';
import { InMemoryFabric } from '../apps/route-injector/src';

/**
 * The incremental drift check against the real NATS and Postgres, every plane running (mapping
 * system, route injectors on an in-memory RIB, ARP proxies): the planes' query endpoints filter by
 * EID, prefix and VM; the periodic check (1 s, a slice of 4 VMs) asks them with those filters for a
 * few VMs at a time, compares the VMs that moved, and still finds, within a sweep, a route planted
 * by hand for a VM nobody moved and one for an address no VM has; it calls them resolved only
 * once it compared them again.
 */
describe('drift: the periodic check is incremental', () => {
  let lab: TestLab;
  let stop: (() => Promise<void>) | undefined;
  let fabric: InMemoryFabric;
  let logs: () => any[] = () => [];
  const SLICE = 4;
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    ({ lab, fabric, stop } = await startLabWithPlanes({ convergenceTracking: true, convergenceDeadlineMs: 2000 }));
    await requestJson(lab.client, mappingSubjects(lab.config.subjectPrefix).resolve, { eid: '10.1.0.12', itr: 'branch', forward: true }, 10_000);
  }, 60_000);

  afterAll(async () => {
    console.log(`incremental drift check in this run: ${JSON.stringify(figures)}`);
    await stop?.();
  });

  const map = () => mappingSubjects(lab.config.subjectPrefix);
  const routing = () => routingSubjects(lab.config.subjectPrefix);
  const ask = (subject: string, body: unknown) => requestJson<any>(lab.client, subject, body, 10_000);
  const driftLines = (re: RegExp) => logs().filter((l) => l.component === 'drift-detector' && re.test(l.msg));

  it('the planes answer for the EIDs, prefixes and VMs asked, and refuse bad filters with BAD_REQUEST', async () => {
    const registry = await ask(map().list, { eids: ['10.1.0.10/32', '10.99.0.1/32'] });
    expect(registry).toMatchObject({ ok: true, source: 'map-server', total: 1, entries: [{ prefix: '10.1.0.10/32', vm: 'web-01', site: 'dc1' }] });
    const branch = await ask(map().list, { itr: 'branch', eids: ['10.1.0.12/32', '10.1.0.10/32'] });
    expect(branch).toMatchObject({ ok: true, source: 'itr:branch', total: 1, entries: [{ prefix: '10.1.0.12/32', site: 'dc2' }] });
    expect((await ask(map().list, {})).total).toBeGreaterThan(20); // unfiltered as before

    const some = await eventually(
      async () => {
        const r = await ask(routing().routesList, { prefixes: ['10.1.0.10/32', '10.1.0.12/32'] });
        return r.sites.flatMap((s: any) => s.routes).length === 2 ? r : undefined;
      },
      10_000,
      'the routes of web-01 and web-03',
    );
    expect(Object.fromEntries(some.sites.map((s: any) => [s.site, s.routes.map((r: any) => r.prefix)]))).toEqual({ dc1: ['10.1.0.10/32'], dc2: ['10.1.0.12/32'], cloud: [] });
    expect(some.sites[0].total).toBeUndefined();

    const whole = (await ask(routing().routesList, { site: 'dc1' })).sites[0];
    const paged: string[] = [];
    for (let after: string | undefined; ;) {
      const [page] = (await ask(routing().routesList, { site: 'dc1', limit: 3, ...(after ? { after } : {}) })).sites;
      expect(page.total).toBe(whole.routes.length);
      paged.push(...page.routes.map((r: any) => r.prefix));
      if (!page.next) break;
      expect(page.next).toBe(page.routes[2].prefix);
      after = page.next;
    }
    expect(paged).toEqual(whole.routes.map((r: any) => r.prefix));
    expect(whole.total).toBeUndefined();

    expect(await ask(routing().arpStale, { vms: ['web-01', 'db-01'] })).toMatchObject({ ok: true, stale: [] });

    const bad = async (subject: string, body: unknown) => (await ask(subject, body)).error;
    expect(await bad(map().list, { eids: [] })).toEqual({ code: 'BAD_REQUEST', message: 'eids: name at least one EID prefix, or leave eids out' });
    expect(await bad(map().list, { eids: ['10.1.0.10'] })).toEqual({ code: 'BAD_REQUEST', message: 'eids.0: expected an EID prefix a.b.c.d/len, got the string "10.1.0.10"' });
    const tooMany = Array.from({ length: 1001 }, (_, i) => `10.${i >> 8}.${i & 255}.1/32`);
    expect(await bad(map().list, { itr: 'branch', eids: tooMany })).toEqual({ code: 'BAD_REQUEST', message: 'eids: at most 1000 EID prefixes per request; split the list' });
    expect(await bad(routing().routesList, { prefixes: tooMany })).toEqual({ code: 'BAD_REQUEST', message: 'prefixes: at most 1000 prefixes per request; split the list' });
    expect(await bad(routing().routesList, { site: 'dc1', after: 'web-01' })).toEqual({ code: 'BAD_REQUEST', message: 'after: expected a prefix a.b.c.d/len, got the string "web-01"' });
    expect(await bad(routing().routesList, { limit: 0 })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/^limit: /) });
    expect(await bad(routing().arpStale, { vm: 'web-01', vms: ['web-02'] })).toEqual({ code: 'BAD_REQUEST', message: 'vms: give vm or vms, not both' });
    expect(await bad(routing().arpStale, { vms: ['Web_01'] })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/^vms\.0: /) });
  });

  it('each period compares the VMs that changed and a slice of the sweep, asking the planes for those only, and finds a route planted by hand within a sweep', async () => {
    await untilNoDrift(lab);
    const total = (await lab.vms()).length;

    // What the manager asks the planes: a plain subscription sees every request of the queue group.
    const seen: { subject: string; body: any }[] = [];
    const subs: Subscription[] = [map().list, routing().routesList, routing().arpStale].map((subject) =>
      lab.client.subscribe(subject, { callback: (_e, m) => seen.push({ subject, body: JSON.parse(new TextDecoder().decode(m.data)) }) }),
    );

    // The manager again, now checking every second (lab time 1000 s at scale 1000), 4 VMs of the sweep per period, logging at debug.
    const debug = capturingLogger('debug');
    await lab.manager.stop();
    lab.manager = await startMobilityManager({ ...lab.config, driftIntervalMs: 1000 * lab.config.timeScale, driftSlice: SLICE }, debug.logger);
    logs = debug.lines;
    const sweeps = await eventually(async () => (driftLines(/^drift sweep completed/).length ? driftLines(/^drift sweep completed/) : undefined), 30_000, 'a whole sweep');
    expect(sweeps[0]).toMatchObject({ vms: total, periods: Math.ceil((total + 1) / SLICE), disagreements: 0 });
    figures.sweep = { vms: sweeps[0].vms, periods: sweeps[0].periods, ms: sweeps[0].ms };

    // A VM nobody moved: web-03 (dc2) planted in cloud's RIB, and an address no VM has in dc1's.
    const planted = { prefix: '10.1.0.12/32', nextHop: '198.51.100.21', localPref: 100, locationVersion: 1, best: true, neighbour: '' };
    const orphan = { prefix: '10.1.0.99/32', nextHop: '198.51.100.11', localPref: 100, locationVersion: 1, best: true, neighbour: '' };
    const checksBefore = driftLines(/^drift check: /).length;
    const plantedAt = Date.now();
    fabric.plant('cloud', planted);
    fabric.plant('dc1', orphan);
    // A VM that moves meanwhile is compared in the next period, not when the sweep reaches it.
    const moved = await lab.req('vm.move', { vm: 'web-04', to: 'dc1-hv2', mode: 'cold' });
    await lab.waitForMove(moved.moveId, ['converged']);
    const convergedAt = Date.now();

    const found = await eventually(
      async () => {
        const web03 = driftLines(/^drift: route-injector:cloud \(web-03\) disagrees with the location DB: still originates 10\.1\.0\.12\/32 v1 \(stale\); web-03 is at dc2 v1$/);
        const nobody = driftLines(/^drift: route-injector:dc1 disagrees with the location DB: originates 10\.1\.0\.99\/32, which no VM has$/);
        return web03.length && nobody.length ? { web03: web03[0].time, nobody: nobody[0].time } : undefined;
      },
      2 * sweeps[0].ms + 10_000,
      'both planted routes found by the periodic check',
    );
    figures.foundAfterMs = { web03: found.web03 - plantedAt, orphan: found.nobody - plantedAt, sweepMs: sweeps[0].ms };
    expect(found.web03 - plantedAt).toBeLessThan(sweeps[0].ms + 5000);
    expect(found.nobody - plantedAt).toBeLessThan(sweeps[0].ms + 5000);

    // every periodic check compared a few VMs: the slice, what changed and what was due again, never all of them
    const checks = driftLines(/^drift check: /).slice(checksBefore);
    expect(checks.length).toBeGreaterThan(2);
    for (const c of checks) {
      expect(c.swept).toBeLessThanOrEqual(SLICE);
      expect(c.vms).toBeLessThanOrEqual(c.swept + c.changed + c.again);
      expect(c.vms).toBeLessThan(total);
    }
    // web-04's move converged: a check that began after that does not compare it as changed (nothing else changed)
    const begunAfter = checks.filter((c) => c.time - c.ms > convergedAt);
    expect(begunAfter.length).toBeGreaterThan(0);
    for (const c of begunAfter) expect(c.changed).toBe(0);
    figures.perCheck = { total, maxCompared: Math.max(...checks.map((c) => c.vms)), maxMs: Math.max(...checks.map((c) => c.ms)), checks: checks.length };

    // ... and asked each plane with a filter for those VMs only (or one page of one site's routes)
    for (const s of subs) s.unsubscribe();
    expect(seen.length).toBeGreaterThan(0);
    for (const r of seen) {
      if (r.subject === map().list) expect(r.body.eids.length).toBeLessThanOrEqual(SLICE + 4);
      if (r.subject === routing().arpStale) expect(r.body.vms.length).toBeLessThanOrEqual(SLICE + 4);
      if (r.subject === routing().routesList) {
        if (r.body.prefixes) expect(r.body.prefixes.length).toBeLessThanOrEqual(SLICE + 4);
        else expect(r.body).toMatchObject({ site: expect.any(String), limit: expect.any(Number) }); // one page of one site's RIB
      }
    }
    expect(seen.some((r) => r.subject === routing().routesList && r.body.site === 'dc1' && r.body.limit <= SLICE)).toBe(true);

    // web-04 moved and converged: compared after its move, no disagreement about it
    expect(driftLines(/disagrees/).filter((l) => l.vm === 'web-04')).toEqual([]);
  });

  it('a disagreement is resolved only by a check that compared it again', async () => {
    // found again and again while it stands: never resolved in between
    const before = driftLines(/^drift check: /).length;
    await eventually(async () => (driftLines(/^drift check: /).length >= before + 3 ? true : undefined), 15_000, 'three more checks');
    expect(driftLines(/^drift resolved/).filter((l) => l.drift === 'route-injector:cloud' || l.drift === 'route-injector:dc1')).toEqual([]);
    expect([...lab.manager.drift.last!.disagreements.map((d) => d.vm)]).toContain('web-03'); // due again every period

    // gone by hand: resolved at the next comparison of web-03, and the address no VM has once its page is listed again
    const removedAt = Date.now();
    await fabric.driverFor('cloud').withdraw({ prefix: '10.1.0.12/32', nextHop: '198.51.100.21', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
    await fabric.driverFor('dc1').withdraw({ prefix: '10.1.0.99/32', nextHop: '198.51.100.11', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
    await eventually(async () => (driftLines(/^drift resolved: route-injector:cloud \(web-03\) agrees again$/).length ? true : undefined), 5000, 'web-03 resolved');
    await eventually(async () => (driftLines(/^drift resolved: route-injector:dc1 agrees again$/).length ? true : undefined), 30_000, 'the route no VM has resolved');
    figures.resolvedAfterMs = Date.now() - removedAt;
    expect(driftLines(/^drift: every plane agrees with the location DB again$/).length).toBeGreaterThan(0);
    expect(lab.manager.drift.sweeps).toBeGreaterThanOrEqual(1);

    // drift.check is still a full check
    const full = await lab.req('drift.check', {});
    expect(full).toMatchObject({ ok: true, disagreements: [] });
    expect(full.vms + full.skipped.length).toBe((await lab.vms()).length);
  });

  it('a full check walks every VM in chunks and every RIB in pages: nothing is cut off, whatever the count', async () => {
    await lab.manager.drift.stop(); // no periodic requests among the ones counted here
    const CHUNK = 5;
    const total = (await lab.vms()).length;
    const quiet = capturingLogger();
    const detector = new DriftDetector(
      { nc: lab.manager.nc, dataSource: lab.manager.dataSource, topology: lab.manager.topology, logger: quiet.logger, converging: () => new Set() },
      { prefix: lab.config.subjectPrefix, intervalMs: 0, chunk: CHUNK },
    );
    // web-06 is the last VM by name: in the last chunk
    fabric.plant('cloud', { prefix: '10.1.0.15/32', nextHop: '198.51.100.21', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
    fabric.plant('dc2', { prefix: '10.12.0.99/32', nextHop: '198.51.100.12', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
    const seen: any[] = [];
    const sub = lab.client.subscribe(map().list, { callback: (_e, m) => seen.push(JSON.parse(new TextDecoder().decode(m.data))) });
    const reply = await detector.check();
    sub.unsubscribe();
    expect(reply.vms).toBe(total);
    expect(reply.disagreements).toEqual([
      { plane: 'host-routes', component: 'route-injector:cloud', vm: 'web-06', detail: 'still originates 10.1.0.15/32 v1 (stale); web-06 is at dc2 v1' },
      { plane: 'host-routes', component: 'route-injector:dc2', detail: 'originates 10.12.0.99/32, which no VM has' },
    ]);
    const registryAsks = seen.filter((b) => !b.itr);
    expect(registryAsks).toHaveLength(Math.ceil(total / CHUNK));
    expect(registryAsks.every((b) => b.eids.length <= CHUNK)).toBe(true);
    expect(new Set(registryAsks.flatMap((b) => b.eids)).size).toBe(total);
    await fabric.driverFor('cloud').withdraw({ prefix: '10.1.0.15/32', nextHop: '198.51.100.21', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
    await fabric.driverFor('dc2').withdraw({ prefix: '10.12.0.99/32', nextHop: '198.51.100.12', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
  });
});
