import type { RibPath } from '@locus/domain';
import { InMemoryFabric } from './in-memory-rib';

/** Watches the fabric's core: `until` resolves once the core satisfies `ok`, re-checking on every notification. */
function watchCore(fabric: InMemoryFabric) {
  const core = fabric.core();
  let notifications = 0;
  let wake: () => void = () => undefined;
  core.watch(() => {
    notifications++;
    wake();
  });
  return {
    notifications: () => notifications,
    async until(ok: (paths: RibPath[]) => boolean, what: string): Promise<RibPath[]> {
      const deadline = Date.now() + 2000;
      for (;;) {
        const paths = await core.list();
        if (ok(paths)) return paths;
        if (Date.now() > deadline) throw new Error(`the core never held ${what}: ${JSON.stringify(paths)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
  };
}

describe('in-memory RIB (when gobgpd is missing)', () => {
  it('given dc1 and dc2 originate the same /32, then the core holds both and the newer version is best; a withdraw removes one', async () => {
    const fabric = new InMemoryFabric(['dc1', 'dc2'], 0);
    const watcher = watchCore(fabric);
    await fabric.driverFor('dc1').advertise({ prefix: '10.1.0.10/32', site: 'dc1', nextHop: '198.51.100.11', localPref: 101, locationVersion: 1 });
    await fabric.driverFor('dc2').advertise({ prefix: '10.1.0.10/32', site: 'dc2', nextHop: '198.51.100.12', localPref: 102, locationVersion: 2 });
    await watcher.until((paths) => paths.length === 2, 'both paths');
    const core = await fabric.core().list('10.1.0.10/32');
    expect(core.map((p) => [p.nextHop, p.best])).toEqual([
      ['198.51.100.11', false],
      ['198.51.100.12', true],
    ]);
    await watcher.until(() => watcher.notifications() >= 1, 'a notification of the advertisements');
    const told = watcher.notifications();
    const [own] = await fabric.driverFor('dc1').list();
    await fabric.driverFor('dc1').withdraw(own);
    const after = await watcher.until((paths) => paths.length === 1, 'one path after the withdraw');
    expect(after.map((p) => p.nextHop)).toEqual(['198.51.100.12']);
    await watcher.until(() => watcher.notifications() > told, 'a notification of the withdraw');
    await fabric.stop();
  });

  it('given 1,000 paths reach the core in one turn, then its watchers are told a few times, not 1,000', async () => {
    const fabric = new InMemoryFabric(['dc1'], 0);
    const watcher = watchCore(fabric);
    const dc1 = fabric.driverFor('dc1');
    for (let i = 0; i < 1000; i++) await dc1.advertise({ prefix: `10.2.${i >> 8}.${i & 255}/32`, site: 'dc1', nextHop: '198.51.100.11', localPref: 101, locationVersion: 1 });
    await watcher.until((paths) => paths.length === 1000, '1,000 paths');
    await watcher.until(() => watcher.notifications() >= 1, 'a notification');
    expect(watcher.notifications()).toBeLessThan(50);
    await fabric.stop();
  });
});
