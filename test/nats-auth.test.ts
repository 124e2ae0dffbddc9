import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers, type NatsConnection } from 'nats';
import { HEADERS, planeSubject, SERVICE_ROLES, subjects, type NatsRole, type PlaneEvent } from '@locus/contracts';
import { probeNats, writeNatsAuth } from '@locus/messaging';
import { createMetrics } from '@locus/platform';
import { capturingLogger, connectAs, eventually, NATS_URL, readStream, startTestLab, testConfig, type TestLab } from './support/harness';
import { freePort, startPrivateNatsServer, type PrivateNatsServer } from './support/nats-server';
import { mappingOptions } from './support/mapping';
import { startMappingSystem, type RunningMappingSystem } from '../apps/mapping-system/src/start-mapping-system';
import { startRouteInjectors, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { InMemoryFabric } from '../apps/route-injector/src';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';
import { observeAgents } from '../apps/hypervisor-agent/src';

/**
 * NATS security against a nats-server of the test's own, started with the `auth.conf` that
 * `writeNatsAuth` generates (one nkey user per role): every service connects as its own role and a
 * move still goes end to end, while the server refuses what a role may not do: a location event
 * forged by anyone but the manager, an agent step called by the operator or a plane, a plane
 * publishing another plane's events, a consumer on other events. Events the roles may publish but
 * that are not from where they claim (published here as the admin) are dropped and counted by
 * every consumer.
 */
describe('NATS users per role (nkeys, least-privilege permissions)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'locus-nats-auth-'));
  let server: PrivateNatsServer;
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  let routes: RunningRouteInjectors;
  let arp: RunningArpProxies;
  const fabric = new InMemoryFabric(['dc1', 'dc2', 'cloud']);
  const planes = capturingLogger();
  const connections = new Map<NatsRole, Promise<NatsConnection>>();
  let relocated: { subject: string; event: any };

  /** One connection per role (a refused publish or subscribe does not close it). */
  const as = (role: NatsRole): Promise<NatsConnection> => {
    if (!connections.has(role)) connections.set(role, connectAs(lab.config, role, { name: `test-as-${role}`, maxReconnectAttempts: 0 }));
    return connections.get(role)!;
  };
  const s = () => subjects(lab.config.subjectPrefix);

  /** Resolves when the server reports a permissions violation for this operation and subject on the connection (listen before acting). */
  function violation(nc: NatsConnection, operation: 'publish' | 'subscription', subject: string): Promise<void> {
    const statuses = nc.status();
    return (async () => {
      for await (const st of statuses) {
        const ctx = (st as { permissionContext?: { operation: string; subject: string } }).permissionContext;
        if (st.type === 'error' && ctx?.operation === operation && ctx.subject === subject) return;
      }
      throw new Error(`connection closed without a ${operation} violation on ${subject}`);
    })();
  }

  const forgedRelocation = () => {
    const original = relocated.event;
    // What the attacker did: a copy of the real VmRelocated, to another host, one version up.
    return {
      ...original,
      id: randomUUID(),
      streamVersion: original.streamVersion + 10,
      data: { ...original.data, moveId: randomUUID(), from: original.data.to, to: { hypervisor: 'dc1-hv2', site: 'dc1' }, locationVersion: original.data.locationVersion + 1 },
    };
  };
  const withHeaders = (event: { id: string; streamId: string; type: string }) => {
    const h = headers();
    h.set(HEADERS.stream, event.streamId);
    h.set(HEADERS.type, event.type);
    return { msgID: event.id, headers: h };
  };
  const messagesOn = async (subject: string) => {
    const info = await (await lab.client.jetstreamManager()).streams.info(lab.config.streamName, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };

  beforeAll(async () => {
    const base = testConfig();
    const auth = writeNatsAuth(dir, { prefix: base.subjectPrefix, stream: base.streamName });
    server = await startPrivateNatsServer(auth.configFile);
    lab = await startTestLab({ ...base, natsUrl: server.url, natsAuthDir: dir, convergenceTracking: true, convergenceDeadlineMs: 5000 });
    mapping = await startMappingSystem(lab.config, planes.logger, mappingOptions());
    routes = await startRouteInjectors(lab.config, planes.logger, { fabric });
    arp = await startArpProxies(lab.config, planes.logger);
  });

  afterAll(async () => {
    await Promise.all([...connections.values()].map((c) => c.then((nc) => nc.close()).catch(() => undefined)));
    await arp?.stop();
    await routes?.stop();
    await mapping?.stop();
    await lab?.stop();
    await fabric.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one seed per role (mode 0600) and refuses a client without one', async () => {
    expect(statSync(join(dir, 'manager.nk')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'auth.conf')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await expect(connect({ servers: server.url, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/);
  });

  it('keeps every seed when written again, rotates them with force, and tells the lab which server wants users', async () => {
    const again = writeNatsAuth(dir, { prefix: lab.config.subjectPrefix, stream: lab.config.streamName });
    expect(again.created).toEqual([]);
    const other = mkdtempSync(join(tmpdir(), 'locus-nats-auth-'));
    try {
      const first = writeNatsAuth(other, { prefix: 'lx', stream: 'LX' });
      const rotated = writeNatsAuth(other, { prefix: 'lx', stream: 'LX', force: true });
      expect(rotated.created).toHaveLength(first.created.length);
      expect(rotated.manifest.users.manager).not.toBe(first.manifest.users.manager);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    expect(await probeNats(server.url)).toBe('auth-required');
    expect(await probeNats(NATS_URL)).toBe('open');
    expect(await probeNats(`nats://127.0.0.1:${await freePort()}`)).toBe('down');
  });

  it('moves a VM end to end, converged on every plane, with every service on its own role and nothing refused', async () => {
    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    expect(accepted).toMatchObject({ ok: true });
    const move = await lab.waitForMove(accepted.moveId, ['converged'], 30_000);
    expect(move).toMatchObject({ state: 'converged', locationVersion: 2, planes: expect.arrayContaining(['location', 'mapping', 'host-routes']) });

    // The manager asks every plane what it holds (drift) and hears every agent's heartbeat.
    const drift = await lab.req('drift.check', {});
    expect(drift).toMatchObject({ ok: true, disagreements: [] });
    const heard = new Set<string>();
    const hypervisors = lab.agents.host.agents.map((a) => a.name);
    const manager = await as('manager');
    await new Promise<void>((resolve) => {
      manager.subscribe(s().heartbeat('*'), {
        callback: (_err, msg) => {
          heard.add(msg.subject.slice(msg.subject.lastIndexOf('.') + 1));
          if (hypervisors.every((h) => heard.has(h))) resolve();
        },
      });
    });

    const logs = [...lab.logs(), ...planes.lines()];
    const roles = new Set(logs.filter((l) => l.component === 'nats' && /^connected to NATS as /.test(l.msg)).map((l) => l.role));
    expect([...roles].sort()).toEqual([...SERVICE_ROLES].sort());
    expect(logs.filter((l) => l.component === 'nats' && l.msg === 'NATS error')).toEqual([]);

    relocated = (await readStream(lab.client, lab.config.streamName)).find((m) => m.event?.type === 'VmRelocated' && m.event.data.vm === 'web-01')!;
    expect(relocated.subject).toBe(s().vmEvent('web-01', 'VmRelocated'));
  });

  it('refuses a forged location event from every role but the manager, and nothing changes', async () => {
    const subject = relocated.subject;
    const before = await messagesOn(subject);
    expect(before).toBe(1);
    for (const role of ['agent', 'mapping', 'route-injector', 'arp-proxy', 'operator'] as const) {
      const nc = await as(role);
      const forged = forgedRelocation();
      // Through JetStream (the request is refused at once) and as a plain publish (refused asynchronously).
      await expect(nc.jetstream().publish(subject, JSON.stringify(forged), withHeaders(forged))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
      const refused = violation(nc, 'publish', subject);
      nc.publish(subject, JSON.stringify(forgedRelocation()));
      await refused;
    }
    expect(await messagesOn(subject)).toBe(before);
    expect((await lab.req('vm.get', { vm: 'web-01' })).vm).toMatchObject({ hypervisor: 'dc2-hv1', locationVersion: 2 });
    expect(lab.agents.host.agent('dc2-hv1')!.inventory.vms.get('web-01')).toMatchObject({ state: 'running' });
  });

  it('refuses a direct agent step from the operator and from the planes, and an operator posing as an agent', async () => {
    const start = s().agent('dc1-hv1', 'start');
    const body = JSON.stringify({ vm: 'web-01', moveId: randomUUID(), locationVersion: 9 });
    for (const role of ['operator', 'mapping', 'route-injector', 'arp-proxy'] as const) {
      const nc = await as(role);
      await expect(nc.request(start, body, { timeout: 5000 })).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    }
    const operator = await as('operator');
    const posing = violation(operator, 'subscription', s().agent('dc1-hv1', 'stop'));
    operator.subscribe(s().agent('dc1-hv1', 'stop'));
    await posing;
    expect(lab.agents.host.agent('dc1-hv1')!.inventory.vms.has('web-01')).toBe(false);
    // The operator's own requests still work.
    expect(await lab.req('vm.get', { vm: 'web-01' })).toMatchObject({ ok: true });
  });

  it("refuses a plane publishing another plane's events", async () => {
    const cases: [NatsRole, 'map' | 'route' | 'arp'][] = [
      ['route-injector', 'arp'],
      ['route-injector', 'map'],
      ['arp-proxy', 'route'],
      ['mapping', 'route'],
      ['mapping', 'arp'],
    ];
    for (const [role, plane] of cases) {
      const nc = await as(role);
      const subject = planeSubject(lab.config.subjectPrefix, plane, 'web-01', 'Forged');
      await expect(nc.jetstream().publish(subject, '{}', { msgID: randomUUID() })).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    }
  });

  it('refuses consumers on other events and stream changes to every role but the manager', async () => {
    const jsm = await (await as('arp-proxy')).jetstreamManager();
    await expect(jsm.consumers.add(lab.config.streamName, { durable_name: 'peek', filter_subject: s().vmEvents })).rejects.toThrow(/permissions violation/i);
    await expect(jsm.streams.delete(lab.config.streamName)).rejects.toThrow(/permissions violation/i);
    const operator = await (await as('operator')).jetstreamManager();
    expect((await operator.streams.info(lab.config.streamName)).config.name).toBe(lab.config.streamName);
    await expect(operator.streams.purge(lab.config.streamName)).rejects.toThrow(/permissions violation/i);
  });

  it('drops and counts, in every consumer, events that are not from where they claim (published as the admin)', async () => {
    const admin = await as('admin');
    const js = admin.jetstream();
    // web-01's VmRelocated copied onto web-02's location subject: the location is web-01's, the subject web-02's.
    const copy = { ...forgedRelocation(), id: randomUUID() };
    await js.publish(s().vmEvent('web-02', 'VmRelocated'), JSON.stringify(copy), withHeaders(copy));
    // A route fact published on the ARP plane's subject.
    const fact: PlaneEvent = { id: randomUUID(), plane: 'route', type: 'RouteConfirmed', component: 'route-injector:dc1', vm: 'web-02', locationVersion: 1, at: new Date().toISOString(), data: {} };
    await js.publish(planeSubject(lab.config.subjectPrefix, 'arp', 'web-02', 'RouteConfirmed'), JSON.stringify(fact), { msgID: fact.id });

    const feeds = {
      agents: () => lab.agents.host.feedDrops(),
      mapping: () => mapping.host.feedDrops(),
      'route-injectors': () => routes.feeds[0].drops(),
      'arp-proxies': () => arp.feed.drops(),
      saga: () => lab.manager.saga.drops(),
    };
    for (const [name, drops] of Object.entries(feeds)) await eventually(async () => (drops()?.dropped['wrong-source'] ?? 0) >= 1, 10_000, `${name} to drop the copied VmRelocated`);
    await eventually(async () => (lab.manager.convergence!.drops()?.dropped['wrong-source'] ?? 0) >= 2, 10_000, 'the convergence tracker to drop both');
    expect(lab.agents.host.feedDrops()!.dropped.undecodable).toBe(0);

    // Had it been taken, web-01 would have left dc2-hv1 for dc1-hv2.
    expect(lab.agents.host.agent('dc2-hv1')!.inventory.vms.get('web-01')).toMatchObject({ state: 'running', locationVersion: 2 });
    expect(lab.agents.host.agent('dc1-hv2')!.inventory.vms.has('web-01')).toBe(false);
    expect((await lab.req('vm.get', { vm: 'web-02' })).vm).toMatchObject({ hypervisor: 'dc1-hv2', locationVersion: 1 });

    const metrics = createMetrics({ defaultMetrics: false });
    const observed = observeAgents(metrics, lab.agents);
    try {
      expect(await metrics.text()).toMatch(new RegExp(`locus_events_dropped_total\\{consumer="${lab.agents.host.feedDurable}",reason="wrong-source"\\} 1`));
    } finally {
      observed.stop();
    }
  });
});
