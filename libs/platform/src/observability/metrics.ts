import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric, type MetricConfiguration } from 'prom-client';
import type { MetricSpec } from './catalog';

export type Labels = Record<string, string | number>;

/**
 * Reads what a service already holds in memory (a map's size, a counter it keeps) at scrape time,
 * one `emit` per label set. Values emitted twice for the same labels add up (two agent hosts
 * sharing the lab's registry). A reader that throws or takes longer than `READ_TIMEOUT_MS` is
 * left out of that scrape; the others still answer.
 */
export type Reader = (emit: (labels: Labels, value: number) => void) => void | Promise<void>;

export const READ_TIMEOUT_MS = 2000;

const readersOf = new WeakMap<Registry, Map<string, Set<Reader>>>();
const withDefaults = new WeakSet<Registry>();

/**
 * A service's metrics: one prom-client Registry (the one-process lab shares one between every
 * service) and get-or-create access to the metrics of the catalog, so that two services, or a
 * service started twice, register each metric once.
 */
export class LocusMetrics {
  constructor(readonly registry: Registry) {}

  counter<L extends string>(spec: MetricSpec<L>): Counter<L> {
    return this.existing(spec, Counter) ?? new Counter<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(spec: MetricSpec<L>): Histogram<L> {
    return this.existing(spec, Histogram) ?? new Histogram<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames, buckets: [...(spec.buckets ?? [])], registers: [this.registry] });
  }

  /** A gauge whose values are read at scrape time. Returns a function that removes this reader. */
  gaugeFrom<L extends string>(spec: MetricSpec<L>, read: Reader): () => void {
    return this.readBacked<L, Gauge<L>>(spec, Gauge, read, (gauge, labels, value) => gauge.set(labels, value));
  }

  /**
   * A counter a service keeps itself (e.g. the map-server's refusals per code), read at scrape
   * time. The value starts again from 0 when the process does, as any counter's.
   */
  counterFrom<L extends string>(spec: MetricSpec<L>, read: Reader): () => void {
    return this.readBacked<L, Counter<L>>(spec, Counter, read, (counter, labels, value) => {
      if (value > 0) counter.inc(labels, value);
    });
  }

  /** Registers the metric once per registry with a collect() that sums every reader's values. */
  private readBacked<L extends string, M extends Gauge<L> | Counter<L>>(
    spec: MetricSpec<L>,
    type: new (config: MetricConfiguration<L> & { collect(this: M): Promise<void> }) => M,
    read: Reader,
    record: (metric: M, labels: Partial<Record<L, string | number>>, value: number) => void,
  ): () => void {
    const readers = this.readers(spec.name);
    if (!this.existing(spec, type)) {
      new type({
        name: spec.name,
        help: spec.help,
        labelNames: spec.labelNames,
        registers: [this.registry],
        async collect(this: M) {
          const values = await readAll(readers);
          this.reset();
          for (const { labels, value } of values) record(this, labels as Partial<Record<L, string | number>>, value);
        },
      });
    }
    readers.add(read);
    return () => void readers.delete(read);
  }

  /** The Prometheus text exposition of every metric in the registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private readers(name: string): Set<Reader> {
    let byName = readersOf.get(this.registry);
    if (!byName) readersOf.set(this.registry, (byName = new Map()));
    let set = byName.get(name);
    if (!set) byName.set(name, (set = new Set()));
    return set;
  }

  private existing<T extends Metric>(spec: MetricSpec, type: abstract new (...args: never[]) => T): T | undefined {
    const found = this.registry.getSingleMetric(spec.name);
    if (!found) return undefined;
    if (!(found instanceof type)) throw new Error(`metric ${spec.name} is already registered as another type`);
    return found;
  }
}

/**
 * Metrics for one service: its own Registry with Node's default metrics (process_*, nodejs_*),
 * or, in the one-process lab, the registry every service shares (default metrics added once).
 */
export function createMetrics(options: { registry?: Registry; defaultMetrics?: boolean } = {}): LocusMetrics {
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics !== false && !withDefaults.has(registry)) {
    collectDefaultMetrics({ register: registry });
    withDefaults.add(registry);
  }
  return new LocusMetrics(registry);
}

async function readAll(readers: Set<Reader>): Promise<{ labels: Labels; value: number }[]> {
  const sums = new Map<string, { labels: Labels; value: number }>();
  const emit = (labels: Labels, value: number) => {
    if (!Number.isFinite(value)) return;
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
    const entry = sums.get(key);
    if (entry) entry.value += value;
    else sums.set(key, { labels, value });
  };
  await Promise.all(
    [...readers].map(async (read) => {
      // A source's values count only when all of them arrived: no half-read gauge.
      const mine: [Labels, number][] = [];
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve(read((labels, value) => mine.push([labels, value]))),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('metric reader timed out')), READ_TIMEOUT_MS);
          }),
        ]);
        for (const [labels, value] of mine) emit(labels, value);
      } catch {
        // left out of this scrape
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return [...sums.values()];
}

/** What a consumer of the stream dropped before its handlers saw it, by reason (a DurableConsumer's or an EventFeed's `drops()`). */
export interface ConsumerDrops {
  durable: string;
  dropped: Readonly<Record<string, number>>;
}

/** Reads `locus_events_dropped_total` from the consumers a service runs (every reason of each, 0 included). */
export function droppedEvents(consumers: () => readonly (ConsumerDrops | undefined)[]): Reader {
  return (emit) => {
    for (const c of consumers()) if (c) for (const [reason, n] of Object.entries(c.dropped)) emit({ consumer: c.durable, reason }, n);
  };
}
