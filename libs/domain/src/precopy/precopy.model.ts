/**
 * The pre-copy live-migration model (hot move), as QEMU and Xen run it: round 0 sends all
 * memory while the VM runs; each next round re-sends the pages dirtied during the previous
 * one; when what is left fits in the downtime limit the VM is stopped, the rest copied and the
 * VM resumed at the target. Pure and deterministic: `locus.move.plan` and the real move use
 * the same functions, so the prediction is what the move then reports.
 *
 * Units: bytes, bytes per second, milliseconds.
 */
export type NonConvergencePolicy = 'throttle' | 'postcopy' | 'abort';

export interface PrecopyParams {
  memoryBytes: number;
  /** Writable working set: the unique pages dirtied in one round saturate here. Infinity for none. */
  workingSetBytes: number;
  dirtyRateBps: number;
  bandwidthBps: number;
  downtimeLimitMs: number;
  maxRounds: number;
  maxDataBytes: number;
  policy: NonConvergencePolicy;
  /** Device state transfer and resume at the target, part of the downtime. */
  resumeMs: number;
}

export const PRECOPY_DEFAULTS = {
  downtimeLimitMs: 300, // QEMU's default max downtime
  maxRounds: 30, // Xen's default
  maxDataFactor: 3, // Xen: give up pre-copy after sending 3 x memory
  policy: 'throttle' as NonConvergencePolicy,
  resumeMs: 20,
  /** QEMU auto-converge: cpu-throttle-initial 20 %, cpu-throttle-increment 10 %, max 99 %. */
  throttleInitialPct: 20,
  throttleIncrementPct: 10,
  throttleMaxPct: 99,
} as const;

/** QEMU announces the VM from the target with RARP at these offsets after resume (announce-initial 50 ms, step 100 ms, 5 rounds). */
export const RARP_ANNOUNCE_OFFSETS_MS = [50, 150, 250, 350, 450] as const;

export interface PrecopyRound {
  round: number;
  sentBytes: number;
  durationMs: number;
  /** Unique bytes dirtied while this round was sent: what the next round (or the stop-and-copy) must send. */
  dirtyBytes: number;
  throttlePct: number;
  /** Downtime if the VM were stopped right after this round. */
  expectedDowntimeMs: number;
  /** A real hypervisor's pass (QEMU): it runs its own pre-copy and switches over itself; the saga only records, caps and aborts. */
  measured?: boolean;
  /** The hypervisor switched over at the end of this pass: the guest runs at the target. */
  completed?: boolean;
  dirtyRateBps?: number;
}

export type PrecopyNext =
  | { kind: 'round'; round: number; sendBytes: number; throttlePct: number }
  | { kind: 'switchover'; reason: 'converged' | 'max-rounds' | 'max-data'; remainingBytes: number; stopCopyMs: number; downtimeMs: number }
  | { kind: 'postcopy'; remainingBytes: number; downtimeMs: number; pullMs: number }
  | { kind: 'abort'; reason: string };

export const transferMs = (bytes: number, bandwidthBps: number) => (bytes / bandwidthBps) * 1000;

/** Unique bytes a guest dirties in `ms` at `throttlePct` vCPU throttle, saturating at the working set. */
export function dirtiedDuring(p: PrecopyParams, ms: number, throttlePct: number): number {
  const rate = p.dirtyRateBps * (1 - throttlePct / 100);
  return Math.min(p.workingSetBytes, (rate * ms) / 1000);
}

/** Runs one pre-copy round (what the source agent does, on its clock). */
export function runRound(p: PrecopyParams, round: number, sendBytes: number, throttlePct: number): PrecopyRound {
  const durationMs = transferMs(sendBytes, p.bandwidthBps);
  const dirtyBytes = dirtiedDuring(p, durationMs, throttlePct);
  return { round, sentBytes: sendBytes, durationMs, dirtyBytes, throttlePct, expectedDowntimeMs: transferMs(dirtyBytes, p.bandwidthBps) + p.resumeMs };
}

/**
 * Decides what follows the rounds done so far: another round, the switchover, postcopy or abort.
 * Non-convergence is a round whose dirty data did not shrink below the previous one while it
 * still does not fit the downtime limit (the dirty rate is at or above the bandwidth, or the
 * working set alone exceeds the downtime budget).
 */
