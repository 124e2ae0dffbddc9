import { Command, InvalidArgumentError } from 'commander';
import { fmtBytes, predictMove, PRECOPY_DEFAULTS } from '@locus/domain';

/**
 * `npm run -s precopy -- --memory 4GiB --dirty-rate 200MiB/s --bandwidth 10Gbit/s`: the
 * pre-copy prediction for any (M, W, D, R), without a VM or a lab: the same model the
 * agents run and `locus.move.plan` answers with.
 */
const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };
const BITS: Record<string, number> = { bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8 };

function bytes(value: string): number {
  const m = /^([\d.]+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = (m?.[2] || 'b').toLowerCase();
  if (!m || !(unit in UNITS)) throw new InvalidArgumentError(`"${value}" is not a size (e.g. 4GiB, 512MiB)`);
  return Number(m[1]) * UNITS[unit];
}
function rate(value: string): number {
  const m = /^([\d.]+)\s*([a-z]*)(?:\/s|ps)?$/i.exec(value.trim());
  const unit = (m?.[2] || 'b').toLowerCase();
  if (m && unit in BITS) return Number(m[1]) * BITS[unit];
  if (m && unit in UNITS) return Number(m[1]) * UNITS[unit];
  throw new InvalidArgumentError(`"${value}" is not a rate (e.g. 200MiB/s, 10Gbit/s)`);
}
function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`"${value}" is not a positive number`);
  return n;
}

const opts = new Command()
  .name('npm run -s precopy --')
  .description('Predict a hot move (pre-copy live migration) round by round.')
  .requiredOption('--memory <size>', 'VM memory M, e.g. 4GiB', bytes)
  .option('--working-set <size>', 'writable working set W (unique pages dirtied per round saturate here); default: no cap', bytes)
  .requiredOption('--dirty-rate <rate>', 'dirty rate D, e.g. 200MiB/s', rate)
  .requiredOption('--bandwidth <rate>', 'link bandwidth R, e.g. 10Gbit/s or 1.25GB/s', rate)
  .option('--downtime-limit <ms>', 'max downtime before switchover', positive, PRECOPY_DEFAULTS.downtimeLimitMs)
  .option('--max-rounds <n>', 'give up pre-copy after this many rounds', positive, PRECOPY_DEFAULTS.maxRounds)
  .option('--max-data-factor <x>', 'give up pre-copy after sending x times memory', positive, PRECOPY_DEFAULTS.maxDataFactor)
  .option('--policy <policy>', 'when it does not converge: throttle, postcopy or abort', PRECOPY_DEFAULTS.policy)
  .option('--json', 'print the prediction as JSON')
  .parse()
  .opts<{ memory: number; workingSet?: number; dirtyRate: number; bandwidth: number; downtimeLimit: number; maxRounds: number; maxDataFactor: number; policy: string; json?: boolean }>();

if (!['throttle', 'postcopy', 'abort'].includes(opts.policy)) {
  console.error(`--policy must be throttle, postcopy or abort, not ${opts.policy}`);
  process.exit(2);
}
const prediction = predictMove({
  mode: 'hot',
  memoryBytes: opts.memory,
  workingSetBytes: opts.workingSet ?? null,
  dirtyRateBps: opts.dirtyRate,
  bandwidthBps: opts.bandwidth,
  downtimeLimitMs: opts.downtimeLimit,
  maxRounds: Math.floor(opts.maxRounds),
  maxDataBytes: opts.maxDataFactor * opts.memory,
  policy: opts.policy as 'throttle' | 'postcopy' | 'abort',
  resumeMs: PRECOPY_DEFAULTS.resumeMs,
});
if (opts.json) {
  console.log(JSON.stringify(prediction, null, 2));
} else {
  const pad = (s: string, n: number) => s.padStart(n);
  console.log(`${pad('round', 5)} ${pad('sent', 10)} ${pad('time', 10)} ${pad('dirty left', 11)} ${pad('throttle', 8)} ${pad('downtime if stopped', 19)}`);
  for (const r of prediction.rounds)
    console.log(
      `${pad(String(r.round), 5)} ${pad(fmtBytes(r.sentBytes), 10)} ${pad(`${r.durationMs.toFixed(1)} ms`, 10)} ${pad(fmtBytes(r.dirtyBytes), 11)} ${pad(`${r.throttlePct}%`, 8)} ${pad(`${r.expectedDowntimeMs.toFixed(1)} ms`, 19)}`,
    );
  const l = opts.dirtyRate / opts.bandwidth;
  console.log(
    `\n${prediction.outcome}${prediction.reason ? ` (${prediction.reason})` : ''}: ${prediction.rounds.length} rounds, ${fmtBytes(prediction.dataSentBytes)} sent, total ${prediction.totalMs.toFixed(1)} ms` +
      (prediction.downtimeMs !== undefined ? `, downtime ${prediction.downtimeMs.toFixed(1)} ms` : '') +
      ` (D/R = ${l.toFixed(3)})`,
  );
  console.log(
    `phases: ${Object.entries(prediction.phases)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      .join(', ')}`,
  );
}
