import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { subjects } from '@locus/contracts';
import { openStore } from '@locus/eventstore';
import { requestJson } from './support/request';
import { startAgents, type RunningAgents } from '../apps/hypervisor-agent/src/start-agents';
import { capturingLogger, cleanup, eventually, reachedAny, startTestLab, testConfig, type TestLab } from './support/harness';
import { ensureBuilt, freePort, NatsServerProcess, spawnService, type ServiceChild } from './support/processes';

const TERMINAL = ['completed', 'failed', 'cancelled'];
const MANAGER = 'dist/apps/mobility-manager/src/main.js';

/** The agents that hold the VM running: it must be exactly one. */
function runningOn(agents: RunningAgents, vm: string): string[] {
  return agents.host.agents.filter((a) => a.inventory.vms.get(vm)?.state === 'running').map((a) => a.name);
}

describe('agent steps are idempotent: asking again is safe', () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = await startTestLab({ timeScale: 100 });
  });
  afterAll(async () => {
    await lab.stop();
  });
  const ask = (host: string, step: string, body: object) => requestJson(lab.client, subjects(lab.config.subjectPrefix).agent(host, step as any), body, 5000);

  it('a stop asked three times at once and once more later shuts the guest down once, and every answer is the same', async () => {
    const agent = lab.agents.host.agent('dc1-hv1')!;
    const before = agent.stepsDone.get('stop') ?? 0;
    const req = { moveId: randomUUID(), vm: 'web-05', locationVersion: 1, durationMs: 8000 };
    const replies = await Promise.all([ask('dc1-hv1', 'stop', req), ask('dc1-hv1', 'stop', req), ask('dc1-hv1', 'stop', req)]);
    const later = await ask('dc1-hv1', 'stop', req);
    expect(agent.stepsDone.get('stop')).toBe(before + 1);
    for (const r of [...replies, later]) expect(r).toMatchObject({ ok: true, vm: 'web-05', durationMs: 8000 });
    expect([...replies, later].filter((r) => r.replayed)).toHaveLength(3);
    expect(agent.inventory.vms.get('web-05')?.state).toBe('stopped');
    // Its restart, asked twice, boots once.
    const restart = { moveId: req.moveId, vm: 'web-05', locationVersion: 1 };
    const boots = agent.stepsDone.get('start') ?? 0;
    await Promise.all([ask('dc1-hv1', 'start', restart), ask('dc1-hv1', 'start', restart)]);
    expect(agent.stepsDone.get('start')).toBe(boots + 1);
    expect(agent.inventory.vms.get('web-05')?.state).toBe('running');
  });

  it('pre-copy rounds with the same size are different steps; a round asked again is the same step', async () => {
    const agent = lab.agents.host.agent('dc1-hv1')!;
    const before = agent.stepsDone.get('precopy-round') ?? 0;
    const base = { moveId: randomUUID(), vm: 'jump-01', locationVersion: 1, bytes: 1e8, bandwidthBps: 1.25e9, dirtyRateBps: 1e6 };
    const r0 = await ask('dc1-hv1', 'precopy-round', { ...base, round: 0 });
    const r1 = await ask('dc1-hv1', 'precopy-round', { ...base, round: 1 });
    const r1again = await ask('dc1-hv1', 'precopy-round', { ...base, round: 1 });
    expect([r0.replayed, r1.replayed, r1again.replayed]).toEqual([false, false, true]);
    expect(agent.stepsDone.get('precopy-round')).toBe(before + 2);
  });
});

