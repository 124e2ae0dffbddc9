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

/** The span id of an event: the random half of its UUID (no hash needed: every event is stamped, ~20 per move), else a hash of the id. */
export function spanIdOf(eventId: string): string {
  const hex = eventId.length === 36 ? eventId.replace(/-/g, '').toLowerCase() : '';
  const id = /^[0-9a-f]{32}$/.test(hex) ? hex.slice(16) : sha256(`span:${eventId}`).slice(0, 16);
  return /^0+$/.test(id) ? '0000000000000001' : id;
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
