import 'reflect-metadata';
import { createLogger, loadConfig } from '@locus/platform';
import { startRouteInjectors } from './start-route-injectors';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const injectors = await startRouteInjectors(config, logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void injectors.stop().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(`route-injector failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
