import { headers, type MsgHdrs, type Service, type ServiceMsg } from 'nats';
import { z } from 'zod';
import type { Logger } from 'pino';
import { HEADERS, LocusError, MAX_REQUEST_BYTES, errorReply } from '@locus/contracts';
import { AdmissionQueue, DEFAULT_REQUEST_BUDGET_MS, parseDeadline, type AdmissionLimits, type AdmissionStats, type Dropped } from './admission';

export type JsonHandler<T> = (body: T, msg: ServiceMsg) => Promise<object> | object;

/**
 * Turns raw request bytes into a validated body, or a reply that says what was wrong.
 * Nothing that arrives here can throw out of the endpoint: every path ends in a JSON reply.
 */
export function parseRequest<T>(data: Uint8Array, schema: z.ZodType<T>): { ok: true; body: T } | { ok: false; reply: object } {
  if (data.length > MAX_REQUEST_BYTES)
    return { ok: false, reply: errorReply('TOO_LARGE', `request is ${data.length} bytes; the limit is ${MAX_REQUEST_BYTES}`) };
  let json: unknown;
  const text = new TextDecoder().decode(data).trim();
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch (err) {
    return { ok: false, reply: errorReply('BAD_REQUEST', `body is not JSON: ${(err as Error).message}`) };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reply: errorReply('BAD_REQUEST', describeZodError(parsed.error)) };
  return { ok: true, body: parsed.data };
}

/** One line naming every offending field, e.g. `mode: expected one of "hot"|"warm"|"cold"; to: required`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.length ? i.path.join('.') : '(body)';
      if (i.code === 'unrecognized_keys') return `${path}: unknown field(s) ${i.keys.join(', ')}`;
      if (i.code === 'invalid_type' && i.input === undefined) return `${path}: required`;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** Maps whatever a handler threw to the reply the caller sees, logging what is not a plain refusal. */
export function errorToReply(err: unknown, log: Logger, subject: string): object {
  if (err instanceof LocusError) return { ok: false, error: err.toBody() };
  log.error({ err: (err as Error)?.stack ?? String(err), subject }, 'request handler failed');
  const message = (err as Error)?.message ?? String(err);
  if (isUnavailable(err))
    return errorReply('UNAVAILABLE', `a backing service is not reachable: ${message}`);
  return errorReply('INTERNAL', message);
}

/** Errors that mean a backing service (Postgres, NATS, an agent) cannot be reached, not that the request is wrong. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string; driverError?: { code?: string } };
  const code = e?.code ?? e?.driverError?.code ?? '';
  if (/^(08|57P0)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', '503', 'TIMEOUT'].includes(code)) return true;
  if (['CannotExecuteNotConnectedError', 'ConnectionIsNotSetError', 'NoResponders'].includes(e?.name ?? '')) return true;
  return /Connection terminated|Cannot use a pool after calling end|not established|Driver not Connected|no responders|timeout/i.test(e?.message ?? '');
}

export interface JsonEndpointOptions<T> {
  name: string;
  subject: string;
  schema: z.ZodType<T>;
  handler: JsonHandler<T>;
  logger: Logger;
  queue?: string;
  /**
   * At most `maxConcurrent` handlers at once and `maxQueued` requests waiting (FIFO); a request
   * that finds the queue full is answered UNAVAILABLE at once. Without it every request starts
   * as soon as it arrives.
   */
  admission?: AdmissionLimits;
  /** Longest a request without a `Locus-Deadline` header may wait for its handler (default 30 s). */
  defaultBudgetMs?: number;
  /**
   * Why the service cannot answer yet (e.g. still loading what its answers depend on), or undefined
   * once it can: meanwhile every valid request is answered UNAVAILABLE with that reason, and its
   * handler does not run, so nothing answers from state that is not there yet.
   */
  notReady?: () => string | undefined;
}

/** What one endpoint did with its requests since it was added (see `AdmissionStats`). */
export interface EndpointStats extends AdmissionStats {
  name: string;
  subject: string;
  /** the endpoint's admission limits, when it has any */
  limits?: AdmissionLimits;
}

const endpointsOf = new WeakMap<Service, Map<string, () => EndpointStats>>();

/** Every JSON endpoint of this service, by endpoint name, with its counters now (`expired`, `rejected`, ...). */
export function endpointStats(service: Service): Map<string, EndpointStats> {
  return new Map([...(endpointsOf.get(service) ?? new Map<string, () => EndpointStats>())].map(([name, read]) => [name, read()]));
}

/**
 * Adds a JSON request/reply endpoint to a NATS service (visible with `nats micro ls`).
 *
 * A request whose `Locus-Deadline` has passed when its handler would start (on arrival, or after
 * waiting in the endpoint's queue; without the header, after `defaultBudgetMs` of waiting) is
 * dropped: the handler does not run and nothing is replied, since the caller has stopped
 * listening. Drops are logged at debug, counted (`endpointStats`) and summed up in at most one
 * warning per second per service. Returns a reader of this endpoint's counters.
 */
