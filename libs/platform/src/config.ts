import { z } from 'zod';
import { join } from 'node:path';
import { DEFAULT_EVENT_STREAM, DEFAULT_SUBJECT_PREFIX, natsSeedFileName, type NatsCredentials, type NatsRole } from '@locus/contracts';
import { LOG_FORMATS, type LogFormat } from './logger';

/** Every setting a Locus service reads, from the environment, validated once at start. */
const Env = z.object({
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  NATS_NKEY_SEED_FILE: z.string().min(1).optional(),
  LOCUS_NATS_AUTH_DIR: z.string().min(1).optional(),
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/locus'),
  LOCUS_DATABASE_SERVICE_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a Postgres role name: lower-case letters, digits and underscores')
    .default('locus_service'),
  LOCUS_DATABASE_SERVICE_PASSWORD: z.string().optional(),
  LOCUS_TOPOLOGY: z.string().optional(),
  LOCUS_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'one subject token, no dots or wildcards')
    .default(DEFAULT_SUBJECT_PREFIX),
  LOCUS_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default(DEFAULT_EVENT_STREAM),
  LOCUS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  LOCUS_TIME_SCALE: z.coerce.number().positive().default(1),
  LOCUS_HYPERVISORS: z.string().default('all'),
  LOCUS_AGENT_TIMEOUT_MS: z.coerce.number().positive().default(1000),
  LOCUS_AGENT_MAX_TIMEOUT_MS: z.coerce.number().positive().default(8000),
  LOCUS_AGENT_GIVE_UP_MS: z.coerce.number().positive().default(20_000),
  LOCUS_SAGA_ACK_WAIT_MS: z.coerce.number().int().min(1000).default(3000),
  LOCUS_HEARTBEAT_MS: z.coerce.number().positive().default(1000),
  LOCUS_HOST_TIMEOUT_MS: z.coerce.number().positive().default(15_000),
  LOCUS_HA: z.enum(['true', 'false']).default('true'),
  LOCUS_MAX_OUTBOUND_PER_HOST: z.coerce.number().int().positive().default(2),
  LOCUS_MAX_QUEUED_PER_HOST: z.coerce.number().int().nonnegative().default(64),
  LOCUS_FULL_QUEUE_MEMORY_MS: z.coerce.number().nonnegative().default(500),
  LOCUS_PG_POOL_SIZE: z.coerce.number().int().positive().default(20),
  LOCUS_CONVERGENCE: z.enum(['true', 'false']).default('true'),
  LOCUS_CONVERGENCE_DEADLINE_MS: z.coerce.number().positive().default(30_000),
  LOCUS_DRIFT_INTERVAL_MS: z.coerce.number().nonnegative().default(30_000),
  LOCUS_DRIFT_SLICE: z.coerce.number().int().nonnegative().default(0),
  LOCUS_MAX_CONCURRENT_REQUESTS: z.coerce.number().int().positive().default(64),
  LOCUS_MAX_QUEUED_REQUESTS: z.coerce.number().int().nonnegative().default(128),
  LOCUS_REQUEST_BUDGET_MS: z.coerce.number().positive().default(30_000),
  LOCUS_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  LOCUS_CONSOLE_PORT: z.coerce.number().int().min(0).max(65535).default(8480),
  LOCUS_CONSOLE_HOST: z.string().min(1).default('127.0.0.1'),
  LOCUS_DATAPLANE: z.enum(['lab', 'linux']).default('lab'),
  LOCUS_HYPERVISOR: z.enum(['simulated', 'qemu']).default('simulated'),
  LOCUS_QEMU_VMS: z.string().default('2'),
  LOCUS_DATAPLANE_PREFIX: z
    .string()
    .regex(/^[a-z0-9]{1,16}$/, '1-16 lower-case letters or digits: the start of every namespace name of the lab')
    .default('locus'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  LOG_FORMAT: z.enum(LOG_FORMATS).default('auto'),
});

