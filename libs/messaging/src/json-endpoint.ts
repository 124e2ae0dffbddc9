import { headers, type MsgHdrs, type NatsConnection, type Service, type ServiceConfig, type ServiceMsg } from 'nats';
import { z } from 'zod';
import type { Logger } from 'pino';
import { ERROR_STATUS, HEADERS, LocusError, MAX_REQUEST_BYTES, errorReply, type ErrorBody } from '@locus/contracts';
import { AdmissionQueue, DEFAULT_REQUEST_BUDGET_MS, parseDeadline, type AdmissionLimits, type AdmissionStats, type Dropped } from './admission';

export type JsonHandler<T> = (body: T, msg: ServiceMsg) => Promise<object> | object;

/**
 * Turns raw request bytes into a validated body, or a reply that says what was wrong.
 * Nothing that arrives here can throw out of the endpoint: every path ends in a JSON reply.
 */
export function parseRequest<T>(data: Uint8Array, schema: z.ZodType<T>): { ok: true; body: T } | { ok: false; reply: object } {
  if (data.length > MAX_REQUEST_BYTES) return { ok: false, reply: errorReply('TOO_LARGE', `request is ${data.length} bytes; the limit is ${MAX_REQUEST_BYTES}`) };
  let json: unknown;
  const text = new TextDecoder().decode(data).trim();
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch (err) {
    return { ok: false, reply: errorReply('BAD_REQUEST', `body is not JSON: ${(err as Error).message}`) };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reply: errorReply('BAD_REQUEST', describeZodError(parsed.error, json)) };
  return { ok: true, body: parsed.data };
}

/**
 * One line naming every offending field, once each, e.g. `mode: required; vm: expected a string, got
 * the number 1`; a body that is not a JSON object says so (`the body must be a JSON object
 * ({"name": value, …}), not an array`). `input` is the parsed body: what the field held is said
 * from it (zod's issues do not carry it).
 */
export function describeZodError(error: z.ZodError, input?: unknown): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const issue of error.issues) {
    const path = issue.path.length ? issue.path.join('.') : '';
    if (seen.has(path)) continue; // the first complaint about a field is the one to fix first
    seen.add(path);
    parts.push(describeIssue(issue, path, valueAt(input, issue.path)));
  }
  return parts.join('; ');
}

