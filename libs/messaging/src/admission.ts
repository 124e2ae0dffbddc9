/**
 * What one request endpoint admits, as a pure policy (no clock, no NATS: every call is told `now`).
 *
 * - A request whose deadline has passed is never started: its caller has stopped waiting, so
 *   running it is wasted work (and for a mutating request, a change nobody hears about). The
 *   deadline is the caller's (`Locus-Deadline`) or, without one, arrival + `defaultBudgetMs`.
 * - Without `limits` every live request starts at once.
 * - With `limits`, at most `maxConcurrent` handlers run; up to `maxQueued` more wait in FIFO order
 *   and start as slots free (expired ones are dropped when they reach the head); a request that
 *   finds the queue full is refused at once, so that the caller hears "busy" while it still listens.
 */
export interface AdmissionLimits {
  maxConcurrent: number;
  maxQueued: number;
}

/** Longest a request without a deadline header may wait to start (e.g. one sent by the plain `nats req` CLI). */
export const DEFAULT_REQUEST_BUDGET_MS = 30_000;

export type DropReason =
  /** the caller's Locus-Deadline passed before the handler could start */
  | 'deadline'
  /** no deadline header, and the request waited longer than the endpoint's budget */
  | 'budget';

export interface Dropped<T> {
  item: T;
  reason: DropReason;
  /** ms from arrival to the drop */
  waitedMs: number;
  /** ms past its deadline when dropped */
  lateMs: number;
}

/**
 * What to do with a request that just arrived, and the requests dropped meanwhile (`dropped`:
 * the arriving one when `expired`; waiting ones whose deadline passed, swept out to make room
 * when the queue was full).
 */
export type Admission<T> = ({ kind: 'start' } | { kind: 'queued'; position: number } | { kind: 'expired' } | { kind: 'full'; running: number; queued: number }) & { dropped: Dropped<T>[] };

export interface AdmissionStats {
  /** handlers started */
  started: number;
  /** handlers finished (replied or failed) */
  finished: number;
  /** requests dropped unanswered because their deadline (or budget) passed before they started */
  expired: number;
  /** requests refused because the queue was full (answered UNAVAILABLE) */
  rejected: number;
  /** handlers running now */
  running: number;
  /** requests waiting now */
  queued: number;
}

interface Waiting<T> {
  item: T;
  arrivedAt: number;
  deadline: number;
  reason: DropReason;
}

export class AdmissionQueue<T> {
  private readonly waiting: Waiting<T>[] = [];
  private head = 0;
  private runningNow = 0;
  private readonly counts = { started: 0, finished: 0, expired: 0, rejected: 0 };

  constructor(
    readonly limits?: AdmissionLimits,
    readonly defaultBudgetMs: number = DEFAULT_REQUEST_BUDGET_MS,
  ) {
    if (limits && !(limits.maxConcurrent >= 1 && limits.maxQueued >= 0)) throw new Error(`admission limits need maxConcurrent >= 1 and maxQueued >= 0, not ${JSON.stringify(limits)}`);
  }

  /**
   * A request arrives at `now`, with the caller's deadline (epoch ms) if it sent one. On `start`
   * the caller runs it now and calls `finish` when done; on `queued` it is handed out by a later
   * `finish`; on `expired` it is dropped unanswered; on `full` it is refused. A full queue is
   * first swept of waiting requests whose deadline has passed (they would be dropped anyway).
   */
  offer(item: T, now: number, deadline?: number): Admission<T> {
    const w: Waiting<T> = deadline === undefined ? { item, arrivedAt: now, deadline: now + this.defaultBudgetMs, reason: 'budget' } : { item, arrivedAt: now, deadline, reason: 'deadline' };
    if (this.isExpired(w, now)) return { kind: 'expired', dropped: [this.drop(w, now)] };
    if (!this.limits || (this.runningNow < this.limits.maxConcurrent && this.queued === 0)) {
      this.begin();
      return { kind: 'start', dropped: [] };
    }
    const dropped = this.queued >= this.limits.maxQueued ? this.sweep(now) : [];
    if (this.queued >= this.limits.maxQueued) {
      this.counts.rejected++;
      return { kind: 'full', running: this.runningNow, queued: this.queued, dropped };
    }
    this.waiting.push(w);
    return { kind: 'queued', position: this.queued, dropped };
  }

  /**
   * A handler is done at `now`: its slot goes to the first waiting request still within its
   * deadline (`next`, to be run now, and `finish`ed in turn); the expired ones ahead of it are dropped.
   */
  finish(now: number): { next?: T; dropped: Dropped<T>[] } {
    if (this.runningNow <= 0) throw new Error('finish() without a running request');
    this.runningNow--;
    this.counts.finished++;
    const dropped: Dropped<T>[] = [];
    while (this.queued > 0) {
      const w = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as never;
      this.compact();
      if (this.isExpired(w, now)) {
        dropped.push(this.drop(w, now));
        continue;
      }
      this.begin();
      return { next: w.item, dropped };
    }
    return { dropped };
  }

  get running(): number {
    return this.runningNow;
  }

  get queued(): number {
    return this.waiting.length - this.head;
  }

  stats(): AdmissionStats {
    return { ...this.counts, running: this.runningNow, queued: this.queued };
  }

  private isExpired(w: Waiting<T>, now: number): boolean {
    return now >= w.deadline;
  }

  /** Drops every waiting request whose deadline has passed, keeping the others in order. */
  private sweep(now: number): Dropped<T>[] {
    const dropped: Dropped<T>[] = [];
    const live: Waiting<T>[] = [];
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      if (this.isExpired(w, now)) dropped.push(this.drop(w, now));
      else live.push(w);
    }
    if (dropped.length) {
      this.waiting.length = 0;
      this.waiting.push(...live);
      this.head = 0;
    }
    return dropped;
  }

  private begin(): void {
    this.runningNow++;
    this.counts.started++;
  }

  private drop(w: Waiting<T>, now: number): Dropped<T> {
    this.counts.expired++;
    return { item: w.item, reason: w.reason, waitedMs: now - w.arrivedAt, lateMs: now - w.deadline };
  }

  /** Keeps the array from growing without end: shifts out the consumed head now and then. */
  private compact(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** The `Locus-Deadline` header's value as epoch ms, or undefined when absent or not a number. */
export function parseDeadline(value: string | undefined | null): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (!/^\d{1,16}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}
