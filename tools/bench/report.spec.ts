import { summarize } from '../../libs/platform/src/stats';
import { renderReport, targetBudgetMs, targets, type BenchResult } from './report';

function result(over: Partial<BenchResult['config']> = {}, p99s: number[] = [10, 12, 20]): BenchResult {
  const conv = summarize(p99s);
  return {
    date: '2026-11-26T14:00:00.000Z',
    machine: { cpus: 2, cpuModel: 'test cpu', memGiB: 24, node: '20.0.0', nats: '2.9.10', postgres: '15' },
    command: 'npm run bench -- --quick',
    config: { preset: 'default', vms: 10_000, itrs: 50, hypervisors: 100, rate: 100, durationS: 60, bootMs: 0, shutdownMs: 0, cacheFraction: 0.05, mode: 'cold', idle: false, natsServer: 'shared', rib: 'memory', logLevel: 'warn', attach: false, ...over },
    startup: { labReadyS: 30, cachedEntries: 500, warmS: 1 },
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
    convergence: { used: 'tracker', tracker: conv, observed: conv, late: 0, how: 'how' },
    events: { appended: 42_000, perS: 700, streamMessages: 80_000, streamPerS: 1333 },
    rss: { services: [{ name: 'mobility-manager', pid: 1, peakMiB: 120, maxRssMiB: 110, cpuS: 3 }], totalPeakMiB: 120, totalMaxRssMiB: 110, benchCpuS: 1 },
    notes: [],
  };
}

describe('bench targets', () => {
  it('computes the budget 10 x (2C + 3H) from the floors of the same run', () => {
    expect(targetBudgetMs(result())).toBeCloseTo(10 * (2 * 0.5 + 3 * 0.4));
  });

  it('given the issue’s configuration and a p99 within the budget, then the convergence target is met and applies', () => {
    const [conv] = targets(result());
    expect(conv).toMatchObject({ applies: true, met: true });
    expect(conv.measured).toMatch(/p99 20\.0 ms vs 22\.0 ms = 9\.09x \(2C \+ 3H\)/);
  });

  it('given a p99 over the budget, then missed; given another configuration, then it does not apply', () => {
    expect(targets(result({}, [10, 50]))[0]).toMatchObject({ met: false });
    expect(targets(result({ vms: 1000, itrs: 10, rate: 50 }))[0]).toMatchObject({ applies: false });
  });

  it('the throughput target needs 500/s completed and a flat backlog, at 500/s offered with zero boot', () => {
    const r = result({ rate: 500 });
    r.moves.sustainedPerS = 510;
    expect(targets(r)[1]).toMatchObject({ applies: true, met: true });
    r.moves.backlogSlopePerS = 40;
    expect(targets(r)[1]).toMatchObject({ met: false });
    expect(targets(result({ rate: 500, bootMs: 20000 }))[1]).toMatchObject({ applies: false });
  });

  it('the memory target applies at 100,000 VMs', () => {
    const r = result({ vms: 100_000, idle: true });
    expect(targets(r)[2]).toMatchObject({ applies: true, met: true });
    r.rss.totalPeakMiB = 800;
    expect(targets(r)[2]).toMatchObject({ met: false });
  });

  it('renders every figure with the floors and the ratios', () => {
    const text = renderReport(result());
    expect(text).toMatch(/C  Postgres single-row commit\s+0\.50 ms/);
    expect(text).toMatch(/H  NATS request\/reply round trip\s+0\.40 ms/);
    expect(text).toMatch(/GoBGP \/32 to the core RIB\s+10\.0 ms/);
    expect(text).toMatch(/tracker\s+n=3\s+p50 12\.0 ms\s+p95 20\.0 ms\s+p99 20\.0 ms\s+max 20\.0 ms/);
    expect(text).toMatch(/to 2C \+ 3H\s+5\.45x \/ 9\.09x \/ 9\.09x/);
    expect(text).toMatch(/events: 42000 appended to the events table = 700\/s/);
    expect(text).toMatch(/MET  convergence p99/);
  });
});
