import type { Summary } from '../../libs/platform/src/stats';
import { ratio } from '../../libs/platform/src/stats';
import { renderTable } from '../cli/format';

/** Everything one benchmark run measured (what `--json` prints). */
export interface BenchResult {
  date: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; nats: string; postgres: string };
  command: string;
  config: {
    preset: string;
    vms: number;
    itrs: number;
    hypervisors: number;
    rate: number;
    durationS: number;
    bootMs: number;
    shutdownMs: number;
    cacheFraction: number;
    mode: 'cold';
    idle: boolean;
    natsServer: 'shared' | 'private';
    rib: string;
    logLevel: string;
    attach: boolean;
  };
  startup: { labReadyS?: number; placeS?: number; cachedEntries: number; warmS: number };
  floors: {
    C: { ms: number; how: string };
    H: { ms: number; how: string };
    gobgp?: { ms: number; p99?: number; how: string };
    gobgpSkipped?: string;
  };
  moves: {
    sent: number;
    accepted: number;
    refused: Record<string, number>;
    timeouts: number;
    completed: number;
    failed: number;
    cancelled: number;
    windowS: number;
    /** Moves completed inside the sending window per second of it. */
    sustainedPerS: number;
    acceptedPerS: number;
    backlogEnd: number;
    backlogMax: number;
    /** Least-squares growth of (accepted − finished) over the window, moves per second. */
    backlogSlopePerS: number | undefined;
    /** Accepted but not finished when the drain gave up. */
    unfinished: number;
    /** Completed but not converged (neither tracker nor observed) when the drain gave up. */
    unconverged: number;
    drainS: number;
    /** vm.move request → reply, ms. */
    requestMs: Summary;
    /** Where a completed move's time went (event recordedAt differences), ms. */
    phases: { queued: Summary; toCommit: Summary; commitToCompleted: Summary };
  };
  convergence: {
    used: 'tracker' | 'observed' | 'none';
    tracker?: Summary;
    observed?: Summary;
    late: number;
    how: string;
  };
  events: { appended: number; perS: number; streamMessages: number; streamPerS: number };
  rss: {
    services: { name: string; pid?: number; peakMiB: number; maxRssMiB: number; cpuS: number }[];
    totalPeakMiB: number;
    totalMaxRssMiB: number;
    benchCpuS: number;
    /** Whole machine during the load window (or the idle wait): busy share of all cores, and the share used by the lab's own processes and the bench. */
    machineBusyPct?: number;
    labBusyPct?: number;
    /** Who used the CPU during the window (share of all cores), e.g. PostgreSQL, the shared nats-server, other users' processes. */
    topCpu?: { who: string; pct: number }[];
  };
  notes: string[];
}

const f1 = (x: number | undefined) => (x === undefined ? 'n/a' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString());
const fx = (x: number | undefined) => (x === undefined ? 'n/a' : `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x)}x`);

export function targetBudgetMs(r: Pick<BenchResult, 'floors'>): number {
  return 10 * (2 * r.floors.C.ms + 3 * r.floors.H.ms);
}

export function usedSummary(r: BenchResult): Summary | undefined {
  return r.convergence.used === 'tracker' ? r.convergence.tracker : r.convergence.used === 'observed' ? r.convergence.observed : undefined;
}

/** The three targets of issue 6, each with whether this run's configuration is the one it is stated for. */
export function targets(r: BenchResult): { target: string; applies: boolean; measured: string; met: boolean | undefined }[] {
  const c = r.config;
  const s = usedSummary(r);
  const budget = targetBudgetMs(r);
  const p99 = s?.p99;
  const out = [];
  out.push({
    target: 'convergence p99 <= 10 x (2C + 3H) at 100 moves/s, 10,000 VMs, 50 ITRs',
    applies: !c.idle && c.rate === 100 && c.vms === 10_000 && c.itrs === 50,
    measured: p99 === undefined ? 'no converged moves' : `p99 ${f1(p99)} ms vs ${f1(budget)} ms = ${fx(ratio(p99, budget / 10))} (2C + 3H)`,
    met: c.idle ? undefined : p99 === undefined ? false : p99 <= budget,
  });
  const growth = r.moves.backlogSlopePerS;
  const noGrowth = growth !== undefined && growth <= Math.max(1, 0.02 * c.rate);
  out.push({
    target: '>= 500 cold moves/s sustained, zero-length boot, no backlog growth',
    applies: !c.idle && c.rate >= 500 && c.bootMs === 0 && c.shutdownMs === 0,
    measured: `${f1(r.moves.sustainedPerS)} moves/s completed of ${c.rate}/s offered; backlog ${growth === undefined ? 'n/a' : `${growth >= 0 ? '+' : ''}${f1(growth)}/s`}, ${r.moves.backlogEnd} at the end`,
    met: c.idle ? undefined : r.moves.sustainedPerS >= 500 && noGrowth,
  });
  out.push({
    target: 'services < 500 MiB RSS in total at 100,000 VMs',
    applies: c.vms >= 100_000,
    measured: `peak ${f1(r.rss.totalPeakMiB)} MiB (sum of VmHWM), ${f1(r.rss.totalMaxRssMiB)} MiB max RSS while running`,
    met: r.rss.services.length ? r.rss.totalPeakMiB < 500 : undefined,
  });
  return out;
}

