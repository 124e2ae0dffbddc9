import { randomUUID } from 'node:crypto';
import { AckPolicy } from 'nats';
import { decodeVmEventFrom, type RecordedEvent } from '@locus/contracts';
import { ACK, DurableConsumer } from '@locus/messaging';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { publishSyntheticVmEvent } from './support/planes';

const started = (hypervisor: string) => ({ moveId: randomUUID(), hypervisor });

/**
 * A durable consumer without acks (`acks: 'none'`, for a follower recreated at its own resume point
 * at every start, as the convergence tracker is) against real NATS: the server keeps nothing
 * pending for it, a handler that fails runs again here and its VM's later events wait for it, and
 * a consumer of the same name made with the other ack policy is replaced.
 */
describe('durable consumer without acks', () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = await startTestLab();
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('handles each VM in order, runs a failed handler again before the next event of its VM, and leaves nothing pending', async () => {
    const p = lab.config.subjectPrefix;
    const nc = lab.client;
    const jsm = await nc.jetstreamManager();
    const stream = lab.config.streamName;
    const durable = `test-unacked-${randomUUID().slice(0, 8)}`;
    const { logger, lines } = capturingLogger();
    const seen: { vm: string; id: string; attempt: number }[] = [];
    const attempts = new Map<string, number>();
    const consumer = new DurableConsumer<RecordedEvent>(nc.jetstream(), jsm, {
      stream,
      durable,
      filterSubject: `${p}.evt.vm.>`,
      startTime: new Date(),
      acks: 'none',
      logger,
      decode: (msg) => decodeVmEventFrom(p, msg.subject, msg.json<unknown>()),
      handle: async (event) => {
        const vm = event.streamId.slice(3);
        if (!vm.startsWith('unacked-')) return ACK;
        const attempt = (attempts.get(event.id) ?? 0) + 1;
        attempts.set(event.id, attempt);
        seen.push({ vm, id: event.id, attempt });
        if ((event.data as { hypervisor?: string }).hypervisor === 'dc1-hv2' && attempt === 1) throw new Error('handler failed once');
        return ACK;
      },
    });
    await consumer.start();
    try {
      const one: string[] = [];
      const two: string[] = [];
      one.push(await publishSyntheticVmEvent(nc, p, 'unacked-one', 'MoveStarted', started('dc1-hv1')));
      // The second event of unacked-one fails once: unacked-one's third waits for it, unacked-two does not.
      one.push(await publishSyntheticVmEvent(nc, p, 'unacked-one', 'MoveStarted', started('dc1-hv2')));
      two.push(await publishSyntheticVmEvent(nc, p, 'unacked-two', 'MoveStarted', started('dc2-hv1')));
      one.push(await publishSyntheticVmEvent(nc, p, 'unacked-one', 'MoveStarted', started('dc1-hv3')));
      two.push(await publishSyntheticVmEvent(nc, p, 'unacked-two', 'MoveStarted', started('dc2-hv2')));

      await eventually(async () => seen.filter((s) => s.vm === 'unacked-one').length === 4 && seen.filter((s) => s.vm === 'unacked-two').length === 2, 15_000, 'every event handled');
      // unacked-one: its second event twice (failed, then again), its third only after that.
      expect(seen.filter((s) => s.vm === 'unacked-one').map((s) => [one.indexOf(s.id), s.attempt])).toEqual([
        [0, 1],
        [1, 1],
        [1, 2],
        [2, 1],
      ]);
      expect(seen.filter((s) => s.vm === 'unacked-two').map((s) => two.indexOf(s.id))).toEqual([0, 1]);
      expect(lines().some((l) => l.msg === 'handler failed; it will run again')).toBe(true);

      const info = await jsm.consumers.info(stream, durable);
      expect(info.config.ack_policy).toBe(AckPolicy.None);
      expect(info.num_ack_pending).toBe(0);
      expect(info.num_redelivered).toBe(0);
    } finally {
      await consumer.stop();
    }

    // The same durable with acks: the consumer made without them is replaced, not left as it was.
    const acked = new DurableConsumer<RecordedEvent>(nc.jetstream(), jsm, {
      stream,
      durable,
      filterSubject: `${p}.evt.vm.>`,
      startTime: new Date(),
      logger,
      decode: (msg) => decodeVmEventFrom(p, msg.subject, msg.json<unknown>()),
      handle: async () => ACK,
    });
    await acked.start();
    try {
      expect((await jsm.consumers.info(stream, durable)).config.ack_policy).toBe(AckPolicy.Explicit);
    } finally {
      await acked.stop();
      await jsm.consumers.delete(stream, durable);
    }
  });
});
