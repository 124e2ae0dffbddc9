import { headers, RequestStrategy } from 'nats';
import { HEADERS, LocusError, subjects } from '@locus/contracts';
import { PgEventStore } from '@locus/eventstore';
import { VmCommandService } from '../apps/mobility-manager/src';
import { storeFor } from '../apps/mobility-manager/src/start-mobility-manager';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';

/** Every refusal answers a precise code and appends nothing; no input crashes the service. */
describe('commands: refusals, idempotency and bad input', () => {
  let lab: TestLab;
  beforeAll(async () => {
    // Time scale 20: a cold move of a web VM takes ~1.4 s, long enough to catch it in progress.
    lab = await startTestLab({ timeScale: 20 });
  });
  afterAll(async () => {
    await lab.stop();
  });

  async function expectRefusal(send: () => Promise<any>, code: string, messagePart?: RegExp) {
    const before = await lab.eventCount();
    const reply = await send();
    expect(reply).toMatchObject({ ok: false, error: { code } });
    expect(typeof reply.error.message).toBe('string');
    if (messagePart) expect(reply.error.message).toMatch(messagePart);
    expect(await lab.eventCount()).toBe(before);
    return reply;
  }

  it('BAD_REQUEST for malformed JSON', () => expectRefusal(() => lab.raw('vm.move', '{"vm": web-01'), 'BAD_REQUEST', /not JSON/));
  it('BAD_REQUEST naming the missing field', () => expectRefusal(() => lab.req('vm.move', { vm: 'web-02', mode: 'cold' }), 'BAD_REQUEST', /^to: required/));
  it('BAD_REQUEST naming the bad mode', () => expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv1', mode: 'teleport' }), 'BAD_REQUEST', /mode:/));
  it('BAD_REQUEST for unknown fields', () => expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv1', mode: 'cold', force: true }), 'BAD_REQUEST', /unknown field\(s\) force/));
  it('BAD_REQUEST naming requestId for a control character in it (a NUL the database would refuse), nothing written', () =>
    expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv1', mode: 'cold', requestId: 'rq\u0000x' }), 'BAD_REQUEST', /^requestId: no control characters/));
  it('BAD_REQUEST for a JSON array body', () => expectRefusal(() => lab.raw('vm.get', '[1,2]'), 'BAD_REQUEST'));
  it('TOO_LARGE over 64 KiB, before parsing', () => expectRefusal(() => lab.raw('vm.move', `{"vm":"${'a'.repeat(70_000)}"}`), 'TOO_LARGE'));
  it('UNKNOWN_VM', () => expectRefusal(() => lab.req('vm.move', { vm: 'no-such-vm', to: 'dc2-hv1', mode: 'cold' }), 'UNKNOWN_VM'));
  it('UNKNOWN_VM on vm.get', () => expectRefusal(() => lab.req('vm.get', { vm: 'no-such-vm' }), 'UNKNOWN_VM'));
  it('UNKNOWN_MOVE on move.get', () => expectRefusal(() => lab.req('move.get', { moveId: '00000000-0000-4000-8000-000000000000' }), 'UNKNOWN_MOVE'));
  it('UNKNOWN_TARGET', () => expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: 'dc9-hv9', mode: 'cold' }), 'UNKNOWN_TARGET'));
  it('SAME_LOCATION', async () => {
    const vm = (await lab.req('vm.get', { vm: 'web-02' })).vm;
    await expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: vm.hypervisor, mode: 'cold' }), 'SAME_LOCATION');
  });
  it('HOT_MOVE_NEEDS_L2_ADJACENCY: db-01 (dc1-local) hot to dc2', () =>
    expectRefusal(() => lab.req('vm.move', { vm: 'db-01', to: 'dc2-hv1', mode: 'hot' }), 'HOT_MOVE_NEEDS_L2_ADJACENCY', /cold or warm instead/));
  it('IP_NOT_REACHABLE_AT_TARGET: web-02 cold to colo (no host routes, no mapping)', () =>
    expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: 'colo-hv1', mode: 'cold' }), 'IP_NOT_REACHABLE_AT_TARGET'));
  it('FIRST_HOP_GATEWAY_MISSING: db-02 warm to dc2, which does not carry 10.11.0.1', () =>
    expectRefusal(() => lab.req('vm.move', { vm: 'db-02', to: 'dc2-hv1', mode: 'warm' }), 'FIRST_HOP_GATEWAY_MISSING', /10\.11\.0\.1/));
  it('BAD_REQUEST for an unknown move option', () =>
    expectRefusal(() => lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'hot', options: { turbo: true } }), 'BAD_REQUEST', /options: unknown field/));

  it('MOVE_IN_PROGRESS while the VM is moving, then the move completes', async () => {
    const first = await lab.req('vm.move', { vm: 'web-03', to: 'dc2-hv2', mode: 'cold' });
    expect(first.ok).toBe(true);
    // The first move appends its own steps meanwhile: count only what a second move would add.
    const accepts = async () => (await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM events WHERE stream_id = 'vm:web-03' AND type = 'MoveAccepted'`))[0].n;
    const reply = await lab.req('vm.move', { vm: 'web-03', to: 'dc1-hv2', mode: 'cold' });
    expect(reply).toMatchObject({ ok: false, error: { code: 'MOVE_IN_PROGRESS' } });
    expect(reply.error.message).toMatch(new RegExp(first.moveId));
    expect(await accepts()).toBe(1);
    const move = await lab.waitForMove(first.moveId);
    expect(move.state).toBe('completed');
  });

  it('the same requestId returns the same move and appends nothing', async () => {
    const body = { vm: 'web-04', to: 'dc2-hv1', mode: 'cold', requestId: 'rq-web-04-a' };
    const first = await lab.req('vm.move', body);
    expect(first.ok).toBe(true);
    const count = await lab.eventCount();
    const again = await lab.req('vm.move', body);
    expect(again).toMatchObject({ ok: true, moveId: first.moveId, duplicate: true });
    await lab.waitForMove(first.moveId);
    const afterCompletion = await lab.eventCount();
    const third = await lab.req('vm.move', body);
    expect(third).toMatchObject({ ok: true, moveId: first.moveId, duplicate: true });
    expect(await lab.eventCount()).toBe(afterCompletion);
    expect(count).toBeGreaterThan(0);
  });

  it("a placed VM's first move starts from the state its placement left in memory: its stream is not read", async () => {
    const { stats } = lab.manager.commands;
    const reads = stats.reads;
    const moved = await lab.req('vm.move', { vm: 'cache-01', to: 'dc2-hv2', mode: 'cold' });
    expect(moved.ok).toBe(true);
    expect((await lab.waitForMove(moved.moveId)).state).toMatch(/completed|converged/);
    expect(stats.reads).toBe(reads);
  });

  it("the saga's own steps come back from the stream behind the state in memory: acked on their headers, never decoded", async () => {
    const stats = lab.manager.saga.consumerStats()!;
    const skipped = stats.skipped;
    const moved = await lab.req('vm.move', { vm: 'jump-01', to: 'dc1-hv2', mode: 'cold' });
    expect(moved.ok).toBe(true);
    expect((await lab.waitForMove(moved.moveId)).state).toMatch(/completed|converged/);
    // MoveStarted, VmStoppedAtSource, VmConfigTransferred, VmRelocated and VmStartedAtTarget: recorded by the drive
    // MoveAccepted began; MoveCompleted (terminal: it runs the host's queue) is decoded as ever.
    await eventually(async () => stats.skipped >= skipped + 5, 10_000, 'the five steps acked undecoded');
  });

  it("a move's source, target and cause are columns generated from its view (what admission counts and sums by)", async () => {
    const moved = await lab.req('vm.move', { vm: 'app-02', to: 'dc1-hv1', mode: 'cold' });
    const rows = await lab.manager.dataSource.query(
      `SELECT from_hypervisor, to_hypervisor, cause, view->'from'->>'hypervisor' AS "viewFrom", view->'to'->>'hypervisor' AS "viewTo", view->>'cause' AS "viewCause" FROM moves WHERE move_id = $1`,
      [moved.moveId],
    );
    expect(rows).toEqual([{ from_hypervisor: 'dc1-hv2', to_hypervisor: 'dc1-hv1', cause: rows[0].viewCause, viewFrom: 'dc1-hv2', viewTo: 'dc1-hv1', viewCause: rows[0].viewCause }]);
    await lab.waitForMove(moved.moveId);
  });

  it('the same requestId sent ten times at once yields one move', async () => {
    const body = { vm: 'app-01', to: 'dc1-hv2', mode: 'cold', requestId: 'rq-app-01-burst' };
    const replies = await Promise.all(Array.from({ length: 10 }, () => lab.req('vm.move', body)));
    expect(replies.every((r) => r.ok)).toBe(true);
    expect(new Set(replies.map((r) => r.moveId)).size).toBe(1);
    const accepted = await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM events WHERE stream_id = 'vm:app-01' AND type = 'MoveAccepted'`);
    expect(accepted[0].n).toBe(1);
    await lab.waitForMove(replies[0].moveId);
  });

  it('a requestId reused for a different move is refused', () =>
    expectRefusal(() => lab.req('vm.move', { vm: 'web-05', to: 'dc2-hv1', mode: 'cold', requestId: 'rq-web-04-a' }), 'BAD_REQUEST', /already used/));

  it('VERSION_CONFLICT when the stream keeps changing under a command, with nothing appended', async () => {
    // A store that reports each stream one version behind: every append meets a real version conflict in Postgres.
    const real = storeFor(lab.manager.dataSource, lab.config.subjectPrefix);
    const stale = Object.create(real) as PgEventStore;
    stale.readStream = async (id: string) => {
      const r = await real.readStream(id);
      return { version: r.version - 1, events: r.events };
    };
    const commands = new VmCommandService(stale, capturingLogger().logger, () => new Date(), 3);
    const before = await lab.eventCount();
    const at = (await lab.req('vm.get', { vm: 'web-06' })).vm.hypervisor;
    const to = at === 'dc2-hv1' ? { hypervisor: 'dc1-hv1', site: 'dc1' } : { hypervisor: 'dc2-hv1', site: 'dc2' };
    const error = await commands
      .execute('web-06', { type: 'RequestMove', moveId: '7f3a0000-0000-4000-8000-0000000000aa', mode: 'cold', to }, { correlationId: 'x', component: 'test' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(LocusError);
    expect(error.code).toBe('VERSION_CONFLICT');
    expect(await lab.eventCount()).toBe(before);
  });

  it('a refusal or a no-op decided on a remembered state that is behind the store is decided again on what the store holds', async () => {
    // Two writers on one store: `behind` remembers web-05 idle; `ahead` then accepts a move of it.
    const store = storeFor(lab.manager.dataSource, lab.config.subjectPrefix);
    const behind = new VmCommandService(store, capturingLogger().logger);
    const ahead = new VmCommandService(store, capturingLogger().logger);
    const idle = await behind.load('web-05');
    expect(idle.state).toMatchObject({ status: 'placed' });
    expect(idle.state.status === 'placed' && idle.state.move).toBeFalsy();
    const at = (await lab.req('vm.get', { vm: 'web-05' })).vm.hypervisor;
    const to = at === 'dc2-hv1' ? { hypervisor: 'dc1-hv1', site: 'dc1' } : { hypervisor: 'dc2-hv1', site: 'dc2' };
    const moveId = '7f3a0000-0000-4000-8000-0000000000bb';
    await ahead.execute('web-05', { type: 'RequestMove', moveId, mode: 'cold', to }, { correlationId: moveId, component: 'test' });
    // On its remembered state there is no move to cancel (a no-op); the store says there is one.
    const { events } = await behind.execute('web-05', { type: 'CancelMove', moveId }, { correlationId: moveId, component: 'test' });
    expect(events.map((e) => e.type)).toEqual(['MoveCancelled']);
    await lab.waitForMove(moveId, ['cancelled']);
  });

  it('vm.list pages by name: limit 10 over the 29 VMs of the lab is 3 pages, no duplicate, no gap, no next on the last', async () => {
    const all = lab.manager.topology.topology.vms.map((v) => v.name).sort();
    expect(all).toHaveLength(29);
    const pages: any[] = [];
    let after: string | undefined;
    do {
      const page = await lab.req('vm.list', { limit: 10, ...(after ? { after } : {}) });
      expect(page.ok).toBe(true);
      pages.push(page);
      after = page.next;
    } while (after && pages.length < 10);
    expect(pages.map((p) => p.vms.length)).toEqual([10, 10, 9]);
    expect(pages.map((p) => p.next)).toEqual([pages[0].vms[9].name, pages[1].vms[9].name, undefined]);
    expect('next' in pages[2]).toBe(false);
    const names = pages.flatMap((p) => p.vms.map((v: any) => v.name));
    expect(new Set(names).size).toBe(29); // no duplicate
    expect([...names].sort()).toEqual(all); // no gap
    const unpaged = await lab.req('vm.list', {});
    expect(unpaged).toEqual({ ok: true, vms: expect.any(Array) }); // the default page holds every VM of this lab
    expect(names).toEqual(unpaged.vms.map((v: any) => v.name)); // in the database's order
    // the cursor is exclusive and combines with the filters
    const dc2 = (await lab.req('vm.list', { site: 'dc2' })).vms.map((v: any) => v.name);
    const rest = await lab.req('vm.list', { site: 'dc2', after: dc2[1], limit: 2 });
    expect(rest.vms.map((v: any) => v.name)).toEqual(dc2.slice(2, 4));
    expect(await lab.req('vm.list', { after: names[28] })).toEqual({ ok: true, vms: [] });
    expect(await lab.vms()).toEqual(unpaged.vms);
  });

  it('BAD_REQUEST for a vm.list limit out of 1..5000 or a bad cursor, nothing written', async () => {
    await expectRefusal(() => lab.req('vm.list', { limit: 0 }), 'BAD_REQUEST', /^limit:/);
    await expectRefusal(() => lab.req('vm.list', { limit: 6000 }), 'BAD_REQUEST', /^limit:/);
    await expectRefusal(() => lab.req('vm.list', { limit: 2.5 }), 'BAD_REQUEST', /^limit:/);
    await expectRefusal(() => lab.req('vm.list', { after: 'Not A Name' }), 'BAD_REQUEST', /^after:/);
  });

  it('a refusal keeps its JSON body and is answered with respondError: its status in the headers, counted by $SRV.STATS', async () => {
    const subject = subjects(lab.config.subjectPrefix).request('vm.get');
    const stats = async () => {
      // every manager on this NATS answers (other tests' too): this lab's is the one serving its prefix
      let mine: { num_errors: number; last_error?: string } | undefined;
      for await (const s of await lab.client.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 }).stats('locus-mobility-manager'))
        mine ??= s.endpoints?.find((e) => e.subject === subject);
      return mine;
    };
    const before = (await stats())?.num_errors ?? 0;
    const msg = await lab.client.request(subject, new TextEncoder().encode(JSON.stringify({ vm: 'no-such-vm' })), { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(msg.data))).toEqual({ ok: false, error: { code: 'UNKNOWN_VM', message: 'no VM named no-such-vm' } });
    expect(msg.headers?.get('Nats-Service-Error-Code')).toBe('404');
    expect(msg.headers?.get('Nats-Service-Error')).toBe('UNKNOWN_VM: no VM named no-such-vm');
    const after = await stats();
    expect(after).toMatchObject({ num_errors: before + 1, last_error: 'UNKNOWN_VM: no VM named no-such-vm' });
    // an answer is not an error
    const ok = await lab.client.request(subject, new TextEncoder().encode(JSON.stringify({ vm: 'web-01' })), { timeout: 5000 });
    expect(ok.headers?.get('Nats-Service-Error-Code') ?? null).toBeNull();
    expect((await stats())?.num_errors).toBe(before + 1);
  });

  it('a vm.move whose Locus-Deadline has passed is not executed: no reply, nothing appended, no move, counted', async () => {
    const expired = () => lab.manager.requestStats().get('vm.move')!.expired;
    const before = { events: await lab.eventCount(), expired: expired(), vm: (await lab.req('vm.get', { vm: 'api-01' })).vm };
    const h = headers();
    h.set(HEADERS.deadline, String(Date.now() - 1000));
    const body = new TextEncoder().encode(JSON.stringify({ vm: 'api-01', to: 'dc2-hv1', mode: 'cold' }));
    const subject = subjects(lab.config.subjectPrefix).request('vm.move');
    await expect(lab.client.request(subject, body, { timeout: 1000, headers: h })).rejects.toThrow(/timeout/i);
    await eventually(async () => expired() === before.expired + 1, 5000, 'the drop to be counted');
    expect(await lab.eventCount()).toBe(before.events);
    const moves = await lab.manager.dataSource.query(`SELECT count(*)::int AS n FROM moves WHERE vm = 'api-01'`);
    expect(moves[0].n).toBe(0);
    expect((await lab.req('vm.get', { vm: 'api-01' })).vm).toEqual(before.vm);
    expect(lab.manager.requestStats().get('vm.move')).toMatchObject({ limits: { maxConcurrent: 64, maxQueued: 128 }, running: 0, queued: 0 });
    expect(lab.manager.requestStats().get('vm.get')!.limits).toBeUndefined();
    // the same move within its deadline runs
    const accepted = await lab.req('vm.move', { vm: 'api-01', to: 'dc2-hv1', mode: 'cold' });
    expect(accepted.ok).toBe(true);
    expect((await lab.waitForMove(accepted.moveId)).state).toBe('completed');
  });

  it('survives garbage on every endpoint and still answers', async () => {
    const garbage = ['', 'null', '42', '"str"', '{"vm":null}', '{"vm":"UPPER"}', '{"vm":"a.b"}', '\u0000\u0001', '{"moveId":"x"}', '{"site":7}'];
    for (const endpoint of ['vm.move', 'vm.get', 'vm.list', 'move.get', 'topology.get'] as const)
      for (const g of garbage) {
        const reply = await lab.raw(endpoint, g);
        expect(typeof reply.ok).toBe('boolean');
        if (!reply.ok) expect(['BAD_REQUEST', 'UNKNOWN_VM', 'UNKNOWN_MOVE']).toContain(reply.error.code);
      }
    expect((await lab.req('vm.get', { vm: 'web-01' })).ok).toBe(true);
  });
});

