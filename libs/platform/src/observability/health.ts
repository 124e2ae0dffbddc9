/**
 * Readiness checks: each names a dependency and resolves when it is usable, or throws why not.
 * A check that takes longer than its timeout counts as failed.
 */
export interface HealthCheck {
  name: string;
  check: () => Promise<unknown> | unknown;
  timeoutMs?: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface HealthReport {
  status: 'ok' | 'fail';
  checks: CheckResult[];
}

export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

/** Runs every check at once; the report is `ok` only when all of them are. */
export async function runChecks(checks: readonly HealthCheck[], now: () => number = () => performance.now()): Promise<HealthReport> {
  const results = await Promise.all(checks.map((c) => runCheck(c, now)));
  return { status: results.every((r) => r.ok) ? 'ok' : 'fail', checks: results };
}

async function runCheck(c: HealthCheck, now: () => number): Promise<CheckResult> {
  const started = now();
  const timeoutMs = c.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(c.check),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name: c.name, ok: true, ms: round(now() - started) };
  } catch (err) {
    return { name: c.name, ok: false, ms: round(now() - started), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** What `natsCheck` needs of a NATS connection (nats.js's NatsConnection has it). */
export interface NatsLike {
  isClosed(): boolean;
  isDraining(): boolean;
  /** A PING/PONG round trip: it does not resolve while the client is disconnected. */
  flush(): Promise<void>;
}

/** Connected to NATS: not closed or draining, and a round trip to the server completes. */
export function natsCheck(nc: NatsLike, name = 'nats', timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): HealthCheck {
  return {
    name,
    timeoutMs,
    check: async () => {
      if (nc.isClosed()) throw new Error('connection closed');
      if (nc.isDraining()) throw new Error('connection draining');
      await nc.flush();
    },
  };
}

/** Postgres answers a query (a TypeORM DataSource or a pg Pool). */
export function postgresCheck(db: { query(sql: string): Promise<unknown> }, name = 'postgres', timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): HealthCheck {
  return { name, timeoutMs, check: () => db.query('SELECT 1') };
}

/**
 * Liveness: the event loop keeps turning. A timer that should fire every `intervalMs` records
 * how late it was; the process is unhealthy while the last lateness exceeds `maxLagMs`.
 */
export class EventLoopWatch {
  private timer?: NodeJS.Timeout;
  private expected = 0;
  lastLagMs = 0;

  constructor(
    private readonly intervalMs = 500,
    readonly maxLagMs = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): this {
    this.expected = this.now() + this.intervalMs;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Called by the timer; exposed so the arithmetic can be tested without waiting. */
  tick(): void {
    const t = this.now();
    this.lastLagMs = Math.max(0, t - this.expected);
    this.expected = t + this.intervalMs;
  }

  healthy(): boolean {
    // A loop blocked right now cannot be asked; one that was blocked for long shows it at the next tick.
    return this.lastLagMs <= this.maxLagMs && (this.timer === undefined || this.now() - this.expected <= this.maxLagMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
