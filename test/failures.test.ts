import { requestJson } from './support/request';
import { startAgents } from '../apps/hypervisor-agent/src/start-agents';
import { startMobilityManager } from '../apps/mobility-manager/src/start-mobility-manager';
import { capturingLogger, eventually, startTestLab } from './support/harness';

const ALL_BUT = (name: string) => ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2', 'cloud-hv1', 'cloud-hv2', 'colo-hv1'].filter((h) => h !== name);

/** Every agent that claims a VM: it must run in exactly one place. */
function holders(agents: { agent(name: string): any }[], vm: string, hosts: string[]): string[] {
  const out: string[] = [];
  for (const h of hosts) for (const a of agents) if (a.agent(h)?.inventory.vms.get(vm)?.state === 'running') out.push(h);
  return out;
}

describe('failures mid-move', () => {
  it('a target agent killed during the boot, restarted: the move completes and the VM runs in one place', async () => {
    const lab = await startTestLab({ timeScale: 20, hypervisors: ALL_BUT('dc2-hv2') });
    let target = await startAgents({ ...lab.config, hypervisors: ['dc2-hv2'] }, capturingLogger().logger);
    try {
      const accepted = await lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'cold' });
      await eventually(async () => (await lab.req('move.get', { moveId: accepted.moveId })).move.timeline.some((t: any) => t.event === 'VmRelocated'), 10_000, 'the commit');
      const killedAt = performance.now();
      await target.stop(); // killed while booting web-02 (20 s simulated = 1 s here)
      const restarted = capturingLogger();
      target = await startAgents({ ...lab.config, hypervisors: ['dc2-hv2'] }, restarted.logger);
      const downForMs = (performance.now() - killedAt) * lab.config.timeScale;
      const move = await lab.waitForMove(accepted.moveId, undefined, 30_000);
      expect(move.state).toBe('completed');
      // The restarted agent does not take the VM for running: it boots it, the whole 20 s.
      expect(restarted.lines().find((l) => l.msg === 'VM start' && l.vm === 'web-02')).toMatchObject({ from: 'incoming', bootMs: 20_000 });
      expect(move.phases.boot).toBe(20_000);
      // The downtime recorded is what the agents saw: the model's 28 s, and the target's restart besides.
      expect(move.modelDowntimeMs).toBeCloseTo(28_000, -2);
      expect(move.downtimeMs).toBeGreaterThan(move.modelDowntimeMs + downForMs);
      expect((await lab.req('vm.get', { vm: 'web-02' })).vm).toMatchObject({ hypervisor: 'dc2-hv2', locationVersion: 2, state: 'running' });
      expect(holders([lab.agents.host, target.host], 'web-02', ['dc1-hv2', 'dc2-hv2'])).toEqual(['dc2-hv2']);
    } finally {
      await target.stop();
      await lab.stop();
    }
  });

  it('the mobility manager stopped mid-move and started again: the saga resumes from the log and the move completes once', async () => {
    const lab = await startTestLab({ timeScale: 20 });
    let manager2: Awaited<ReturnType<typeof startMobilityManager>> | undefined;
    try {
      const accepted = await lab.req('vm.move', { vm: 'web-04', to: 'dc1-hv1', mode: 'cold' });
      await eventually(async () => (await lab.req('move.get', { moveId: accepted.moveId })).move.timeline.some((t: any) => t.event === 'VmStoppedAtSource'), 10_000, 'the stop');
      await lab.manager.stop();
      manager2 = await startMobilityManager(lab.config, capturingLogger().logger);
      const move = await lab.waitForMove(accepted.moveId, undefined, 30_000);
      expect(move.state).toBe('completed');
      const types = (await manager2.dataSource.query(`SELECT type FROM events WHERE stream_id = 'vm:web-04' ORDER BY stream_version`)).map((r: any) => r.type);
      expect(types).toEqual(['VmPlaced', 'MoveAccepted', 'MoveStarted', 'VmStoppedAtSource', 'VmConfigTransferred', 'VmRelocated', 'VmStartedAtTarget', 'MoveCompleted']);
      expect(holders([lab.agents.host], 'web-04', ['dc2-hv2', 'dc1-hv1'])).toEqual(['dc1-hv1']);
    } finally {
      // The lab's own manager is already stopped; stop the second one and clean up through the lab.
      lab.manager = manager2 ?? lab.manager;
      await lab.stop();
    }
  });
});

