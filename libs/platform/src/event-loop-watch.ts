import type { Logger } from 'pino';

export interface EventLoopWatchOptions {
  /** How often the watch's timer is due, ms. */
  everyMs?: number;
  /** A timer this late or later is logged, ms. */
  thresholdMs?: number;
  /** Monotonic ms (injectable for tests). */
  now?: () => number;
}

/** Default lateness that is logged: far above a garbage collection's pause (10–50 ms), so a line means something held the process. */
export const EVENT_LOOP_BLOCKED_MS = 1000;

/**
 * Warns when this process's event loop was blocked: a timer due every `everyMs` fired
 * `thresholdMs` or more late, so every request, event and timer of the process waited as long.
 * A service whose moves all went late at once otherwise says nothing about why; this line tells a
 * stall of the process itself from a stall of what it waits for (NATS, Postgres, an agent).
 * Returns a function that stops the watch; the timer never keeps the process alive.
 */
export function watchEventLoop(logger: Logger, options: EventLoopWatchOptions = {}): () => void {
  const everyMs = options.everyMs ?? 250;
  const thresholdMs = options.thresholdMs ?? EVENT_LOOP_BLOCKED_MS;
  const now = options.now ?? (() => performance.now());
  let dueAt = now() + everyMs;
  const timer = setInterval(() => {
    const firedAt = now();
    const lateMs = firedAt - dueAt;
    dueAt = firedAt + everyMs;
    if (lateMs >= thresholdMs)
      logger.warn({ component: 'event-loop', blockedMs: Math.round(lateMs) }, `event loop blocked for ${Math.round(lateMs)} ms: every request, event and timer of this process waited that long`);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
