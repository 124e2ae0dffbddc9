import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamManager, NatsConnection } from 'nats';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { subjects, type RecordedEvent } from '@locus/contracts';
import { dropDatabase, openStore, OutboxRelay, VersionConflictError, type OutboxRelayOptions, type PgEventStore, type Projector } from '@locus/eventstore';
import { connectNats, deleteStreamIfExists, ensureEventStream, JetStreamOutboxPublisher } from '@locus/messaging';
import type { LocusConfig } from '@locus/platform';
import { OUTBOX_CHANNEL } from '../apps/mobility-manager/src/start-mobility-manager';
import { capturingLogger, eventually, readStream, testConfig, uniqueId } from './support/harness';
import { appendMany, bareStore, eventIds, freePort, GateProjector, NatsServerProcess, outboxCount, publishedHeaders, spawnRelay, streamMessages, testEvent, type RelayChild } from './support/outbox';

/**
 * The outbox's promise against the real Postgres and NATS: what commits is published exactly
 * once (Nats-Msg-Id = event id), whatever dies in between; what does not commit never is.
 */
describe('outbox relay', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn);
  let privateNats: NatsServerProcess | undefined;
  let natsDir: string | undefined;

  beforeAll(() => {
    // Tests (b) and (e) run the relay as its own process from dist/. `npm test` has just built it;
    // a lone `npx jest` run builds it first.
    if (!existsSync(join(__dirname, '..', 'dist', 'tools', 'run-outbox-relay.js'))) execFileSync('npm', ['run', '-s', 'build'], { cwd: join(__dirname, '..'), stdio: 'pipe' });
  });

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err) => console.warn(`cleanup failed: ${(err as Error).message}`));
  });

  afterAll(async () => {
    await privateNats?.kill();
    if (natsDir) rmSync(natsDir, { recursive: true, force: true });
  });

  interface Ctx {
    config: LocusConfig;
    ds: DataSource;
    nc: NatsConnection;
    jsm: JetStreamManager;
    store: PgEventStore;
    logs: () => any[];
    startRelay(options?: Partial<OutboxRelayOptions>, publishTimeoutMs?: number): Promise<OutboxRelay>;
  }

  /** A database, a stream and a NATS connection of the test's own, all removed in afterEach. */
  async function setup(overrides: Partial<LocusConfig> = {}, projectors: Projector[] = [], deleteStream = true): Promise<Ctx> {
    const config = testConfig(overrides);
    const { logger, lines } = capturingLogger();
    onCleanup(() => dropDatabase(config.databaseUrl));
    const ds = await openStore(config.databaseUrl, 12);
    onCleanup(() => ds.destroy());
    const nc = await connectNats(config.natsUrl, 'outbox-relay-test', logger);
    onCleanup(() => nc.close());
    const jsm = await nc.jetstreamManager();
    await ensureEventStream(jsm, config.streamName, subjects(config.subjectPrefix).eventsWildcard);
    if (deleteStream) onCleanup(() => deleteStreamIfExists(jsm, config.streamName));
    return {
      config,
      ds,
      nc,
      jsm,
      store: bareStore(ds, config.subjectPrefix, projectors),
      logs: lines,
      async startRelay(options = {}, publishTimeoutMs = 5000) {
        const relay = new OutboxRelay(new JetStreamOutboxPublisher(nc.jetstream(), publishTimeoutMs), {
          databaseUrl: config.databaseUrl,
          notifyChannel: OUTBOX_CHANNEL,
          pollMs: 200,
          logger,
          ...options,
        });
        await relay.start();
        onCleanup(() => relay.stop());
        return relay;
      },
    };
  }

  /** Until the relay has seen the outbox empty and no committed row is left in it. */
  /** The relay publishes the test store's appends from memory (undone at cleanup), once it leads. */
  async function leadFromMemory(t: Ctx, relay: OutboxRelay): Promise<void> {
    const undo = relay.relayFromMemory(t.store);
    onCleanup(async () => undo());
    await eventually(async () => relay.leading, 10_000, 'the relay to lead');
  }

  async function drain(relay: OutboxRelay, ds: DataSource, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now()))));
      const result = await Promise.race([relay.drained(), timedOut]);
      clearTimeout(timer);
      if (result === 'timeout') throw new Error(`outbox not drained after ${timeoutMs} ms: ${await outboxCount(ds)} rows left, stats ${JSON.stringify(relay.stats)}`);
      if ((await outboxCount(ds)) === 0) return;
    }
  }

  function trackChild(relay: RelayChild) {
    onCleanup(async () => {
      if (relay.child.exitCode === null && relay.child.signalCode === null) {
        relay.child.kill('SIGKILL');
        await relay.exited;
      }
    });
  }

  /** The Postgres sessions of a child started with PGAPPNAME=appName. */
  async function sessionsOf(ds: DataSource, appName: string): Promise<number> {
    return Number((await ds.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [appName]))[0].n);
  }

  /** A session LISTENing on the relay's channel, recording what it hears. */
  async function listen(databaseUrl: string): Promise<{ received: string[]; stop(): Promise<void> }> {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    const received: string[] = [];
    client.on('notification', (n) => received.push(n.payload ?? ''));
    await client.query(`LISTEN "${OUTBOX_CHANNEL}"`);
    return { received, stop: () => client.end() };
  }

  function expectExactlyOnce(published: { msgId: string }[], ids: string[]) {
    const msgIds = published.map((m) => m.msgId);
    const idSet = new Set(ids);
    const msgIdSet = new Set(msgIds);
    expect(msgIds.length).toBe(ids.length);
    expect(msgIdSet.size).toBe(msgIds.length); // no duplicates in the stream
    expect(ids.filter((id) => !msgIdSet.has(id))).toEqual([]); // nothing committed is missing
    expect(msgIds.filter((id) => !idSet.has(id))).toEqual([]); // nothing uncommitted is there
  }

  it('nothing uncommitted is published: a version conflict and a rolled-back append leave no event, no outbox row, no message', async () => {
    // Fails the append for stream vm:doomed after its events and outbox rows are written, inside the transaction.
    const seenInside: { events: number; outbox: number }[] = [];
    const failing: Projector = {
      name: 'fails-for-doomed',
      async apply(events: RecordedEvent[], tx) {
        if (events[0].streamId !== 'vm:doomed') return;
        const positions = events.map((e) => e.position);
        const [ev] = await tx.query(`SELECT count(*)::int AS n FROM events WHERE position = ANY($1::bigint[])`, [positions]);
        const [ob] = await tx.query(`SELECT count(*)::int AS n FROM outbox WHERE position = ANY($1::bigint[])`, [positions]);
        seenInside.push({ events: ev.n, outbox: ob.n });
        throw new Error('projection refused the events');
      },
    };
    const t = await setup({}, [failing]);
    const relay = await t.startRelay();

    const first = await t.store.append('vm:a', 0, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
    // Stale expected version: the stream is at 2.
    await expect(t.store.append('vm:a', 1, [testEvent({ n: 'stale' })])).rejects.toBeInstanceOf(VersionConflictError);
    await expect(t.store.append('vm:a', 0, [testEvent({ n: 'stale-new' })])).rejects.toBeInstanceOf(VersionConflictError);
    // Rolled back after its rows were written: the projector saw them inside the transaction.
    await expect(t.store.append('vm:doomed', 0, [testEvent({ n: 'doomed' }), testEvent({ n: 'doomed' }), testEvent({ n: 'doomed' })])).rejects.toThrow('projection refused the events');
    expect(seenInside).toEqual([{ events: 3, outbox: 3 }]);
    // The stream is still at 2, and the relay goes on past the hole the rollback left in the positions.
    const last = await t.store.append('vm:a', 2, [testEvent({ n: 3 })]);
    expect(Number(last[0].position)).toBeGreaterThan(Number(first[1].position) + 1);

    await drain(relay, t.ds);
    const committed = [...first, ...last];
    expect(await eventIds(t.ds)).toEqual(committed.map((e) => e.id));
    expect(await outboxCount(t.ds)).toBe(0);
    expect(await t.ds.query(`SELECT stream_id, version FROM streams`)).toEqual([{ stream_id: 'vm:a', version: 3 }]);

    const published = await readStream(t.nc, t.config.streamName);
    expectExactlyOnce(
      published as { msgId: string }[],
      committed.map((e) => e.id),
    );
    expect(published.map((m) => m.event.data.n)).toEqual([1, 2, 3]);
    expect(published.map((m) => m.subject)).toEqual(Array(3).fill(`${t.config.subjectPrefix}.evt.vm.a.loc.VmPlaced`));
    expect(relay.stats).toMatchObject({ published: 3, duplicates: 0, failures: 0 });
  });

  it('relay killed mid-batch (SIGKILL) publishes everything exactly once after restart', async () => {
    const t = await setup();
    let started = Date.now();
    const appended = await appendMany(t.store, 'bulk', 400, 50, 10);
    const total = appended.length;
    expect(total).toBe(20_000);
    const appendMs = Date.now() - started;

    started = Date.now();
    const appName = `locus-relay-${uniqueId()}`;
    const child = spawnRelay(t.config, { LOCUS_RELAY_BATCH: '200', PGAPPNAME: appName });
    trackChild(child);
    // Kill it once it is well into the work, preferably when a batch is visibly half published
    // (a count that is not a multiple of the batch size); past half way, at any moment.
    const seenBeforeKill = await eventually(
      async () => {
        if (child.child.exitCode !== null) throw new Error(`relay child exited early (${child.child.exitCode}):\n${child.output()}`);
        const n = await streamMessages(t.jsm, t.config.streamName);
        return n >= total / 10 && (n % 200 !== 0 || n >= total / 2) ? n : undefined;
      },
      20_000,
      'the child relay to publish a tenth of the events',
    );
    child.child.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const killMs = Date.now() - started;

    // Once its Postgres sessions are gone, an open batch was rolled back and the leader lock released;
    // once the stream's count stops moving, the broker has stored all it will ever get from it.
    await eventually(async () => (await sessionsOf(t.ds, appName)) === 0, 10_000, "the killed relay's Postgres sessions to end");
    let publishedAtKill = -1;
    await eventually(
      async () => {
        const before = publishedAtKill;
        await new Promise((r) => setTimeout(r, 200));
        publishedAtKill = await streamMessages(t.jsm, t.config.streamName);
        return publishedAtKill === before;
      },
      10_000,
      'the stream to stop growing',
    );
    const leftInOutbox = await outboxCount(t.ds);
    expect(publishedAtKill).toBeGreaterThanOrEqual(seenBeforeKill);
    expect(publishedAtKill).toBeLessThan(total);
    expect(leftInOutbox).toBeGreaterThan(0);
    // Published by the killed relay but still in the outbox: the batch it died in.
    const inFlight = publishedAtKill + leftInOutbox - total;
    expect(inFlight).toBeGreaterThanOrEqual(0);

    started = Date.now();
    const relay = await t.startRelay({ batchSize: 500 });
    await drain(relay, t.ds, 30_000);
    const drainMs = Date.now() - started;
    console.log(
      `SIGKILL test: appended ${total} events in ${appendMs} ms; child relay killed after ${killMs} ms with ${publishedAtKill} published, ` +
        `${leftInOutbox} left in the outbox, ${inFlight} published but not yet deleted (the batch in flight); ` +
        `the restarted relay drained in ${drainMs} ms: ${JSON.stringify(relay.stats)}`,
    );
    expect(relay.stats.published).toBe(leftInOutbox);
    expect(relay.stats.duplicates).toBe(inFlight);

    const ids = await eventIds(t.ds);
    expect(ids).toHaveLength(total);
    expect(await streamMessages(t.jsm, t.config.streamName)).toBe(total);
    const published = await publishedHeaders(t.nc, t.config.streamName);
    expectExactlyOnce(published, ids);
    // Everything was committed before either relay ran, so the stream is in position order too.
    const outOfOrder = published.filter((m, i) => i > 0 && Number(m.position) <= Number(published[i - 1].position));
    expect(outOfOrder).toEqual([]);
  }, 60_000);

  it('after a NATS outage, everything committed is published once NATS is back', async () => {
    natsDir = mkdtempSync(join(tmpdir(), 'locus-nats-'));
    privateNats = new NatsServerProcess(await freePort(), natsDir);
    await privateNats.start();
    const nats = privateNats;
    // The stream lives in the private server's store directory, removed in afterAll.
    const t = await setup({ natsUrl: nats.url }, [], false);
    const relay = await t.startRelay({ maxBackoffMs: 400 }, 1000);

    const before = await appendMany(t.store, 'before', 10, 5);
    await eventually(async () => (await streamMessages(t.jsm, t.config.streamName)) === before.length, 10_000, 'the first events to be published');
    // ... and their rows deleted: a delete still pending when NATS goes would leave them beside the outage's
    await eventually(async () => (await outboxCount(t.ds)) === 0, 10_000, 'the published rows to leave the outbox');

    await nats.kill();
    const during = await appendMany(t.store, 'outage', 20, 5);
    await eventually(async () => relay.stats.failures > 0, 15_000, 'the relay to report a failed batch');
    expect(await outboxCount(t.ds)).toBe(during.length);
    expect(t.logs().some((l) => /outbox relay failed/.test(l.msg))).toBe(true);

    const outageStarted = Date.now();
    await nats.start();
    await drain(relay, t.ds, 30_000);
    console.log(`NATS outage test: ${during.length} events committed while NATS was down, published ${Date.now() - outageStarted} ms after restart; relay stats ${JSON.stringify(relay.stats)}`);

    const ids = await eventIds(t.ds);
    expect(ids).toHaveLength(before.length + during.length);
    const published = await publishedHeaders(t.nc, t.config.streamName);
    expectExactlyOnce(published, ids);
  });

  it('publishing from memory during a NATS outage: what failed goes by scan once NATS is back, every event once, each stream in order', async () => {
    natsDir ??= mkdtempSync(join(tmpdir(), 'locus-nats-'));
    privateNats ??= new NatsServerProcess(await freePort(), natsDir);
    if (!privateNats.running) await privateNats.start();
    const nats = privateNats;
    const t = await setup({ natsUrl: nats.url }, [], false);
    const relay = await t.startRelay({ maxBackoffMs: 400 }, 1000);
    await leadFromMemory(t, relay);

    const before = await appendMany(t.store, 'mem-before', 10, 5);
    await eventually(async () => (await streamMessages(t.jsm, t.config.streamName)) >= before.length, 10_000, 'the first events to be published');
    expect(relay.stats.fromMemory).toBeGreaterThan(0);

    await nats.kill();
    const during = await appendMany(t.store, 'mem-outage', 20, 5);
    await eventually(async () => relay.stats.failures > 0, 15_000, 'a publish from memory to fail');
    await nats.start();
    await drain(relay, t.ds, 30_000);

    const ids = await eventIds(t.ds);
    expect(ids).toHaveLength(before.length + during.length);
    const published = await publishedHeaders(t.nc, t.config.streamName);
    expectExactlyOnce(published, ids);
    // Each stream's events stored in version (= position) order.
    const byVm = new Map<string, number[]>();
    for (const m of [...published].sort((a, b) => a.seq - b.seq)) {
      const vm = /\.evt\.vm\.([^.]+)\./.exec(m.subject)![1];
      byVm.set(vm, [...(byVm.get(vm) ?? []), Number(m.position)]);
    }
    for (const positions of byVm.values()) expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('rows that commit out of position order are not skipped', async () => {
    const gate = new GateProjector();
    const t = await setup({}, [gate]);
    const relay = await t.startRelay();

    // T1 takes the lower position and stays open inside its projector.
    const held = gate.hold();
    const t1 = t.store.append('vm:early', 0, [testEvent({ n: 'early' })]);
    const [early] = await held.entered;
    // T2 takes a higher position and commits; the relay publishes it.
    const [late] = await t.store.append('vm:late', 0, [testEvent({ n: 'late' })]);
    expect(Number(late.position)).toBeGreaterThan(Number(early.position));
    await drain(relay, t.ds);
    let published = await readStream(t.nc, t.config.streamName);
    expect(published.map((m) => m.msgId)).toEqual([late.id]);

    // T1 commits after the relay has gone past its position: it is published all the same.
    held.release();
    await t1;
    await eventually(async () => (await streamMessages(t.jsm, t.config.streamName)) === 2, 10_000, 'the early event to be published');
    await drain(relay, t.ds);
    published = await readStream(t.nc, t.config.streamName);
    expect(published.map((m) => m.msgId)).toEqual([late.id, early.id]);
    expect(published.map((m) => m.event.position)).toEqual([late.position, early.position]);
    expect(relay.stats).toMatchObject({ published: 2, duplicates: 0 });
  });

  it("the leader publishes its own store's appends from memory: no NOTIFY, no read, every event once and each stream in version order", async () => {
    const t = await setup();
    const relay = await t.startRelay({ pollMs: 60_000 });
    await leadFromMemory(t, relay);
    await drain(relay, t.ds); // the scan that leadership begins with
    const notifications = await listen(t.config.databaseUrl);
    onCleanup(() => notifications.stop());
    const scansBefore = relay.stats.scans;

    // 40 streams of 5 events appended one at a time (each append after the previous one of its stream).
    const appended: RecordedEvent[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        for (let v = 0; v < 5; v++) appended.push(...(await t.store.append(`vm:mem-${i}`, v, [testEvent({ i, v })])));
      }),
    );
    await eventually(async () => (await streamMessages(t.jsm, t.config.streamName)) === appended.length, 10_000, 'every append published');
    expect(relay.stats.fromMemory).toBe(appended.length);
    expect(relay.stats.scans).toBe(scansBefore);
    expect(notifications.received).toEqual([]);
    const published = await readStream(t.nc, t.config.streamName);
    expectExactlyOnce(
      published.map((m) => ({ msgId: m.msgId! })),
      appended.map((e) => e.id),
    );
    for (let i = 0; i < 40; i++) expect(published.filter((m) => m.event.streamId === `vm:mem-${i}`).map((m) => m.event.streamVersion)).toEqual([1, 2, 3, 4, 5]);
    // The published rows are deleted (in batches, not per event).
    await eventually(async () => (await outboxCount(t.ds)) === 0, 10_000, 'the published rows deleted');
  });

  it("a stream another writer advanced goes by scan, behind the other writer's event: order per stream is kept", async () => {
    const t = await setup();
    const relay = await t.startRelay({ pollMs: 60_000 });
    await leadFromMemory(t, relay);
    const other = bareStore(t.ds, t.config.subjectPrefix); // another process's store: it notifies

    const [v1] = await t.store.append('vm:shared', 0, [testEvent({ v: 1 })]);
    const [v2] = await other.append('vm:shared', 1, [testEvent({ v: 2 })]);
    const [v3] = await t.store.append('vm:shared', 2, [testEvent({ v: 3 })]);
    await eventually(async () => (await streamMessages(t.jsm, t.config.streamName)) === 3, 10_000, 'the three events published');
    await drain(relay, t.ds);
    const published = await readStream(t.nc, t.config.streamName);
    expect(published.map((m) => m.msgId)).toEqual([v1.id, v2.id, v3.id]);
    // v1 from memory; v2 only by a scan (another writer's); v3 from memory only if the scan had published v2 by then.
    expect(relay.stats.fromMemory).toBeGreaterThanOrEqual(1);
    expect(relay.stats.fromMemory).toBeLessThanOrEqual(2);
    expect(relay.stats).toMatchObject({ published: 3, duplicates: 0 });
  });

  it('the standalone relay stops cleanly on SIGTERM and releases the leader lock', async () => {
    const t = await setup();
    const appName = `locus-relay-${uniqueId()}`;
    const child = spawnRelay(t.config, { PGAPPNAME: appName });
    trackChild(child);
    const appended = await appendMany(t.store, 'term', 5, 4);
    await eventually(async () => (await streamMessages(t.jsm, t.config.streamName)) === appended.length && (await outboxCount(t.ds)) === 0, 15_000, 'the child relay to publish');

    child.child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.output()).toContain('outbox relay stopped');
    expect(await sessionsOf(t.ds, appName)).toBe(0);
    const [lock] = await t.ds.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    expect(lock.n).toBe(0);
    expectExactlyOnce(await publishedHeaders(t.nc, t.config.streamName), await eventIds(t.ds));
  });
});
