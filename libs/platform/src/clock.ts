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
  sleep(simMs: number): Promise<void> {
    const realMs = simMs / this.scale;
    return realMs <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, realMs));
  }
}