export function addJsonEndpoint<T>(service: Service, options: JsonEndpointOptions<T>): () => EndpointStats {
  const log = options.logger;
  const subject = options.subject;
  const limits = options.admission;
  const queue = new AdmissionQueue<{ msg: ServiceMsg; body?: T }>(limits, options.defaultBudgetMs ?? DEFAULT_REQUEST_BUDGET_MS);
  const shed = shedSummaryOf(service, log);
  const stats = (): EndpointStats => ({ name: options.name, subject, ...(limits ? { limits: { ...limits } } : {}), ...queue.stats() });
  if (!endpointsOf.has(service)) endpointsOf.set(service, new Map());
  endpointsOf.get(service)!.set(options.name, stats);

  service.addEndpoint(options.name, {
    subject,
    queue: options.queue,
    handler: (err, msg) => {
      if (err) {
        log.error({ err: err.message, subject }, 'endpoint error');
        return;
      }
      receive(msg);
    },
  });
  return stats;

  function receive(msg: ServiceMsg) {
    const now = Date.now();
    const deadline = parseDeadline(msg.headers?.get(HEADERS.deadline));
    // Past its deadline already: not even parsed.
    if (deadline !== undefined && now >= deadline) return dropped(queue.offer({ msg }, now, deadline).dropped);
    const parsed = parseRequest(msg.data, options.schema);
    if (!parsed.ok) return send(msg, parsed.reply);
    const starting = options.notReady?.();
    if (starting !== undefined) {
      log.debug({ subject, reason: starting }, 'request refused: not ready yet');
      return send(msg, errorReply('UNAVAILABLE', `${starting}; retry shortly`));
    }
    const admission = queue.offer({ msg, body: parsed.body }, now, deadline);
    dropped(admission.dropped);
    if (admission.kind === 'start') void run({ msg, body: parsed.body });
    else if (admission.kind === 'full') {
      shed.record(subject, 'rejected');
      log.debug({ subject, running: admission.running, queued: admission.queued }, 'request refused: endpoint at capacity');
      send(
        msg,
        errorReply(
          'UNAVAILABLE',
          `${subject} is at capacity: ${admission.running} running and ${admission.queued} waiting (at most ${limits!.maxConcurrent} and ${limits!.maxQueued}); retry later`,
        ),
      );
    }
  }

  async function run(item: { msg: ServiceMsg; body?: T }) {
    let reply: object;
    try {
      reply = await options.handler(item.body as T, item.msg);
    } catch (err) {
      reply = errorToReply(err, log, subject);
    }
    send(item.msg, reply);
    const { next, dropped: expired } = queue.finish(Date.now());
    dropped(expired);
    if (next) void run(next);
  }

  function dropped(items: Dropped<unknown>[]) {
    for (const d of items) {
      shed.record(subject, 'expired');
      log.debug({ subject, reason: d.reason, waitedMs: d.waitedMs, lateMs: d.lateMs }, 'request dropped unanswered: its deadline passed before the handler started');
    }
  }

  function send(msg: ServiceMsg, reply: object) {
    try {
      msg.respond(JSON.stringify(reply));
    } catch (err) {
      log.warn({ err: (err as Error).message, subject }, 'could not send reply');
    }
  }
}

/** Requests a service shed (dropped past their deadline, or refused when full), summed up in one warning a second at most. */
class ShedSummary {
  private readonly counts = new Map<string, { expired: number; rejected: number }>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly log: Logger) {}

  record(subject: string, what: 'expired' | 'rejected'): void {
    const c = this.counts.get(subject) ?? { expired: 0, rejected: 0 };
    c[what]++;
    this.counts.set(subject, c);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), 1000);
      this.timer.unref?.();
    }
  }

  private flush(): void {
    this.timer = undefined;
    let expired = 0;
    let rejected = 0;
    for (const c of this.counts.values()) {
      expired += c.expired;
      rejected += c.rejected;
    }
    const bySubject = Object.fromEntries(this.counts);
    this.counts.clear();
    this.log.warn({ expired, rejected, bySubject }, `shedding load: ${expired} requests dropped unanswered (deadline passed before they started), ${rejected} refused (queue full) in the last second`);
  }
}

const shedSummaries = new WeakMap<Service, ShedSummary>();
function shedSummaryOf(service: Service, log: Logger): ShedSummary {
  let summary = shedSummaries.get(service);
  if (!summary) shedSummaries.set(service, (summary = new ShedSummary(log)));
  return summary;
}

/** Request headers carrying `Locus-Deadline`: now + timeoutMs, when the caller stops waiting. */
export function deadlineHeaders(timeoutMs: number, now: number = Date.now()): MsgHdrs {
  const h = headers();
  h.set(HEADERS.deadline, String(Math.round(now + timeoutMs)));
  return h;
}

/**
 * Sends a JSON request and parses the JSON reply (used by the saga, the CLI tool and tests).
 * The request carries `Locus-Deadline` = now + timeoutMs: past it, the service does not start it.
 */
export async function requestJson<T = any>(
  nc: { request(subject: string, data: Uint8Array, opts: { timeout: number; headers?: MsgHdrs }): Promise<{ data: Uint8Array }> },
  subject: string,
  body: unknown,
  timeoutMs = 5000,
): Promise<T> {
  const data = new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
  const msg = await nc.request(subject, data, { timeout: timeoutMs, headers: deadlineHeaders(timeoutMs) });
  return JSON.parse(new TextDecoder().decode(msg.data)) as T;
}