export function nextPrecopyStep(p: PrecopyParams, rounds: readonly PrecopyRound[]): PrecopyNext {
  if (rounds.length === 0) return { kind: 'round', round: 0, sendBytes: p.memoryBytes, throttlePct: 0 };
  const last = rounds[rounds.length - 1];
  const remaining = last.dirtyBytes;
  const stopCopyMs = transferMs(remaining, p.bandwidthBps);
  const switchover = (reason: 'converged' | 'max-rounds' | 'max-data'): PrecopyNext => ({
    kind: 'switchover',
    reason,
    remainingBytes: remaining,
    stopCopyMs,
    downtimeMs: stopCopyMs + p.resumeMs,
  });
  if (last.completed) return switchover('converged');
  // A real hypervisor decides its switchover with its own measure of the link: while it goes on, so do the rounds.
  if (stopCopyMs <= p.downtimeLimitMs && !last.measured) return switchover('converged');
  if (rounds.length >= p.maxRounds) return switchover('max-rounds');
  const sent = rounds.reduce((sum, r) => sum + r.sentBytes, 0);
  if (sent + remaining > p.maxDataBytes && !last.measured) return switchover('max-data');

  const previous = rounds.length >= 2 ? rounds[rounds.length - 2] : undefined;
  const notConverging = p.dirtyRateBps * (1 - last.throttlePct / 100) >= p.bandwidthBps || (previous !== undefined && remaining >= previous.dirtyBytes);
  let throttlePct = last.throttlePct;
  if (notConverging && last.measured && stopCopyMs <= p.downtimeLimitMs) return { kind: 'round', round: last.round + 1, sendBytes: remaining, throttlePct };
  if (notConverging) {
    if (p.policy === 'abort')
      return {
        kind: 'abort',
        reason: `dirty data is not shrinking (${fmtBytes(remaining)} left after round ${last.round}, ${fmtBytes(p.dirtyRateBps)}/s dirty rate against ${fmtBytes(p.bandwidthBps)}/s)`,
      };
    if (p.policy === 'postcopy') return { kind: 'postcopy', remainingBytes: remaining, downtimeMs: p.resumeMs, pullMs: stopCopyMs };
    throttlePct = last.throttlePct === 0 ? PRECOPY_DEFAULTS.throttleInitialPct : Math.min(PRECOPY_DEFAULTS.throttleMaxPct, last.throttlePct + PRECOPY_DEFAULTS.throttleIncrementPct);
  }
  return { kind: 'round', round: last.round + 1, sendBytes: remaining, throttlePct };
}

export interface PrecopyPrediction {
  rounds: PrecopyRound[];
  outcome: Exclude<PrecopyNext, { kind: 'round' }>;
  /** Bytes sent over the link, stop-and-copy or postcopy pull included. */
  dataSentBytes: number;
  /** From the first byte to the VM running at the target (postcopy: until the last page arrived). */
  totalMs: number;
  /** VM stopped to VM running; undefined when the move aborts. */
  downtimeMs?: number;
}

/** The whole pre-copy run, round by round, as the agents will run it. */
export function predictPrecopy(p: PrecopyParams): PrecopyPrediction {
  const rounds: PrecopyRound[] = [];
  for (;;) {
    const next = nextPrecopyStep(p, rounds);
    if (next.kind === 'round') {
      rounds.push(runRound(p, next.round, next.sendBytes, next.throttlePct));
      continue;
    }
    const precopyMs = rounds.reduce((s, r) => s + r.durationMs, 0);
    const precopyBytes = rounds.reduce((s, r) => s + r.sentBytes, 0);
    if (next.kind === 'switchover') return { rounds, outcome: next, dataSentBytes: precopyBytes + next.remainingBytes, totalMs: precopyMs + next.downtimeMs, downtimeMs: next.downtimeMs };
    if (next.kind === 'postcopy') return { rounds, outcome: next, dataSentBytes: precopyBytes + next.remainingBytes, totalMs: precopyMs + next.downtimeMs + next.pullMs, downtimeMs: next.downtimeMs };
    return { rounds, outcome: next, dataSentBytes: precopyBytes, totalMs: precopyMs };
  }
}

export function fmtBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** The pre-copy parameters of a hot move's plan (JSON carries "no working-set cap" as null). */
export function precopyParamsOf(plan: {
  memoryBytes: number;
  workingSetBytes: number | null;
  dirtyRateBps: number;
  bandwidthBps: number;
  downtimeLimitMs: number;
  maxRounds: number;
  maxDataBytes: number;
  policy: NonConvergencePolicy;
  resumeMs: number;
}): PrecopyParams {
  return { ...plan, workingSetBytes: plan.workingSetBytes ?? Infinity };
}