describe('UNAVAILABLE', () => {
  it('answers UNAVAILABLE when the store cannot be reached, and nothing is appended', async () => {
    const lab = await startTestLab();
    try {
      await lab.manager.dataSource.destroy();
      const reply = await lab.req('vm.move', { vm: 'web-01', to: 'dc2-hv1', mode: 'cold' });
      expect(reply).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      const get = await lab.req('vm.get', { vm: 'web-01' });
      expect(get).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    } finally {
      await lab.manager.dataSource.initialize();
      await lab.stop();
    }
  });

  it('fails a move with UNAVAILABLE when the target agent never answers, and restarts the VM at the source', async () => {
    // No agent for cloud-hv2: the transfer request finds no responder.
    const lab = await startTestLab({ hypervisors: ['dc1-hv1', 'dc1-hv2', 'dc2-hv1', 'dc2-hv2', 'cloud-hv1'], agentGiveUpMs: 500 });
    try {
      const vm = (await lab.req('vm.list', { hypervisor: 'cloud-hv1' })).vms[0];
      const accepted = await lab.req('vm.move', { vm: vm.name, to: 'cloud-hv2', mode: 'cold' });
      expect(accepted.ok).toBe(true);
      const move = await lab.waitForMove(accepted.moveId, ['failed'], 30_000);
      expect(move.error.code).toBe('UNAVAILABLE');
      expect(move.error.message).toMatch(/cloud-hv2/);
      const after = await (async () => {
        for (let i = 0; i < 200; i++) {
          const r = await lab.req('vm.get', { vm: vm.name });
          if (r.vm.state === 'running') return r.vm;
          await new Promise((res) => setTimeout(res, 25));
        }
        throw new Error('VM never ran again at the source');
      })();
      expect(after).toMatchObject({ hypervisor: 'cloud-hv1', locationVersion: 1, state: 'running' });
      expect(lab.agents.host.agent('cloud-hv1')!.inventory.vms.get(vm.name)?.state).toBe('running');
      const types = (await lab.manager.dataSource.query(`SELECT type FROM events WHERE stream_id = $1 ORDER BY stream_version`, [`vm:${vm.name}`])).map((r: any) => r.type);
      expect(types).toEqual(['VmPlaced', 'MoveAccepted', 'MoveStarted', 'VmStoppedAtSource', 'MoveFailed', 'VmRestartedAtSource']);
    } finally {
      await lab.stop();
    }
  });
});
