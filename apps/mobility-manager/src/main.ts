import 'reflect-metadata';
import { createLogger, loadConfig } from '@locus/platform';
import { startMobilityManager } from './start-mobility-manager';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const manager = await startMobilityManager(config, logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      logger.info({ component: 'mobility-manager', signal }, 'shutting down');
      void manager.stop().then(() => process.exit(0));
    });
}

main().catch((err) => {
  console.error(`mobility-manager failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
