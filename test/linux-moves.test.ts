import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { LinuxDataplane } from '@locus/dataplane';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';
import { startRouteInjectors, type RunningRouteInjectors } from '../apps/route-injector/src/start-route-injectors';
import { capturingLogger, eventually, startTestLab, uniqueId, type TestLab } from './support/harness';
import { describeWithNamespaces, PingTrain, pings, TcpSession } from './support/netns';

/**
 * The default topology, but the cloud also carries dc2-local's gateway and dc2's ARP proxy is
 * switched off: a cold move out of dc1-local shows the proxy at work, one out of dc2-local its absence.
 */
function topologyFile(dir: string): string {
  const doc = parse(readFileSync(defaultTopologyPath(), 'utf8'));
  doc.sites.find((s: any) => s.name === 'cloud').anycastGateways.push({ subnet: '10.12.0.0/24', ip: '10.12.0.1', mac: '00:00:5e:00:01:0c' });
  doc.sites.find((s: any) => s.name === 'dc2').arpProxy = false;
  const file = join(dir, 'linux-moves.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithNamespaces('Linux dataplane: moves measured by packets (issue 11)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'locus-linux-moves-'));
  const topologyPath = topologyFile(dir);
  const prefix = `t${uniqueId()}`;
  const { index: topology } = loadTopologyFile(topologyPath);
  // The neighbours' ARP timers lowered (REACHABLE 1-3 s, DELAY 1 s): a stale entry expires in seconds.
  const dataplane = new LinuxDataplane(topology, { prefix, neighbourArp: { baseReachableMs: 2000, delayFirstProbeS: 1, gcStaleS: 10 } });
  const names = dataplane.names;
  const { logger, lines } = capturingLogger();
  let lab: TestLab | undefined;
  let arp: RunningArpProxies | undefined;
  let routes: RunningRouteInjectors | undefined;
  const trains: PingTrain[] = [];
  const sessions: TcpSession[] = [];
  const train = (ns: string, to: string) => {
    const t = new PingTrain(ns, to);
    trains.push(t);
    return t;
  };
  const report = (what: string, figures: Record<string, unknown>) => console.log(`${what}: ${JSON.stringify(figures)}`);
  const macHeld = async (ns: string, ip: string) => (await dataplane.neighbourTablesOf(ns)).find((e) => e.ip === ip)?.mac;

  beforeAll(async () => {
    await dataplane.build();
    // Time 20x: a web VM's 8 s shutdown and 20 s boot take 0.4 s and 1 s.
    lab = await startTestLab({ dataplane: 'linux', dataplanePrefix: prefix, topologyPath, timeScale: 20 });
    arp = await startArpProxies(lab.config, logger);
    routes = await startRouteInjectors(lab.config, logger);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(trains.map((t) => t.stop()));
    await Promise.all(sessions.map((s) => s.close()));
    await arp?.stop();
    await routes?.stop();
    await lab?.stop();
    await dataplane.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('item 2 and 3: a cold move of app-01 out of dc1-local to the cloud: with the proxy a dc1 neighbour loses no reply after the boot; the branch reaches it through the core /32', async () => {
    const neighbour = names.neighbour('dc1-local-dc1-nb1');
    const branch = names.router('branch');
    expect(await pings(neighbour, '10.11.0.20')).toBe(true);
    expect(await macHeld(neighbour, '10.11.0.20')).toBe('52:54:00:11:00:20');
    const fromNeighbour = train(neighbour, '10.11.0.20');
    const fromBranch = train(branch, '10.11.0.20');
    await eventually(async () => fromNeighbour.repliesAfter(0) >= 5 && fromBranch.repliesAfter(0) >= 5, 10_000, 'both ping trains answered');

    const reply = await lab!.req('vm.move', { vm: 'app-01', to: 'cloud-hv1', mode: 'cold' });
    expect(reply.ok).toBe(true);
    const move = await lab!.waitForMove(reply.moveId, ['completed'], 30_000);
    const bootedAt = Date.now(); // at or after the boot at the target
    expect(await dataplane.hypervisorOf('app-01')).toBe('cloud-hv1');
    const coreRoute = await eventually(async () => (await dataplane.hostRoutes(names.core(), 'bgp')).find((r) => r.prefix === '10.11.0.20/32'), 10_000, 'the /32 in the core');
    expect(coreRoute.via).toBe('198.51.100.21'); // the cloud's router
    await eventually(async () => fromNeighbour.repliesAfter(bootedAt + 1200) > 0 && fromBranch.repliesAfter(bootedAt + 1200) > 0, 10_000, 'replies well after the boot');
    await fromNeighbour.stop();
    await fromBranch.stop();

    expect(await dataplane.proxies('dc1')).toContain('10.11.0.20');
    expect(await macHeld(neighbour, '10.11.0.20')).toBe('02:00:00:00:11:01'); // the gratuitous ARP: dc1's router MAC
    const neighbourOutage = fromNeighbour.longestOutage();
    const branchOutage = fromBranch.longestOutage();
    report('cold app-01 dc1 -> cloud, ARP proxy on', {
      downtimeMs: move.downtimeMs,
      realDowntimeMs: Math.round((move.downtimeMs ?? 0) / 20),
      neighbourOutage,
      branchOutage,
      neighbourLostAfterBoot: fromNeighbour.lostAfter(bootedAt),
      branchLostAfterBoot: fromBranch.lostAfter(bootedAt),
    });
    expect(fromNeighbour.lostAfter(bootedAt)).toBe(0);
    expect(fromBranch.lostAfter(bootedAt)).toBe(0);
    // One outage, the move's own: no blackhole once replies came back.
    expect(branchOutage.to).toBeDefined(); // replies came back (else the outage would run to the end)
    const firstBackAt = branchOutage.to!;
    expect(fromBranch.lostAfter(firstBackAt)).toBe(0);
  }, 90_000);

  it("item 2: the same move out of dc2-local with dc2's proxy off: the dc2 neighbour fails until its kernel drops the stale entry (measured, printed)", async () => {
    const neighbour = names.neighbour('dc2-local-dc2-nb1');
    expect(await pings(neighbour, '10.12.0.20')).toBe(true);
    expect(await macHeld(neighbour, '10.12.0.20')).toBe('52:54:00:12:00:20');
    const fromNeighbour = train(neighbour, '10.12.0.20');
    await eventually(async () => fromNeighbour.repliesAfter(0) >= 5, 10_000, 'the ping train answered');

    const reply = await lab!.req('vm.move', { vm: 'app-03', to: 'cloud-hv2', mode: 'cold' });
    expect(reply.ok).toBe(true);
    await lab!.waitForMove(reply.moveId, ['completed'], 30_000);
    const bootedAt = Date.now();
    await eventually(async () => lines().find((l) => l.vm === 'app-03' && l.rule === 'leaves-domain-proxy-off'), 10_000, 'dc2 deciding with its proxy off');
    // The branch reaches the VM (host route), the old neighbour does not (a stale MAC, then nobody answers its ARP).
    await eventually(async () => (await dataplane.hostRoutes(names.core(), 'bgp')).some((r) => r.prefix === '10.12.0.20/32'), 10_000, 'the /32 in the core');
    expect(await pings(names.router('branch'), '10.12.0.20')).toBe(true);
    const expiredAt = await eventually(async () => ((await macHeld(neighbour, '10.12.0.20')) !== '52:54:00:12:00:20' ? Date.now() : undefined), 60_000, 'the stale entry to expire');
    await sleep(1500);
    await fromNeighbour.stop();
    expect(fromNeighbour.repliesAfter(bootedAt)).toBe(0);
    expect(await dataplane.proxies('dc2')).not.toContain('10.12.0.20');
    report('cold app-03 dc2 -> cloud, ARP proxy off at dc2', {
      staleAfterBootMs: expiredAt - bootedAt,
      neighbourOutage: fromNeighbour.longestOutage(),
      entryNow: (await dataplane.neighbourTablesOf(neighbour)).find((e) => e.ip === '10.12.0.20') ?? 'none',
    });
  }, 120_000);

  it('item 1: a hot move of web-01 inside the stretched domain keeps a TCP session with a dc1 neighbour: no reset, bytes keep flowing, the gap measured', async () => {
    const session = await TcpSession.open(names.vm('web-01'), names.neighbour('web-stretched-dc1-nb1'), '10.1.0.10');
    sessions.push(session);
    await eventually(async () => session.echoes.length >= 20, 10_000, 'echoes before the move');
    const before = Date.now();
    const reply = await lab!.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'hot' });
    expect(reply.ok).toBe(true);
    const move = await lab!.waitForMove(reply.moveId, ['completed'], 30_000);
    const doneAt = Date.now();
    expect(await dataplane.hypervisorOf('web-01')).toBe('dc2-hv1');
    await eventually(async () => session.echoes.filter((e) => e.at > doneAt + 500).length >= 20, 15_000, 'echoes after the move');
    expect(session.events.filter((e) => e.event !== 'connected')).toEqual([]);
    const gapMs = session.longestGapAfter(before);
    report('hot web-01 dc1-hv1 -> dc2-hv1, TCP session', {
      downtimeMs: move.downtimeMs,
      realDowntimeMs: Math.round(((move.downtimeMs ?? 0) / 20) * 10) / 10,
      longestGapMs: gapMs,
      echoes: session.echoes.length,
    });
    // Every line sent came back, in order: nothing lost, nothing reset.
    const seqs = session.echoes.map((e) => e.echo);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  }, 90_000);

  it("a warm move of web-02 (suspended at dc1-hv2, resumed at dc2-hv2): the port moves, the guest's NIC comes back configured, the branch and a dc1 neighbour reach it again", async () => {
    const fromBranch = train(names.router('branch'), '10.1.0.11');
    await eventually(async () => fromBranch.repliesAfter(0) >= 5, 10_000, 'the branch reaching web-02');
    const reply = await lab!.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'warm' });
    expect(reply.ok).toBe(true);
    const move = await lab!.waitForMove(reply.moveId, ['completed'], 60_000);
    const resumedAt = Date.now();
    expect(await dataplane.hypervisorOf('web-02')).toBe('dc2-hv2');
    await eventually(async () => fromBranch.repliesAfter(resumedAt + 1200) > 0, 10_000, 'replies after the resume');
    await fromBranch.stop();
    expect(fromBranch.lostAfter(resumedAt)).toBe(0);
    expect(await pings(names.neighbour('web-stretched-dc1-nb1'), '10.1.0.11')).toBe(true);
    report('warm web-02 dc1-hv2 -> dc2-hv2, from the branch', { downtimeMs: move.downtimeMs, realDowntimeMs: Math.round((move.downtimeMs ?? 0) / 20), outage: fromBranch.longestOutage() });
  }, 90_000);
});