export interface LocusConfig {
  natsUrl: string;
  /** This process's NATS user: a file holding its nkey seed (NATS_NKEY_SEED_FILE; compose and Kubernetes mount one per service). */
  natsSeedFile?: string;
  /** A directory of every role's seed, `<role>.nk` (LOCUS_NATS_AUTH_DIR; the one-process lab and tests, where each service picks its own). */
  natsAuthDir?: string;
  /** The owner (migration) role's URL: it creates the database, migrates it, owns the tables and grants the service role. */
  databaseUrl: string;
  /** The role the services' pool logs in as (same cluster and database): it may only append to and read the log. */
  databaseServiceUser: string;
  /** Its password, when the cluster asks for one (also set when the owner creates the role). */
  databaseServicePassword?: string;
  topologyPath?: string;
  subjectPrefix: string;
  streamName: string;
  /** Copies of the event stream JetStream keeps: 1 on one nats-server, 3 on a 3-node cluster. */
  streamReplicas: number;
  /** Simulated ms per real ms: 1 is real time, 100 makes a 20 s boot take 200 ms. */
  timeScale: number;
  hypervisors: string[] | 'all';
  /** Timeout of the first request of an agent step, in simulated ms; each repeat waits twice as long, up to `agentMaxTimeoutMs`. */
  agentTimeoutMs: number;
  agentMaxTimeoutMs: number;
  /** Real ms an agent may stay silent (over an unbroken link, past the step's expected duration) before a move that can still go back fails with UNAVAILABLE. */
  agentGiveUpMs: number;
  /** Real ms before a move event the saga left unacknowledged (its manager crashed) is delivered again. */
  sagaAckWaitMs: number;
  /** Agents' heartbeat period and the silence after which a host is declared failed, both in simulated ms. */
  heartbeatMs: number;
  hostTimeoutMs: number;
  /** Restart the VMs of a failed host elsewhere. */
  haEnabled: boolean;
  maxOutboundPerHost: number;
  /** Moves that may wait for a source host's outbound slot; `vm.move` answers UNAVAILABLE (nothing recorded) past it. */
  maxQueuedPerHost: number;
  /** Real ms for which `vm.move` refuses from memory, with no read, requests from a source host whose full queue a read found (0: always read). */
  fullQueueMemoryMs: number;
  /** Postgres connections of the mobility manager's pool (the outbox relay has its own session besides). */
  pgPoolSize: number;
  /** Track every move's network convergence (MoveConverged / MoveConvergenceLate) in the manager. */
  convergenceTracking: boolean;
  /** Real ms after the location commit by which every plane of a move should agree, else it is flagged late. */
  convergenceDeadlineMs: number;
  /** Drift check period in simulated ms (0: only on `drift.check` requests). */
  driftIntervalMs: number;
  /** VMs of the rolling sweep each periodic drift check compares besides those that changed; 0: a tenth of the VMs (a sweep takes ~10 periods). */
  driftSlice: number;
  /** Handlers of each mutating request endpoint (vm.move, move.cancel, move.plan) running at once in the manager. */
  maxConcurrentRequests: number;
  /** Requests of each such endpoint waiting for a handler; more are answered UNAVAILABLE at once. */
  maxQueuedRequests: number;
  /** Longest a request without a Locus-Deadline header (e.g. from `nats req`) waits for its handler before it is dropped. */
  requestBudgetMs: number;
  /** Port of /metrics, /healthz and /readyz (LOCUS_METRICS_PORT); 0, the default, serves none. */
  metricsPort: number;
  /** The web console's port (LOCUS_CONSOLE_PORT, default 8480; 0: any free one) and address (LOCUS_CONSOLE_HOST, default loopback). */
  consolePort: number;
  consoleHost: string;
  /** Where moves take effect on the network: `lab` (simulated, the default) or `linux` (network namespaces on this machine, root). */
  dataplane: 'lab' | 'linux';
  /** The Linux dataplane's namespaces all start with `<prefix>-` (LOCUS_DATAPLANE_PREFIX, default `locus`). */
  dataplanePrefix: string;
  /** What runs the VMs (LOCUS_HYPERVISOR): `simulated` (the default) or `qemu` (real QEMU guests for `qemuVms`; needs the Linux dataplane). */
  hypervisor: 'simulated' | 'qemu';
  /** LOCUS_QEMU_VMS: the VMs QEMU runs, comma-separated names, or a number N: the first N VMs of the topology (default 2). */
  qemuVms: string;
  logLevel: string;
  /** LOG_FORMAT: `pretty` (one readable line per step, coloured only in a terminal), `json` (one object per line), `auto` (the default: pretty in a terminal, JSON when piped). */
  logFormat: LogFormat;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<LocusConfig> = {}): LocusConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  const e = parsed.data;
  return {
    natsUrl: e.NATS_URL,
    ...(e.NATS_NKEY_SEED_FILE ? { natsSeedFile: e.NATS_NKEY_SEED_FILE } : {}),
    ...(e.LOCUS_NATS_AUTH_DIR ? { natsAuthDir: e.LOCUS_NATS_AUTH_DIR } : {}),
    databaseUrl: e.DATABASE_URL,
    databaseServiceUser: e.LOCUS_DATABASE_SERVICE_USER,
    databaseServicePassword: e.LOCUS_DATABASE_SERVICE_PASSWORD || undefined,
    topologyPath: e.LOCUS_TOPOLOGY,
    subjectPrefix: e.LOCUS_SUBJECT_PREFIX,
    streamName: e.LOCUS_STREAM,
    streamReplicas: e.LOCUS_STREAM_REPLICAS,
    timeScale: e.LOCUS_TIME_SCALE,
    hypervisors:
      e.LOCUS_HYPERVISORS === 'all'
        ? 'all'
        : e.LOCUS_HYPERVISORS.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
    agentTimeoutMs: e.LOCUS_AGENT_TIMEOUT_MS,
    agentMaxTimeoutMs: e.LOCUS_AGENT_MAX_TIMEOUT_MS,
    agentGiveUpMs: e.LOCUS_AGENT_GIVE_UP_MS,
    sagaAckWaitMs: e.LOCUS_SAGA_ACK_WAIT_MS,
    heartbeatMs: e.LOCUS_HEARTBEAT_MS,
    hostTimeoutMs: e.LOCUS_HOST_TIMEOUT_MS,
    haEnabled: e.LOCUS_HA === 'true',
    maxOutboundPerHost: e.LOCUS_MAX_OUTBOUND_PER_HOST,
    maxQueuedPerHost: e.LOCUS_MAX_QUEUED_PER_HOST,
    fullQueueMemoryMs: e.LOCUS_FULL_QUEUE_MEMORY_MS,
    pgPoolSize: e.LOCUS_PG_POOL_SIZE,
    convergenceTracking: e.LOCUS_CONVERGENCE === 'true',
    convergenceDeadlineMs: e.LOCUS_CONVERGENCE_DEADLINE_MS,
    driftIntervalMs: e.LOCUS_DRIFT_INTERVAL_MS,
    driftSlice: e.LOCUS_DRIFT_SLICE,
    maxConcurrentRequests: e.LOCUS_MAX_CONCURRENT_REQUESTS,
    maxQueuedRequests: e.LOCUS_MAX_QUEUED_REQUESTS,
    dataplane: e.LOCUS_DATAPLANE,
    dataplanePrefix: e.LOCUS_DATAPLANE_PREFIX,
    hypervisor: e.LOCUS_HYPERVISOR,
    qemuVms: e.LOCUS_QEMU_VMS,
    requestBudgetMs: e.LOCUS_REQUEST_BUDGET_MS,
    metricsPort: e.LOCUS_METRICS_PORT,
    consolePort: e.LOCUS_CONSOLE_PORT,
    consoleHost: e.LOCUS_CONSOLE_HOST,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    ...overrides,
  };
}

/**
 * What a service of `role` connects to NATS with: NATS_NKEY_SEED_FILE when set (one service per
 * process), else `<LOCUS_NATS_AUTH_DIR>/<role>.nk`, else nothing (a server without authentication).
 */
export function natsCredentials(config: Pick<LocusConfig, 'natsSeedFile' | 'natsAuthDir'>, role: NatsRole): NatsCredentials | undefined {
  if (config.natsSeedFile) return { role, seedFile: config.natsSeedFile };
  if (config.natsAuthDir) return { role, seedFile: join(config.natsAuthDir, natsSeedFileName(role)) };
  return undefined;
}

/**
 * The services' database URL: DATABASE_URL's host, database and parameters, logged in as the
 * service role (LOCUS_DATABASE_SERVICE_USER, with LOCUS_DATABASE_SERVICE_PASSWORD if set).
 */
export function serviceDatabaseUrl(config: Pick<LocusConfig, 'databaseUrl' | 'databaseServiceUser' | 'databaseServicePassword'>): string {
  const url = new URL(config.databaseUrl);
  url.username = encodeURIComponent(config.databaseServiceUser);
  url.password = config.databaseServicePassword ? encodeURIComponent(config.databaseServicePassword) : '';
  return url.toString();
}
