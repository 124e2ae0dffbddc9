import { Client } from 'pg';
import { connect } from 'nats';
import { subjects, type RequestEndpoint } from '@locus/contracts';
import { openStore } from '@locus/eventstore';
import { requestJson } from './support/request';
import { startMobilityManager, type MobilityManager } from '../apps/mobility-manager/src/start-mobility-manager';
import { prepareAgents } from '../apps/hypervisor-agent/src/start-agents';
import { capturingLogger, cleanup, eventually, testConfig, waitForMove } from './support/harness';
import { asOwner } from './support/store';

/**
 * Ready means ready: nothing answers for a VM before the manager has placed it, no agent acts
 * before its inventory is loaded, and a move sent during start-up waits instead of failing.
 * Each stage is held on purpose (a row lock, an agent not loaded yet) and awaited, never slept on.
 */

const isNoResponders = (err: unknown) => /503|no responders/i.test((err as Error).message);

describe('start-up: ready means ready', () => {
  it('while the manager is still placing the topology, vm.get, vm.move, vm.list and move.plan answer UNAVAILABLE (never UNKNOWN_VM) and write nothing', async () => {
    const config = testConfig();
    const s = subjects(config.subjectPrefix);
    // Migrated beforehand, so that a transaction can hold web-01's stream row: the placement waits on it.
    await (await openStore(config.databaseUrl)).destroy();
    const blocker = new Client({ connectionString: config.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`INSERT INTO streams (stream_id, version) VALUES ('vm:web-01', 1)`);
    const starting = startMobilityManager(config, capturingLogger().logger);
    starting.catch(() => undefined); // awaited below
    const client = await connect({ servers: config.natsUrl });
    let manager: MobilityManager | undefined;
    try {
      await asOwner(config, (owner) =>
        eventually(
          async () => (await owner.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0].n > 0,
          15_000,
          'the placement to wait on the row lock',
        ),
      );
      const req = (endpoint: RequestEndpoint, body: unknown) => requestJson(client, s.request(endpoint), body, 5000);
      // The endpoints serve already (answers, not "no responders"), but only to say the manager is not ready.
      const get = await eventually(() => req('vm.get', { vm: 'web-01' }).catch((err) => (isNoResponders(err) ? undefined : Promise.reject(err))), 15_000, 'an answer to vm.get');
      expect(get).toEqual({ ok: false, error: { code: 'UNAVAILABLE', message: expect.stringMatching(/mobility manager is starting: placing the topology's \d+ VMs; retry shortly/) } });
      expect(await req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(await req('vm.list', {})).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(await req('move.plan', { vm: 'web-02', to: 'dc2-hv1', mode: 'cold' })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      // A malformed request is still told what is wrong with it.
      expect(await req('vm.move', { vm: 'web-01' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
      await asOwner(config, async (owner) => expect((await owner.query(`SELECT count(*)::int AS n FROM events`))[0].n).toBe(0));

      await blocker.query('ROLLBACK');
      manager = await starting;
      // Ready with every connection of its pool open: its first burst of work starts no database backend.
      await asOwner(config, async (owner) =>
        expect((await owner.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND usename = $1`, [config.databaseServiceUser]))[0].n).toBeGreaterThanOrEqual(
          config.pgPoolSize,
        ),
      );
      expect(await req('vm.get', { vm: 'web-01' })).toMatchObject({ ok: true, vm: { name: 'web-01', hypervisor: 'dc1-hv1', locationVersion: 1 } });
      const accepted = await req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
      expect(accepted).toMatchObject({ ok: true, moveId: expect.any(String) });
    } finally {
      await blocker.end().catch(() => undefined);
      await client.close();
      await (manager ?? (await starting.catch(() => undefined)))?.stop();
      await cleanup(config);
    }
  });

  it('a move accepted before the agents are up waits: retried while no agent answers and while they load their inventory, then completes; never AGENT_FAILED', async () => {
    const config = testConfig();
    const s = subjects(config.subjectPrefix);
    const { logger, lines } = capturingLogger();
    const manager = await startMobilityManager(config, logger);
    const client = await connect({ servers: config.natsUrl });
    const req = (endpoint: RequestEndpoint, body: unknown) => requestJson(client, s.request(endpoint), body, 5000);
    // The saga's line for a step asked again past its expected duration, with the last answer (or its absence).
    const retried = (hypervisor: string, err: RegExp) => lines().some((l) => /has not answered stop/.test(l.msg) && l.hypervisor === hypervisor && err.test(l.err));
    let agents: Awaited<ReturnType<typeof prepareAgents>> | undefined;
    try {
      const accepted = await req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
      expect(accepted).toMatchObject({ ok: true });
      // No agent process yet: the stop finds no responder and is asked again.
      await eventually(async () => retried('dc1-hv1', /^(?!UNAVAILABLE)/), 15_000, 'the stop retried without responders');

      // The agents serve their subjects, but have not loaded their inventory: they answer UNAVAILABLE, not "web-01 is not on dc1-hv1".
      agents = await prepareAgents(config, capturingLogger().logger);
      await agents.host.serve();
      expect(await requestJson(client, s.agent('dc1-hv1', 'inventory'), {})).toEqual({
        ok: false,
        error: { code: 'UNAVAILABLE', message: expect.stringMatching(/dc1-hv1 is starting: its inventory is not loaded/) },
      });
      await eventually(async () => retried('dc1-hv1', /^UNAVAILABLE dc1-hv1 is starting/), 15_000, 'the stop retried while the agent loads');
      expect(agents.host.agent('dc1-hv1')!.stepsDone.size).toBe(0);
      expect((await req('move.get', { moveId: accepted.moveId })).move.state).toBe('in-progress');

      await agents.host.loadInventory();
      const move = await waitForMove(req, accepted.moveId, ['completed'], 30_000);
      expect(move.state).toMatch(/^(completed|converged)$/);
      expect(move.timeline.map((t: { event: string }) => t.event)).not.toContain('MoveFailed');
      expect(move.error).toBeUndefined();
      expect((await req('vm.get', { vm: 'web-01' })).vm).toMatchObject({ hypervisor: 'dc2-hv1', locationVersion: 2, state: 'running' });
      expect(agents.host.agent('dc2-hv1')!.inventory.vms.get('web-01')?.state).toBe('running');
      expect(agents.host.agent('dc1-hv1')!.inventory.vms.has('web-01')).toBe(false);
      expect(lines().some((l) => /AGENT_FAILED|is not on/.test(`${l.msg} ${l.reason ?? ''} ${l.code ?? ''}`))).toBe(false);
    } finally {
      await agents?.host.stop();
      await agents?.nc.drain().catch(() => undefined);
      await client.close();
      await manager.stop();
      await cleanup(config);
    }
  });
});
