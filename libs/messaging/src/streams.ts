import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager } from 'nats';

/**
 * The event stream: every committed event, under `<prefix>.evt.>`. The 2-minute duplicate
 * window is what turns the outbox's at-least-once publishing into exactly-once storage. Creates
 * it when missing, which on a NATS with users only the manager's user may, with `replicas` copies
 * (LOCUS_STREAM_REPLICAS: 1 on a single server, 3 on a JetStream cluster, where the stream survives
 * the loss of a node).
 */
export async function ensureEventStream(jsm: JetStreamManager, name: string, subject: string, replicas = 1): Promise<void> {
  const config = {
    num_replicas: replicas,
    name,
    subjects: [subject],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: 120 * 1_000_000_000,
    max_age: 0,
  };
  try {
    const info = await jsm.streams.info(name);
    // An existing stream keeps its replicas (an admin may have made it R3 with the nats CLI).
    if (!info.config.subjects?.includes(subject)) await jsm.streams.update(name, { ...info.config, subjects: [subject] });
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add(config).catch((e: Error) => {
      // Only the mobility manager's NATS user may create the stream (README, "Security").
      if (/permissions violation/i.test(e.message)) throw new Error(`the event stream ${name} does not exist and this NATS user may not create it: start the mobility manager first (${e.message})`);
      throw e;
    });
  }
}

export async function deleteStreamIfExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    return await jsm.streams.delete(name);
  } catch (err) {
    if (/stream not found/i.test((err as Error).message)) return false;
    throw err;
  }
}
