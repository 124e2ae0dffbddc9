import type { Subscription } from 'nats';
import { startLabWithPlanes, untilNoDrift } from './support/planes-lab';
import { capturingLogger, eventually, type TestLab } from './support/harness';
import { DriftDetector } from '../apps/mobility-manager/src';

/**
 * The periodic drift check's cost, against the real NATS and Postgres with every plane running: a
 * VM that moved is asked by name of its new host and the host it left only, while every agent is
 * still asked about the sweep's slice; a paced check spreads its steps over half the interval and
 * ends at once on stop(). A detector of the test's own, its timer never firing (an hour's interval):
 * each check is called here.
 */
describe('drift: the periodic check asks each agent about its own VMs and paces itself', () => {
  let lab: TestLab;
  let stop: (() => Promise<void>) | undefined;
  const HOUR = 3_600_000;

  beforeAll(async () => {
    ({ lab, stop } = await startLabWithPlanes({ convergenceTracking: true, convergenceDeadlineMs: 2000 }));
    await untilNoDrift(lab);
  }, 60_000);

  afterAll(async () => {
    await stop?.();
  });

  /**
   * The manager's appends less its MoveConverged: these tests are about how a changed VM is asked,
   * and a converged move's VM is not compared as changed (the sweep compares it), as a manager
   * without convergence tracking would see it.
   */
  const appendsWithoutConvergence = {
    onAppended: (listener: (events: readonly { streamId: string; type: string; data?: unknown }[]) => void) =>
      lab.manager.store.onAppended((events) => listener(events.filter((e) => e.type !== 'MoveConverged'))),
  };

  const detector = (intervalMs: number) =>
    new DriftDetector(
      { nc: lab.manager.nc, dataSource: lab.manager.dataSource, topology: lab.manager.topology, logger: capturingLogger().logger, converging: () => new Set(), appends: appendsWithoutConvergence },
      { prefix: lab.config.subjectPrefix, intervalMs, slice: 1, repair: false },
    );

  /** The agents' `inventory` requests while `work` runs: a plain subscription sees every request. */
  async function inventoryAsks(work: () => Promise<unknown>): Promise<{ host: string; body: { vms?: string[]; from?: string; through?: string } }[]> {
    const seen: { host: string; body: any }[] = [];
    const sub: Subscription = lab.client.subscribe(`${lab.config.subjectPrefix}.agent.*.inventory`, {
      callback: (_e, m) => seen.push({ host: m.subject.split('.').at(-2)!, body: JSON.parse(new TextDecoder().decode(m.data)) }),
    });
    await work();
    await lab.client.flush();
    sub.unsubscribe();
    return seen;
  }

  it('a VM that moved is asked of its new host and the one it left, by name; every agent is asked about the sweep', async () => {
    const drift = detector(HOUR);
    drift.start();
    try {
      await drift.checkPeriodic(); // the sweep starts; nothing changed yet
      const moved = await lab.req('vm.move', { vm: 'web-04', to: 'dc1-hv2', mode: 'cold' }); // from dc2-hv2
      await lab.waitForMove(moved.moveId, ['converged']);

      let check: Awaited<ReturnType<DriftDetector['checkPeriodic']>> | undefined;
      const asks = await inventoryAsks(async () => (check = await drift.checkPeriodic()));
      expect(check).toMatchObject({ changed: 1, again: 0, swept: 1, askedByHost: 1, disagreements: [] });
      expect(check!.sweepPosition).not.toBe('web-04');

      const named = (vm: string) => [...new Set(asks.filter((a) => a.body.vms?.includes(vm)).map((a) => a.host))].sort();
      expect(named('web-04')).toEqual(['dc1-hv2', 'dc2-hv2']);
      // no range request at all: the slice of one VM goes by name, to every agent
      expect(asks.filter((a) => a.body.from !== undefined)).toEqual([]);
      const hosts = lab.manager.topology.hypervisors.map((h) => h.name).sort();
      expect(named(check!.sweepPosition!)).toEqual(hosts);
    } finally {
      await drift.stop();
    }
  });

  it('a VM whose move converged is not compared again as changed: every plane already agreed, the sweep compares it in turn', async () => {
    const drift = new DriftDetector(
      { nc: lab.manager.nc, dataSource: lab.manager.dataSource, topology: lab.manager.topology, logger: capturingLogger().logger, converging: () => new Set(), appends: lab.manager.store },
      { prefix: lab.config.subjectPrefix, intervalMs: HOUR, slice: 1, repair: false },
    );
    drift.start();
    try {
      await drift.checkPeriodic();
      const moved = await lab.req('vm.move', { vm: 'web-04', to: 'dc2-hv2', mode: 'cold' }); // back from dc1-hv2
      await lab.waitForMove(moved.moveId, ['converged']);
      const check = await drift.checkPeriodic();
      expect(check).toMatchObject({ changed: 0, askedByHost: 0, disagreements: [] });
    } finally {
      await drift.stop();
    }
  });

  it('a move that converges after a newer location of its VM (a drift repair) leaves the VM to be compared', async () => {
    type Appended = readonly { streamId: string; type: string; data?: unknown }[];
    const listeners = new Set<(events: Appended) => void>();
    const appends = { onAppended: (l: (events: Appended) => void) => (listeners.add(l), () => void listeners.delete(l)) };
    const drift = new DriftDetector(
      { nc: lab.manager.nc, dataSource: lab.manager.dataSource, topology: lab.manager.topology, logger: capturingLogger().logger, converging: () => new Set(), appends },
      { prefix: lab.config.subjectPrefix, intervalMs: HOUR, slice: 1, repair: false },
    );
    const appended = (type: string, locationVersion: number) => listeners.forEach((l) => l([{ streamId: 'vm:web-04', type, data: { locationVersion } }]));
    drift.start();
    try {
      await drift.checkPeriodic();
      appended('VmRelocated', 7);
      appended('VmLocationReasserted', 9);
      appended('MoveConverged', 7); // late: the repair's location is newer
      expect(await drift.checkPeriodic()).toMatchObject({ changed: 1 });
      appended('VmRelocated', 11);
      appended('MoveConverged', 11);
      expect(await drift.checkPeriodic()).toMatchObject({ changed: 0 });
    } finally {
      await drift.stop();
    }
  });

  it('a moved VM asked of some hosts only is not repaired from that part view: the next check asks every agent and repairs with all of it', async () => {
    const drift = new DriftDetector(
      {
        nc: lab.manager.nc,
        dataSource: lab.manager.dataSource,
        topology: lab.manager.topology,
        logger: capturingLogger().logger,
        converging: () => new Set(),
        appends: appendsWithoutConvergence,
        commands: lab.manager.commands,
      },
      { prefix: lab.config.subjectPrefix, intervalMs: HOUR, slice: 1 },
    );
    drift.start();
    try {
      await drift.checkPeriodic();
      const moved = await lab.req('vm.move', { vm: 'web-05', to: 'dc2-hv1', mode: 'cold' }); // from dc1-hv1
      const { locationVersion } = await lab.waitForMove(moved.moveId, ['converged']);
      // The target lost it, and a copy runs on a host neither the DB nor web-05's events name.
      lab.agents.host.agent('dc2-hv1')!.inventory.vms.delete('web-05');
      lab.agents.host.agent('cloud-hv1')!.inventory.vms.set('web-05', { state: 'running', locationVersion });

      const partial = await drift.checkPeriodic();
      expect(partial.repairs ?? []).toEqual([]); // "missing" from dc2-hv1 and dc1-hv1 alone would boot a second copy
      expect(lab.agents.host.agent('dc2-hv1')!.inventory.vms.has('web-05')).toBe(false);

      const full = await drift.checkPeriodic();
      expect(full.again).toBeGreaterThanOrEqual(1);
      await eventually(
        async () => lab.agents.host.agent('dc2-hv1')!.inventory.vms.get('web-05')?.state === 'running' && !lab.agents.host.agent('cloud-hv1')!.inventory.vms.has('web-05'),
        15_000,
        'web-05 running on dc2-hv1 only',
      );
    } finally {
      await drift.stop();
    }
  });

  it('a paced check spreads its steps over half the interval; unpaced, it does not wait', async () => {
    const drift = detector(HOUR);
    const unpaced = await drift.checkPeriodic();
    expect(unpaced.waitedMs).toBe(0);

    const paced = detector(2000); // not started: no timer, the check below only
    const t0 = Date.now();
    const r = await paced.checkPeriodic({ paced: true });
    await paced.stop();
    expect(r.chunks).toBe(2); // the slice of one VM, then the route pages
    expect(r.waitedMs).toBeGreaterThan(400); // the second step starts half of 1000 ms in
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('stop() ends a paced check between two steps at once', async () => {
    const drift = detector(HOUR);
    const t0 = Date.now();
    const running = drift.checkPeriodic({ paced: true }); // two steps over half an hour
    await new Promise((resolve) => setTimeout(resolve, 200));
    await drift.stop();
    await expect(running).rejects.toThrow('drift check stopped');
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
