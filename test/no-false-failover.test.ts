import type { DataSource } from 'typeorm';
import { openStore } from '@locus/eventstore';
import { startAgents, type RunningAgents } from '../apps/hypervisor-agent/src/start-agents';
import { startMobilityManager, type MobilityManager } from '../apps/mobility-manager/src/start-mobility-manager';
import { capturingLogger, cleanup, eventually, testConfig } from './support/harness';
import { CuttableLink, ensureBuilt, spawnService, type ServiceChild } from './support/processes';

const HOSTS = ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2', 'cloud-hv1', 'cloud-hv2', 'colo-hv1'];
const MANAGER = 'dist/apps/mobility-manager/src/main.js';
/** Simulated: heartbeats every 1 s, a host silent 15 s fails; at scale 10 that is 100 ms and 1.5 s. */
const HA = { timeScale: 10, haEnabled: true, heartbeatMs: 1000, hostTimeoutMs: 15_000 };

/** Hosts the manager declared failed, and the VMs it restarted elsewhere, from the event log. */
async function haDecisions(ds: DataSource): Promise<{ failed: string[]; restarted: string[] }> {
  const failed = await ds.query(`SELECT data->>'hypervisor' AS host FROM events WHERE type = 'HostDeclaredFailed' ORDER BY position`);
  const restarted = await ds.query(`SELECT data->>'vm' AS vm FROM events WHERE type = 'MoveAccepted' AND data->>'cause' = 'ha-restart' ORDER BY position`);
  return { failed: failed.map((r: { host: string }) => r.host), restarted: restarted.map((r: { vm: string }) => r.vm).sort() };
}

async function vmsOn(ds: DataSource, host: string): Promise<string[]> {
  return (await ds.query(`SELECT name FROM vm_location WHERE hypervisor = $1 ORDER BY name`, [host])).map((r: { name: string }) => r.name);
}

/** The manager watches (its first round trip is done) and has heard every host: from here a silence would count. */
const watchingAll = (lines: () => any[]) => async () => lines().some((l) => l.msg === 'HA: watching heartbeats') && HOSTS.every((h) => lines().some((l) => l.msg === `HA: first heartbeat from ${h}`));

/**
 * A manager that could not watch is not a reason to fail hosts: a stalled manager and a manager
 * cut off from NATS, each for many times the failure timeout, restart no VM; a host that really
 * goes silent afterwards is still found and its VMs restarted, and only those.
 */
describe('no false failover', () => {
  it('the manager process stopped (SIGSTOP) for 20 s, 13 times the failure timeout: no host declared failed; a host silent afterwards is', async () => {
    ensureBuilt(MANAGER);
    const config = testConfig(HA);
    const env = {
      LOCUS_TIME_SCALE: String(HA.timeScale),
      LOCUS_HA: 'true',
      LOCUS_HEARTBEAT_MS: String(HA.heartbeatMs),
      LOCUS_HOST_TIMEOUT_MS: String(HA.hostTimeoutMs),
      LOCUS_CONVERGENCE: 'false',
      LOCUS_DRIFT_INTERVAL_MS: '0',
      LOG_LEVEL: 'debug',
    };
    const manager: ServiceChild = spawnService(MANAGER, config, env);
    let agents: RunningAgents | undefined;
    let ds: DataSource | undefined;
    try {
      await eventually(async () => manager.lines().some((l) => /HA restart armed/.test(l.msg)), 30_000, `the manager to start:\n${manager.output()}`);
      agents = await startAgents(config, capturingLogger().logger);
      ds = await openStore(config.databaseUrl, 2);
      await eventually(watchingAll(manager.lines), 10_000, 'the manager to watch every host');

      manager.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 20_000)); // the stall itself: 200 s simulated
      manager.child.kill('SIGCONT');

      const gap = await eventually(async () => manager.lines().find((l) => /could not watch heartbeats/.test(l.msg)), 10_000, 'the manager to see its own gap');
      expect(gap.gapMs).toBeGreaterThanOrEqual(190_000);
      // The monitor still works: a host silent from now on is declared failed a timeout later, and only its VMs move.
      const victims = await vmsOn(ds, 'cloud-hv2');
      agents.host.silence('cloud-hv2');
      await eventually(async () => (await haDecisions(ds!)).failed.length > 0, 15_000, 'cloud-hv2 declared failed');
      await eventually(async () => (await haDecisions(ds!)).restarted.length >= victims.length, 15_000, 'its VMs restarted');
      expect(await haDecisions(ds)).toEqual({ failed: ['cloud-hv2'], restarted: victims });
    } finally {
      manager.child.kill('SIGCONT');
      manager.child.kill('SIGTERM');
      await manager.exited;
      await agents?.stop();
      await ds?.destroy();
      await cleanup(config);
    }
  }, 100_000);

  it('the manager cut off from NATS for 5 s, 3.3 times the failure timeout: no host declared failed; a host silent afterwards is', async () => {
    const config = testConfig(HA);
    const { logger, lines } = capturingLogger('debug');
    const link = await CuttableLink.toNats(config.natsUrl).start();
    let manager: MobilityManager | undefined;
    let agents: RunningAgents | undefined;
    try {
      // Only the manager goes through the link: the agents keep heartbeating on NATS meanwhile.
      manager = await startMobilityManager({ ...config, natsUrl: link.url }, logger);
      agents = await startAgents(config, capturingLogger().logger);
      await eventually(watchingAll(lines), 10_000, 'the manager to watch every host');

      link.cut();
      await eventually(async () => lines().some((l) => /cut off from NATS: no host is judged/.test(l.msg)), 5000, 'the manager to see the cut');
      await new Promise((r) => setTimeout(r, 5000)); // the outage itself: 50 s simulated
      link.restore();

      const gap = await eventually(async () => lines().find((l) => /could not watch heartbeats/.test(l.msg)), 15_000, 'the manager to watch again');
      expect(gap.gapMs).toBeGreaterThanOrEqual(45_000);
      const victims = await vmsOn(manager.dataSource, 'cloud-hv2');
      agents.host.silence('cloud-hv2');
      await eventually(async () => (await haDecisions(manager!.dataSource)).failed.length > 0, 15_000, 'cloud-hv2 declared failed');
      await eventually(async () => (await haDecisions(manager!.dataSource)).restarted.length >= victims.length, 15_000, 'its VMs restarted');
      expect(await haDecisions(manager.dataSource)).toEqual({ failed: ['cloud-hv2'], restarted: victims });
    } finally {
      link.restore(); // a manager still cut off could not drain its connection and would retry it for ever
      await agents?.stop();
      await manager?.stop();
      await link.close();
      await cleanup(config);
    }
  }, 90_000);
});
