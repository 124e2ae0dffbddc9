import 'reflect-metadata';
import { createLogger, loadConfig, watchEventLoop, startServiceObservability } from '@locus/platform';
import { startArpProxies } from './start-arp-proxies';
import { observeArpProxies } from './observability/arp-metrics';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const proxies = await startArpProxies(config, logger);
  observability.ready(observeArpProxies(observability.metrics, proxies));
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
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