describe('postcopy', () => {
  it('fails with POSTCOPY_SOURCE_LOST when the source dies while the target still pulls pages', async () => {
    // Real time (scale 1): the RARP announce after resume lasts 450 ms, time enough to kill the source.
    const lab = await startTestLab({ timeScale: 1 });
    try {
      const accepted = await lab.req('vm.move', { vm: 'jump-01', to: 'dc1-hv2', mode: 'hot', options: { dirtyRateMBps: 4000, workingSetMb: 1500, policy: 'postcopy' } });
      expect(accepted.prediction.outcome).toBe('postcopy');
      await eventually(async () => (await lab.req('move.get', { moveId: accepted.moveId })).move.timeline.some((t: any) => t.event === 'VmRelocated'), 15_000, 'the switchover');
      lab.agents.host.silence('dc1-hv1');
      const move = await lab.waitForMove(accepted.moveId, ['failed'], 15_000);
      expect(move.error.code).toBe('POSTCOPY_SOURCE_LOST');
      expect((await lab.req('vm.get', { vm: 'jump-01' })).vm).toMatchObject({ hypervisor: 'dc1-hv2', locationVersion: 2, state: 'stopped' });
    } finally {
      await lab.stop();
    }
  });
});

describe('HA restart', () => {
  it('restarts a silent host’s VMs elsewhere (same site first), refuses moves to it, and fences it when it returns', async () => {
    // Simulated: heartbeat every 1 s, failure after 40 s of silence; at scale 100 that is 0.4 s.
    const lab = await startTestLab({ timeScale: 100, haEnabled: true, hostTimeoutMs: 40_000, heartbeatMs: 1000 });
    try {
      const victims = (await lab.vms({ hypervisor: 'cloud-hv2' })).map((v) => v.name);
      expect(victims.length).toBeGreaterThan(0);
      await eventually(async () => lab.manager.ha.down().size === 0 && lab.logs().some((l) => /HA restart armed/.test(l.msg)), 5000, 'HA armed');
      lab.agents.host.silence('cloud-hv2');

      await eventually(async () => lab.manager.ha.isDown('cloud-hv2'), 10_000, 'cloud-hv2 declared failed');
      expect(await lab.req('vm.move', { vm: 'burst-01', to: 'cloud-hv2', mode: 'cold' })).toMatchObject({ ok: false, error: { code: 'HOST_DOWN' } });

      for (const vm of victims)
        await eventually(
          async () => {
            const v = (await lab.req('vm.get', { vm })).vm;
            return v.hypervisor === 'cloud-hv1' && v.state === 'running' && v.locationVersion === 2;
          },
          20_000,
          `${vm} restarted on cloud-hv1`,
        );
      const decisions = lab.logs().filter((l) => /^HA: restarting/.test(l.msg));
      expect(decisions.map((d) => d.vm).sort()).toEqual([...victims].sort());
      expect(decisions.every((d) => d.to === 'cloud-hv1' && d.sameSite === true)).toBe(true);
      const moveId = decisions[0].moveId;
      const move = (await lab.req('move.get', { moveId })).move;
      expect(move).toMatchObject({ cause: 'ha-restart', mode: 'cold', state: 'completed' });
      expect(move.timeline.map((t: any) => t.event)).toEqual(['MoveAccepted', 'MoveStarted', 'VmRelocated', 'VmStartedAtTarget', 'MoveCompleted']);

      // The host comes back: it must not run those VMs, and a stale start is refused.
      await lab.agents.host.recover('cloud-hv2');
      await eventually(async () => !lab.manager.ha.isDown('cloud-hv2'), 5000, 'recovery');
      for (const vm of victims) expect(lab.agents.host.agent('cloud-hv2')!.inventory.vms.has(vm)).toBe(false);
      const stale = await requestJson(lab.client, `${lab.config.subjectPrefix}.agent.cloud-hv2.start`, { moveId, vm: victims[0], locationVersion: 1 });
      expect(stale).toMatchObject({ ok: false, error: { code: 'FENCED' } });
      for (const vm of victims) expect(holders([lab.agents.host], vm, ['cloud-hv1', 'cloud-hv2'])).toEqual(['cloud-hv1']);
    } finally {
      await lab.stop();
    }
  });
});
