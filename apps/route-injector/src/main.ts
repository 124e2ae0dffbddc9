import 'reflect-metadata';
import { createLogger, loadConfig, watchEventLoop, startServiceObservability } from '@locus/platform';
import { startRouteInjectors } from './start-route-injectors';
import { observeRouteInjectors } from './observability/route-metrics';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const injectors = await startRouteInjectors(config, logger);
  observability.ready(observeRouteInjectors(observability.metrics, injectors));
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(
      signal,
      () =>
        void injectors
          .stop()
          .then(() => observability.stop())
          .then(() => process.exit(0)),
    );
}

main().catch((err) => {
  console.error(`route-injector failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
