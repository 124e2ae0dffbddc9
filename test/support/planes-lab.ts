import { LocationFeedHub } from '@locus/messaging';
import type { LocusConfig } from '@locus/platform';
import { capturingLogger, eventually, startTestLab, type TestLab } from './harness';
import { registered, startMapping } from './mapping';
import { startRouteInjectors } from '../../apps/route-injector/src/start-route-injectors';
import { InMemoryFabric } from '../../apps/route-injector/src';
import { startArpProxies } from '../../apps/arp-proxy/src/start-arp-proxies';

/**
 * The test lab with every network plane beside it, as the drift tests compare them: the mapping
 * system, route injectors for dc1, dc2 and cloud on an in-memory fabric and the ARP proxies, with
 * web-01's mapping registered. The three follow the location events through one shared consumer,
 * as the lab's `planes` process does (LocationFeedHub). `stop` stops the planes, then the lab.
 */
export async function startLabWithPlanes(overrides: Partial<LocusConfig>): Promise<{ lab: TestLab; fabric: InMemoryFabric; locationHub: LocationFeedHub; stop(): Promise<void> }> {
  const lab = await startTestLab(overrides);
  const fabric = new InMemoryFabric(['dc1', 'dc2', 'cloud']);
  const planes = capturingLogger();
  const locationHub = new LocationFeedHub();
  const [{ system: mapping }, routes, arp] = await Promise.all([
    startMapping(lab, {}, { locationHub }),
    startRouteInjectors(lab.config, planes.logger, { sites: ['dc1', 'dc2', 'cloud'], fabric, locationHub }),
    startArpProxies(lab.config, planes.logger, { locationHub }),
  ]);
  await locationHub.start();
  await registered(lab, '10.1.0.10', 1, 'dc1');
  return {
    lab,
    fabric,
    locationHub,
    async stop() {
      await locationHub.stop();
      await arp.stop();
      await routes.stop();
      await mapping.stop();
      await lab.stop();
      await fabric.stop();
    },
  };
}

/** Waits until a full `drift.check` finds every plane in agreement with the location DB. */
export function untilNoDrift(lab: TestLab, timeoutMs = 15_000, what = 'no drift'): Promise<unknown> {
  return eventually(
    async () => {
      const r = await lab.req('drift.check', {});
      return r.ok && r.disagreements.length === 0 ? r : undefined;
    },
    timeoutMs,
    what,
  );
}
