import { randomUUID } from 'node:crypto';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { DataSource, EntityManager } from 'typeorm';
import { subjects, type RecordedEvent } from '@locus/contracts';
import { PgEventStore, type NewEvent, type Projector } from '@locus/eventstore';
import type { LocusConfig } from '@locus/platform';
import { OUTBOX_CHANNEL } from '../../apps/mobility-manager/src/start-mobility-manager';
import { spawnService, type ServiceChild } from './processes';

export { freePort, NatsServerProcess } from './processes';

/** The store `storeFor()` builds (same subjects and notify channel), with the projectors the test chooses. */
export function bareStore(dataSource: DataSource, prefix: string, projectors: Projector[] = []): PgEventStore {
  const s = subjects(prefix);
  return new PgEventStore(dataSource, {
    subjectOf: (streamId, type) => s.streamEvent(streamId, type),
    projectors,
    notifyChannel: OUTBOX_CHANNEL,
  });
}

/** Any event will do for the relay: it does not read `data`. */
export function testEvent(data: Record<string, unknown> = {}, type = 'VmPlaced'): NewEvent {
  return { type, data, metadata: { correlationId: randomUUID(), component: 'outbox-relay-test', at: new Date().toISOString() } };
}

/** Appends `streams` new streams of `perStream` events each, `concurrency` appends at a time. */
export async function appendMany(store: PgEventStore, tag: string, streams: number, perStream: number, concurrency = 8): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let next = 0;
  const worker = async () => {
    while (next < streams) {
      const i = next++;
      const events = Array.from({ length: perStream }, (_, v) => testEvent({ tag, stream: i, v }));
      out.push(...(await store.append(`vm:${tag}-${i}`, 0, events)));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

export async function outboxCount(ds: DataSource): Promise<number> {
  return Number((await ds.query('SELECT count(*)::int AS n FROM outbox'))[0].n);
}

export async function eventIds(ds: DataSource): Promise<string[]> {
  return (await ds.query('SELECT id FROM events ORDER BY position')).map((r: { id: string }) => r.id);
}

export async function streamMessages(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

export interface PublishedHeader {
  seq: number;
  subject: string;
  msgId: string;
  position: string;
}

/** Headers of every message in the stream, in stream order, read with one ordered consumer (fast for 10^4+ messages). */
export async function publishedHeaders(nc: NatsConnection, stream: string): Promise<PublishedHeader[]> {
  const total = await streamMessages(await nc.jetstreamManager(), stream);
  const out: PublishedHeader[] = [];
  if (total === 0) return out;
  const consumer = await nc.jetstream().consumers.get(stream, { headers_only: true });
  const messages = await consumer.consume({ max_messages: 2000 });
  for await (const m of messages) {
    out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') ?? '', position: m.headers?.get('Locus-Position') ?? '' });
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

/** A projector that parks the next append inside its transaction until the test releases it. */
export class GateProjector implements Projector {
  readonly name = 'gate';
  private armed?: { entered: (events: RecordedEvent[]) => void; gate: Promise<void> };

  hold(): { entered: Promise<RecordedEvent[]>; release: () => void } {
    let release!: () => void;
    let entered!: (events: RecordedEvent[]) => void;
    const enteredP = new Promise<RecordedEvent[]>((r) => (entered = r));
    const gate = new Promise<void>((r) => (release = r));
    this.armed = { entered, gate };
    return { entered: enteredP, release };
  }

  async apply(events: RecordedEvent[], _tx: EntityManager): Promise<void> {
    const armed = this.armed;
    if (!armed) return;
    this.armed = undefined;
    armed.entered(events);
    await armed.gate;
  }
}

export type RelayChild = ServiceChild;

/** Runs `dist/tools/run-outbox-relay.js` against the test's database, NATS and stream. */
export function spawnRelay(config: LocusConfig, env: Record<string, string> = {}): RelayChild {
  return spawnService('dist/tools/run-outbox-relay.js', config, env);
}
