import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { connect, type NatsConnection } from 'nats';
import { subjects, type NatsRole, type RequestEndpoint, type VmView } from '@locus/contracts';
import { dropDatabase } from '@locus/eventstore';
import { deleteStreamIfExists, listAllVms, natsAuthOptions, type VmListFilter } from '@locus/messaging';
import { requestJson } from './request';
import { recordPlaneFacts } from './planes';
import { loadConfig, natsCredentials, type LocusConfig, type Logger } from '@locus/platform';
import { startMobilityManager, type MobilityManager } from '../../apps/mobility-manager/src/start-mobility-manager';
import { startAgents, type RunningAgents } from '../../apps/hypervisor-agent/src/start-agents';

export const PG_BASE = process.env.TEST_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
export const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A name no other test run uses: databases, subject prefixes and streams never collide. */
export function uniqueId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export function testConfig(overrides: Partial<LocusConfig> = {}): LocusConfig {
  const id = uniqueId();
  return loadConfig(
    {},
    {
      natsUrl: NATS_URL,
      databaseUrl: `${PG_BASE}/locus_test_${id}`,
      subjectPrefix: `lt${id}`,
      streamName: `LT_${id}`,
      timeScale: 1000,
      // HA restarts only where a test asks for them: a loaded CI machine must not look like failed hosts.
      haEnabled: false,
      // Convergence facts are appended to the VM streams after a move: only where a test asks for them.
      convergenceTracking: false,
      driftIntervalMs: 0,
      logLevel: 'info',
      ...overrides,
    },
  );
}

/**
 * A plain client connection as `role` when the config names NATS credentials (LOCUS_NATS_AUTH_DIR),
 * else an anonymous one: tests talk as the operator and clean up as the admin.
 */
export async function connectAs(
  config: Pick<LocusConfig, 'natsUrl' | 'natsAuthDir' | 'natsSeedFile'>,
  role: NatsRole,
  options: { name?: string; maxReconnectAttempts?: number } = {},
): Promise<NatsConnection> {
  const credentials = natsCredentials(config, role);
  const auth = credentials ? natsAuthOptions(credentials) : undefined;
  return connect({ servers: config.natsUrl, ...options, ...(auth ? { authenticator: auth.authenticator, inboxPrefix: auth.inboxPrefix } : {}) });
}

/** A logger whose lines the test can read back (and that prints nothing). */
export function capturingLogger(level = 'info'): { logger: Logger; lines: () => any[] } {
  const lines: any[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines: () => lines };
}

export interface TestLab {
  config: LocusConfig;
  manager: MobilityManager;
  agents: RunningAgents;
  client: NatsConnection;
  logs: () => any[];
  req<T = any>(endpoint: RequestEndpoint, body: unknown): Promise<T>;
  /** Sends raw bytes to an endpoint, as `nats req` would. */
  raw<T = any>(endpoint: RequestEndpoint, data: string | Uint8Array): Promise<T>;
  /** Every VM of the filter from `vm.list`, walking its pages. */
  vms(filter?: VmListFilter): Promise<VmView[]>;
  eventCount(): Promise<number>;
  /** Events in one VM's stream: what "nothing recorded for it" is checked against while other moves run. */
  vmEventCount(vm: string): Promise<number>;
  waitForMove(moveId: string, states?: string[], timeoutMs?: number): Promise<any>;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

const PROGRESS = ['accepted', 'in-progress', 'completed', 'converged'];

/**
 * A move is past a state it was awaited in once it reached a later one: `converged` has also
 * completed, and a failed or cancelled move has been accepted and in progress. Waiting for a
 * state must never miss a move that already went on.
 */
export function reachedAny(state: string, wanted: readonly string[]): boolean {
  if (wanted.includes(state)) return true;
  if (state === 'failed' || state === 'cancelled') return wanted.some((w) => w === 'accepted' || w === 'in-progress');
  const at = PROGRESS.indexOf(state);
  return at >= 0 && wanted.some((w) => PROGRESS.includes(w) && PROGRESS.indexOf(w) <= at);
}

/** Polls `move.get` until the move has reached one of `states`, or a later one (`reachedAny`). */
export async function waitForMove(
  req: (endpoint: 'move.get', body: unknown) => Promise<any>,
  moveId: string,
  states: string[] = ['completed', 'failed', 'cancelled'],
  timeoutMs = 20_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await req('move.get', { moveId });
    if (reply.ok && reachedAny(reply.move.state, states)) return reply.move;
    if (Date.now() > deadline) throw new Error(`move ${moveId} did not reach ${states.join('/')}: ${JSON.stringify(reply)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts the manager and every agent of the default topology against the real NATS and Postgres. */
export async function startTestLab(overrides: Partial<LocusConfig> = {}): Promise<TestLab> {
  const config = testConfig(overrides);
  const { logger, lines } = capturingLogger();
  const manager = await startMobilityManager(config, logger);
  const agents = await startAgents(config, logger);
  const client = await connectAs(config, 'operator');
  recordPlaneFacts(client, config.subjectPrefix);
  const s = subjects(config.subjectPrefix);
  const lab: TestLab = {
    config,
    manager,
    agents,
    client,
    logs: lines,
    req: (endpoint, body) => requestJson(client, s.request(endpoint), body, 10_000),
    raw: async (endpoint, data) => {
      const msg = await client.request(s.request(endpoint), typeof data === 'string' ? new TextEncoder().encode(data) : data, { timeout: 10_000 });
      return JSON.parse(new TextDecoder().decode(msg.data));
    },
    vms: (filter = {}) => listAllVms(client, config.subjectPrefix, filter, { timeoutMs: 10_000 }),
    eventCount: async () => Number((await manager.dataSource.query('SELECT count(*)::int AS n FROM events'))[0].n),
    vmEventCount: async (vm) => Number((await manager.dataSource.query('SELECT count(*)::int AS n FROM events WHERE stream_id = $1', [`vm:${vm}`]))[0].n),
    waitForMove: (moveId, states, timeoutMs) => waitForMove(lab.req, moveId, states, timeoutMs),
    stop: async ({ keepData = false } = {}) => {
      await client.close();
      await lab.agents.stop();
      await lab.manager.stop();
      if (!keepData) await cleanup(config);
    },
  };
  return lab;
}

export async function cleanup(config: LocusConfig): Promise<void> {
  await dropDatabase(config.databaseUrl);
  const nc = await connectAs(config, 'admin');
  try {
    await deleteStreamIfExists(await nc.jetstreamManager(), config.streamName);
  } finally {
    await nc.close();
  }
}

/** Every message of the test's stream (subject, msg id and parsed event), read with an ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<{ subject: string; msgId?: string; event: any }[]> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const out: { subject: string; msgId?: string; event: any }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    try {
      const m = await jsm.streams.getMessage(stream, { seq });
      out.push({ subject: m.subject, msgId: m.header?.get('Nats-Msg-Id'), event: m.json() });
    } catch (err) {
      if (!/no message found/i.test((err as Error).message)) throw err;
    }
  }
  return out;
}

export async function eventually<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
