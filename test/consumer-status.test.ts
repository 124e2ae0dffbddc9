import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { ACK, DurableConsumer } from '@locus/messaging';
import { capturingLogger, eventually, NATS_URL, testConfig } from './support/harness';

/**
 * What the client says about a consumer's pulls reaches the log: a pull that stops delivering (its
 * consumer deleted, heartbeats missed) is a pause of everything the consumer feeds, and without a
 * line it looked like a slow service.
 */
describe('durable consumer: the pulls’ troubles are logged', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const tag = testConfig().subjectPrefix.replace(/[^A-Za-z0-9]/g, '');
  const stream = `CSTATUS_${tag}`;
  let consumer: DurableConsumer<unknown> | undefined;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`cstatus.${tag}.>`] });
  });

  afterAll(async () => {
    await consumer?.stop().catch(() => undefined);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  it('given a consumer pulling, when its durable is deleted on the server, then a warning names the consumer and what happened', async () => {
    const { logger, lines } = capturingLogger();
    consumer = new DurableConsumer(nc.jetstream(), jsm, {
      stream,
      durable: 'status-watch',
      filterSubject: `cstatus.${tag}.>`,
      logger,
      decode: (msg) => msg.json<unknown>(),
      handle: async () => ACK,
    });
    await consumer.start();
    await jsm.consumers.delete(stream, 'status-watch');
    const warning = await eventually(
      async () => lines().find((l) => l.level === 40 && l.durable === 'status-watch' && /consumer_(deleted|not_found)/.test(l.status)),
      20_000,
      'a warning about the deleted consumer',
    );
    expect(warning.msg).toMatch(/^consumer status-watch: consumer_(deleted|not_found)$/);
  }, 30_000);
});
