import type { Clock } from '@locus/domain';

/** Simulated time running `scale` times faster than the wall clock (1 = real time). */
export class ScaledClock implements Clock {
  private readonly origin = Date.now();
  constructor(readonly scale: number = 1) {
    if (!(scale > 0)) throw new Error('time scale must be positive');
  }
  now(): number {
    return this.origin + (Date.now() - this.origin) * this.scale;
  }
  /** Never less than asked: a timer may fire a fraction of a millisecond early, which is a whole simulated second at scale 1000. */
  sleep(simMs: number): Promise<void> {
    const realMs = simMs / this.scale;
    if (!(realMs > 0)) return Promise.resolve();
    const until = performance.now() + realMs;
    return new Promise((resolve) => {
      const wake = () => {
        const left = until - performance.now();
        if (left <= 0) resolve();
        else setTimeout(wake, Math.max(1, Math.ceil(left)));
      };
      setTimeout(wake, realMs);
    });
  }
}

/**
 * The wall clock with sub-millisecond precision, as epoch ms: what an agent stamps the moments a
 * VM stopped and ran again with. Processes on one machine (or NTP-synced hosts) agree on it.
 */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