function describeIssue(issue: z.core.$ZodIssue, path: string, value: { present: boolean; value?: unknown }): string {
  if (issue.code === 'unrecognized_keys') return `${path || '(body)'}: unknown field(s) ${issue.keys.join(', ')}`;
  if (path === '' && issue.code === 'invalid_type' && issue.expected === 'object') return `the body must be a JSON object ({"name": value, …}), not ${describeValue(value.value)}`;
  if (!value.present && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) return `${path}: required`;
  const got = value.present ? `, got ${describeValue(value.value)}` : '';
  // A bound or format broken by a list or an object: the message says it all, the value would not help.
  const gotScalar = value.present && (value.value === null || typeof value.value !== 'object') ? got : '';
  switch (issue.code) {
    case 'invalid_type':
      return `${path}: expected ${withArticle(issue.expected)}${got}`;
    case 'invalid_value':
      return `${path}: expected ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}${got}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return `${path}: must not be empty`;
      return `${path}: ${lowerFirst(issue.message)}${gotScalar}`;
    case 'too_big':
    case 'invalid_format':
      return `${path}: ${lowerFirst(issue.message)}${gotScalar}`;
    case 'not_multiple_of':
    case 'invalid_union':
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      return `${path || '(body)'}: ${issue.message}`;
  }
}

/** What a request held at `path`, and whether it held anything there at all. */
function valueAt(input: unknown, path: readonly PropertyKey[]): { present: boolean; value?: unknown } {
  let at: unknown = input;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.prototype.hasOwnProperty.call(at, key)) return { present: false };
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return { present: at !== undefined, value: at };
}

/** `an array`, `null`, `the number 1`, `the string "10"` (long strings cut), `a boolean (true)`. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** Maps whatever a handler threw to the reply the caller sees, logging what is not a plain refusal. */
export function errorToReply(err: unknown, log: Logger, subject: string): object {
  if (err instanceof LocusError) return { ok: false, error: err.toBody() };
  log.error({ err: (err as Error)?.stack ?? String(err), subject }, 'request handler failed');
  const message = (err as Error)?.message ?? String(err);
  if (isUnavailable(err)) return errorReply('UNAVAILABLE', `a backing service is not reachable: ${message}`);
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
  /** The endpoint's subject; within `group` when one is given (e.g. group `locus`, subject `vm.move`: `locus.vm.move`). */
  subject: string;
  /** A service group (nats.js `addGroup`): the subject prefix this endpoint shares with others of the service. */
  group?: string;
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
  /** requests answered `{ok:false,error}` (with `respondError`), and the last one's `CODE: message` */
  errors: number;
  lastError?: string;
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
  const subject = options.group ? `${options.group}.${options.subject}` : options.subject;
  const limits = options.admission;
  const queue = new AdmissionQueue<{ msg: ServiceMsg; body?: T }>(limits, options.defaultBudgetMs ?? DEFAULT_REQUEST_BUDGET_MS);
  const shed = shedSummaryOf(service, log);
  const failures = { errors: 0, lastError: undefined as string | undefined };
  const stats = (): EndpointStats => ({
    name: options.name,
    subject,
    ...(limits ? { limits: { ...limits } } : {}),
    ...queue.stats(),
    errors: failures.errors,
    ...(failures.lastError ? { lastError: failures.lastError } : {}),
  });
  if (!endpointsOf.has(service)) endpointsOf.set(service, new Map());
  endpointsOf.get(service)!.set(options.name, stats);

  (options.group ? service.addGroup(options.group) : service).addEndpoint(options.name, {
    subject: options.subject,
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
        errorReply('UNAVAILABLE', `${subject} is at capacity: ${admission.running} running and ${admission.queued} waiting (at most ${limits!.maxConcurrent} and ${limits!.maxQueued}); retry later`),
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

  /** A refusal or failure goes with `respondError` (its body unchanged): NATS service clients and `$SRV.STATS` see an error. */
  function send(msg: ServiceMsg, reply: object) {
    try {
      const error = errorOf(reply);
      if (error) {
        failures.errors++;
        failures.lastError = `${error.code}: ${error.message}`;
        msg.respondError(ERROR_STATUS[error.code] ?? 500, failures.lastError, new TextEncoder().encode(JSON.stringify(reply)));
      } else msg.respond(JSON.stringify(reply));
    } catch (err) {
      log.warn({ err: (err as Error).message, subject }, 'could not send reply');
    }
  }
}

/** The error of a `{ok:false,error:{code,message}}` reply, or undefined for any other reply. */
function errorOf(reply: object): ErrorBody | undefined {
  const r = reply as { ok?: unknown; error?: Partial<ErrorBody> };
  return r.ok === false && r.error && typeof r.error.code === 'string' ? { code: r.error.code, message: String(r.error.message ?? '') } : undefined;
}

/**
 * A NATS service (`nats micro ls`, `$SRV.PING|INFO|STATS`) for JSON endpoints (`addJsonEndpoint`):
 * the one way every Locus process serves requests (ADR 0006). Its `$SRV.STATS` carry each
 * endpoint's refusals and failures as `num_errors` and `last_error` (nats.js counts only handlers
 * that throw; ours answer every error with a JSON body), and the admission counters as `data`.
 */
export async function addJsonService(nc: NatsConnection, config: Pick<ServiceConfig, 'name' | 'version' | 'description' | 'metadata'>): Promise<Service> {
  let service: Service | undefined;
  service = await nc.services.add({
    ...config,
    statsHandler: (endpoint) => {
      const s = service ? [...endpointStats(service).values()].find((e) => e.subject === endpoint.subject) : undefined;
      if (!s) return Promise.resolve(null);
      // nats.js 2.x hands the endpoint's own record, whose `stats` STATS reads right after this handler.
      const own = (endpoint as unknown as { stats?: { num_errors?: number; last_error?: string } }).stats;
      if (own) {
        own.num_errors = s.errors;
        own.last_error = s.lastError;
      }
      return Promise.resolve({ started: s.started, expired: s.expired, rejected: s.rejected, running: s.running, queued: s.queued });
    },
  });
  return service;
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
export async function requestJson<T = unknown>(
  nc: { request(subject: string, data: Uint8Array, opts: { timeout: number; headers?: MsgHdrs }): Promise<{ data: Uint8Array }> },
  subject: string,
  body: unknown,
  timeoutMs = 5000,
): Promise<T> {
  const data = new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
  const msg = await nc.request(subject, data, { timeout: timeoutMs, headers: deadlineHeaders(timeoutMs) });
  return JSON.parse(new TextDecoder().decode(msg.data)) as T;
}
