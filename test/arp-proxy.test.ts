import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { requestJson } from './support/request';
import { defaultTopologyPath } from '@locus/topology';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { planeEvents, publishSyntheticVmEvent } from './support/planes';
import { startArpProxies, type RunningArpProxies } from '../apps/arp-proxy/src/start-arp-proxies';

/** The neighbours' ARP timers run on this clock, moved by hand: no test waits for a real timeout. */
class ManualClock {
  constructor(private t = Date.parse('2030-01-01T00:00:00Z')) {}
  now() {
    return this.t;
  }
  async sleep() {}
  advance(ms: number) {
    this.t += ms;
  }
}

/** A seeded random source, so the neighbours' 15–45 s reachable times repeat from run to run. */
function seeded(seed = 42) {
  let s = seed;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe('ARP proxy: proxy-ARP and gratuitous ARP when a VM leaves its subnet, nothing inside the L2 domain', () => {
  let lab: TestLab | undefined;
  let arp: RunningArpProxies | undefined;
  const clock = new ManualClock();
  const { logger, lines } = capturingLogger();
  const dir = mkdtempSync(join(tmpdir(), 'locus-arp-test-'));
  const req = (endpoint: string, body: unknown) => requestJson(lab!.client, `${lab!.config.subjectPrefix}.${endpoint}`, body, 10_000);

  beforeAll(async () => {
    lab = await startTestLab();
    arp = await startArpProxies(lab.config, logger, { clock, random: seeded() });
  }, 60_000);

  afterAll(async () => {
    await arp?.stop();
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers for each anycast gateway with the same virtual MAC at every site carrying the subnet', async () => {
    const reply = await req('arp.list', {});
    expect(reply.ok).toBe(true);
    const gw = (site: string) => reply.sites.find((s: any) => s.site === site).gateways.find((g: any) => g.ip === '10.11.0.1');
    expect(gw('dc1')).toEqual({ subnet: '10.11.0.0/24', ip: '10.11.0.1', mac: '00:00:5e:00:01:0b' });
    expect(gw('cloud')).toEqual(gw('dc1'));
    expect(reply.sites.find((s: any) => s.site === 'dc1').neighbours.length).toBeGreaterThan(0);
  });

  it('a hot move inside the stretched domain installs no proxy entry, and says why', async () => {
    const moveId = randomUUID();
    const from = { hypervisor: 'dc2-hv1', site: 'dc2' };
    const to = { hypervisor: 'dc1-hv1', site: 'dc1' };
    const prefix = lab!.config.subjectPrefix;
    await publishSyntheticVmEvent(lab!.client, prefix, 'web-03', 'MoveAccepted', { moveId, vm: 'web-03', mode: 'hot', from, to, locationVersion: 1 });
    // The ARP proxy follows the location events alone: the move's mode comes with the commit.
    await publishSyntheticVmEvent(lab!.client, prefix, 'web-03', 'VmRelocated', { moveId, vm: 'web-03', ip: '10.1.0.12', mac: '52:54:00:01:00:12', from, to, locationVersion: 2, mode: 'hot' });
    const decisions = await eventually(
      async () => {
        const l = lines().filter((x) => x.moveId === moveId && x.rule && x.proxy);
        return l.length === 2 ? l : undefined;
      },
      10_000,
      'both sites of web-stretched deciding',
    );
    for (const d of decisions) {
      expect(d.rule).toBe('stays-in-domain');
      expect(d.proxy).toBe('none');
      expect(d.msg).toMatch(/no proxy: hot move inside stretched L2 domain web-stretched/);
    }
    const events = await planeEvents(lab!.client, lab!.config.streamName, 'arp', 'web-03');
    expect(events.filter((e) => e.type === 'ProxyInstalled')).toEqual([]);
    const list = await req('arp.list', {});
    expect(list.sites.flatMap((s: any) => s.proxies).map((p: any) => p.vm)).not.toContain('web-03');
    expect((await req('arp.stale', { vm: 'web-03' })).stale).toEqual([]);
  });

  it('cold move db-01 out of its subnet (dc1-local -> cloud): dc1 proxies for it, gratuitous ARP repairs every neighbour that held the old MAC', async () => {
    const accepted = await lab!.req('vm.move', { vm: 'db-01', to: 'cloud-hv1', mode: 'cold' });
    expect(accepted.ok).toBe(true);
    await lab!.waitForMove(accepted.moveId);
    const events = await eventually(
      async () => {
        const e = await planeEvents(lab!.client, lab!.config.streamName, 'arp', 'db-01');
        return e.some((x) => x.type === 'NeighbourRepaired') ? e : undefined;
      },
      10_000,
      'ARP events of db-01',
    );
    const installed = events.find((e) => e.type === 'ProxyInstalled');
    expect(installed).toMatchObject({ component: 'arp-proxy:dc1', moveId: accepted.moveId, locationVersion: 2, data: { ip: '10.11.0.10', mac: '02:00:00:00:11:01' } });
    expect(events.find((e) => e.type === 'GratuitousArpSent')).toMatchObject({ data: { ip: '10.11.0.10', mac: '02:00:00:00:11:01' } });
    const stale = events
      .filter((e) => e.type === 'NeighbourStale')
      .map((e) => e.data.neighbour)
      .sort();
    const repaired = events
      .filter((e) => e.type === 'NeighbourRepaired')
      .map((e) => e.data.neighbour)
      .sort();
    expect(stale.length).toBeGreaterThan(0);
    expect(repaired).toEqual(stale);
    expect(events.filter((e) => e.type === 'NeighbourRepaired').every((e) => e.data.how === 'garp' && e.data.mac === '02:00:00:00:11:01')).toBe(true);
    expect((await req('arp.stale', { vm: 'db-01' })).stale).toEqual([]);
    const dc1 = (await req('arp.list', { site: 'dc1' })).sites[0];
    expect(dc1.proxies).toEqual([expect.objectContaining({ ip: '10.11.0.10', vm: 'db-01', mac: '02:00:00:00:11:01', locationVersion: 2 })]);
    expect(lines().some((l) => l.moveId === accepted.moveId && /same virtual MAC 00:00:5e:00:01:0b/.test(l.gateway ?? ''))).toBe(true);
  });

  it('with the proxy switched off at dc1 the neighbours stay stale until their own ARP timeout', async () => {
    await arp!.stop();
    const topo = parse(readFileSync(defaultTopologyPath(), 'utf8'));
    topo.sites.find((s: any) => s.name === 'dc1').arpProxy = false;
    const file = join(dir, 'proxy-off.yaml');
    writeFileSync(file, stringify(topo));
    arp = await startArpProxies({ ...lab!.config, topologyPath: file }, logger, { clock, random: seeded(7) });

    const accepted = await lab!.req('vm.move', { vm: 'app-01', to: 'cloud-hv2', mode: 'cold' });
    expect(accepted.ok).toBe(true);
    await lab!.waitForMove(accepted.moveId);
    const stale = await eventually(
      async () => {
        const r = await req('arp.stale', { vm: 'app-01' });
        return r.stale.length > 0 ? r.stale : undefined;
      },
      10_000,
      'stale neighbours of app-01',
    );
    expect(stale.every((s: any) => s.site === 'dc1' && s.heldMac === '52:54:00:11:00:20' && s.rightMac === null)).toBe(true);
    const events = await planeEvents(lab!.client, lab!.config.streamName, 'arp', 'app-01');
    expect(events.filter((e) => e.type === 'ProxyInstalled' || e.type === 'GratuitousArpSent')).toEqual([]);
    expect(events.filter((e) => e.type === 'NeighbourStale').length).toBe(stale.length);
    // Still stale a little later on the neighbours' clock: nobody repairs them...
    clock.advance(10_000);
    expect((await req('arp.stale', { vm: 'app-01' })).stale.length).toBe(stale.length);
    // ...until their own timers run out (REACHABLE 15–45 s, DELAY 5 s, 3 unanswered probes).
    clock.advance(45_000);
    expect((await req('arp.stale', { vm: 'app-01' })).stale).toEqual([]);
    const expired = await eventually(
      async () => {
        const e = (await planeEvents(lab!.client, lab!.config.streamName, 'arp', 'app-01')).filter((x) => x.type === 'NeighbourRepaired');
        return e.length === stale.length ? e : undefined;
      },
      10_000,
      'NeighbourRepaired by expiry',
    );
    expect(expired.every((e) => e.data.how === 'expired' && e.data.staleMs >= 15_000)).toBe(true);
  });
});
