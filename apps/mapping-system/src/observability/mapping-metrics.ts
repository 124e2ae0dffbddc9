import { droppedEvents, LOCUS_METRICS, natsCheck, type LocusMetrics, type Observed } from '@locus/platform';
import type { RunningMappingSystem } from '../start-mapping-system';

/** The map-server's registrations and refused Map-Registers, each ITR's map-cache, what each xTR refused; ready while NATS is. */
export function observeMappingSystem(metrics: LocusMetrics, mapping: RunningMappingSystem): Observed {
  const stops: (() => void)[] = [
    metrics.gaugeFrom(LOCUS_METRICS.mapCacheEntries, (emit) => {
      for (const [itr, service] of mapping.host.itrs) emit({ itr }, service.cache.size);
    }),
    metrics.counterFrom(LOCUS_METRICS.mapControlRefusalsTotal, (emit) => {
      for (const [site, inbox] of mapping.host.inboxes)
        for (const [message, byCode] of Object.entries(inbox.refused)) for (const [reason, n] of Object.entries(byCode ?? {})) emit({ site, message, reason }, n);
    }),
    metrics.counterFrom(
      LOCUS_METRICS.eventsDroppedTotal,
      droppedEvents(() => [mapping.host.feedDrops()]),
    ),
  ];
  const ms = mapping.mapServer;
  if (ms) {
    stops.push(
      metrics.gaugeFrom(LOCUS_METRICS.mapRegistryEntries, (emit) => emit({}, ms.server.registry.size)),
      metrics.counterFrom(LOCUS_METRICS.mapRegisterRefusalsTotal, (emit) => {
        for (const [reason, n] of Object.entries(ms.server.counters.refused)) emit({ reason }, n);
      }),
    );
  }
  return { checks: [natsCheck(mapping.nc)], stop: () => stops.forEach((s) => s()) };
}
