import { createHash } from 'node:crypto';
import { headers, type MsgHdrs } from 'nats';
import { HEADERS, type PlaneEvent } from '@locus/contracts';

/**
 * W3C trace context for events, derived deterministically so that every service stamps the
 * same trace without passing spans around: the trace id comes from the correlation id (a move's
 * events and every plane event about that move share it: a UUID move id is its own trace id,
 * dashes dropped), the span id from the event id (a UUID's second half). `00-<trace id>-<span id>-01` (sampled).
 */
export function traceIdOf(correlationId: string): string {
  const hex = correlationId.replace(/-/g, '').toLowerCase();
  const id = /^[0-9a-f]{32}$/.test(hex) ? hex : sha256(`trace:${correlationId}`).slice(0, 32);
  return /^0+$/.test(id) ? sha256(`trace:${correlationId}`).slice(0, 32) : id;
}

/**
 * The span id of an event: the random half of its UUID (no hash needed: every event is stamped, ~20
 * per move), else a 64-bit FNV-1a of the id (a plane event's id names its fact, `RouteConfirmed:dc2:…`:
 * a span id needs to be stable, not secret, and a SHA-256 per plane step was ~1.5 % of the planes' CPU).
 */
export function spanIdOf(eventId: string): string {
  const hex = eventId.length === 36 ? eventId.replace(/-/g, '').toLowerCase() : '';
  const id = /^[0-9a-f]{32}$/.test(hex) ? hex.slice(16) : fnv1a64Hex(eventId);
  return /^0+$/.test(id) ? '0000000000000001' : id;
}

/** FNV-1a, 64 bits, of the string's UTF-16 code units, as 16 hex digits (two 32-bit halves kept apart with Math.imul). */
function fnv1a64Hex(s: string): string {
  // 64-bit offset basis 0xcbf29ce484222325 and prime 0x100000001b3, in 32-bit halves
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < s.length; i++) {
    lo = (lo ^ s.charCodeAt(i)) >>> 0;
    // (hi:lo) * 0x100000001b3 mod 2^64 = lo * 0x1b3 + ((hi * 0x1b3 + lo * 0x100) << 32)
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    hi = (Math.imul(hi, 0x1b3) + Math.imul(lo, 0x100) + carry) >>> 0;
    lo = loMul >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export function traceparent(correlationId: string, eventId: string): string {
  return `00-${traceIdOf(correlationId)}-${spanIdOf(eventId)}-01`;
}

/** The trace id of a `traceparent` header, or undefined when it is missing or malformed. */
export function traceIdOfHeader(value: string | undefined): string | undefined {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(value ?? '');
  return m?.[1];
}

/**
 * Headers of a plane event: its type, and for a move's fact the move's correlation id and trace. A
 * fact of no move (a reconcile's, a refresh's: one per VM when a site starts) is a trace of its own
 * and carries none.
 */
export function planeEventHeaders(event: PlaneEvent): MsgHdrs {
  const h = headers();
  h.set(HEADERS.type, event.type);
  if (event.moveId) {
    h.set(HEADERS.correlationId, event.moveId);
    h.set(HEADERS.traceparent, traceparent(event.moveId, event.id));
  }
  return h;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
