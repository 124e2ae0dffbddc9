/**
 * Time is injected everywhere: agents run on simulated time so that a 20 s boot can take
 * 20 ms in a test. `now()` and `sleep()` are in simulated milliseconds.
 */
export interface Clock {
  now(): number;
  sleep(simMs: number): Promise<void>;
}
