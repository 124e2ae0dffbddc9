import { locationEventFixtures as ev } from '@locus/contracts';
import type { ArpDomain } from '@locus/domain';
import { KnownVms } from './known-vms';
import { applyToKnown, arpAudience } from './site-arp-proxy';

const domains: ArpDomain[] = [
  { name: 'dc1-vlan10', kind: 'stretched', sites: ['dc1', 'dc2'], subnet: '10.1.0.0/24', gateway: '10.1.0.1' },
  { name: 'dc3-vlan30', kind: 'site-local', sites: ['dc3'], subnet: '10.3.0.0/24', gateway: '10.3.0.1' },
];

describe('arpAudience: the ARP proxies a location event goes to', () => {
  it('given a placement, then the sites of its L2 domain', () => {
    expect(arpAudience(ev.placed('web-01', 'dc1', 'dc1-hv1'), new KnownVms(), domains)).toEqual(['dc1', 'dc2']);
  });

  it('given a relocation of a VM known to the process, then the sites of its L2 domain, wherever it goes', () => {
    const known = new KnownVms();
    applyToKnown(known, domains, ev.placed('web-01', 'dc1', 'dc1-hv1'));
    expect(arpAudience(ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc3', 'dc3-hv1']), known, domains)).toEqual(['dc1', 'dc2']);
  });

  it('given a relocation of a VM not known yet, then the sites of the domain whose subnet holds its address', () => {
    expect(arpAudience(ev.relocated('web-07', ['dc3', 'dc3-hv1'], ['dc1', 'dc1-hv1'], '10.3.0.7'), new KnownVms(), domains)).toEqual(['dc3']);
  });

  it('given an event that moves no VM, then no site', () => {
    expect(arpAudience(ev.startedAtTarget('web-01', 'dc2-hv1'), new KnownVms(), domains)).toEqual([]);
  });
});

describe('applyToKnown: a location event applied once for every site of the process', () => {
  it('given a relocation applied by the process, when a site applies the same event, then it gets the same change', () => {
    const known = new KnownVms();
    applyToKnown(known, domains, ev.placed('web-01', 'dc1', 'dc1-hv1'));
    const move = ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1']);
    const first = applyToKnown(known, domains, move);
    const again = applyToKnown(known, domains, move);
    expect(first).toMatchObject({ applied: true, before: { site: 'dc1' }, after: { site: 'dc2', l2Domain: 'dc1-vlan10', locationVersion: 2 } });
    expect(again).toEqual(first);
  });

  it('given an older relocation, then nothing changes', () => {
    const known = new KnownVms();
    applyToKnown(known, domains, ev.placed('web-01', 'dc1', 'dc1-hv1'));
    applyToKnown(known, domains, ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc2', 'dc2-hv1'], '10.1.0.10', 3));
    expect(applyToKnown(known, domains, ev.relocated('web-01', ['dc1', 'dc1-hv1'], ['dc3', 'dc3-hv1'], '10.1.0.10', 2))).toMatchObject({ applied: false });
    expect(known.get('web-01')).toMatchObject({ site: 'dc2', locationVersion: 3 });
  });
});
