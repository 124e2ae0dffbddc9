import type { Summary } from '@locus/platform';
import { ratio } from '@locus/platform';
import { renderTable, truncate } from '../cli/format';
import type { CostFigures } from './costs';
import type { AnswerFigures } from './open-loop';
import type { BenchResult } from './result';
import { floorB, targets, usedSummary } from './targets';

export { floorB, targets, usedSummary } from './targets';
export type { BenchResult, CompareFigures, PhaseSummary } from './result';

const f1 = (x: number | undefined) => (x === undefined ? 'n/a' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString());
const fx = (x: number | undefined) => (x === undefined ? 'n/a' : `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x)}x`);

const pctS = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const signed = (x: number | undefined, unit = '/s') => (x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${f1(x)}${unit}`);
const lat = (x: Summary) => (x.count ? `n=${x.count}  p50 ${f1(x.p50)} ms  p99 ${f1(x.p99)} ms  max ${f1(x.max)} ms` : 'none');
const codes = (by: Record<string, number>) =>
  Object.entries(by)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** Answer kinds of one window's vm.move requests: one line each, with latency percentiles. */
export function renderAnswers(a: AnswerFigures, label = 'vm.move answers', indent = '  '): string[] {
  const L: string[] = [];
  L.push(
    `${indent}${label.padEnd(21)}${a.sent} sent, ${a.answered} answered, ${pctS(a.withinShare)} within ${a.withinMs} ms (client timeout ${f1(a.timeoutMs)} ms)` +
      (a.pending ? `, ${a.pending} still unanswered` : ''),
  );
  L.push(`${indent}  accepted           ${lat(a.accepted)}`);
  L.push(`${indent}  UNAVAILABLE        ${lat(a.unavailable)}`);
  L.push(`${indent}  other refusals     ${lat(a.refused)}${a.refused.count ? `   (${codes(a.refused.byCode)})` : ''}`);
  L.push(`${indent}  client timeouts    ${a.timeouts}` + (a.failed.count ? `; client errors ${a.failed.count} (${codes(a.failed.byCode)})` : ''));
  return L;
}

/** Per-move cost lines (Postgres, statements, stream). */
export function renderCosts(k: CostFigures, indent = '  '): string[] {
  const L: string[] = [];
  const n = (x: number | undefined) => (x === undefined ? 'n/a' : f1(x));
  if (k.postgres) {
    const m = k.postgres.perMove;
    L.push(
      `${indent}Postgres        ${n(m.transactions)} transactions, ${n(m.rowsRead)} rows read (tup_returned + tup_fetched), ${n(m.inserted)} inserted, ${n(m.updated)} updated, ${n(m.deleted)} deleted  (window: ${k.postgres.transactions} transactions, ${k.postgres.rowsRead} rows read)`,
    );
  } else L.push(`${indent}Postgres        not measured (pg_stat_database could not be read)`);
  const st = k.statements;
  if (st.available) {
    L.push(`${indent}statements      ${n(st.perMove)} per move (${st.calls} calls in the window); top ${st.top.length} by calls:`);
    for (const t of st.top) L.push(`${indent}  ${n(t.perMove).padStart(8)}/move  ${f1(t.rowsPerCall)} rows/call  ${f1(t.meanMs)} ms  ${truncate(t.query.replace(/\s+/g, ' ').trim(), 110)}`);
  } else L.push(`${indent}statements      n/a (${st.reason})`);
  if (k.stream)
    L.push(
      `${indent}stream          ${n(k.stream.perMessage)} deliveries per stored message, ${n(k.stream.perMove)} per move  (${k.stream.deliveries} deliveries of ${k.stream.messages} messages to ${k.stream.consumers} consumers)`,
    );
  else L.push(`${indent}stream          not measured (the stream or its consumers could not be read)`);
  return L;
}

/** The human report: every figure, how it was measured, the floors and the ratios. */
export function renderReport(r: BenchResult): string {
  const c = r.config;
  const L: string[] = [];
  const s = usedSummary(r);
  const C = r.floors.C.ms;
  const H = r.floors.H.ms;
  const B = floorB(r);
  L.push(`Locus benchmark, ${r.date}`);
  L.push(`machine: ${r.machine.cpus} cores (${r.machine.cpuModel}), ${r.machine.memGiB} GiB, Node ${r.machine.node}, NATS ${r.machine.nats} (${c.natsServer}), PostgreSQL ${r.machine.postgres}`);
  const k = r.machine.control;
  if (k)
    L.push(
      `machine control: a fixed loop of arithmetic ${f1(k.jsLoopMs)} ms, one system call (fstat) ${k.syscallUs.toFixed(2)} µs (the same code's figures move with them from one machine or hour to the next)`,
    );
  L.push(`command: ${r.command}`);
  L.push(
    `lab: ${c.vms} VMs, ${c.itrs} sites = ${c.itrs} ITRs, ${c.hypervisors} hypervisors, ${c.attach ? "boot and shutdown as the lab's workload profiles say" : `boot ${c.bootMs} ms / shutdown ${c.shutdownMs} ms`}, RIB ${c.rib}` +
      (c.idle ? '' : `, each ITR caching ${Math.round(c.cacheFraction * 100)}% of the EIDs (${r.startup.cachedEntries} entries, warmed in ${f1(r.startup.warmS)} s)`) +
      (r.startup.placeS !== undefined ? `; the manager placed the VMs in ${f1(r.startup.placeS)} s` : '') +
      (r.startup.labReadyS !== undefined ? `, the lab was ready in ${f1(r.startup.labReadyS)} s` : ''),
  );
  if (r.startup.steps?.length) {
    const how =
      r.startup.concurrent === undefined
        ? ''
        : c.processes === 'one'
          ? 'the whole lab in one process'
          : c.processes === 'planes'
            ? 'two processes: the manager, and the four plane services together'
            : r.startup.concurrent
              ? `one process per service (all sites), the plane services started at once`
              : `${c.sitesPerProcess} site${c.sitesPerProcess === 1 ? '' : 's'} per plane process, one group after another`;
    L.push(`start-up (seconds since the manager was started; ${how})`);
    L.push(
      renderTable(
        [
          ...r.startup.steps.map((x) => ({
            ...x,
            label: x.service === 'mobility-manager' ? `${x.service} (placed ${c.vms} VMs)` : x.processes > 1 ? `${x.service} (${x.processes} processes)` : x.service,
          })),
          { label: 'lab ready', startedS: undefined, readyS: r.startup.labReadyS, processes: 0, service: '' },
        ],
        [
          { header: '  SERVICE', value: (x) => `  ${x.label}` },
          { header: 'STARTED', value: (x) => (x.startedS === undefined ? '' : `${f1(x.startedS)} s`), align: 'right' },
          { header: 'READY', value: (x) => (x.readyS === undefined ? 'not ready' : `${f1(x.readyS)} s`), align: 'right' },
          { header: 'TOOK', value: (x) => (x.readyS === undefined || x.startedS === undefined ? '' : `${f1(x.readyS - x.startedS)} s`), align: 'right' },
        ],
      ),
    );
  }
  L.push(
    c.idle
      ? 'load: none (--idle: the lab is loaded and measured at rest)'
      : `load: cold moves at ${c.rate}/s for ${c.durationS} s (open loop: sent on schedule whatever the replies), each VM in at most one move at a time, random target at another site` +
          (c.overload ? `; then twice the completed rate for ${c.durationS} s (--overload)` : ''),
  );
  L.push('');
  L.push('floors (same run, before the load)');
  L.push(`  C  Postgres single-row commit       ${f1(C)} ms   (${r.floors.C.how})`);
  L.push(`  H  NATS request/reply round trip    ${f1(H)} ms   (${r.floors.H.how})`);
  L.push(`     2C + 3H                          ${f1(B)} ms   (the issue 9 convergence limits are multiples of it: 10x = ${f1(10 * B)} ms, 40x = ${f1(40 * B)} ms, 60x = ${f1(60 * B)} ms)`);
  if (r.floors.gobgp) L.push(`     GoBGP /32 to the core RIB        ${f1(r.floors.gobgp.ms)} ms   (p99 ${f1(r.floors.gobgp.p99)} ms; ${r.floors.gobgp.how})`);
  else L.push(`     GoBGP /32 to the core RIB        not measured: ${r.floors.gobgpSkipped}`);
  if (!c.idle) {
    const m = r.moves;
    L.push('');
    L.push(c.overload ? 'moves (phase 1 of --overload: the offered rate)' : 'moves');
    L.push(
      `  sent ${m.sent}, accepted ${m.accepted}, completed ${m.completed}, failed ${m.failed}, cancelled ${m.cancelled}, request timeouts ${m.timeouts}` +
        (Object.keys(m.refused).length ? `, refused ${codes(m.refused)}` : ''),
    );
    L.push(
      `  sustained            ${f1(m.sustainedPerS)} moves/s completed during the ${f1(m.windowS)} s window (accepted ${f1(m.acceptedPerS)}/s, offered ${c.rate}/s` +
        (m.sentPerS !== undefined ? `, sent ${f1(m.sentPerS)}/s` : '') +
        ')' +
        (m.notSent && (m.notSent.inFlightCap || m.notSent.noIdleVm)
          ? `; not sent when due: ${m.notSent.inFlightCap} at the in-flight cap of ${m.maxInFlight}, ${m.notSent.noIdleVm} with no idle VM`
          : ''),
    );
    L.push(
      `  backlog              ${m.backlogEnd} at the end of the window (max ${m.backlogMax}), trend ${signed(m.backlogSlopePerS, ' moves/s')}; after ${f1(m.drainS)} s of drain: ${m.unfinished} unfinished, ${m.unconverged} not converged${c.overload ? ' (all phases)' : ''}`,
    );
    if (m.answers) L.push(...renderAnswers(m.answers));
    else L.push(`  vm.move reply        p50 ${f1(m.requestMs.p50)} ms, p99 ${f1(m.requestMs.p99)} ms, max ${f1(m.requestMs.max)} ms`);
    const ph = (x: Summary) => `p50 ${f1(x.p50)} ms, p99 ${f1(x.p99)} ms`;
    L.push(`  accepted -> started  ${ph(m.phases.queued)}   (outbound queue of the source host)`);
    L.push(`  started -> commit    ${ph(m.phases.toCommit)}   (stop, transfer, location commit)`);
    L.push(`  commit -> completed  ${ph(m.phases.commitToCompleted)}   (boot at the target)`);
    L.push('');
    L.push(`convergence (location commit -> last network plane), used: ${r.convergence.used}`);
    const row = (name: string, x?: Summary) =>
      x && x.count ? `  ${name.padEnd(9)} n=${x.count}  p50 ${f1(x.p50)} ms  p95 ${f1(x.p95)} ms  p99 ${f1(x.p99)} ms  max ${f1(x.max)} ms` : `  ${name.padEnd(9)} none`;
    L.push(row('tracker', r.convergence.tracker));
    L.push(row('computed', r.convergence.computed));
    const planes = Object.entries(r.convergence.byPlane ?? {}).sort(([, a], [, b]) => (b.p50 ?? 0) - (a.p50 ?? 0));
    if (planes.length) {
      L.push('  each plane (tracker: location commit -> that plane agrees), slowest p50 first:');
      for (const [plane, x] of planes) L.push(`  ${row(`  ${plane}`, x)}`);
    }
    const cs = r.convergence.commitStages;
    if (cs)
      L.push(
        `  before the planes (VmRelocated, from the decision): to its insert p50 ${f1(cs.toInsert.p50)} ms, p99 ${f1(cs.toInsert.p99)} ms (group commit); on the stream p50 ${f1(cs.toStream.p50)} ms, p99 ${f1(cs.toStream.p99)} ms (commit, outbox relay, publish)`,
      );
    const w = r.convergence.warmUp;
    if (w)
      L.push(
        `  warm-up (tracker): moves committed in the first ${w.firstS} s of the window n=${w.first.count} p50 ${f1(w.first.p50)} ms, p99 ${f1(w.first.p99)} ms; after them n=${w.after.count} p50 ${f1(w.after.p50)} ms, p99 ${f1(w.after.p99)} ms`,
      );
    if (r.convergence.late) L.push(`  MoveConvergenceLate: ${r.convergence.late}`);
    L.push(`  how: ${r.convergence.how}`);
    if (s?.count) {
      L.push('  as ratios (p50 / p99 / max):');
      L.push(`    to C           ${fx(ratio(s.p50, C))} / ${fx(ratio(s.p99, C))} / ${fx(ratio(s.max, C))}`);
      L.push(`    to H           ${fx(ratio(s.p50, H))} / ${fx(ratio(s.p99, H))} / ${fx(ratio(s.max, H))}`);
      L.push(`    to 2C + 3H     ${fx(ratio(s.p50, B))} / ${fx(ratio(s.p99, B))} / ${fx(ratio(s.max, B))}   (targets: --quick p50 <= 10x, p99 <= 40x; default p99 <= 60x)`);
      if (r.floors.gobgp)
        L.push(`    to GoBGP /32   ${fx(ratio(s.p50, r.floors.gobgp.ms))} / ${fx(ratio(s.p99, r.floors.gobgp.ms))} / ${fx(ratio(s.max, r.floors.gobgp.ms))}   (this run's RIB: ${c.rib})`);
    }
    L.push('');
    L.push(`events: ${r.events.appended} appended to the events table = ${f1(r.events.perS)}/s; ${r.events.streamMessages} messages on the stream (with plane events) = ${f1(r.events.streamPerS)}/s`);
    if (r.costs) {
      L.push('');
      L.push(`per move (${r.costs.moves} moves completed in the ${f1(r.costs.windowS)} s window)`);
      L.push(...renderCosts(r.costs));
    }
  }
  if (r.overload) {
    const o = r.overload;
    L.push('');
    L.push(`overload (--overload: phase 1 offers ${c.rate}/s, its completed rate is the peak; phase 2 offers twice the peak, both for ${c.durationS} s)`);
    L.push(
      `  peak                 ${f1(o.peakPerS)} moves/s completed in phase 1 (offered ${f1(o.phase1.rate)}/s, sent ${f1(o.phase1.sentPerS)}/s; backlog trend ${signed(o.phase1.backlogSlopePerS)})`,
    );
    const p2 = o.phase2;
    if (!p2) L.push('  phase 2              did not run (no move completed in phase 1)');
    else {
      L.push(
        `  phase 2              ${f1(p2.sustainedPerS)} moves/s completed = ${pctS(p2.ratioToPeak)} of the peak, at ${f1(p2.rate)}/s offered (sent ${f1(p2.sentPerS)}/s, accepted ${f1(p2.acceptedPerS)}/s); backlog ${p2.backlogStart !== undefined ? `${p2.backlogStart} carried over from phase 1, ` : ''}${p2.backlogEnd} at the end, trend ${signed(p2.backlogSlopePerS)}` +
          (p2.notSent.inFlightCap || p2.notSent.noIdleVm ? `; not sent when due: ${p2.notSent.inFlightCap} at the in-flight cap of ${p2.maxInFlight}, ${p2.notSent.noIdleVm} with no idle VM` : ''),
      );
      L.push(...renderAnswers(p2.answers, 'phase 2 answers'));
      if (p2.convergence?.count)
        L.push(
          `  phase 2 convergence  n=${p2.convergence.count}  p50 ${f1(p2.convergence.p50)} ms  p99 ${f1(p2.convergence.p99)} ms  (${fx(ratio(p2.convergence.p50, B))} / ${fx(ratio(p2.convergence.p99, B))} (2C + 3H))`,
        );
      if (p2.costs)
        L.push(
          `  phase 2 per move     ${f1(p2.costs.postgres?.perMove.transactions)} transactions, ${f1(p2.costs.postgres?.perMove.rowsRead)} rows read, ${f1(p2.costs.stream?.perMove)} stream deliveries (${p2.costs.moves} moves completed)`,
        );
    }
  }
  if (r.compare) {
    const k = r.compare;
    L.push('');
    L.push(`scale comparison (--compare-vms ${k.vms}: the same configuration on a fresh lab of ${k.vms} VMs after the main run)`);
    L.push(`  compare run          as \`${k.command}\`: ${k.itrs} ITRs, ${k.rate}/s for ${k.durationS} s`);
    L.push(
      `  convergence p50      ${f1(k.mainP50)} ms at ${c.vms} VMs, ${f1(k.compareP50)} ms at ${k.vms} VMs: ratio ${f1(k.ratioP50)} (main / compare)` +
        (k.used !== r.convergence.used ? `  [sources differ: main ${r.convergence.used}, compare ${k.used}]` : `  (${k.used})`),
    );
    L.push(
      `  compare lab          ready in ${f1(k.labReadyS)} s (placed in ${f1(k.placeS)} s); ${k.sent} sent, ${k.completed} completed = ${f1(k.sustainedPerS)} moves/s, ${k.timeouts} timeouts; convergence ${k.convergence?.count ? `n=${k.convergence.count} p99 ${f1(k.convergence.p99)} ms` : 'none'}; peak RSS ${f1(k.totalPeakMiB)} MiB in total`,
    );
    for (const n of k.notes) L.push(`  note (compare run): ${n}`);
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
      L.push(
        `  machine during the ${c.idle ? 'idle wait' : 'load window'}: ${f1(r.rss.machineBusyPct)}% of all ${r.machine.cpus} cores busy, ${f1(r.rss.labBusyPct)}% by the lab's services, private NATS and the bench (the rest: PostgreSQL, the shared NATS, anything else on the machine)`,
      );
    if (r.rss.topCpu?.length) L.push(`  top CPU users in that time: ${r.rss.topCpu.map((t) => `${t.who} ${f1(t.pct)}%`).join(', ')}`);
  } else L.push('memory: not measured (attached to a lab whose processes the bench did not start; pass --pids name=pid,...)');
  L.push('');
  L.push(`targets (issue 9; each judged only in its own configuration; 2C + 3H = ${f1(B)} ms in this run)`);
  const mark = (met: boolean | undefined) => (met === undefined ? 'n/a ' : met ? 'MET ' : 'MISS');
  for (const t of targets(r)) {
    if (!t.applies) {
      L.push(`  --   ${t.id}. ${t.target}  [not this configuration]`);
      continue;
    }
    L.push(`  ${mark(t.met)} ${t.id}. ${t.target}`);
    for (const k of t.checks) L.push(`         ${mark(k.met)} ${k.what}: ${k.measured}`);
  }
  if (r.notes.length) {
    L.push('');
    for (const n of r.notes) L.push(`note: ${n}`);
  }
  return L.join('\n');
}
