import type { Logger } from 'pino';
import type { HealthCheck } from './health';
import { createMetrics, type LocusMetrics } from './metrics';
import { startObservabilityServer, type ObservabilityServer } from './server';

/** What a service's metrics wiring gives back: its readiness checks, and how to stop reading it. */
export interface Observed {
  checks: HealthCheck[];
  stop(): void;
}

export interface ServiceObservability {
  metrics: LocusMetrics;
  /** Undefined when LOCUS_METRICS_PORT is 0. */
  server?: ObservabilityServer;
  /** The service has started: readiness from now on is these checks. */
  ready(observed: Observed | HealthCheck[]): void;
  stop(): Promise<void>;
}

/**
 * For a service's `main.ts`: its own metrics registry and, when `metricsPort` is set, the
 * /metrics, /healthz and /readyz server, started before the service so that liveness answers
 * while it connects (readiness says `still starting` until `ready()`).
 */
export async function startServiceObservability(config: { metricsPort: number }, logger: Logger): Promise<ServiceObservability> {
  const metrics = createMetrics();
  const server = config.metricsPort > 0 ? await startObservabilityServer({ port: config.metricsPort, registry: metrics.registry, waitForStart: true, logger }) : undefined;
  const observed: Observed[] = [];
  return {
    metrics,
    server,
    ready(o) {
      const checks = Array.isArray(o) ? o : o.checks;
      if (!Array.isArray(o)) observed.push(o);
      server?.addChecks(...checks);
      server?.markStarted();
    },
    async stop() {
      for (const o of observed) o.stop();
      await server?.stop();
    },
  };
}
