import { spawn } from 'node:child_process';
import { connect, type NatsConnection } from 'nats';
import { Client } from 'pg';
import { connectNats } from '@locus/messaging';
import { capturingLogger, NATS_URL, testConfig } from './support/harness';

/** The transport under a connection (nats.js internals; the version is pinned). */
const socketOf = (nc: NatsConnection) => (nc as unknown as { protocol: { transport: { socket: { write: (...args: unknown[]) => boolean } } } }).protocol.transport.socket;

describe("the services' NATS connections write one event-loop turn's messages as one socket write", () => {
  let publisher: NatsConnection;
  let reader: NatsConnection;

  beforeAll(async () => {
    publisher = await connectNats(NATS_URL, 'coalesced-writes-test', capturingLogger().logger);
    reader = await connect({ servers: NATS_URL });
  });

  afterAll(async () => {
    await reader?.close();
    await publisher?.close().catch(() => undefined);
  });

  it('given 100 publishes, each after an await, when they are made in one turn, then they go out in one write and arrive all, in order', async () => {
    const subject = `coalesce.${testConfig().subjectPrefix}.order`;
    const got: number[] = [];
    const all = new Promise<void>((resolve) =>
      reader.subscribe(subject, {
        callback: (_err, msg) => {
          got.push(Number(msg.string()));
          if (got.length === 100) resolve();
        },
      }),
    );
    await reader.flush();
    const socket = socketOf(publisher);
    const write = socket.write;
    let writes = 0;
    socket.write = function (this: unknown, ...args: unknown[]) {
      writes++;
      return write.apply(this, args);
    };
    try {
      for (let i = 0; i < 100; i++) {
        publisher.publish(subject, String(i));
        await Promise.resolve(); // a microtask apart: nats.js alone would write each one by itself
      }
      await new Promise((r) => setImmediate(r));
      await all;
    } finally {
      socket.write = write;
    }
    expect(writes).toBe(1);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('given a message published just before the connection drains, then it is written before the connection closes', async () => {
    const subject = `coalesce.${testConfig().subjectPrefix}.close`;
    const closing = await connectNats(NATS_URL, 'coalesced-writes-close', capturingLogger().logger);
    const got = new Promise<string>((resolve) => reader.subscribe(subject, { max: 1, callback: (_err, msg) => resolve(msg.string()) }));
    await reader.flush();
    closing.publish(subject, 'last words');
    await closing.drain();
    await expect(got).resolves.toBe('last words');
  });
});

describe('npm run lab --services', () => {
  it('given an unknown service name, then the lab refuses to start, names the known ones, and creates no database', async () => {
    const config = testConfig();
    const child = spawn(process.execPath, ['dist/apps/lab/src/main.js', '--services', 'manager,nope'], {
      cwd: `${__dirname}/..`,
      env: { ...process.env, DATABASE_URL: config.databaseUrl, LOCUS_SUBJECT_PREFIX: config.subjectPrefix, LOCUS_STREAM: config.streamName, LOCUS_METRICS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(out).toMatch(/--services manager,nope: expected some of manager, agents, mapping, routes, arp; unknown: nope/);
    const admin = new Client({ connectionString: config.databaseUrl.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    try {
      const rows = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [new URL(config.databaseUrl).pathname.slice(1)]);
      expect(rows.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});
