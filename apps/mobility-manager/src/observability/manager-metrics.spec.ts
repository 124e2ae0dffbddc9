import { createMetrics } from '@locus/platform';
import { MoveMetrics } from './manager-metrics';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';

describe('move metrics from appended events', () => {
  it('counts moves by mode and outcome and observes downtime and convergence in seconds', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const moves = new MoveMetrics(metrics);
    await moves.record([{ type: 'MoveAccepted', data: { moveId: A, vm: 'web-01', mode: 'cold' } }]);
    await moves.record([
      { type: 'VmRelocated', data: { moveId: A } },
      { type: 'MoveCompleted', data: { moveId: A, downtimeMs: 28_000, totalMs: 28_000 } },
    ]);
    await moves.record([{ type: 'MoveConverged', data: { moveId: A, convergenceMs: 180, planes: {} } }]);
    const text = await metrics.text();
    expect(text).toContain('locus_moves_total{mode="cold",outcome="accepted"} 1');
    expect(text).toContain('locus_moves_total{mode="cold",outcome="completed"} 1');
    expect(text).toContain('locus_moves_total{mode="cold",outcome="converged"} 1');
    expect(text).toContain('locus_move_downtime_seconds_sum{mode="cold"} 28');
    expect(text).toContain('locus_move_downtime_seconds_bucket{le="20",mode="cold"} 0');
    expect(text).toContain('locus_move_downtime_seconds_bucket{le="30",mode="cold"} 1');
    expect(text).toContain('locus_convergence_seconds_sum{mode="cold"} 0.18');
    expect(text).toContain('locus_convergence_seconds_count{mode="cold"} 1');
    expect(text).toContain('locus_events_appended_total{type="VmRelocated"} 1');
    expect(text).not.toContain('web-01');
  });

  it('finds the mode of a move accepted before it started in the moves projection', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const lookups: string[] = [];
    const moves = new MoveMetrics(metrics, async (moveId) => {
      lookups.push(moveId);
      return moveId === A ? 'hot' : undefined;
    });
    await moves.record([{ type: 'MoveFailed', data: { moveId: A, code: 'NOT_CONVERGING' } }]);
    await moves.record([{ type: 'MoveCancelled', data: { moveId: A } }]);
    await moves.record([{ type: 'MoveCancelled', data: { moveId: B } }]);
    const text = await metrics.text();
    expect(text).toContain('locus_moves_total{mode="hot",outcome="failed"} 1');
    expect(text).toContain('locus_moves_total{mode="hot",outcome="cancelled"} 1');
    expect(text).toContain('locus_moves_total{mode="unknown",outcome="cancelled"} 1');
    expect(lookups).toEqual([A, B]); // A's mode remembered after the first lookup
  });
});
