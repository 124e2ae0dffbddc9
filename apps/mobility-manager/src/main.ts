import 'reflect-metadata';
import { createLogger, loadConfig, watchEventLoop, startServiceObservability } from '@locus/platform';
import { startMobilityManager } from './start-mobility-manager';
import { observeMobilityManager } from './observability/manager-metrics';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const manager = await startMobilityManager(config, logger);
  observability.ready(observeMobilityManager(observability.metrics, manager));
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      logger.info({ component: 'mobility-manager', signal }, 'shutting down');
      void manager
        .stop()
        .then(() => observability.stop())
        .then(() => process.exit(0));
    });
}

main().catch((err) => {
  console.error(`mobility-manager failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
