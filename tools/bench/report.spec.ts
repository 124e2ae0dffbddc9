import { summarize } from '@locus/platform';
import { answerFigures, type Answer } from './open-loop';
import { floorB, renderReport, targets, type BenchResult } from './report';

function result(over: Partial<BenchResult['config']> = {}, conv: number[] = [10, 12, 20]): BenchResult {
  const s = summarize(conv);
  return {
    date: '2026-11-26T14:00:00.000Z',
    machine: { cpus: 2, cpuModel: 'test cpu', memGiB: 24, node: '20.0.0', nats: '2.9.10', postgres: '15' },
    command: 'npm run bench',
    config: {
      preset: 'default',
      vms: 10_000,
      itrs: 50,
      hypervisors: 100,
      rate: 100,
      durationS: 60,
      bootMs: 0,
      shutdownMs: 0,
      cacheFraction: 0.05,
      mode: 'cold',
      idle: false,
      natsServer: 'shared',
      rib: 'memory',
      logLevel: 'warn',
      attach: false,
      ...over,
    },
    startup: { labReadyS: 30, placeS: 10, cachedEntries: 500, warmS: 1 },
    floors: { C: { ms: 0.5, how: 'c' }, H: { ms: 0.4, how: 'h' }, gobgp: { ms: 10, p99: 20, how: 'g' } },
    moves: {
      sent: 6000,
      accepted: 6000,
      refused: {},
      timeouts: 0,
      completed: 6000,
      failed: 0,
      cancelled: 0,
      windowS: 60,
      sustainedPerS: 100,
      acceptedPerS: 100,
      backlogEnd: 3,
      backlogMax: 9,
      backlogSlopePerS: 0.1,
      unfinished: 0,
      unconverged: 0,
      drainS: 1,
      requestMs: summarize([1, 2, 3]),
      phases: { queued: summarize([1]), toCommit: summarize([2]), commitToCompleted: summarize([3]) },
    },
    convergence: { used: 'tracker', tracker: s, computed: s, late: 0, how: 'how' },
    events: { appended: 42_000, perS: 700, streamMessages: 80_000, streamPerS: 1333 },
    rss: { services: [{ name: 'mobility-manager', pid: 1, peakMiB: 120, maxRssMiB: 110, cpuS: 3 }], totalPeakMiB: 120, totalMaxRssMiB: 110, benchCpuS: 1 },
    notes: [],
  };
}

const B = 2 * 0.5 + 3 * 0.4; // 2.2 ms
const target = (r: BenchResult, id: number) => targets(r).find((t) => t.id === id)!;
const check = (r: BenchResult, id: number, what: RegExp) => target(r, id).checks.find((c) => what.test(c.what))!;

