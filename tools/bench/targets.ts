import { ratio, type Summary } from '@locus/platform';
import type { BenchResult } from './result';

/**
 * The targets of issue 9, each judged only in the configuration it is stated for (another run says
 * "[not this configuration]"), each made of checks that say what was measured. B = 2C + 3H with
 * C and H the floors measured in the same run.
 */

export interface Check {
  what: string;
  measured: string;
  /** undefined: not measured in this run (e.g. needs --overload). */
  met: boolean | undefined;
}

export interface Target {
  id: number;
  target: string;
  applies: boolean;
  checks: Check[];
  /** false when any check failed, true when all were met, else undefined. */
  met: boolean | undefined;
}

export const GIB_MIB = 1024;

const f1 = (x: number | undefined) => (x === undefined ? 'n/a' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString());
const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const signed = (x: number | undefined) => (x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${f1(x)}/s`);

/** 2C + 3H of the run, ms. */
export function floorB(r: Pick<BenchResult, 'floors'>): number {
  return 2 * r.floors.C.ms + 3 * r.floors.H.ms;
}

/** The convergence summary the run reports (tracker when it publishes, else computed). */
export function usedSummary(r: Pick<BenchResult, 'convergence'>): Summary | undefined {
  return r.convergence.used === 'tracker' ? r.convergence.tracker : r.convergence.used === 'computed' ? r.convergence.computed : undefined;
}

/** A backlog trend counts as flat at up to 1 % of the offered rate (the issue's +0.5/s at 50/s and +1/s at 100/s). */
export function flatBacklogLimit(rate: number): number {
  return 0.01 * rate;
}

function verdict(checks: Check[]): boolean | undefined {
  if (checks.some((c) => c.met === false)) return false;
  return checks.every((c) => c.met === true) ? true : undefined;
}

const atMost = (what: string, x: number | undefined, limit: number, measured: string): Check => ({ what, measured, met: x === undefined ? false : x <= limit });
const atLeast = (what: string, x: number | undefined, limit: number, measured: string): Check => ({ what, measured, met: x === undefined ? false : x >= limit });

function convergenceCheck(r: BenchResult, which: 'p50' | 'p99', times: number): Check {
  const b = floorB(r);
  const x = usedSummary(r)?.[which];
  return atMost(
    `convergence ${which} <= ${times} x (2C + 3H)`,
    x,
    times * b,
    x === undefined ? 'no converged moves' : `${which} ${f1(x)} ms = ${f1(ratio(x, b))} x (2C + 3H); the limit is ${f1(times * b)} ms`,
  );
}

const completedCheck = (r: BenchResult, limit: number) =>
  atLeast(`completed >= ${limit} moves/s`, r.moves.sustainedPerS, limit, `${f1(r.moves.sustainedPerS)} moves/s completed in the window, of ${r.config.rate}/s offered`);
const backlogCheck = (r: BenchResult, limit: number) =>
  atMost(`backlog trend <= +${limit}/s`, r.moves.backlogSlopePerS, limit, `${signed(r.moves.backlogSlopePerS)} (${r.moves.backlogEnd} at the end of the window)`);
const timeoutsCheck = (r: BenchResult) => ({ what: '0 request timeouts', measured: `${r.moves.timeouts} of ${r.moves.sent} requests`, met: r.moves.timeouts === 0 });
const rssCheck = (r: BenchResult) =>
  r.rss.services.length
    ? atMost(
        'all services <= 1 GiB peak RSS in total',
        r.rss.totalPeakMiB,
        GIB_MIB,
        `${f1(r.rss.totalPeakMiB)} MiB (sum of VmHWM of ${r.rss.services.length} service${r.rss.services.length === 1 ? '' : 's'})`,
      )
    : { what: 'all services <= 1 GiB peak RSS in total', measured: 'not measured (no process of the lab known)', met: undefined };
const readyCheck = (r: BenchResult, limitS: number) =>
  r.startup.labReadyS === undefined
    ? { what: `lab ready <= ${limitS} s`, measured: r.config.attach ? 'not measured (--attach)' : 'the lab did not become ready', met: r.config.attach ? undefined : false }
    : atMost(`lab ready <= ${limitS} s`, r.startup.labReadyS, limitS, `${f1(r.startup.labReadyS)} s (manager placed the VMs in ${f1(r.startup.placeS)} s)`);

/** The issue 9 targets with their checks. */
export function targets(r: BenchResult): Target[] {
  const c = r.config;
  const moving = !c.idle;
  const out: Target[] = [];
  const add = (id: number, target: string, applies: boolean, checks: () => Check[]) => {
    const cs = applies ? checks() : [];
    out.push({ id, target, applies, checks: cs, met: applies ? verdict(cs) : undefined });
  };

  add(
    1,
    '--quick (1,000 VMs, 10 ITRs, 50 moves/s): >= 48/s completed, backlog <= +0.5/s, 0 timeouts, convergence p50 <= 10 x and p99 <= 40 x (2C + 3H)',
    moving && c.vms === 1000 && c.itrs === 10 && c.rate === 50 && c.durationS >= 20,
    () => [completedCheck(r, 48), backlogCheck(r, 0.5), timeoutsCheck(r), convergenceCheck(r, 'p50', 10), convergenceCheck(r, 'p99', 40)],
  );

  add(
    2,
    'default (10,000 VMs, 50 ITRs, 100 moves/s, 60 s): ready <= 60 s, >= 97/s completed, backlog <= +1/s, 0 timeouts, convergence p99 <= 60 x (2C + 3H), <= 1 GiB peak RSS in total',
    moving && c.vms === 10_000 && c.itrs === 50 && c.rate === 100 && c.durationS >= 60,
    () => [readyCheck(r, 60), completedCheck(r, 97), backlogCheck(r, 1), timeoutsCheck(r), convergenceCheck(r, 'p99', 60), rssCheck(r)],
  );

  add(
    3,
    'throughput (10,000 VMs, 10 ITRs, zero-length boot, --rate 500): >= 200/s sustained with a flat backlog; at twice the peak >= 90 % of it, every request answered within 100 ms, no client timeouts',
    moving && c.vms === 10_000 && c.itrs === 10 && c.rate === 500 && c.bootMs === 0 && c.shutdownMs === 0,
    () => {
      const flat = flatBacklogLimit(c.rate);
      const checks: Check[] = [completedCheck(r, 200), { ...backlogCheck(r, flat), what: `flat backlog: trend <= +${f1(flat)}/s (1 % of the offered rate)` }];
      const p2 = r.overload?.phase2;
      if (!p2) {
        const why = c.overload ? 'phase 2 did not run' : 'not measured: run with --overload';
        checks.push({ what: 'at twice the peak: completed >= 90 % of the peak', measured: why, met: c.overload ? false : undefined });
        checks.push({ what: 'at twice the peak: every request answered within 100 ms, no client timeouts', measured: why, met: c.overload ? false : undefined });
      } else {
        const a = p2.answers;
        checks.push(
          atLeast(
            'at twice the peak: completed >= 90 % of the peak',
            p2.ratioToPeak,
            0.9,
            `${f1(p2.sustainedPerS)} moves/s at ${f1(p2.rate)}/s offered = ${pct(p2.ratioToPeak)} of the peak ${f1(r.overload!.peakPerS)}/s`,
          ),
        );
        checks.push({
          what: 'at twice the peak: every request answered within 100 ms, no client timeouts',
          measured: `${pct(a.withinShare)} of ${a.sent} answered within ${a.withinMs} ms; ${a.timeouts} client timeouts, ${a.failed.count} client errors, ${a.pending} unanswered`,
          met: a.sent > 0 && a.answeredWithin === a.sent && a.timeouts === 0,
        });
      }
      return checks;
    },
  );

  add(
    4,
    '100,000 VMs, 10 ITRs: all five services placed and ready <= 120 s, <= 1 GiB peak RSS in total; at 10 moves/s convergence p50 within 1.5 x of the same run at 1,000 VMs',
    c.vms === 100_000 && c.itrs === 10,
    () => {
      const checks: Check[] = [readyCheck(r, 120), rssCheck(r)];
      const cmp = r.compare;
      const what = 'convergence p50 <= 1.5 x the same run at 1,000 VMs';
      if (c.idle || c.rate !== 10 || cmp?.vms !== 1000) checks.push({ what, measured: 'not measured: run with --rate 10 --compare-vms 1000', met: undefined });
      else
        checks.push(
          atMost(
            what,
            cmp.ratioP50,
            1.5,
            cmp.ratioP50 === undefined ? 'no converged moves in one of the runs' : `p50 ${f1(cmp.mainP50)} ms at ${c.vms} VMs / ${f1(cmp.compareP50)} ms at ${cmp.vms} VMs = ${f1(cmp.ratioP50)}`,
          ),
        );
      return checks;
    },
  );

  add(5, 'per move: Postgres statements and rows read, stream deliveries per event (printed, so that a regression shows as a number)', moving, () => {
    const k = r.costs;
    const pg = k?.postgres?.perMove;
    const st = k?.statements;
    const sm = k?.stream;
    return [
      {
        what: 'Postgres transactions and rows read per move',
        measured: pg?.transactions === undefined ? 'not measured' : `${f1(pg.transactions)} transactions, ${f1(pg.rowsRead)} rows read per move`,
        met: pg?.transactions !== undefined,
      },
      st?.available
        ? { what: 'Postgres statements per move', measured: `${f1(st.perMove)} statements per move`, met: st.perMove !== undefined }
        : { what: 'Postgres statements per move', measured: `n/a (${st?.reason ?? 'not measured'})`, met: undefined },
      {
        what: 'stream deliveries per event',
        measured: sm?.perMessage === undefined ? 'not measured' : `${f1(sm.perMessage)} deliveries per stored message, ${f1(sm.perMove)} per move, ${sm.consumers} consumers`,
        met: sm?.perMessage !== undefined,
      },
    ];
  });
  return out;
}
