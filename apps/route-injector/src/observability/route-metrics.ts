import { droppedEvents, LOCUS_METRICS, natsCheck, type LocusMetrics, type Observed } from '@locus/platform';
import type { RunningRouteInjectors } from '../start-route-injectors';

const ROUTE_STATES = ['confirmed', 'advertised', 'withdrawing', 'stale'] as const;

/** Host routes per site RIB and state (as `routes.list` shows them); ready while NATS is. */
export function observeRouteInjectors(metrics: LocusMetrics, routes: RunningRouteInjectors): Observed {
  const stops = [
    metrics.gaugeFrom(LOCUS_METRICS.routes, async (emit) => {
      const views = await Promise.all(routes.injectors.map((i) => i.view()));
      for (const view of views) {
        for (const state of ROUTE_STATES) emit({ site: view.site, state }, 0);
        for (const r of view.routes) emit({ site: view.site, state: r.state }, 1);
      }
    }),
    metrics.counterFrom(
      LOCUS_METRICS.eventsDroppedTotal,
      droppedEvents(() => routes.feeds.map((f) => f.drops())),
    ),
  ];
  return { checks: [natsCheck(routes.nc)], stop: () => stops.forEach((s) => s()) };
}
