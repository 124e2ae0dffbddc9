import { Registry } from 'prom-client';
import { createMetrics } from './metrics';
import type { MetricSpec } from './catalog';

const gauge: MetricSpec<'site'> = { name: 'locus_test_entries', help: 'test gauge', labelNames: ['site'] };
const counter: MetricSpec<'code'> = { name: 'locus_test_refusals_total', help: 'test counter', labelNames: ['code'] };

describe('LocusMetrics', () => {
  it('registers each metric once, however often a service asks for it', () => {
    const m = createMetrics({ defaultMetrics: false });
    expect(m.counter(counter)).toBe(m.counter(counter));
    expect(() => m.histogram({ ...counter, buckets: [1] })).toThrow(/already registered as another type/);
  });

  it('reads gauges at scrape time, adding up sources that share a registry', async () => {
    const registry = new Registry();
    const a = createMetrics({ registry, defaultMetrics: false });
    const b = createMetrics({ registry, defaultMetrics: false });
    let dc1 = 3;
    a.gaugeFrom(gauge, (emit) => emit({ site: 'dc1' }, dc1));
    const stopB = b.gaugeFrom(gauge, (emit) => {
      emit({ site: 'dc1' }, 1);
      emit({ site: 'dc2' }, 2);
    });
    expect(await a.text()).toContain('locus_test_entries{site="dc1"} 4\nlocus_test_entries{site="dc2"} 2');
    dc1 = 5;
    stopB();
    const text = await a.text();
    expect(text).toContain('locus_test_entries{site="dc1"} 5');
    expect(text).not.toContain('dc2');
  });

  it('leaves out a reader that fails and keeps the others', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.gaugeFrom(gauge, (emit) => {
      emit({ site: 'half' }, 1);
      throw new Error('gone');
    });
    m.gaugeFrom(gauge, async (emit) => emit({ site: 'dc1' }, 7));
    const text = await m.text();
    expect(text).toContain('locus_test_entries{site="dc1"} 7');
    expect(text).not.toContain('half');
  });

  it('exposes counters a service keeps itself', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const kept = new Map([['AUTH_FAILED', 2]]);
    m.counterFrom(counter, (emit) => kept.forEach((n, code) => emit({ code }, n)));
    expect(await m.text()).toContain('locus_test_refusals_total{code="AUTH_FAILED"} 2');
    kept.set('AUTH_FAILED', 3);
    expect(await m.text()).toContain('locus_test_refusals_total{code="AUTH_FAILED"} 3');
  });

  it("adds Node's default metrics once per registry", async () => {
    const registry = new Registry();
    createMetrics({ registry });
    createMetrics({ registry });
    const text = await registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text.match(/^# TYPE process_cpu_seconds_total/gm)).toHaveLength(1);
  });
});
