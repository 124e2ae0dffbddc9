import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import type { PlaneEvent } from '@locus/contracts';
import { PlaneEventPublisher } from '@locus/messaging';
import { capturingLogger, NATS_URL, testConfig } from './support/harness';

/**
 * A plane's steps wait for the stream's ack of the outcomes they publish: an ack that takes long is
 * the wait of every event behind it, so the publisher says so (a healthy ack takes about a millisecond).
 */
describe('plane event publisher: a slow stream ack is logged', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const tag = testConfig().subjectPrefix.replace(/[^A-Za-z0-9]/g, '');
  const prefix = `ppub${tag}`;
  const stream = `PPUB_${tag}`;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.evt.>`] });
  });

  afterAll(async () => {
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  const converged = (id: string): PlaneEvent => ({
    id,
    plane: 'arp',
    type: 'ArpConverged',
    component: 'arp-proxy:dc1',
    vm: 'web-01',
    eid: '10.1.0.11',
    moveId: '00000000-0000-4000-8000-000000000001',
    locationVersion: 2,
    at: new Date().toISOString(),
    data: { site: 'dc1' },
  });

  it('given an ack slower than the threshold, when an outcome is published, then a warning names the event and the ack time', async () => {
    const { logger, lines } = capturingLogger();
    // Every ack is at least 0 ms: with a threshold of 0 each one is "slow", so the line is what a slow ack writes.
    const publisher = new PlaneEventPublisher(nc, prefix, logger, 5000, 0);
    const { seq, duplicate } = await publisher.publish(converged('ArpConverged:dc1:web-01:v2:slow'));
    expect(seq).toBeGreaterThan(0);
    expect(duplicate).toBe(false);
    const warning = lines().find((l) => l.level === 40 && l.type === 'ArpConverged');
    expect(warning).toMatchObject({ plane: 'arp', vm: 'web-01', id: 'ArpConverged:dc1:web-01:v2:slow' });
    expect(warning.msg).toBe(`the stream acknowledged ArpConverged of web-01 after ${warning.ackMs} ms`);
  });

  it('given the default threshold (1 s), when the stream acks at once, then nothing is logged', async () => {
    const { logger, lines } = capturingLogger();
    const publisher = new PlaneEventPublisher(nc, prefix, logger);
    await publisher.publish(converged('ArpConverged:dc1:web-01:v2:fast'));
    expect(lines()).toEqual([]);
  });
});
