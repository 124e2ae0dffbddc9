import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { DataSource, EntityManager } from 'typeorm';
import { subjects, type RecordedEvent } from '@locus/contracts';
import { PgEventStore, type NewEvent, type Projector } from '@locus/eventstore';
import type { LocusConfig } from '@locus/platform';
import { OUTBOX_CHANNEL } from '../../apps/mobility-manager/src/start-mobility-manager';

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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A private nats-server with JetStream, so a test can take the broker away and bring it back. */
export class NatsServerProcess {
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    readonly storeDir: string,
    readonly binary = '/usr/sbin/nats-server',
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server and resolves once it logs that it is ready. */
  start(timeoutMs = 10_000): Promise<void> {
    const child = spawn(this.binary, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    return new Promise((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${timeoutMs} ms:\n${log}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        log += String(chunk);
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${log}`));
      });
    });
  }

  /** SIGKILL: no goodbye to clients, no flush; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

export interface RelayChild {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `dist/tools/run-outbox-relay.js` against the test's database, NATS and stream. */
export function spawnRelay(config: LocusConfig, env: Record<string, string> = {}): RelayChild {
  const child = spawn(process.execPath, ['dist/tools/run-outbox-relay.js'], {
    cwd: `${__dirname}/../..`,
    env: {
      ...process.env,
      NATS_URL: config.natsUrl,
      DATABASE_URL: config.databaseUrl,
      LOCUS_SUBJECT_PREFIX: config.subjectPrefix,
      LOCUS_STREAM: config.streamName,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += String(c)));
  child.stderr!.on('data', (c) => (out += String(c)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}
