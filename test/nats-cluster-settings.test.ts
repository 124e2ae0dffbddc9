import { connectNats, deleteStreamIfExists, ensureEventStream } from '@locus/messaging';
import { loadConfig } from '@locus/platform';
import { randomBytes } from 'node:crypto';
import { capturingLogger, NATS_URL } from './support/harness';

/** NATS_URL naming several nodes, and LOCUS_STREAM_REPLICAS: what a 3-node cluster deployment sets. */
describe('NATS cluster settings', () => {
  it('NATS_URL may list several servers, comma-separated: a dead one first does not stop the connection', async () => {
    const { logger } = capturingLogger();
    const nc = await connectNats(`nats://127.0.0.1:1, ${NATS_URL}`, 'cluster-settings-test', logger);
    try {
      await nc.flush();
      expect(nc.getServer()).toBe(NATS_URL.replace(/^nats:\/\//, ''));
    } finally {
      await nc.close();
    }
  });

  it('LOCUS_STREAM_REPLICAS: 1 to 5, default 1; anything else is refused at start, naming the setting', () => {
    expect(loadConfig({}).streamReplicas).toBe(1);
    expect(loadConfig({ LOCUS_STREAM_REPLICAS: '3' }).streamReplicas).toBe(3);
    for (const bad of ['0', '7', 'three', '1.5']) expect(() => loadConfig({ LOCUS_STREAM_REPLICAS: bad })).toThrow(/LOCUS_STREAM_REPLICAS/);
  });

  it('the stream is created with the replicas asked for, and an existing stream keeps its own', async () => {
    const nc = await connectNats(NATS_URL, 'cluster-settings-stream', capturingLogger().logger);
    const jsm = await nc.jetstreamManager();
    const name = `REPLICAS_${randomBytes(4).toString('hex')}`;
    try {
      await ensureEventStream(jsm, name, `${name.toLowerCase()}.evt.>`, 1);
      expect((await jsm.streams.info(name)).config.num_replicas).toBe(1);
      // A single server cannot hold 3 copies: asking again for 3 must not try to change the stream.
      await ensureEventStream(jsm, name, `${name.toLowerCase()}.evt.>`, 3);
      expect((await jsm.streams.info(name)).config.num_replicas).toBe(1);
    } finally {
      await deleteStreamIfExists(jsm, name);
      await nc.close();
    }
  });
});
