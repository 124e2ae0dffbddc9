import pino from 'pino';
import { locationEventFixtures as ev, type PlaneEvent, type VmView } from '@locus/contracts';
import type { ArpDomain, ArpSite, Clock, LabNeighbour } from '@locus/domain';
import type { PlaneEventPublisher } from '@locus/messaging';
import { LabArpDriver } from '../arp-driver/lab-arp-driver';
import { SiteArpProxy } from './site-arp-proxy';

/**
 * What an ARP proxy that starts after a move's commit says: `ArpReconciled` for its site, and the
 * move's `ArpConverged` when the relocation reaches it although its snapshot held it. The lab driver's
 * neighbours; the publisher keeps what it is given.
 */
const dc1: ArpSite = { name: 'dc1', routerMac: '02:00:00:00:01:01', proxyEnabled: true, gateways: [] };
const dc2: ArpSite = { name: 'dc2', routerMac: '02:00:00:00:02:01', proxyEnabled: true, gateways: [] };
const stretched: ArpDomain = { name: 'web-stretched', kind: 'stretched', sites: ['dc1', 'dc2'], subnet: '10.1.0.0/24', gateway: '10.1.0.1' } as ArpDomain;
const neighbours: LabNeighbour[] = ['n1', 'n2'].map((name, i) => ({ name, ip: `10.1.0.${250 + i}`, mac: `02:4e:00:00:00:0${i}`, l2Domain: 'web-stretched', site: 'dc1' }));
const webAtDc2: VmView = { name: 'web-01', ip: '10.1.0.10', mac: '02:00:0a:01:00:0a', site: 'dc2', hypervisor: 'dc2-hv1', l2Domain: 'web-stretched', state: 'running', locationVersion: 2 };

function proxyAtDc1() {
  const clock: Clock = { now: () => 1_000_000, sleep: async () => undefined };
  const published: PlaneEvent[] = [];
  const publisher = { publish: async (event: PlaneEvent) => (published.push(event), { duplicate: false, seq: published.length }) } as unknown as PlaneEventPublisher;
  const proxy = new SiteArpProxy(dc1, [dc1, dc2], [stretched], new LabArpDriver('dc1', neighbours, clock, () => 0.5), { logger: pino({ level: 'silent' }), publisher, clock });
  return { proxy, published };
}

describe('an ARP proxy that starts after a move was committed', () => {
  it('given a snapshot with web-01 already at dc2, when dc1 starts, then ArpReconciled of the site through the snapshot, holding no address', async () => {
    const { proxy, published } = proxyAtDc1();
    proxy.loadSnapshot([webAtDc2]);
    await proxy.start(41);
    await proxy.stop();
    expect(published).toEqual([
      expect.objectContaining({ plane: 'arp', type: 'ArpReconciled', component: 'arp-proxy:dc1', locationVersion: 0, data: { site: 'dc1', trigger: 'start', through: 41, held: [] } }),
    ]);
    expect(published[0].vm).toBeUndefined();
  });

  it('when the relocation the snapshot held is delivered after all, then the move\'s ArpConverged at its version, "known from the snapshot"', async () => {
    const { proxy, published } = proxyAtDc1();
    proxy.loadSnapshot([webAtDc2]);
    await proxy.start(41);
    published.length = 0;
    const relocated = ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']);
    await proxy.handle(relocated);
    await proxy.stop();
    expect(published).toEqual([
      expect.objectContaining({
        type: 'ArpConverged',
        vm: 'web-01',
        locationVersion: 2,
        moveId: 'moveId' in relocated.data ? relocated.data.moveId : undefined,
        data: expect.objectContaining({ site: 'dc1', rule: 'known from the snapshot', stale: 0 }),
      }),
    ]);
  });
});
