import { InMemoryFabric } from './in-memory-rib';

describe('in-memory RIB (when gobgpd is missing)', () => {
  it('given dc1 and dc2 originate the same /32, then the core holds both and the newer version is best; a withdraw removes one', async () => {
    const fabric = new InMemoryFabric(['dc1', 'dc2'], 0);
    const changes: number[] = [];
    fabric.core().watch(() => changes.push(1));
    await fabric.driverFor('dc1').advertise({ prefix: '10.1.0.10/32', site: 'dc1', nextHop: '198.51.100.11', localPref: 101, locationVersion: 1 });
    await fabric.driverFor('dc2').advertise({ prefix: '10.1.0.10/32', site: 'dc2', nextHop: '198.51.100.12', localPref: 102, locationVersion: 2 });
    await new Promise((r) => setTimeout(r, 5));
    const core = await fabric.core().list('10.1.0.10/32');
    expect(core.map((p) => [p.nextHop, p.best])).toEqual([['198.51.100.11', false], ['198.51.100.12', true]]);
    const [own] = await fabric.driverFor('dc1').list();
    await fabric.driverFor('dc1').withdraw(own);
    await new Promise((r) => setTimeout(r, 5));
    expect((await fabric.core().list()).map((p) => p.nextHop)).toEqual(['198.51.100.12']);
    expect(changes.length).toBeGreaterThanOrEqual(3);
    await fabric.stop();
  });
});
