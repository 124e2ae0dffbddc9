import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MovePlan, MovePrediction } from '@locus/contracts';
import { nextPrecopyStep, precopyParamsOf, predictMove, PRECOPY_DEFAULTS, type PrecopyRound } from '@locus/domain';
import { guestImage, LiveMigration, QemuGuest, type GuestImage } from '../../apps/hypervisor-agent/src';

/** One guest and the move's limits: what the plan is asked about and what QEMU then does. */
export interface FidelityCase {
  name: string;
  memoryMb: number;
  /** The guest's workload: rewrites `workingSetMiB` at `dirtyMiBps` (non-zero data). */
  dirtyMiBps: number;
  workingSetMiB: number;
  bandwidthMiBps: number;
  downtimeLimitMs: number;
  policy: 'throttle' | 'abort';
}

export const FIDELITY_CASES: FidelityCase[] = [
  { name: 'quiet', memoryMb: 192, dirtyMiBps: 0, workingSetMiB: 16, bandwidthMiBps: 64, downtimeLimitMs: 300, policy: 'throttle' },
  { name: 'steady', memoryMb: 192, dirtyMiBps: 10, workingSetMiB: 16, bandwidthMiBps: 32, downtimeLimitMs: 100, policy: 'throttle' },
  { name: 'busy-abort', memoryMb: 192, dirtyMiBps: 80, workingSetMiB: 32, bandwidthMiBps: 16, downtimeLimitMs: 100, policy: 'abort' },
];

export interface FidelityRow {
  case: FidelityCase;
  /** calc-dirty-rate, page-sampling mode (dirty-bitmap crashed QEMU 7.2), MiB/s. */
  sampledDirtyMiBps: number;
  predicted: { outcome: string; rounds: number; dataSentMiB: number; downtimeMs?: number; totalMs: number };
  actual: { outcome: string; rounds: number; dataSentMiB: number; downtimeMs?: number; totalMs: number; passes: { sentMiB: number; dirtyMiB: number; ms: number }[] };
}

const MiB = 1024 * 1024;

/**
 * `npm run bench -- --hypervisor qemu`: for each case, a real guest's dirty rate sampled with
 * `calc-dirty-rate` goes into the hot move's plan, `predictMove` (what `locus.move.plan` answers)
 * predicts it, then QEMU migrates the same guest with the same limits while the saga's own rule
 * (`nextPrecopyStep` on QEMU's passes) decides abort or a forced switchover, as in a real move.
 */
