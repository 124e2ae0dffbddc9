import { InMemoryFabric } from './in-memory-rib';
import { StartingFabric } from './starting-fabric';

const route = { prefix: '10.1.0.10/32', site: 'dc1', vm: 'web-01', nextHop: '198.51.100.11', localPref: 102, locationVersion: 2 };

describe('a fabric still starting: its drivers are handed out at once and each call waits for it', () => {
  it('given a driver and a core watcher taken before the fabric is up, when it comes up, then the calls made meanwhile complete on it and the watcher hears its changes', async () => {
    const real = new InMemoryFabric(['dc1'], 0);
    let up!: (f: InMemoryFabric) => void;
    const fabric = new StartingFabric('memory', new Promise((resolve) => (up = resolve)));
    const driver = fabric.driverFor('dc1');
    const core = fabric.core();
    let heard = 0;
    core.watch(() => heard++);
    let advertised = false;
    const advertising = driver.advertise(route).then(() => (advertised = true));
    await new Promise((r) => setImmediate(r));
    expect(advertised).toBe(false);
    expect(fabric.describe()).toEqual({ kind: 'memory', starting: true });

    up(real);
    await advertising;
    expect(await driver.list()).toMatchObject([{ prefix: '10.1.0.10/32', locationVersion: 2 }]);
    await new Promise((r) => setTimeout(r, 10));
    expect(await core.list('10.1.0.10/32')).toMatchObject([{ nextHop: '198.51.100.11' }]);
    expect(heard).toBeGreaterThan(0);
    await fabric.stop();
  });

  it('given a fabric that fails to start, then every call fails with its error, and stop does not', async () => {
    const fabric = new StartingFabric('gobgp', Promise.reject(new Error('gobgpd fabric not established after 30000 ms')));
    await expect(fabric.driverFor('dc1').list()).rejects.toThrow('not established');
    await expect(fabric.started).rejects.toThrow('not established');
    await expect(fabric.stop()).resolves.toBeUndefined();
  });
});
