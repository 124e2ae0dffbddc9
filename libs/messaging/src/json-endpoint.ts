import type { Service, ServiceMsg } from 'nats';
import { z } from 'zod';
import type { Logger } from 'pino';
import { LocusError, MAX_REQUEST_BYTES, errorReply } from '@locus/contracts';

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

/** Adds a JSON request/reply endpoint to a NATS service (visible with `nats micro ls`). */
export function addJsonEndpoint<T>(
  service: Service,
  options: { name: string; subject: string; schema: z.ZodType<T>; handler: JsonHandler<T>; logger: Logger; queue?: string },
): void {
  const log = options.logger;
  service.addEndpoint(options.name, {
    subject: options.subject,
    queue: options.queue,
    handler: (err, msg) => {
      if (err) {
        log.error({ err: err.message, subject: options.subject }, 'endpoint error');
        return;
      }
      void respond(msg);
    },
  });
  async function respond(msg: ServiceMsg) {
    const parsed = parseRequest(msg.data, options.schema);
    let reply: object;
    if (!parsed.ok) reply = parsed.reply;
    else {
      try {
        reply = await options.handler(parsed.body, msg);
      } catch (err) {
        reply = errorToReply(err, log, options.subject);
      }
    }
    try {
      msg.respond(JSON.stringify(reply));
    } catch (err) {
      log.warn({ err: (err as Error).message, subject: options.subject }, 'could not send reply');
    }
  }
}

/** Sends a JSON request and parses the JSON reply (used by the saga, the CLI tool and tests). */
export async function requestJson<T = any>(
  nc: { request(subject: string, data: Uint8Array, opts: { timeout: number }): Promise<{ data: Uint8Array }> },
  subject: string,
  body: unknown,
  timeoutMs = 5000,
): Promise<T> {
  const msg = await nc.request(subject, new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)), { timeout: timeoutMs });
  return JSON.parse(new TextDecoder().decode(msg.data)) as T;
}
