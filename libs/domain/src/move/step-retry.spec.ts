import { attemptTimeoutMs, expectedStepMs, silenceOf, type StepRetryPolicy } from './step-retry';
import type { SagaStep } from './move.saga';

const policy = (timeScale: number): StepRetryPolicy => ({ firstTimeoutMs: 1000, maxTimeoutMs: 8000, minRealMs: 200, timeScale, giveUpRealMs: 20_000 });
const step = (action: Extract<SagaStep, { kind: 'agent' }>['action'], params: Record<string, number | null>): Extract<SagaStep, { kind: 'agent' }> => ({
  kind: 'agent',
  action,
  hypervisor: 'dc1-hv1',
  moveId: '00000000-0000-4000-8000-000000000000',
  locationVersion: 1,
  params,
});

describe('agent step retries', () => {
  it('given real time, then attempts wait 1, 2, 4, 8, 8 s: short, doubling, capped', () => {
    expect([0, 1, 2, 3, 4, 9].map((a) => attemptTimeoutMs(policy(1), a))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });
  it('given time scale 10, then the same schedule runs ten times faster, never under the real floor', () => {
    expect([0, 1, 2, 3, 4].map((a) => attemptTimeoutMs(policy(10), a))).toEqual([200, 200, 400, 800, 800]);
    expect(attemptTimeoutMs(policy(1000), 5)).toBe(200);
  });
  it('expects a step to take what its parameters say', () => {
    expect(expectedStepMs(step('start', { durationMs: 20_000 }))).toBe(20_000);
    expect(expectedStepMs(step('transfer', { bytes: 125_000_000, bandwidthBps: 125_000_000 }))).toBe(1000);
    expect(expectedStepMs(step('suspend', { bytes: 500, diskBps: 1000 }))).toBe(500);
    expect(expectedStepMs(step('announce', {}))).toBe(450);
    expect(expectedStepMs(step('start', {}))).toBe(0);
  });
  it('given a busy agent (within its step) or a manager cut off from NATS, then the silence does not count; past the step over an unbroken link, it does', () => {
    expect(silenceOf({ linkUnbroken: true, sentRealMs: 1000, endedRealMs: 1500, expectedRealMs: 2000 })).toBe(0);
    expect(silenceOf({ linkUnbroken: false, sentRealMs: 8000, endedRealMs: 9000, expectedRealMs: 2000 })).toBe(0);
    expect(silenceOf({ linkUnbroken: true, sentRealMs: 1800, endedRealMs: 2500, expectedRealMs: 2000 })).toBe(500);
    expect(silenceOf({ linkUnbroken: true, sentRealMs: 3000, endedRealMs: 3800, expectedRealMs: 2000 })).toBe(800);
  });
});
