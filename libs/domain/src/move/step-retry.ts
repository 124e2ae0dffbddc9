import { RARP_ANNOUNCE_OFFSETS_MS, transferMs } from '../precopy/precopy.model';
import type { AgentStep } from './move.saga';

/**
 * How the saga waits for one agent step. A request lost with NATS (an outage, an agent that
 * restarted) is sent again after a short timeout that doubles up to a cap, on the lab's time
 * scale; sending again is safe because agents run each (move, step, round) once and answer a
 * repeat with the same result, joining the run still in progress. The agent is given up on only
 * once it has been silent for `giveUpRealMs` over an unbroken link after the step's own expected
 * duration: a busy agent is not a dead one, and a manager cut off from NATS proves nothing. That
 * budget is real time whatever the time scale: what silences an agent (a process or a host
 * starting again, a partition) takes real time.
 */
export interface StepRetryPolicy {
  /** Timeout of the first attempt, simulated ms. */
  firstTimeoutMs: number;
  /** Longest attempt timeout, simulated ms. */
  maxTimeoutMs: number;
  /** No attempt waits less than this many real ms (a round trip through a busy NATS). */
  minRealMs: number;
  /** Simulated ms per real ms. */
  timeScale: number;
  /** Real ms of silence (see `silenceOf`) after which the agent is given up on. */
  giveUpRealMs: number;
}

/** Real ms to wait for attempt `attempt` (0 = the first request). */
export function attemptTimeoutMs(p: StepRetryPolicy, attempt: number): number {
  const simMs = Math.min(p.maxTimeoutMs, p.firstTimeoutMs * 2 ** Math.min(attempt, 30));
  return Math.max(p.minRealMs, simMs / p.timeScale);
}

/** Simulated ms the agent needs for the step by its parameters (0 when they do not say, e.g. a restart at the source). */
export function expectedStepMs(step: AgentStep): number {
  const { durationMs, bytes, bandwidthBps, diskBps } = step.params;
  if (step.action === 'announce') return RARP_ANNOUNCE_OFFSETS_MS[RARP_ANNOUNCE_OFFSETS_MS.length - 1];
  if (typeof durationMs === 'number') return durationMs;
  if (typeof bytes === 'number' && typeof bandwidthBps === 'number') return transferMs(bytes, bandwidthBps);
  if (typeof bytes === 'number' && typeof diskBps === 'number') return transferMs(bytes, diskBps);
  return 0;
}

/** One attempt that got no answer (an answer `UNAVAILABLE` included: the agent is starting or down). */
export interface UnansweredAttempt {
  /** The manager's NATS connection stayed up from the request to its timeout. */
  linkUnbroken: boolean;
  /** Real ms since the step's first request, when this attempt was sent and when it timed out. */
  sentRealMs: number;
  endedRealMs: number;
  /** The step's expected duration, real ms. */
  expectedRealMs: number;
}

/** Real ms of the attempt that count as the agent's silence: the part after the step should have been done, over an unbroken link. */
export function silenceOf(a: UnansweredAttempt): number {
  if (!a.linkUnbroken) return 0;
  return Math.max(0, a.endedRealMs - Math.max(a.sentRealMs, a.expectedRealMs));
}
