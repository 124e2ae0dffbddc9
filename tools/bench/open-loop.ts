import { summarize, type Summary } from '@locus/platform';

/**
 * The bench as an open-loop client: requests leave on a schedule (rate × elapsed time), whatever
 * the answers do, and every answer is kept with its kind and latency. Pure: callers pass the times.
 */

/**
 * Open-loop pacing: at `nowMs` the schedule says floor(elapsed × rate) + 1 requests should have
 * left; `take` returns how many are due and counts them as issued, sent or not. A caller that
 * lagged (a busy event loop) gets the missed ones at once, so the offered rate is the rate asked
 * for, unlike a token bucket whose burst limit drops them silently.
 */
export class OpenLoopPacer {
  private issued = 0;

  constructor(
    readonly rate: number,
    readonly startMs: number,
  ) {
    if (!(rate > 0)) throw new RangeError(`rate must be positive, not ${rate}`);
  }

  take(nowMs: number): number {
    const should = Math.floor((Math.max(0, nowMs - this.startMs) * this.rate) / 1000) + 1;
    const n = Math.max(0, should - this.issued);
    this.issued += n;
    return n;
  }

  get total(): number {
    return this.issued;
  }
}

/** What became of one vm.move request, as the client saw it. */
export type AnswerKind = 'accepted' | 'unavailable' | 'refused' | 'timeout' | 'failed';

export interface Answer {
  kind: AnswerKind;
  /** Error code of a refusal, or of a client-side failure (e.g. NO_RESPONDERS). */
  code?: string;
  /** Request to answer (or to the client giving up), ms. */
  ms: number;
}

/** Kind of a reply that came back: accepted (or queued), `UNAVAILABLE`, or another refusal. */
export function classifyReply(reply: { ok?: boolean; error?: { code?: string } } | undefined): { kind: 'accepted' | 'unavailable' | 'refused'; code?: string } {
  if (reply?.ok) return { kind: 'accepted' };
  const code = reply?.error?.code ?? 'UNKNOWN';
  return code === 'UNAVAILABLE' ? { kind: 'unavailable', code } : { kind: 'refused', code };
}

/** Kind of a request that got no reply: the client timeout, or another client-side error (no responders, connection closed). */
export function classifyError(err: unknown): { kind: 'timeout' | 'failed'; code: string } {
  const code = String((err as { code?: unknown })?.code ?? (err as Error)?.message ?? 'ERROR');
  if (code === 'TIMEOUT') return { kind: 'timeout', code };
  return { kind: 'failed', code: code === '503' ? 'NO_RESPONDERS' : code };
}

export interface AnswerFigures {
  /** Requests sent. */
  sent: number;
  /** Replies received (accepted, UNAVAILABLE or another refusal). */
  answered: number;
  /** Sent and not yet answered, timed out or failed when the figures were taken. */
  pending: number;
  accepted: Summary;
  unavailable: Summary;
  refused: Summary & { byCode: Record<string, number> };
  /** No reply within the client timeout. */
  timeouts: number;
  /** Client-side errors other than the timeout, by code. */
  failed: { count: number; byCode: Record<string, number> };
  /** The client timeout of the requests, ms. */
  timeoutMs: number;
  /** The "fast answer" bound, ms (100). */
  withinMs: number;
  /** Replies of any kind within `withinMs`. */
  answeredWithin: number;
  /** answeredWithin / sent (timeouts, failures and pending count as not answered in time); undefined when nothing was sent. */
  withinShare?: number;
}

/** Latency percentiles per answer kind, client timeouts and the share answered within `withinMs`. */
export function answerFigures(answers: readonly Answer[], sent: number, timeoutMs: number, withinMs = 100): AnswerFigures {
  const ms = (k: AnswerKind) => answers.filter((a) => a.kind === k).map((a) => a.ms);
  const byCode = (k: AnswerKind) => {
    const out: Record<string, number> = {};
    for (const a of answers) if (a.kind === k) out[a.code ?? 'UNKNOWN'] = (out[a.code ?? 'UNKNOWN'] ?? 0) + 1;
    return out;
  };
  const replied = answers.filter((a) => a.kind === 'accepted' || a.kind === 'unavailable' || a.kind === 'refused');
  const answeredWithin = replied.filter((a) => a.ms <= withinMs).length;
  return {
    sent,
    answered: replied.length,
    pending: Math.max(0, sent - answers.length),
    accepted: summarize(ms('accepted')),
    unavailable: summarize(ms('unavailable')),
    refused: { ...summarize(ms('refused')), byCode: byCode('refused') },
    timeouts: answers.filter((a) => a.kind === 'timeout').length,
    failed: { count: answers.filter((a) => a.kind === 'failed').length, byCode: byCode('failed') },
    timeoutMs,
    withinMs,
    answeredWithin,
    withinShare: sent ? answeredWithin / sent : undefined,
  };
}

/** Default cap on requests awaiting a reply: high enough that only replies slower than the client timeout at this rate reach it (the load stays open-loop). */
export function defaultMaxInFlight(rate: number, timeoutMs: number): number {
  return Math.max(2000, Math.ceil((rate * timeoutMs) / 1000) + 100);
}
