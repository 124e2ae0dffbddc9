import { KnownVms, type KnownVm } from './known-vms';

const web01 = (site: string, locationVersion: number): KnownVm => ({ vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', site, locationVersion });
const newer = (v: number) => (before: KnownVm | undefined) => !before || v > before.locationVersion;

describe('known VMs shared by the ARP proxies of one process', () => {
  it('given web-01 at dc1, when every site applies its relocation, then each gets the same applied change', () => {
    const known = new KnownVms();
    known.remember(web01('dc1', 1));
    const changes = ['dc1', 'dc2', 'cloud'].map(() => known.apply('evt-2', 'web-01', newer(2), () => web01('dc2', 2)));
    expect(changes.every((c) => c.applied && c.before?.site === 'dc1' && c.after?.site === 'dc2')).toBe(true);
    expect(known.byIp('10.1.0.10')).toMatchObject({ site: 'dc2', locationVersion: 2 });
  });
  it('given web-01 at version 2, when an older event comes, then nothing changes and it says what was known', () => {
    const known = new KnownVms();
    known.remember(web01('dc2', 2));
    const change = known.apply('evt-old', 'web-01', newer(1), () => web01('dc1', 1));
    expect(change).toMatchObject({ applied: false, before: { site: 'dc2', locationVersion: 2 } });
    expect(known.get('web-01')).toMatchObject({ site: 'dc2' });
  });
  it('given a newer row known, when an older snapshot row arrives, then it is not taken', () => {
    const known = new KnownVms();
    known.remember(web01('dc2', 2));
    known.remember(web01('dc1', 1));
    expect(known.get('web-01')).toMatchObject({ site: 'dc2', locationVersion: 2 });
  });
});
