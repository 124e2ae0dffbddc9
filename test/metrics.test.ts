import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { mappingClient, mappingOptions, record, registered, RLOC, signedRegister } from './support/mapping';
import { startMappingSystem, type RunningMappingSystem } from '../apps/mapping-system/src/start-mapping-system';
import { routeSites, startRouteInjectors, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { InMemoryFabric } from '../apps/route-injector/src';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';
import { startLabObservability } from '../apps/lab/src';
import { LOCUS_METRICS, startServiceObservability } from '@locus/platform';

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** The value of one sample line, e.g. `locus_moves_total{mode="cold",outcome="accepted"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * The lab's /metrics, /healthz and /readyz against the real NATS and Postgres, with every service
 * of the lab (route injectors on an in-memory RIB): after one cold move and one refused move the
 * Locus metrics count them, no VM name appears, and readiness fails once a service loses NATS.
 */
describe('metrics and health endpoints', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  let routes: RunningRouteInjectors;
  let arp: RunningArpProxies;
  let observability: Awaited<ReturnType<typeof startLabObservability>>;
  let url: string;
  const { logger } = capturingLogger();
  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };

  beforeAll(async () => {
    // with the convergence tracker (the harness turns it off by default): MoveConverged feeds locus_convergence_seconds
    lab = await startTestLab({ convergenceTracking: true });
    mapping = await startMappingSystem(lab.config, logger, mappingOptions());
    const hostRouteSites = routeSites(lab.manager.topology)
      .filter((s) => s.hostRoutes)
      .map((s) => s.name);
    routes = await startRouteInjectors(lab.config, logger, { fabric: new InMemoryFabric(hostRouteSites), holdMs: 50 });
    arp = await startArpProxies(lab.config, logger);
    observability = await startLabObservability({ ...lab.config, metricsPort: await freePort() }, logger, { manager: lab.manager, agents: lab.agents, mapping, routes, arp });
    url = observability.server!.url;
    await registered(lab, '10.1.0.10', 1, 'dc1');
  }, 60_000);

  afterAll(async () => {
    await observability?.stop();
    await arp?.stop();
    await routes?.stop();
    await mapping?.stop();
    await lab?.stop();
  });

  it('serves nothing when LOCUS_METRICS_PORT is 0, the default', async () => {
    const off = await startLabObservability({ ...lab.config, metricsPort: 0 }, logger, { manager: lab.manager, agents: lab.agents, mapping, routes, arp });
    expect(off.server).toBeUndefined();
    await off.stop();
  });

  it('answers liveness and readiness while every service is up', async () => {
    const live = await get('/healthz');
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body)).toMatchObject({ status: 'ok' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    const report = JSON.parse(ready.body);
    expect(report.status).toBe('ok');
    expect(report.checks.map((c: any) => c.name)).toEqual(['mobility-manager:nats', 'mobility-manager:postgres', 'agents:nats', 'mapping-system:nats', 'route-injector:nats', 'arp-proxy:nats']);
    expect((await get('/nope')).status).toBe(404);
  });

  it('counts a completed move, a refused move, a refused Map-Register and a refused Map-Publish, without naming a VM', async () => {
    const moved = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(moved.ok).toBe(true);
    const refused = await lab.req('vm.move', { vm: 'db-01', to: 'dc2-hv1', mode: 'hot' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'HOT_MOVE_NEEDS_L2_ADJACENCY' } });
    const move = await lab.waitForMove(moved.moveId);
    expect(['completed', 'converged']).toContain(move.state); // this lab tracks convergence: a completed move goes on to converged
    const c = mappingClient(lab);
    const forged = { ...signedRegister('dc2', [record('10.1.0.10/32', 9, RLOC.dc2, 'web-01')]), authData: 'ab'.repeat(32) };
    expect(await c.req(c.subjects.register, forged)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
    const unsignedPublish = { type: 'Map-Publish', itr: 'branch', record: { eid: '10.1.0.10/32', site: 'dc2', locators: [{ rloc: '203.0.113.66', priority: 1, weight: 100 }], ttl: 1440, version: 9 } };
    expect(await c.req(c.subjects.publish('branch'), unsignedPublish)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } });
    await registered(lab, '10.1.0.10', 2, 'dc2');

    const text = await eventually(
      async () => {
        const m = await get('/metrics');
        const converged = sample(m.body, 'locus_moves_total{mode="cold",outcome="converged"}') === 1;
        return converged && sample(m.body, 'locus_outbox_pending') === 0 ? m.body : undefined;
      },
      15_000,
      'the move converged (MoveConverged) and an empty outbox',
    );
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);

    // mobility manager
    expect(sample(text, 'locus_moves_total{mode="cold",outcome="accepted"}')).toBe(1);
    expect(sample(text, 'locus_moves_total{mode="cold",outcome="completed"}')).toBe(1);
    expect(text).not.toContain('outcome="failed"');
    expect(sample(text, 'locus_move_refusals_total{code="HOT_MOVE_NEEDS_L2_ADJACENCY"}')).toBe(1);
    expect(sample(text, 'locus_move_downtime_seconds_count{mode="cold"}')).toBe(1);
    expect(sample(text, 'locus_move_downtime_seconds_sum{mode="cold"}')).toBeCloseTo(move.downtimeMs / 1000, 3);
    // MoveConverged (the convergence tracker): location commit -> last plane, in real seconds
    const converged = await lab.waitForMove(moved.moveId, ['converged']);
    expect(sample(text, 'locus_convergence_seconds_count{mode="cold"}')).toBe(1);
    expect(sample(text, 'locus_convergence_seconds_sum{mode="cold"}')).toBeCloseTo(converged.convergenceMs / 1000, 3);
    expect(sample(text, 'locus_events_appended_total{type="MoveAccepted"}')).toBe(1);
    expect(sample(text, 'locus_events_appended_total{type="MoveCompleted"}')).toBe(1);
    expect(sample(text, 'locus_events_appended_total{type="MoveConverged"}')).toBe(1);
    // agents: web-01 stopped at dc1-hv1, its config went to dc2-hv1, which started it
    expect(sample(text, 'locus_agent_steps_total{hypervisor="dc1-hv1",action="stop"}')).toBe(1);
    expect(sample(text, 'locus_agent_steps_total{hypervisor="dc2-hv1",action="transfer"}')).toBe(1);
    expect(sample(text, 'locus_agent_steps_total{hypervisor="dc2-hv1",action="start"}')).toBe(1);
    const atDc2 = await lab.vms({ hypervisor: 'dc2-hv1' });
    expect(sample(text, 'locus_agent_vms{hypervisor="dc2-hv1",state="running"}')).toBe(atDc2.length);
    // mapping system
    const t = lab.manager.topology;
    const atMappingSites = t.vms.filter((vm) => t.siteOfHypervisor(vm.hypervisor)?.mappingSystem).length;
    expect(sample(text, 'locus_map_registry_entries')).toBe(atMappingSites);
    expect(sample(text, 'locus_map_cache_entries{itr="branch"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'locus_map_register_refusals_total{reason="AUTH_FAILED"}')).toBe(1);
    expect(sample(text, 'locus_map_control_refusals_total{site="branch",message="Map-Publish",reason="AUTH_FAILED"}')).toBe(1);
    // route injectors and ARP proxies
    expect(sample(text, 'locus_routes{site="dc2",state="confirmed"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'locus_routes{site="dc1",state="stale"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'locus_arp_stale_neighbours{site="dc1"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'locus_arp_proxy_entries{site="cloud"}')).toBeGreaterThanOrEqual(0);
    // Node's defaults, and never a VM's name
    expect(text).toContain('process_cpu_seconds_total');
    for (const vm of t.vms) expect(text).not.toContain(`"${vm.name}"`);
  });

  it('the Grafana dashboard in deploy/ queries only metrics the lab exports, and every Locus metric has a panel', async () => {
    const dashboard = JSON.parse(readFileSync(join(__dirname, '..', 'deploy', 'grafana', 'locus-dashboard.json'), 'utf8'));
    const panels: any[] = dashboard.panels.filter((p: any) => p.type !== 'row');
    expect(new Set(dashboard.panels.map((p: any) => p.id)).size).toBe(dashboard.panels.length);
    const exprs: string[] = panels.flatMap((p) => p.targets.map((t: any) => t.expr));
    const queried = new Set(exprs.flatMap((e) => e.match(/\blocus_[a-z_]+/g) ?? []).map((m) => m.replace(/_(bucket|sum|count)$/, '')));
    const exported = new Set([...(await get('/metrics')).body.matchAll(/^# TYPE (locus_[a-z_]+) /gm)].map((m) => m[1]));
    expect([...queried].filter((m) => !exported.has(m))).toEqual([]);
    expect(
      Object.values(LOCUS_METRICS)
        .map((m) => m.name)
        .filter((m) => !queried.has(m)),
    ).toEqual([]);
    // a panel each for what a newcomer looks for first
    const titles = panels.map((p) => p.title).join('\n');
    expect(titles).toMatch(/Moves per minute/);
    expect(panels.find((p) => p.type === 'heatmap')?.targets[0].expr).toMatch(/locus_convergence_seconds_bucket/);
    expect(titles).toMatch(/Events dropped/);
  });

  it('answers 503 on /readyz when a service has lost NATS, and stays live', async () => {
    await lab.manager.nc.close();
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    const report = JSON.parse(ready.body);
    expect(report.status).toBe('fail');
    expect(report.checks.find((c: any) => c.name === 'mobility-manager:nats')).toMatchObject({ ok: false, error: 'connection closed' });
    expect(report.checks.find((c: any) => c.name === 'agents:nats')).toMatchObject({ ok: true });
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe("a service's own metrics server (main.ts)", () => {
  it('is live at once and ready only after the service has started and its checks pass', async () => {
    const { logger } = capturingLogger();
    const o = await startServiceObservability({ metricsPort: await freePort() }, logger);
    try {
      const url = o.server!.url;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const starting = await fetch(`${url}/readyz`);
      expect(starting.status).toBe(503);
      expect(await starting.json()).toMatchObject({ status: 'fail', checks: [{ name: 'started', ok: false, error: 'still starting' }] });
      let up = true;
      o.ready([
        {
          name: 'nats',
          check: () => {
            if (!up) throw new Error('connection closed');
          },
        },
      ]);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      up = false;
      expect((await fetch(`${url}/readyz`)).status).toBe(503);
      expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await o.stop();
    }
  });
});
