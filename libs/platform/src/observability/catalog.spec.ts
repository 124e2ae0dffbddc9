import { checkMetricSpec, FORBIDDEN_LABELS, LOCUS_METRICS, type MetricSpec } from './catalog';

const kindOf = (s: MetricSpec) => (s.name.endsWith('_total') ? 'counter' : s.buckets ? 'histogram' : 'gauge');

describe('the metrics catalog', () => {
  it.each(Object.entries(LOCUS_METRICS))('%s follows the naming rules', (_key, spec) => {
    expect(checkMetricSpec(spec, kindOf(spec))).toEqual([]);
  });

  it('names every metric the issue asks for', () => {
    const names = Object.values(LOCUS_METRICS).map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'locus_moves_total',
        'locus_move_refusals_total',
        'locus_move_downtime_seconds',
        'locus_convergence_seconds',
        'locus_outbox_pending',
        'locus_events_appended_total',
        'locus_map_registry_entries',
        'locus_map_cache_entries',
        'locus_map_register_refusals_total',
        'locus_routes',
        'locus_arp_stale_neighbours',
        'locus_arp_proxy_entries',
        'locus_agent_vms',
        'locus_agent_steps_total',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it('never labels by VM', () => {
    for (const spec of Object.values(LOCUS_METRICS) as MetricSpec[]) for (const l of spec.labelNames) expect(FORBIDDEN_LABELS).not.toContain(l);
  });

  it('refuses what would break the rules', () => {
    expect(checkMetricSpec({ name: 'locus_moves', help: '', labelNames: ['vm'] }, 'counter')).toEqual(['locus_moves: a counter ends in _total', "locus_moves: label vm would carry a VM's identity"]);
    expect(checkMetricSpec({ name: 'moves_ms', help: '', labelNames: [] }, 'histogram')).toHaveLength(3);
  });
});