describe('issue 9 targets', () => {
  it('B is 2C + 3H of the floors measured in the same run', () => {
    expect(floorB(result())).toBeCloseTo(B);
  });

  it('each target applies only in its own configuration; the others have no checks and no verdict', () => {
    const quick = result({ preset: 'quick', vms: 1000, itrs: 10, rate: 50, durationS: 20 });
    expect(targets(quick).map((t) => t.applies)).toEqual([true, false, false, false, true]);
    expect(target(quick, 2)).toMatchObject({ applies: false, met: undefined, checks: [] });
    expect(targets(result()).map((t) => t.applies)).toEqual([false, true, false, false, true]);
    expect(targets(result({ itrs: 10, rate: 500 })).map((t) => t.applies)).toEqual([false, false, true, false, true]);
    expect(targets(result({ vms: 100_000, itrs: 10, idle: true })).map((t) => t.applies)).toEqual([false, false, false, true, false]);
    // a shorter default run is not the stated configuration
    expect(target(result({ durationS: 30 }), 2).applies).toBe(false);
    // the throughput target wants a zero-length boot
    expect(target(result({ itrs: 10, rate: 500, bootMs: 2000 }), 3).applies).toBe(false);
  });

  it('--quick: completed >= 48/s, backlog <= +0.5/s, no timeouts, p50 <= 10 B and p99 <= 40 B', () => {
    // p50 12 ms = 5.45 B, p99 20 ms = 9.09 B
    const r = result({ vms: 1000, itrs: 10, rate: 50, durationS: 20 });
    r.moves.sustainedPerS = 49;
    r.moves.backlogSlopePerS = 0.4;
    expect(target(r, 1).met).toBe(true);
    expect(check(r, 1, /p50/).measured).toMatch(/p50 12\.0 ms = 5\.45 x \(2C \+ 3H\); the limit is 22\.0 ms/);
    r.moves.backlogSlopePerS = 0.6;
    expect(check(r, 1, /backlog/).met).toBe(false);
    expect(target(r, 1).met).toBe(false);
    r.moves.backlogSlopePerS = 0.4;
    r.moves.timeouts = 1;
    expect(check(r, 1, /timeouts/)).toMatchObject({ met: false, measured: '1 of 6000 requests' });
    // p50 30 ms = 13.6 B: over 10 B; p99 100 ms = 45 B: over 40 B
    const slow = result({ vms: 1000, itrs: 10, rate: 50, durationS: 20 }, [30, 30, 100]);
    slow.moves.sustainedPerS = 50;
    expect(check(slow, 1, /p50/).met).toBe(false);
    expect(check(slow, 1, /p99/).met).toBe(false);
    // no converged move at all is a miss, not a pass
    const none = result({ vms: 1000, itrs: 10, rate: 50, durationS: 20 });
    none.convergence = { used: 'none', late: 0, how: '' };
    expect(check(none, 1, /p99/)).toMatchObject({ met: false, measured: 'no converged moves' });
  });

  it('default: ready <= 60 s, >= 97/s, backlog <= +1/s, no timeouts, p99 <= 60 B, <= 1 GiB peak RSS', () => {
    const r = result();
    expect(target(r, 2).checks.map((c) => c.met)).toEqual([true, true, true, true, true, true]);
    r.startup.labReadyS = 61;
    expect(check(r, 2, /ready/).met).toBe(false);
    r.startup.labReadyS = undefined;
    expect(check(r, 2, /ready/)).toMatchObject({ met: false, measured: 'the lab did not become ready' });
    r.rss.totalPeakMiB = 1025;
    expect(check(r, 2, /RSS/).met).toBe(false);
    r.moves.sustainedPerS = 96.9;
    expect(check(r, 2, /completed/).met).toBe(false);
    // p99 140 ms = 63.6 B
    expect(check(result({}, [10, 140]), 2, /p99/).met).toBe(false);
  });

  it('throughput: >= 200/s with a flat backlog (1 % of the offered rate); the overload half needs --overload', () => {
    const r = result({ itrs: 10, rate: 500 });
    r.moves.sustainedPerS = 210;
    r.moves.backlogSlopePerS = 4;
    const t = target(r, 3);
    expect(t.checks.slice(0, 2).map((c) => c.met)).toEqual([true, true]);
    expect(t.checks.slice(2).map((c) => c.measured)).toEqual(['not measured: run with --overload', 'not measured: run with --overload']);
    expect(t.met).toBeUndefined();
    r.moves.backlogSlopePerS = 6;
    expect(target(r, 3).met).toBe(false);
  });

  it('throughput with --overload: >= 90 % of the peak at twice it, every request answered within 100 ms, no timeouts', () => {
    const r = result({ itrs: 10, rate: 500, overload: true });
    r.moves.sustainedPerS = 210;
    r.moves.backlogSlopePerS = 1;
    const fast: Answer[] = [...Array(90).fill({ kind: 'accepted', ms: 20 }), ...Array(10).fill({ kind: 'unavailable', code: 'UNAVAILABLE', ms: 5 })];
    const phase = {
      rate: 420,
      windowS: 60,
      sent: 100,
      sentPerS: 420,
      notSent: { inFlightCap: 0, noIdleVm: 0 },
      maxInFlight: 5000,
      accepted: 90,
      acceptedPerS: 1.5,
      completedInWindow: 11_400,
      sustainedPerS: 190,
      backlogEnd: 5,
      backlogMax: 9,
      backlogSlopePerS: 0,
    };
    r.overload = { peakPerS: 210, phase1: { ...phase, rate: 500, sustainedPerS: 210 }, phase2: { ...phase, ratioToPeak: 190 / 210, answers: answerFigures(fast, 100, 10_000) } };
    expect(target(r, 3).met).toBe(true);
    expect(check(r, 3, /90 %/).measured).toMatch(/190 moves\/s at 420\/s offered = 90\.5% of the peak 210\/s/);
    // one answer at 150 ms: not every request within 100 ms
    r.overload.phase2!.answers = answerFigures([...fast.slice(1), { kind: 'accepted', ms: 150 }], 100, 10_000);
    expect(check(r, 3, /within 100 ms/)).toMatchObject({ met: false });
    expect(check(r, 3, /within 100 ms/).measured).toMatch(/^99\.0% of 100 answered within 100 ms; 0 client timeouts/);
    // 85 % of the peak
    r.overload.phase2!.ratioToPeak = 0.85;
    expect(check(r, 3, /90 %/).met).toBe(false);
  });

  it('100,000 VMs: ready <= 120 s and <= 1 GiB also when idle; the p50 ratio needs --rate 10 --compare-vms 1000', () => {
    const idle = result({ vms: 100_000, itrs: 10, idle: true });
    idle.startup.labReadyS = 100;
    idle.rss.totalPeakMiB = 900;
    expect(target(idle, 4).checks.map((c) => c.met)).toEqual([true, true, undefined]);
    expect(target(idle, 4).met).toBeUndefined();
    const r = result({ vms: 100_000, itrs: 10, rate: 10 }, [30, 40]);
    r.startup.labReadyS = 100;
    r.compare = {
      command: 'c',
      vms: 1000,
      itrs: 10,
      rate: 10,
      durationS: 60,
      sent: 600,
      completed: 600,
      timeouts: 0,
      sustainedPerS: 10,
      used: 'tracker',
      totalPeakMiB: 500,
      mainP50: 30,
      compareP50: 25,
      ratioP50: 1.2,
      notes: [],
    };
    expect(check(r, 4, /1\.5 x/)).toMatchObject({ met: true, measured: 'p50 30.0 ms at 100000 VMs / 25.0 ms at 1000 VMs = 1.20' });
    r.compare.ratioP50 = 1.6;
    expect(target(r, 4).met).toBe(false);
  });

  it('per-move costs: statements n/a when pg_stat_statements is not loaded, the rest measured', () => {
    const r = result();
    r.costs = {
      moves: 100,
      windowS: 10,
      postgres: { transactions: 2000, rowsRead: 50_000, inserted: 800, updated: 300, deleted: 0, perMove: { transactions: 20, rowsRead: 500, inserted: 8, updated: 3, deleted: 0 } },
      statements: { available: false, reason: 'pg_stat_statements not loaded; enable with shared_preload_libraries' },
      stream: { consumers: 60, messages: 1000, deliveries: 50_000, perMessage: 50, perMove: 500 },
      how: 'how',
    };
    expect(target(r, 5).checks.map((c) => c.met)).toEqual([true, undefined, true]);
    const text = renderReport(r);
    expect(text).toMatch(/per move \(100 moves completed in the 10\.0 s window\)/);
    expect(text).toMatch(/Postgres\s+20\.0 transactions, 500 rows read \(tup_returned \+ tup_fetched\), 8\.00 inserted, 3\.00 updated, 0\.00 deleted/);
    expect(text).toMatch(/statements\s+n\/a \(pg_stat_statements not loaded; enable with shared_preload_libraries\)/);
    expect(text).toMatch(/stream\s+50\.0 deliveries per stored message, 500 per move\s+\(50000 deliveries of 1000 messages to 60 consumers\)/);
    r.costs.statements = { available: true, calls: 4200, perMove: 42, top: [{ query: 'SELECT  *\n FROM events', calls: 1000, perMove: 10, rowsPerCall: 1, meanMs: 0.05 }] };
    expect(renderReport(r)).toMatch(/statements\s+42\.0 per move \(4200 calls in the window\); top 1 by calls:\n\s+10\.0\/move\s+1\.00 rows\/call\s+0\.05 ms\s+SELECT \* FROM events/);
  });
});

