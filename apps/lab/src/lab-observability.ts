import { createMetrics, startObservabilityServer, type LocusConfig, type Logger, type ObservabilityServer } from '@locus/platform';
import type { MobilityManager } from '../../mobility-manager/src/start-mobility-manager';
import type { RunningAgents } from '../../hypervisor-agent/src/start-agents';
import type { RunningMappingSystem } from '../../mapping-system/src/start-mapping-system';
import type { RunningRouteInjectors } from '../../route-injector/src/start-route-injectors';
import type { RunningArpProxies } from '../../arp-proxy/src/start-arp-proxies';
import { observeMobilityManager } from '../../mobility-manager/src';
import { observeAgents } from '../../hypervisor-agent/src';
import { observeMappingSystem } from '../../mapping-system/src';
import { observeRouteInjectors } from '../../route-injector/src';
import { observeArpProxies } from '../../arp-proxy/src';

/** The services this process runs (all of them in the one-process lab). */
export interface LabServices {
  manager?: MobilityManager;
  agents?: RunningAgents;
  mapping?: RunningMappingSystem;
  routes?: RunningRouteInjectors;
  arp?: RunningArpProxies;
}

/**
 * The one-process lab's /metrics, /healthz and /readyz: one server and one registry for every
 * service, on `config.metricsPort` (nothing when it is 0) and `host` (every interface unless given;
 * `npm run lab` gives loopback). Readiness is every service's checks together.
 */
export async function startLabObservability(config: LocusConfig, logger: Logger, lab: LabServices, host?: string): Promise<{ server?: ObservabilityServer; stop(): Promise<void> }> {
  if (config.metricsPort <= 0) return { stop: async () => undefined };
  const metrics = createMetrics();
  const observed = [
    lab.manager && { name: 'mobility-manager', ...observeMobilityManager(metrics, lab.manager) },
    lab.agents && { name: 'agents', ...observeAgents(metrics, lab.agents) },
    lab.mapping && { name: 'mapping-system', ...observeMappingSystem(metrics, lab.mapping) },
    lab.routes && { name: 'route-injector', ...observeRouteInjectors(metrics, lab.routes) },
    lab.arp && { name: 'arp-proxy', ...observeArpProxies(metrics, lab.arp) },
  ].filter((o) => !!o);
  const server = await startObservabilityServer({
    port: config.metricsPort,
    ...(host ? { host } : {}),
    registry: metrics.registry,
    logger,
    checks: observed.flatMap((o) => o.checks.map((c) => ({ ...c, name: `${o.name}:${c.name}` }))),
  });
  return {
    server,
    async stop() {
      for (const o of observed) o.stop();
      await server.stop();
    },
  };
}
