import { connect, headers, type JetStreamManager, type NatsConnection } from 'nats';
import { HEADERS } from '@locus/contracts';
import { ACK, DurableConsumer } from '@locus/messaging';
import { capturingLogger, eventually, NATS_URL, testConfig } from './support/harness';

/**
 * A consumer with cumulative acks (AckPolicy.All) against the real JetStream: one ack covers many
 * messages, but never one still being handled or waiting to be redelivered — the server would
 * count it acked and never deliver it again. Nothing is lost, nothing handled is delivered again
 * after a restart, a consumer that starts with messages pending acks nothing, and a durable made
 * with the other ack policy is refused with what to do.
 */
describe('durable consumer with cumulative acks: exactly the unhandled messages come again', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const tag = testConfig().subjectPrefix.replace(/[^A-Za-z0-9]/g, '');
  const stream = `CUMACKS_${tag}`;
  const subject = (n: string) => `cumacks.${tag}.${n}`;
  const consumers: DurableConsumer<{ n: number }>[] = [];
  /** What each consumer logged. */
  const logsOf = new Map<DurableConsumer<{ n: number }>, () => any[]>();

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`cumacks.${tag}.>`] });
  });

  afterAll(async () => {
    for (const c of consumers) await c.stop().catch(() => undefined);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  /** Publishes messages numbered `from`..`to`, keyed over four streams (handled concurrently across keys, in order within one). */
  async function publish(from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) {
      const h = headers();
      h.set(HEADERS.stream, `key:${n % 4}`);
      await nc.jetstream().publish(subject(`m${n}`), JSON.stringify({ n }), { headers: h });
    }
  }

  function consumer(durable: string, acks: 'each' | 'cumulative', handle: (n: number, redelivered: boolean) => void, onMissedDelivery?: (detail: string) => void): DurableConsumer<{ n: number }> {
    const { logger, lines } = capturingLogger();
    const c = new DurableConsumer<{ n: number }>(nc.jetstream(), jsm, {
      stream,
      durable,
      filterSubject: `cumacks.${tag}.>`,
      logger,
      decode: (msg) => msg.json<{ n: number }>(),
      handle: async (event, msg) => {
        handle(event.n, msg.info.redelivered);
        return ACK;
      },
      acks,
      ...(onMissedDelivery ? { onMissedDelivery } : {}),
    });
    consumers.push(c);
    logsOf.set(c, lines);
    return c;
  }

  const info = (durable: string) => jsm.consumers.info(stream, durable);

  it('given a message that fails until told otherwise, when the rest are handled, then the ack floor waits below it, and passes once its redelivery succeeds', async () => {
    await jsm.streams.purge(stream);
    const first = (await jsm.streams.info(stream)).state.last_seq + 1;
    let failing = true;
    const seen = new Map<number, number>();
    const c = consumer('held-floor', 'cumulative', (n) => {
      seen.set(n, (seen.get(n) ?? 0) + 1);
      if (n === 5 && failing) throw new Error('not yet');
    });
    await c.start();
    await publish(1, 12);
    await eventually(async () => [...Array(12).keys()].every((i) => seen.has(i + 1)), 15_000, 'all twelve handled once');
    // Message 5 failed (its sequence is first + 4): the floor stays below it, whatever else is handled meanwhile.
    await eventually(async () => (await info('held-floor')).ack_floor.stream_seq === first + 3, 15_000, 'the ack floor just below the failed message');
    await eventually(async () => (seen.get(5) ?? 0) >= 2, 15_000, 'the failed message delivered again');
    expect((await info('held-floor')).ack_floor.stream_seq).toBe(first + 3);
    failing = false;
    await eventually(
      async () => {
        const i = await info('held-floor');
        return i.ack_floor.stream_seq === first + 11 && i.num_ack_pending === 0;
      },
      15_000,
      'the ack floor at the last message once the failed one is handled',
    );
    expect(c.cumulativeAcks).toBeGreaterThan(0);
    expect((await info('held-floor')).config.ack_policy).toBe('all');
  });

  it('given every message handled and the consumer stopped, when it starts again, then nothing handled comes again and the next message does', async () => {
    await jsm.streams.purge(stream);
    const handled: number[] = [];
    const c = consumer('restarts', 'cumulative', (n) => void handled.push(n));
    await c.start();
    await publish(1, 20);
    await eventually(async () => handled.length >= 20, 15_000, 'twenty handled');
    await c.stop(); // sends the last covering ack (the server applies acks asynchronously)
    await eventually(async () => (await info('restarts')).num_ack_pending === 0, 15_000, 'the last ack applied');

    const again: number[] = [];
    const c2 = consumer('restarts', 'cumulative', (n) => void again.push(n));
    await c2.start();
    await publish(21, 21);
    await eventually(async () => again.includes(21), 15_000, 'the message after the restart');
    expect(again).toEqual([21]);
  });

  it('given a message still failing when the consumer stops, when a consumer starts on the durable again, then it acks nothing (it cannot tell which are pending) and the failed message comes again', async () => {
    await jsm.streams.purge(stream);
    const first = (await jsm.streams.info(stream)).state.last_seq + 1;
    const seen: number[] = [];
    const c = consumer('pending-at-restart', 'cumulative', (n) => {
      seen.push(n);
      if (n === 2) throw new Error('not now');
    });
    await c.start();
    await publish(1, 3);
    await eventually(async () => seen.includes(1) && seen.includes(2) && seen.includes(3), 15_000, 'the three delivered once');
    await eventually(async () => (await info('pending-at-restart')).ack_floor.stream_seq === first, 15_000, 'the floor just below the failed message');
    await c.stop();

    const missed: string[] = [];
    const again: number[] = [];
    const c2 = consumer(
      'pending-at-restart',
      'cumulative',
      (n) => void again.push(n),
      (detail) => void missed.push(detail),
    );
    await c2.start();
    expect(missed).toHaveLength(1);
    expect(missed[0]).toMatch(/pending \(delivered, not acked\) when the consumer started/);
    await publish(4, 4);
    await eventually(async () => again.includes(2) && again.includes(4), 15_000, 'the failed message again, and the new one');
    await c2.stop();
    // It sent no ack: the floor is where the first consumer left it.
    expect((await info('pending-at-restart')).ack_floor.stream_seq).toBe(first);
    expect(c2.cumulativeAcks).toBe(0);
    // Its owner was told (and says so itself): the consumer logged no error of its own.
    expect(logsOf.get(c2)!().filter((l) => l.level >= 50)).toEqual([]);

    // A consumer with no owner to tell says it, as an error naming the durable and what was missed.
    const c3 = consumer('pending-at-restart', 'cumulative', () => undefined);
    await c3.start();
    expect(logsOf.get(c3)!().filter((l) => l.level >= 50)).toEqual([
      expect.objectContaining({
        durable: 'pending-at-restart',
        detail: expect.stringMatching(/messages were pending \(delivered, not acked\) when the consumer started/),
        msg: expect.stringMatching(/^a delivery was missed/),
      }),
    ]);
    await c3.stop();
  });

  it('given a durable that acks each message, when code asking for cumulative acks starts on it, then it refuses with what to do, and nothing is consumed', async () => {
    await jsm.streams.purge(stream);
    const explicit = consumer('each-then-cumulative', 'each', () => undefined);
    await explicit.start();
    await explicit.stop();
    const got: number[] = [];
    const cumulative = consumer('each-then-cumulative', 'cumulative', (n) => void got.push(n));
    await expect(cumulative.start()).rejects.toThrow(/acks explicit, this code acks all: remove it \(nats consumer rm/);
    expect((await info('each-then-cumulative')).config.ack_policy).toBe('explicit');
  });
});