export async function runQemuFidelity(cases: FidelityCase[] = FIDELITY_CASES, log: (line: string) => void = () => undefined): Promise<FidelityRow[]> {
  const image: GuestImage = guestImage();
  const dir = mkdtempSync(join(tmpdir(), 'locus-fidelity-'));
  const rows: FidelityRow[] = [];
  try {
    for (const c of cases) rows.push(await runCase(c, image, dir, log));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

async function runCase(c: FidelityCase, image: GuestImage, dir: string, log: (line: string) => void): Promise<FidelityRow> {
  const spec = { name: `fid-${c.name}`, mac: '52:54:00:66:00:01', ipCidr: '10.66.0.2/24', memoryMb: c.memoryMb, dirtyMiBps: c.dirtyMiBps, workingSetMiB: c.workingSetMiB };
  const src = await QemuGuest.start({ spec, image, dir, instance: `${c.name}-src` });
  let dst: QemuGuest | undefined;
  try {
    await src.waitForConsole(`LOCUS-READY ${spec.name}`, 60_000);
    await new Promise((r) => setTimeout(r, 2000)); // the workload settles
    await src.qmp.execute('calc-dirty-rate', { 'calc-time': 2, mode: 'page-sampling' });
    let sampled = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const q = await src.qmp.execute<{ status: string; 'dirty-rate'?: number }>('query-dirty-rate');
      if (q.status === 'measured') {
        sampled = q['dirty-rate'] ?? 0;
        break;
      }
    }
    const memoryBytes = c.memoryMb * MiB;
    const plan: Extract<MovePlan, { mode: 'hot' }> = {
      mode: 'hot',
      memoryBytes,
      workingSetBytes: c.workingSetMiB * MiB,
      dirtyRateBps: sampled * MiB,
      bandwidthBps: c.bandwidthMiBps * MiB,
      downtimeLimitMs: c.downtimeLimitMs,
      maxRounds: PRECOPY_DEFAULTS.maxRounds,
      maxDataBytes: PRECOPY_DEFAULTS.maxDataFactor * memoryBytes,
      policy: c.policy,
      resumeMs: PRECOPY_DEFAULTS.resumeMs,
    };
    const prediction: MovePrediction = predictMove(plan);
    log(`${c.name}: sampled ${sampled} MiB/s; predicted ${prediction.outcome}, ${prediction.rounds.length} rounds`);

    const uri = `unix:${join(dir, `${c.name}.migrate`)}`;
    dst = await QemuGuest.start({ spec, image, dir, instance: `${c.name}-dst`, incoming: uri });
    const m = await LiveMigration.start(src, dst, uri, { downtimeLimitMs: c.downtimeLimitMs, bandwidthBps: plan.bandwidthBps, policy: c.policy });
    const params = precopyParamsOf(plan);
    const rounds: PrecopyRound[] = [];
    let outcome = 'switchover';
    for (let round = 0; ; round++) {
      const p = await m.pass(round, 120_000);
      rounds.push({
        round,
        sentBytes: p.sentBytes,
        durationMs: p.durationMs,
        dirtyBytes: p.dirtyBytes,
        throttlePct: p.throttlePct,
        expectedDowntimeMs: p.expectedDowntimeMs,
        measured: true,
        completed: p.completed,
      });
      if (p.completed) break;
      const next = nextPrecopyStep(params, rounds);
      if (next.kind === 'abort') {
        outcome = 'abort';
        await m.cancel();
        break;
      }
      if (next.kind === 'switchover') {
        await m.forceSwitchover();
        await m.done;
        break;
      }
    }
    const res = outcome === 'abort' ? undefined : await m.done;
    const sent = rounds.reduce((s, r) => s + r.sentBytes, 0);
    return {
      case: c,
      sampledDirtyMiBps: sampled,
      predicted: {
        outcome: prediction.outcome,
        rounds: prediction.rounds.length,
        dataSentMiB: prediction.dataSentBytes / MiB,
        ...(prediction.downtimeMs !== undefined ? { downtimeMs: prediction.downtimeMs } : {}),
        totalMs: prediction.totalMs,
      },
      actual: {
        outcome,
        rounds: rounds.length,
        dataSentMiB: (res?.transferredBytes ?? sent) / MiB,
        ...(res ? { downtimeMs: res.downtimeMs } : {}),
        totalMs: res?.totalMs ?? Date.now() - m.started,
        passes: rounds.map((r) => ({ sentMiB: r.sentBytes / MiB, dirtyMiB: r.dirtyBytes / MiB, ms: r.durationMs })),
      },
    };
  } finally {
    await Promise.all([src.quit(1000), dst?.quit(1000)]);
  }
}

export function renderQemuFidelity(rows: FidelityRow[]): string {
  const f = (n: number | undefined, d = 0) => (n === undefined ? '-' : n.toFixed(d));
  const lines = [
    "QEMU fidelity (accel=tcg): locus.move.plan's prediction (dirty rate sampled with calc-dirty-rate page-sampling) beside QEMU's actual migration",
    '',
    'case        guest                         sampled    | predicted: outcome   rounds  sent MiB  downtime ms  total ms | actual: outcome   rounds  sent MiB  downtime ms  total ms',
  ];
  for (const r of rows) {
    const c = r.case;
    lines.push(
      `${c.name.padEnd(11)} ${`${c.memoryMb} MiB, ${c.dirtyMiBps} MiB/s over ${c.workingSetMiB} MiB, ${c.bandwidthMiBps} MiB/s, ${c.downtimeLimitMs} ms, ${c.policy}`.padEnd(30).slice(0, 60)} ${f(r.sampledDirtyMiBps).padStart(4)} MiB/s | ` +
        `${r.predicted.outcome.padEnd(18)} ${f(r.predicted.rounds).padStart(6)}  ${f(r.predicted.dataSentMiB, 1).padStart(8)}  ${f(r.predicted.downtimeMs, 1).padStart(11)}  ${f(r.predicted.totalMs).padStart(8)} | ` +
        `${r.actual.outcome.padEnd(15)} ${f(r.actual.rounds).padStart(6)}  ${f(r.actual.dataSentMiB, 1).padStart(8)}  ${f(r.actual.downtimeMs, 1).padStart(11)}  ${f(r.actual.totalMs).padStart(8)}`,
    );
  }
  lines.push('', 'QEMU sends a zero page as a header only: a guest whose memory is mostly untouched sends less than its size in round 0, which the model counts in full.');
  return lines.join('\n');
}
