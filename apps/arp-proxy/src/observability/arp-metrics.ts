import { droppedEvents, LOCUS_METRICS, natsCheck, type LocusMetrics, type Observed } from '@locus/platform';
import type { RunningArpProxies } from '../start-arp-proxies';

/** Neighbours holding a wrong MAC and proxy-ARP entries, per site (as `arp.stale` and `arp.list` show them); ready while NATS is. */
export function observeArpProxies(metrics: LocusMetrics, arp: RunningArpProxies): Observed {
  const stops = [
    metrics.gaugeFrom(LOCUS_METRICS.arpStaleNeighbours, async (emit) => {
      const stale = await Promise.all(arp.proxies.map(async (p) => [p.name, (await p.stale()).length] as const));
      for (const [site, n] of stale) emit({ site }, n);
    }),
    metrics.gaugeFrom(LOCUS_METRICS.arpProxyEntries, (emit) => {
      for (const p of arp.proxies) emit({ site: p.name }, p.view().proxies.length);
    }),
    metrics.counterFrom(
      LOCUS_METRICS.eventsDroppedTotal,
      droppedEvents(() => [arp.feed.drops()]),
    ),
  ];
  return { checks: [natsCheck(arp.nc)], stop: () => stops.forEach((s) => s()) };
}
