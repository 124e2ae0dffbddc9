import 'reflect-metadata';
import { createLogger, loadConfig } from '@locus/platform';
import { startArpProxies } from './start-arp-proxies';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const proxies = await startArpProxies(config, logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void proxies.stop().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(`arp-proxy failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