/** The human report: every figure, how it was measured, the floors and the ratios. */
export function renderReport(r: BenchResult): string {
  const c = r.config;
  const L: string[] = [];
  const s = usedSummary(r);
  const C = r.floors.C.ms;
  const H = r.floors.H.ms;
  const budget = targetBudgetMs(r);
  L.push(`Locus benchmark, ${r.date}`);
  L.push(`machine: ${r.machine.cpus} cores (${r.machine.cpuModel}), ${r.machine.memGiB} GiB, Node ${r.machine.node}, NATS ${r.machine.nats} (${c.natsServer}), PostgreSQL ${r.machine.postgres}`);
  L.push(`command: ${r.command}`);
  L.push(
    `lab: ${c.vms} VMs, ${c.itrs} sites = ${c.itrs} ITRs, ${c.hypervisors} hypervisors, ${c.attach ? "boot and shutdown as the lab's workload profiles say" : `boot ${c.bootMs} ms / shutdown ${c.shutdownMs} ms`}, RIB ${c.rib}` +
      (c.idle ? '' : `, each ITR caching ${Math.round(c.cacheFraction * 100)}% of the EIDs (${r.startup.cachedEntries} entries, warmed in ${f1(r.startup.warmS)} s)`) +
      (r.startup.placeS !== undefined ? `; the manager placed the VMs in ${f1(r.startup.placeS)} s` : '') +
      (r.startup.labReadyS !== undefined ? `, the lab was ready in ${f1(r.startup.labReadyS)} s` : ''),
  );
  L.push(c.idle ? 'load: none (--idle: the lab is loaded and measured at rest)' : `load: cold moves at ${c.rate}/s for ${c.durationS} s (token bucket), each VM in at most one move at a time, random target at another site`);
  L.push('');
  L.push('floors (same run, before the load)');
  L.push(`  C  Postgres single-row commit       ${f1(C)} ms   (${r.floors.C.how})`);
  L.push(`  H  NATS request/reply round trip    ${f1(H)} ms   (${r.floors.H.how})`);
  L.push(`     2C + 3H                          ${f1(2 * C + 3 * H)} ms;  target budget 10 x (2C + 3H) = ${f1(budget)} ms`);
  if (r.floors.gobgp) L.push(`     GoBGP /32 to the core RIB        ${f1(r.floors.gobgp.ms)} ms   (p99 ${f1(r.floors.gobgp.p99)} ms; ${r.floors.gobgp.how})`);
  else L.push(`     GoBGP /32 to the core RIB        not measured: ${r.floors.gobgpSkipped}`);
  if (!c.idle) {
    const m = r.moves;
    L.push('');
    L.push('moves');
    L.push(`  sent ${m.sent}, accepted ${m.accepted}, completed ${m.completed}, failed ${m.failed}, cancelled ${m.cancelled}, request timeouts ${m.timeouts}` + (Object.keys(m.refused).length ? `, refused ${Object.entries(m.refused).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''));
    L.push(`  sustained            ${f1(m.sustainedPerS)} moves/s completed during the ${f1(m.windowS)} s window (accepted ${f1(m.acceptedPerS)}/s, offered ${c.rate}/s)`);
    L.push(`  backlog              ${m.backlogEnd} at the end of the window (max ${m.backlogMax}), trend ${m.backlogSlopePerS === undefined ? 'n/a' : `${m.backlogSlopePerS >= 0 ? '+' : ''}${f1(m.backlogSlopePerS)} moves/s`}; after ${f1(m.drainS)} s of drain: ${m.unfinished} unfinished, ${m.unconverged} not converged`);
    L.push(`  vm.move reply        p50 ${f1(m.requestMs.p50)} ms, p99 ${f1(m.requestMs.p99)} ms, max ${f1(m.requestMs.max)} ms`);
    const ph = (x: Summary) => `p50 ${f1(x.p50)} ms, p99 ${f1(x.p99)} ms`;
    L.push(`  accepted -> started  ${ph(m.phases.queued)}   (outbound queue of the source host)`);
    L.push(`  started -> commit    ${ph(m.phases.toCommit)}   (stop, transfer, location commit)`);
    L.push(`  commit -> completed  ${ph(m.phases.commitToCompleted)}   (boot at the target)`);
    L.push('');
    L.push(`convergence (location commit -> last network plane), used: ${r.convergence.used}`);
    const row = (name: string, x?: Summary) =>
      x && x.count
        ? `  ${name.padEnd(9)} n=${x.count}  p50 ${f1(x.p50)} ms  p95 ${f1(x.p95)} ms  p99 ${f1(x.p99)} ms  max ${f1(x.max)} ms`
        : `  ${name.padEnd(9)} none`;
    L.push(row('tracker', r.convergence.tracker));
    L.push(row('observed', r.convergence.observed));
    if (r.convergence.late) L.push(`  MoveConvergenceLate: ${r.convergence.late}`);
    L.push(`  how: ${r.convergence.how}`);
    if (s?.count) {
      L.push('  as ratios (p50 / p99 / max):');
      L.push(`    to C           ${fx(ratio(s.p50, C))} / ${fx(ratio(s.p99, C))} / ${fx(ratio(s.max, C))}`);
      L.push(`    to H           ${fx(ratio(s.p50, H))} / ${fx(ratio(s.p99, H))} / ${fx(ratio(s.max, H))}`);
      L.push(`    to 2C + 3H     ${fx(ratio(s.p50, 2 * C + 3 * H))} / ${fx(ratio(s.p99, 2 * C + 3 * H))} / ${fx(ratio(s.max, 2 * C + 3 * H))}   (target: p99 at most 10x)`);
      if (r.floors.gobgp) L.push(`    to GoBGP /32   ${fx(ratio(s.p50, r.floors.gobgp.ms))} / ${fx(ratio(s.p99, r.floors.gobgp.ms))} / ${fx(ratio(s.max, r.floors.gobgp.ms))}   (this run's RIB: ${c.rib})`);
    }
    L.push('');
    L.push(`events: ${r.events.appended} appended to the events table = ${f1(r.events.perS)}/s; ${r.events.streamMessages} messages on the stream (with plane events) = ${f1(r.events.streamPerS)}/s`);
  }
  L.push('');
  if (r.rss.services.length) {
    L.push('memory and CPU of the services (/proc/<pid>/status VmHWM = peak RSS since start; max VmRSS sampled each second)');
    L.push(
      renderTable(
        [...r.rss.services, { name: 'total', peakMiB: r.rss.totalPeakMiB, maxRssMiB: r.rss.totalMaxRssMiB, cpuS: r.rss.services.reduce((a, x) => a + x.cpuS, 0) }],
        [
          { header: '  SERVICE', value: (x) => `  ${x.name}` },
          { header: 'PEAK RSS', value: (x) => `${f1(x.peakMiB)} MiB`, align: 'right' },
          { header: 'MAX RSS RUNNING', value: (x) => `${f1(x.maxRssMiB)} MiB`, align: 'right' },
          { header: 'CPU', value: (x) => `${f1(x.cpuS)} s`, align: 'right' },
        ],
      ),
    );
    L.push(`  (the benchmark process itself used ${f1(r.rss.benchCpuS)} s of CPU on the same ${r.machine.cpus} cores)`);
    if (r.rss.machineBusyPct !== undefined)
      L.push(`  machine during the ${c.idle ? 'idle wait' : 'load window'}: ${f1(r.rss.machineBusyPct)}% of all ${r.machine.cpus} cores busy, ${f1(r.rss.labBusyPct)}% by the lab's services, private NATS and the bench (the rest: PostgreSQL, the shared NATS, anything else on the machine)`);
    if (r.rss.topCpu?.length) L.push(`  top CPU users in that time: ${r.rss.topCpu.map((t) => `${t.who} ${f1(t.pct)}%`).join(', ')}`);
  } else L.push('memory: not measured (attached to a lab whose processes the bench did not start; pass --pids name=pid,...)');
  L.push('');
  L.push('targets (issue 6)');
  for (const t of targets(r))
    L.push(`  ${t.met === undefined ? 'n/a ' : t.met ? 'MET ' : 'MISS'} ${t.target}${t.applies ? '' : '  [not this configuration]'}\n       ${t.measured}`);
  if (r.notes.length) {
    L.push('');
    for (const n of r.notes) L.push(`note: ${n}`);
  }
  return L.join('\n');
}