describe('bench report', () => {
  it('renders every figure with the floors and the ratios, and the issue 9 verdicts', () => {
    const text = renderReport(result());
    expect(text).toMatch(/C  Postgres single-row commit\s+0\.50 ms/);
    expect(text).toMatch(/H  NATS request\/reply round trip\s+0\.40 ms/);
    expect(text).toMatch(/2C \+ 3H\s+2\.20 ms/);
    expect(text).toMatch(/GoBGP \/32 to the core RIB\s+10\.0 ms/);
    expect(text).toMatch(/tracker\s+n=3\s+p50 12\.0 ms\s+p95 20\.0 ms\s+p99 20\.0 ms\s+max 20\.0 ms/);
    expect(text).toMatch(/to 2C \+ 3H\s+5\.45x \/ 9\.09x \/ 9\.09x/);
    expect(text).toMatch(/events: 42000 appended to the events table = 700\/s/);
    expect(text).toMatch(/targets \(issue 9/);
    expect(text).toMatch(/MET  2\. default/);
    expect(text).toMatch(/MET  convergence p99 <= 60 x \(2C \+ 3H\): p99 20\.0 ms = 9\.09 x/);
    expect(text).toMatch(/--   1\. --quick .*\[not this configuration\]/);
    expect(text).not.toMatch(/issue 6/);
  });

  it('renders the answers of the window by kind', () => {
    const r = result();
    r.moves.answers = answerFigures(
      [
        { kind: 'accepted', ms: 10 },
        { kind: 'accepted', ms: 30 },
        { kind: 'unavailable', code: 'UNAVAILABLE', ms: 2 },
        { kind: 'refused', code: 'MOVE_IN_PROGRESS', ms: 4 },
        { kind: 'timeout', code: 'TIMEOUT', ms: 10_000 },
      ],
      5,
      10_000,
    );
    const text = renderReport(r);
    expect(text).toMatch(/vm\.move answers\s+5 sent, 4 answered, 80\.0% within 100 ms \(client timeout 10000 ms\)/);
    expect(text).toMatch(/accepted\s+n=2\s+p50 10\.0 ms\s+p99 30\.0 ms\s+max 30\.0 ms/);
    expect(text).toMatch(/UNAVAILABLE\s+n=1\s+p50 2\.00 ms/);
    expect(text).toMatch(/other refusals\s+n=1\s+p50 4\.00 ms.*\(MOVE_IN_PROGRESS 1\)/);
    expect(text).toMatch(/client timeouts\s+1/);
  });

  it('renders the start-up breakdown, the overload phases and the scale comparison', () => {
    const r = result({ overload: true, compareVms: 1000 });
    r.startup.steps = [
      { service: 'mobility-manager', processes: 1, startedS: 0, readyS: 10 },
      { service: 'hypervisor-agent', processes: 1, startedS: 10.1, readyS: 12 },
      { service: 'mapping-system', processes: 5, startedS: 10.2, readyS: 25 },
    ];
    r.startup.concurrent = false;
    r.config.sitesPerProcess = 10;
    const phase = {
      rate: 100,
      windowS: 60,
      sent: 6000,
      sentPerS: 100,
      notSent: { inFlightCap: 0, noIdleVm: 0 },
      maxInFlight: 2000,
      accepted: 6000,
      acceptedPerS: 100,
      completedInWindow: 6000,
      sustainedPerS: 100,
      backlogEnd: 1,
      backlogMax: 2,
      backlogSlopePerS: 0,
    };
    r.overload = {
      peakPerS: 100,
      phase1: phase,
      phase2: { ...phase, rate: 200, sustainedPerS: 95, backlogStart: 7, ratioToPeak: 0.95, answers: answerFigures([{ kind: 'accepted', ms: 5 }], 1, 10_000), convergence: summarize([11, 22]) },
    };
    r.compare = {
      command: 'npm run bench -- --vms 1000 --itrs 50 --rate 100 --duration 60',
      vms: 1000,
      itrs: 50,
      rate: 100,
      durationS: 60,
      labReadyS: 5,
      placeS: 2,
      sent: 6000,
      completed: 6000,
      timeouts: 0,
      sustainedPerS: 100,
      used: 'tracker',
      convergence: summarize([8, 9]),
      totalPeakMiB: 600,
      mainP50: 12,
      compareP50: 8,
      ratioP50: 1.5,
      notes: [],
    };
    const text = renderReport(r);
    expect(text).toMatch(/start-up \(seconds since the manager was started; 10 sites per plane process, one group after another\)/);
    expect(text).toMatch(/mobility-manager \(placed 10000 VMs\)\s+0\.00 s\s+10\.0 s\s+10\.0 s/);
    expect(text).toMatch(/mapping-system \(5 processes\)\s+10\.2 s\s+25\.0 s\s+14\.8 s/);
    expect(text).toMatch(/lab ready\s+30\.0 s/);
    expect(text).toMatch(/peak\s+100 moves\/s completed in phase 1/);
    expect(text).toMatch(/phase 2\s+95\.0 moves\/s completed = 95\.0% of the peak, at 200\/s offered .*backlog 7 carried over from phase 1, 1 at the end/);
    expect(text).toMatch(/phase 2 answers\s+1 sent, 1 answered, 100\.0% within 100 ms/);
    expect(text).toMatch(/phase 2 convergence\s+n=2\s+p50 11\.0 ms/);
    expect(text).toMatch(/convergence p50\s+12\.0 ms at 10000 VMs, 8\.00 ms at 1000 VMs: ratio 1\.50 \(main \/ compare\)/);
    expect(text).toMatch(/compare run\s+as `npm run bench -- --vms 1000 --itrs 50 --rate 100 --duration 60`/);
  });
});

describe('the report: the machine control beside the floors', () => {
  it('given a run with its control measured, then the report prints the loop and the system call; without one, no line', () => {
    const r = result();
    expect(renderReport(r)).not.toMatch(/machine control/);
    r.machine.control = { jsLoopMs: 145.2, syscallUs: 3.456 };
    expect(renderReport(r)).toMatch(/machine control: a fixed loop of arithmetic 145 ms, one system call \(fstat\) 3\.46 µs/);
  });
});
