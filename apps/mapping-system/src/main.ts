import 'reflect-metadata';
import { createLogger, loadConfig, watchEventLoop, startServiceObservability } from '@locus/platform';
import { startMappingSystem } from './start-mapping-system';
import { observeMappingSystem } from './observability/mapping-metrics';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const mapping = await startMappingSystem(config, logger);
  observability.ready(observeMappingSystem(observability.metrics, mapping));
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      logger.info({ component: 'mapping-system', signal }, 'shutting down');
      void mapping
        .stop()
        .then(() => observability.stop())
        .then(() => process.exit(0));
    });
}

main().catch((err) => {
  console.error(`mapping-system failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
