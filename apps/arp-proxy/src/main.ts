import 'reflect-metadata';
import { createLogger, loadConfig, startServiceObservability } from '@locus/platform';
import { startArpProxies } from './start-arp-proxies';
import { observeArpProxies } from './observability/arp-metrics';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const proxies = await startArpProxies(config, logger);
  observability.ready(observeArpProxies(observability.metrics, proxies));
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(
      signal,
      () =>
        void proxies
          .stop()
          .then(() => observability.stop())
          .then(() => process.exit(0)),
    );
}

main().catch((err) => {
  console.error(`arp-proxy failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