describe('recovery within seconds', () => {
  let nats: NatsServerProcess;
  let natsDir: string;
  beforeAll(async () => {
    natsDir = mkdtempSync(join(tmpdir(), 'locus-recovery-nats-'));
    nats = new NatsServerProcess(await freePort(), natsDir);
    await nats.start();
  });
  afterAll(async () => {
    await nats.kill();
    rmSync(natsDir, { recursive: true, force: true });
  });

  it('after a 5 s NATS outage (nats-server killed and restarted), every in-flight move completes within 15 s and no host is declared failed', async () => {
    // Simulated 30 s failure timeout: a 5 s outage at scale 10 is 50 s of silence.
    const lab = await startTestLab({ natsUrl: nats.url, timeScale: 10, haEnabled: true, heartbeatMs: 1000, hostTimeoutMs: 30_000 });
    try {
      const moves = [
        { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' },
        { vm: 'web-02', to: 'dc2-hv2', mode: 'cold' },
        { vm: 'app-01', to: 'dc1-hv2', mode: 'warm' },
        { vm: 'cache-01', to: 'dc2-hv2', mode: 'hot' },
      ];
      const accepted = [];
      for (const m of moves) accepted.push({ ...m, moveId: (await lab.req('vm.move', m)).moveId as string });
      for (const m of accepted) await lab.waitForMove(m.moveId, ['in-progress'], 10_000);

      await nats.kill();
      await new Promise((r) => setTimeout(r, 5000)); // the outage itself
      await nats.start();
      const recovered = Date.now();

      // A request in flight across the outage is lost with it: a new client, short timeouts, asked again.
      const client = await connect({ servers: nats.url });
      const ask = (endpoint: 'move.get' | 'vm.get', body: object) => requestJson(client, subjects(lab.config.subjectPrefix).request(endpoint), body, 1000).catch(() => undefined);
      try {
        for (const m of accepted) {
          const move = await eventually(
            async () => {
              const reply = await ask('move.get', { moveId: m.moveId });
              return reply?.ok && reachedAny(reply.move.state, TERMINAL) ? reply.move : undefined;
            },
            Math.max(1, recovered + 15_000 - Date.now()),
            `${m.vm} to finish within 15 s of the recovery`,
          );
          expect({ vm: m.vm, state: move.state }).toEqual({ vm: m.vm, state: 'completed' });
          expect((await ask('vm.get', { vm: m.vm }))?.vm).toMatchObject({ hypervisor: m.to, state: 'running' });
          expect(runningOn(lab.agents, m.vm)).toEqual([m.to]);
        }
      } finally {
        await client.close();
      }
      const declared = await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM events WHERE type = 'HostDeclaredFailed'`);
      expect(declared[0].n).toBe(0);
      // The manager saw its own outage and waited for the hosts instead of failing them.
      expect(lab.logs().some((l) => /could not watch heartbeats/.test(l.msg))).toBe(true);
    } finally {
      await lab.stop();
    }
  }, 90_000);

  it('after a kill -9 of the mobility manager mid-move, the next manager finishes the move within seconds of its start', async () => {
    ensureBuilt(MANAGER);
    const config = testConfig({ natsUrl: nats.url, timeScale: 10 });
    const env = { LOCUS_TIME_SCALE: '10', LOCUS_HA: 'false', LOCUS_CONVERGENCE: 'false', LOCUS_DRIFT_INTERVAL_MS: '0' };
    const ready = (m: ServiceChild) => eventually(async () => m.lines().some((l) => /^mobility manager ready/.test(l.msg)), 30_000, `the manager to start:\n${m.output()}`);
    let manager = spawnService(MANAGER, config, env);
    let agents: RunningAgents | undefined;
    let client: NatsConnection | undefined;
    let ds: DataSource | undefined;
    try {
      await ready(manager);
      agents = await startAgents(config, capturingLogger().logger);
      client = await connect({ servers: config.natsUrl });
      ds = await openStore(config.databaseUrl, 2);
      const req = (endpoint: 'vm.move' | 'move.get', body: object) => requestJson(client!, subjects(config.subjectPrefix).request(endpoint), body, 10_000);
      const { moveId } = await req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
      // Killed while the stop (8 s simulated, 0.8 s here) runs: its event is taken and not acknowledged.
      await eventually(async () => (await req('move.get', { moveId })).move.state === 'in-progress', 10_000, 'the move to start');
      manager.child.kill('SIGKILL');
      await manager.exited;

      manager = spawnService(MANAGER, config, env);
      await ready(manager);
      const started = Date.now();
      const move = await eventually(
        async () => {
          const m = (await req('move.get', { moveId }).catch(() => undefined))?.move;
          return m && reachedAny(m.state, TERMINAL) ? m : undefined;
        },
        15_000,
        'the move to finish after the restart',
      );
      const tookMs = Date.now() - started;
      expect(move.state).toBe('completed');
      // What is left is a little more than the boot (2 s here) plus at most one ack wait (3 s).
      expect(tookMs).toBeLessThan(10_000);
      const types = (await ds.query(`SELECT type FROM events WHERE stream_id = 'vm:web-01' ORDER BY stream_version`)).map((r: { type: string }) => r.type);
      expect(types).toEqual(['VmPlaced', 'MoveAccepted', 'MoveStarted', 'VmStoppedAtSource', 'VmConfigTransferred', 'VmRelocated', 'VmStartedAtTarget', 'MoveCompleted']);
      expect(runningOn(agents, 'web-01')).toEqual(['dc2-hv1']);
    } finally {
      manager.child.kill('SIGTERM');
      await manager.exited;
      await client?.close();
      await agents?.stop();
      await ds?.destroy();
      await cleanup(config);
    }
  }, 90_000);
});
