import { HEADERS } from '@locus/contracts';
import { rebuildProjections } from '@locus/eventstore';
import { feedDurableName, requestJson, traceIdOf, traceIdOfHeader } from '@locus/messaging';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { mappingClient, registered, startMapping, type RunningMappingSystem } from './support/mapping';
import { asOwner } from './support/store';
import { startMobilityManager } from '../apps/mobility-manager/src/start-mobility-manager';
import { startRouteInjectors, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { InMemoryFabric } from '../apps/route-injector/src';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';

/**
 * Convergence tracking against the real NATS and Postgres, with every plane running (mapping
 * system, route injectors on an in-memory RIB, ARP proxies): a move reaches `converged` with
 * per-plane times and one summary line; a plane held back on purpose makes it late, naming the
 * component, until it recovers, even across a restart of the manager; drift.check compares every
 * plane with the location DB; one trace id follows a move through the VM and plane events.
 */
describe('convergence tracker', () => {
  let lab: TestLab;
  let mapping: RunningMappingSystem;
  /** The mapping system split in three by the last test: the map-server alone, branch's ITR alone, and `mapping` (the other xTRs). */
  const splitMapping: RunningMappingSystem[] = [];
  let routes: RunningRouteInjectors | undefined;
  let dc2Routes: RunningRouteInjectors | undefined;
  let arp: RunningArpProxies;
  const fabric = new InMemoryFabric(['dc1', 'dc2', 'cloud']);
  const planes = capturingLogger();
  let managerLogs: () => any[];
  const measured: Record<string, unknown> = {};

  beforeAll(async () => {
    lab = await startTestLab({ convergenceTracking: true, convergenceDeadlineMs: 2000 });
    managerLogs = lab.logs;
    ({ system: mapping } = await startMapping(lab));
    routes = await startRouteInjectors(lab.config, planes.logger, { sites: ['dc1', 'cloud'], fabric });
    dc2Routes = await startRouteInjectors(lab.config, planes.logger, { sites: ['dc2'], fabric });
    arp = await startArpProxies(lab.config, planes.logger);
    await registered(lab, '10.1.0.10', 1, 'dc1');
    await registered(lab, '10.11.0.10', 1, 'dc1');
    // Two ITRs hold web-01's mapping, so the move has caches to update.
    for (const itr of ['branch', 'dc1']) await mappingClient(lab).resolve('10.1.0.10', itr, true);
  });

  afterAll(async () => {
    const said = [...lab.logs(), ...managerLogs()].filter((l) => l.component === 'convergence-tracker' && /converged/i.test(l.msg)).map((l) => l.msg);
    console.log(`convergence measured in this run (real ms after the location commit): ${JSON.stringify(measured)}\n${[...new Set(said)].join('\n')}`);
    await arp?.stop();
    await dc2Routes?.stop();
    await routes?.stop();
    await mapping?.stop();
    for (const m of splitMapping) await m.stop();
    await lab?.stop();
    await fabric.stop();
  });

  /** Stops a plane service and deletes its durable consumer: its next start is a first start, from a snapshot. */
  const stopAndForget = async (service: { stop(): Promise<void> }, durable: string) => {
    await service.stop();
    await (await lab.client.jetstreamManager()).consumers.delete(lab.config.streamName, durable);
  };
  /** The last event stored on `<prefix>.<subject>`. */
  const lastOnStream = async (subject: string) =>
    (await (await lab.client.jetstreamManager()).streams.getMessage(lab.config.streamName, { last_by_subj: `${lab.config.subjectPrefix}.${subject}` })).json<any>();
  /** The stream sequence of the VM's VmRelocated at `version`, once it is on the stream. */
  const relocatedSeqOf = (vm: string, version: number) =>
    eventually(
      async () => {
        const jsm = await lab.client.jetstreamManager();
        const m = await jsm.streams.getMessage(lab.config.streamName, { last_by_subj: `${lab.config.subjectPrefix}.evt.vm.${vm}.loc.VmRelocated` }).catch(() => undefined);
        return m && m.json<any>().data.locationVersion === version ? m.seq : undefined;
      },
      10_000,
      `${vm}'s VmRelocated on the stream`,
    );
  const summaries = (moveId: string) => managerLogs().filter((l) => l.component === 'convergence-tracker' && l.moveId === moveId && /converged in/.test(l.msg));

  it('cold web-01 dc1 -> dc2: converged, with the time of each plane and one summary line', async () => {
    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
    const move = await lab.waitForMove(accepted.moveId, ['converged']);
    expect(move).toMatchObject({ state: 'converged', locationVersion: 2, planes: ['location', 'mapping', 'host-routes'] });
    expect(move.convergenceMs).toEqual(expect.any(Number));
    expect(move.planeTimes).toMatchObject({
      location: { ms: 0 },
      mapping: { ms: expect.any(Number), registeredMs: expect.any(Number), itrs: 2, of: 2, itrMs: { branch: expect.any(Number), dc1: expect.any(Number) } },
      'host-routes': { ms: expect.any(Number), advertised: 'dc2', withdrawn: 'dc1', confirmedMs: expect.any(Number), withdrawnMs: expect.any(Number) },
    });
    expect(move.convergenceMs).toBe(Math.max(...Object.values(move.planeTimes).map((t: any) => t.ms)));
    expect(move.timeline[move.timeline.length - 1]).toMatchObject({ component: 'convergence-tracker', event: 'MoveConverged' });
    expect(move.convergenceLate).toBeUndefined();

    const lines = await eventually(async () => (summaries(accepted.moveId).length ? summaries(accepted.moveId) : undefined), 5000, 'the summary line');
    expect(lines).toHaveLength(1);
    expect(lines[0].msg).toMatch(
      new RegExp(
        `^move ${accepted.moveId.slice(0, 8)} web-01 cold dc1-hv1 -> dc2-hv1: converged in [\\d.]+ m?s after commit \\(downtime [\\d.]+ m?s, 0 rounds\\) \\| map [\\d.]+ m?s, itr 2/2 [\\d.]+ m?s \\| routes \\+dc2 -dc1 [\\d.]+ m?s \\| arp 0 proxied$`,
      ),
    );
    measured['web-01 dc1->dc2'] = { convergenceMs: move.convergenceMs, ...Object.fromEntries(Object.entries(move.planeTimes).map(([p, t]: [string, any]) => [p, t.ms])) };
  });

  it("one trace id follows the move through its VM events and every plane's events", async () => {
    const moveId: string = (await lab.manager.dataSource.query(`SELECT move_id FROM moves WHERE vm = 'web-01'`))[0].move_id;
    const jsm = await lab.client.jetstreamManager();
    const info = await jsm.streams.info(lab.config.streamName);
    const traced: { kind: string; trace?: string }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(lab.config.streamName, { seq }).catch(() => undefined);
      const e = m?.json<any>();
      if (!m || !e) continue;
      const ofMove = e.plane ? e.moveId === moveId : e.metadata?.correlationId === moveId;
      if (ofMove) traced.push({ kind: e.plane ?? 'vm', trace: traceIdOfHeader(m.header?.get(HEADERS.traceparent)) });
    }
    expect(new Set(traced.map((t) => t.kind))).toEqual(new Set(['vm', 'map', 'route', 'arp']));
    expect(traced.every((t) => t.trace === traceIdOf(moveId))).toBe(true);
  });

  it('cold db-01 out of its subnet to the cloud: the ARP proxy at dc1 takes part, and the move converges', async () => {
    const accepted = await lab.req('vm.move', { vm: 'db-01', to: 'cloud-hv1', mode: 'cold' });
    const move = await lab.waitForMove(accepted.moveId, ['converged']);
    expect(move.planes).toEqual(['location', 'mapping', 'host-routes', 'arp-proxy']);
    expect(move.planeTimes['arp-proxy']).toMatchObject({ ms: expect.any(Number), proxied: 1, sites: { dc1: { rule: 'leaves-domain' } } });
    expect(move.planeTimes['arp-proxy'].repaired).toBe(move.planeTimes['arp-proxy'].stale);
    expect(move.planeTimes['host-routes']).toMatchObject({ advertised: 'cloud', withdrawn: 'dc1' });
    const [line] = await eventually(async () => (summaries(accepted.moveId).length ? summaries(accepted.moveId) : undefined), 5000, 'the summary line');
    expect(line.msg).toMatch(/\| routes \+cloud -dc1 [\d.]+ m?s \| arp 1 proxied, (\d+)\/\1 neighbours repaired [\d.]+ m?s$/);
    measured['db-01 dc1->cloud'] = { convergenceMs: move.convergenceMs, ...Object.fromEntries(Object.entries(move.planeTimes).map(([p, t]: [string, any]) => [p, t.ms])) };
  });

  it('the route injector of the new site held back: late naming it, then converged once it is back, across a manager restart', async () => {
    await dc2Routes!.stop();
    dc2Routes = undefined;
    const accepted = await lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'cold' });
    const late = await eventually(
      async () => {
        const r = await lab.req('move.get', { moveId: accepted.moveId });
        return r.move.convergenceLate ? r.move : undefined;
      },
      15_000,
      'the move flagged late',
    );
    expect(late.state).toBe('completed');
    expect(late.convergenceLate.stale).toEqual(
      expect.arrayContaining([
        { plane: 'host-routes', component: 'route-injector:dc2', detail: '10.1.0.11/32 v2 not confirmed in the core RIB yet' },
        { plane: 'host-routes', component: 'route-injector:dc1', detail: expect.stringMatching(/^still originates 10\.1\.0\.11\/32 .*make-before-break/) },
      ]),
    );
    expect(late.convergenceLate.stale.map((s: any) => s.component)).not.toContain('etr:dc2');
    expect(
      managerLogs().some(
        (l) => l.level === 40 && l.moveId === accepted.moveId && /NOT converged .* still stale: route-injector:dc2: 10\.1\.0\.11\/32 v2 not confirmed in the core RIB yet; /.test(l.msg),
      ),
    ).toBe(true);
    const before = (await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM events WHERE type = 'MoveConvergenceLate'`))[0].n;

    // The manager restarts while the plane is still held back: the tracker reads the move's facts again.
    const restarted = capturingLogger();
    await lab.manager.stop();
    lab.manager = await startMobilityManager(lab.config, restarted.logger);
    managerLogs = restarted.lines;

    dc2Routes = await startRouteInjectors(lab.config, planes.logger, { sites: ['dc2'], fabric });
    const move = await lab.waitForMove(accepted.moveId, ['converged'], 15_000);
    expect(move.planeTimes['host-routes']).toMatchObject({ advertised: 'dc2', withdrawn: 'dc1' });
    expect(move.convergenceLate.stale.map((s: any) => s.component)).toContain('route-injector:dc2');
    expect(move.convergenceMs).toBeGreaterThan(2000);
    const lines = await eventually(async () => (summaries(accepted.moveId).length ? summaries(accepted.moveId) : undefined), 5000, 'the summary line');
    expect(lines).toHaveLength(1);
    expect(lines[0].msg).toMatch(/converged in .* after commit .*, after being late \| /);
    expect((await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM events WHERE type = 'MoveConvergenceLate'`))[0].n).toBe(before); // late once
    measured['web-02 dc1->dc2, dc2 injector held back'] = { convergenceMs: move.convergenceMs, lateAfterMs: move.convergenceLate.afterMs };
  });

  it('drift.check: every plane agrees with the location DB; a route planted by hand is named', async () => {
    const clean = await eventually(
      async () => {
        const r = await lab.req('drift.check', {});
        return r.ok && r.disagreements.length === 0 ? r : undefined;
      },
      10_000,
      'no drift',
    );
    expect(clean.vms).toBeGreaterThan(20);
    fabric.plant('cloud', { prefix: '10.1.0.12/32', nextHop: '198.51.100.21', localPref: 100, locationVersion: 1, best: true, neighbour: '' });
    const drift = await lab.req('drift.check', {});
    expect(drift.disagreements).toEqual(
      expect.arrayContaining([{ plane: 'host-routes', component: 'route-injector:cloud', vm: 'web-03', detail: 'still originates 10.1.0.12/32 v1 (stale); web-03 is at dc2 v1' }]),
    );
    expect(managerLogs().some((l) => l.component === 'drift-detector' && /route-injector:cloud \(web-03\) disagrees/.test(l.msg))).toBe(true);
  });

  it('rebuilt projections equal the live ones, convergence included', async () => {
    await lab.manager.relay.drained();
    const snapshot = () => lab.manager.dataSource.query(`SELECT * FROM moves ORDER BY move_id`);
    const live = await snapshot();
    await asOwner(lab.config, rebuildProjections);
    expect(await snapshot()).toEqual(live);
    expect(live.filter((m: any) => m.state === 'converged')).toHaveLength(3);
  });

  it('a delivery the tracker missed (a reconnect): it follows the stream again from the oldest move still converging, records nothing twice, and the next move converges', async () => {
    const converged = async () => (await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM events WHERE type = 'MoveConverged'`))[0].n as number;
    const before = await converged();
    lab.manager.convergence!.followAgain('delivery 41 never arrived (the next was 42)');
    await eventually(
      async () => managerLogs().some((l) => l.component === 'convergence-tracker' && l.msg === 'the convergence tracker follows the stream again'),
      10_000,
      'the tracker to follow again',
    );
    expect(managerLogs().find((l) => l.component === 'convergence-tracker' && /missed a delivery/.test(l.msg))).toMatchObject({ detail: 'delivery 41 never arrived (the next was 42)' });
    const accepted = await lab.req('vm.move', { vm: 'web-01', to: 'dc1-hv1', mode: 'cold' });
    const move = await lab.waitForMove(accepted.moveId, ['converged']);
    expect(move).toMatchObject({ state: 'converged', planes: ['location', 'mapping', 'host-routes'] });
    await lab.manager.relay.drained();
    expect(await converged()).toBe(before + 1);
  });

  it('records the convergences of several VMs side by side: one VM whose record is slow holds up no other', async () => {
    const commands = lab.manager.commands;
    const execute = commands.execute.bind(commands);
    // Every MoveConverged append waits at a gate: with one chain for all VMs, a second VM's record
    // would never start while the first is held.
    const held = new Set<string>();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    commands.execute = (async (vm, command, ctx, followUp) => {
      if (command.type === 'RecordConverged') {
        held.add(vm);
        await gate;
      }
      return execute(vm, command, ctx, followUp);
    }) as typeof commands.execute;
    let moves: { moveId: string }[] = [];
    try {
      moves = await Promise.all([lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' }), lab.req('vm.move', { vm: 'web-02', to: 'dc1-hv2', mode: 'cold' })]);
      expect(moves.map((m: any) => m.ok)).toEqual([true, true]);
      await eventually(async () => held.size >= 2, 20_000, "both VMs' convergences being recorded at once");
    } finally {
      open();
      commands.execute = execute;
    }
    for (const m of moves) expect((await lab.waitForMove(m.moveId, ['converged'])).state).toBe('converged');
  });

  it('a move that left a site whose injector started after the commit (it never originated the old /32): converged once that site has reconciled', async () => {
    // dc1's injector is down and its speaker lost its table (a fresh gobgpd): as in a lab whose
    // route injectors start after the first move was committed.
    // ...and its consumer is gone too (a first start): its feed begins after the commit, which it never hears.
    await stopAndForget(routes!, feedDurableName('route-injectors', ['dc1', 'cloud']));
    routes = undefined;
    const dc1 = fabric.driverFor('dc1');
    for (const path of await dc1.list('10.1.0.11/32')) await dc1.withdraw(path);
    const accepted = await lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv1', mode: 'cold' });
    const done = await lab.waitForMove(accepted.moveId, ['completed', 'converged']);
    const relocatedSeq = await relocatedSeqOf('web-02', done.locationVersion);

    routes = await startRouteInjectors(lab.config, planes.logger, { sites: ['dc1', 'cloud'], fabric });
    const move = await lab.waitForMove(accepted.moveId, ['converged'], 15_000);
    expect(move.planeTimes['host-routes']).toMatchObject({ advertised: 'dc2', reconciled: 'dc1', reconciledMs: expect.any(Number) });
    expect(move.planeTimes['host-routes'].withdrawn).toBeUndefined();
    // the site's own subject (its name is the entity): the last one is this start's
    const reconciled = await lastOnStream('evt.route.dc1.RoutesReconciled');
    expect(reconciled).toMatchObject({ component: 'route-injector:dc1', data: { site: 'dc1', trigger: 'start', held: [] } });
    expect(reconciled.vm).toBeUndefined();
    expect(reconciled.data.through).toBeGreaterThanOrEqual(relocatedSeq);
    const [line] = await eventually(async () => (summaries(accepted.moveId).length ? summaries(accepted.moveId) : undefined), 5000, 'the summary line');
    expect(line.msg).toMatch(/\| routes \+dc2 dc1 had none [\d.]+ m?s/);
  });

  it('a move that leaves the L2 domain of ARP proxies started afresh after its commit: converged once they have started', async () => {
    // The ARP proxies are down and their consumer gone: they will start from a snapshot that already has the move.
    await stopAndForget(arp, arp.feed.durable);
    const accepted = await lab.req('vm.move', { vm: 'db-02', to: 'cloud-hv2', mode: 'cold' });
    expect(accepted.error).toBeUndefined();
    const done = await lab.waitForMove(accepted.moveId, ['completed', 'converged']);
    expect(done.planes).toContain('arp-proxy');

    arp = await startArpProxies(lab.config, planes.logger);
    const move = await lab.waitForMove(accepted.moveId, ['converged'], 15_000);
    expect(move.planeTimes['arp-proxy']).toMatchObject({ sites: { dc1: { rule: 'reconciled at start' } } });
    const reconciled = await lastOnStream('evt.arp.dc1.ArpReconciled');
    expect(reconciled).toMatchObject({ component: 'arp-proxy:dc1', data: { site: 'dc1', trigger: 'start', held: [] } });
    // the proxy entry the move needs is there all the same: dc1 answers for db-02 that left its subnet
    const list = await requestJson<any>(lab.client, `${lab.config.subjectPrefix}.arp.list`, { site: 'dc1' }, 10_000);
    expect(list.sites[0].proxies.map((p: any) => p.vm)).toContain('db-02');
  });

  it('a move into a site whose ETR started after the commit (the mapping system restarted empty): converged once that ETR has registered its snapshot', async () => {
    // The mapping system is down and its consumer gone: it will start from a snapshot that already
    // has the move, and register it with a map-server that starts empty (no move id: no MappingConverged of its own).
    await stopAndForget(mapping, mapping.host.feedDurable);
    const accepted = await lab.req('vm.move', { vm: 'web-05', to: 'dc2-hv2', mode: 'cold' });
    expect(accepted.error).toBeUndefined();
    const done = await lab.waitForMove(accepted.moveId, ['completed', 'converged']);
    expect(done.planes).toContain('mapping');
    const relocatedSeq = await relocatedSeqOf('web-05', done.locationVersion);

    ({ system: mapping } = await startMapping(lab));
    const move = await lab.waitForMove(accepted.moveId, ['converged'], 15_000);
    expect(move.planeTimes.mapping).toMatchObject({ reconciled: 'dc2', itrs: 0, of: 0 });
    const reconciled = await lastOnStream('evt.map.dc2.MappingReconciled');
    expect(reconciled).toMatchObject({ component: 'etr:dc2', data: { site: 'dc2', trigger: 'start', held: [] } });
    expect(reconciled.vm).toBeUndefined();
    expect(reconciled.data.through).toBeGreaterThanOrEqual(relocatedSeq);
    expect(reconciled.data.eids).toBeGreaterThan(0);
    expect(await registered(lab, '10.1.0.14', done.locationVersion, 'dc2')).toBeTruthy();
    const [line] = await eventually(async () => (summaries(accepted.moveId).length ? summaries(accepted.moveId) : undefined), 5000, 'the summary line');
    expect(line.msg).toMatch(/\| map dc2 registered at start [\d.]+ m?s \|/);
  });

  it('a move into a site whose ETR started after the commit, with an ITR that must follow it: converged once that ITR has the new version', async () => {
    await stopAndForget(mapping, mapping.host.feedDurable);
    // The map-server and branch's ITR come back first, and branch subscribes to web-06's address:
    // the registration that dc1's ETR will make from its snapshot has an ITR to reach.
    splitMapping.push((await startMapping(lab, { xtrSites: [] })).system, (await startMapping(lab, { mapServer: false, xtrSites: ['branch'] })).system);
    expect(await mappingClient(lab).resolve('10.1.0.15', 'branch', true)).toMatchObject({ ok: true, mapping: { subscribed: true } });
    const accepted = await lab.req('vm.move', { vm: 'web-06', to: 'dc1-hv2', mode: 'cold' });
    expect(accepted.error).toBeUndefined();
    await lab.waitForMove(accepted.moveId, ['completed', 'converged']);

    ({ system: mapping } = await startMapping(lab, { mapServer: false, xtrSites: ['dc1', 'dc2', 'cloud'] }));
    const move = await lab.waitForMove(accepted.moveId, ['converged'], 15_000);
    // settled by the map-server's MappingConverged once branch answered (dc1's reconcile held the address), not by the reconcile
    expect(move.planeTimes.mapping).toMatchObject({ of: 1 });
    expect(move.planeTimes.mapping.reconciled).toBeUndefined();
    const reconciled = await lastOnStream('evt.map.dc1.MappingReconciled');
    expect(reconciled.data.held).toEqual(['10.1.0.15/32']);
  });
});
