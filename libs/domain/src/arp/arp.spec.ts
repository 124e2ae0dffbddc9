import { decideArpForMove, proxyWanted, type ArpDomain, type ArpSite } from './arp-decision';
import { advance, expiresBy, isWrong, learnt, receiveGratuitous, reachableMs } from './neighbour-cache';
import { labNeighbours } from './lab-neighbours';

const gw = (subnet: string, ip: string, mac: string) => ({ subnet, ip, mac });
const dc1: ArpSite = {
  name: 'dc1',
  routerMac: '02:00:00:00:11:01',
  proxyEnabled: true,
  gateways: [gw('10.11.0.0/24', '10.11.0.1', '00:00:5e:00:01:0b'), gw('10.1.0.0/24', '10.1.0.1', '00:00:5e:00:01:01')],
};
const dc2: ArpSite = { name: 'dc2', routerMac: '02:00:00:00:12:01', proxyEnabled: true, gateways: [gw('10.1.0.0/24', '10.1.0.1', '00:00:5e:00:01:01')] };
const cloud: ArpSite = { name: 'cloud', routerMac: '02:00:00:00:21:01', proxyEnabled: true, gateways: [gw('10.11.0.0/24', '10.11.0.1', '00:00:5e:00:01:0b')] };
const dc1Local: ArpDomain = { name: 'dc1-local', kind: 'site-local', sites: ['dc1'], subnet: '10.11.0.0/24', gateway: '10.11.0.1' };
const stretched: ArpDomain = { name: 'web-stretched', kind: 'stretched', sites: ['dc1', 'dc2'], subnet: '10.1.0.0/24', gateway: '10.1.0.1' };
const db01 = { vm: 'db-01', ip: '10.11.0.10', mac: '52:54:00:11:00:10' };
const web01 = { vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10' };

describe('ARP decision per move', () => {
  it('given a hot move inside the stretched domain, then no site installs a proxy, and the reason says RARP/GARP', () => {
    for (const site of [dc1, dc2]) {
      const d = decideArpForMove({ site, domain: stretched, vm: web01, from: 'dc1', to: 'dc2', mode: 'hot', targetSite: dc2 });
      expect(d).toMatchObject({ rule: 'stays-in-domain', proxy: 'none' });
      expect(d.reason).toMatch(/hot move inside stretched L2 domain web-stretched/);
    }
  });
  it('given a cold move between DCs on the stretched L2, then nothing either: the VM keeps IP and MAC', () => {
    expect(decideArpForMove({ site: dc1, domain: stretched, vm: web01, from: 'dc1', to: 'dc2', mode: 'cold' }).proxy).toBe('none');
  });
  it('given db-01 leaves dc1-local for the cloud, then dc1 proxies with its router MAC and GARPs; the cloud keeps the gateway MAC', () => {
    const d = decideArpForMove({ site: dc1, domain: dc1Local, vm: db01, from: 'dc1', to: 'cloud', mode: 'cold', targetSite: cloud });
    expect(d).toMatchObject({ rule: 'leaves-domain', proxy: 'install', garp: { ip: '10.11.0.10', mac: '02:00:00:00:11:01' }, gateway: { ok: true } });
    expect(decideArpForMove({ site: cloud, domain: dc1Local, vm: db01, from: 'dc1', to: 'cloud' }).rule).toBe('not-in-domain');
  });
  it('given the proxy is switched off at dc1, then nothing is installed and the reason names the timeout', () => {
    const d = decideArpForMove({ site: { ...dc1, proxyEnabled: false }, domain: dc1Local, vm: db01, from: 'dc1', to: 'cloud' });
    expect(d).toMatchObject({ rule: 'leaves-domain-proxy-off', proxy: 'none' });
    expect(d.garp).toBeUndefined();
  });
  it('given db-01 comes back, then the proxy entry goes and its own MAC is announced', () => {
    expect(decideArpForMove({ site: dc1, domain: dc1Local, vm: db01, from: 'cloud', to: 'dc1' })).toMatchObject({ rule: 'returns-to-domain', proxy: 'remove', garp: { mac: db01.mac } });
  });
  it('given a site without the gateway, then the gateway check fails', () => {
    expect(decideArpForMove({ site: dc1, domain: dc1Local, vm: db01, from: 'dc1', to: 'dc2', targetSite: dc2 }).gateway?.ok).toBe(false);
  });
  it("proxyWanted: only at the domain's own sites while the VM is away", () => {
    expect(proxyWanted(dc1, dc1Local, 'cloud')).toBe(true);
    expect(proxyWanted(dc1, dc1Local, 'dc1')).toBe(false);
    expect(proxyWanted(cloud, dc1Local, 'cloud')).toBe(false);
  });
});

describe('neighbour ARP cache, Linux timing', () => {
  const rnd = (x: number) => () => x;
  it('REACHABLE lasts 15–45 s', () => {
    expect(reachableMs(rnd(0))).toBe(15_000);
    expect(reachableMs(rnd(0.999999))).toBeLessThanOrEqual(45_000);
  });
  it('given an entry with the VM MAC and the VM gone with no proxy, then it stays wrong until REACHABLE + DELAY + probes, then expires', () => {
    const e = learnt('10.11.0.10', '52:54:00:11:00:10', 0, rnd(0.5)); // reachable 30 s
    expect(isWrong(e, null)).toBe(true);
    expect(expiresBy(e)).toBe(30_000 + 5_000 + 3_000);
    expect(advance(e, 37_999, null, rnd(0.5)).fixed).toBeUndefined();
    const r = advance(e, 38_000, null, rnd(0.5));
    expect(r.fixed).toEqual({ at: 38_000, how: 'expired', mac: null });
    expect(r.entry.state).toBe('FAILED');
  });
  it('given a proxy answers after the entry expires, then the neighbour re-probes and learns the router MAC', () => {
    const e = learnt('10.11.0.10', '52:54:00:11:00:10', 0, rnd(0.5));
    const r = advance(e, 40_000, '02:00:00:00:11:01', rnd(0.5));
    expect(r.fixed).toMatchObject({ how: 'reprobe', mac: '02:00:00:00:11:01' });
    expect(r.entry).toMatchObject({ state: 'REACHABLE', mac: '02:00:00:00:11:01' });
  });
  it('given a gratuitous ARP, then the MAC is overwritten at once', () => {
    const e = receiveGratuitous(learnt('10.11.0.10', '52:54:00:11:00:10', 0, rnd(0.5)), '02:00:00:00:11:01', 1_000);
    expect(isWrong(e, '02:00:00:00:11:01')).toBe(false);
  });
  it('given a right entry, then it is confirmed again by its unicast probe and never wrong', () => {
    const e = learnt('10.1.0.10', 'aa', 0, rnd(0.5));
    const r = advance(e, 100_000, 'aa', rnd(0.5));
    expect(r.fixed).toBeUndefined();
    expect(r.entry.mac).toBe('aa');
  });
});

describe('lab neighbours', () => {
  it('takes addresses from the top of the subnet, skipping used ones, per site of the domain', () => {
    const n = labNeighbours([stretched], new Set(['10.1.0.253']), 2);
    expect(n.map((x) => `${x.site} ${x.ip}`)).toEqual(['dc1 10.1.0.254', 'dc1 10.1.0.252', 'dc2 10.1.0.251', 'dc2 10.1.0.250']);
    expect(new Set(n.map((x) => x.mac)).size).toBe(4);
  });
});
