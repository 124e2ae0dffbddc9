import { createLogger, loadConfig, watchEventLoop, natsCheck, startServiceObservability } from '@locus/platform';
import { startConsole } from './console-server';

/**
 * The console on its own (compose, Kubernetes): LOCUS_CONSOLE_PORT and LOCUS_CONSOLE_HOST, NATS as
 * the operator (NATS_NKEY_SEED_FILE); /healthz and /readyz (ready once it has the topology and
 * listens, while NATS answers) on LOCUS_METRICS_PORT, as every Locus service.
 */
async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const webConsole = await startConsole(config, logger, { port: config.consolePort, host: config.consoleHost });
  observability.ready([natsCheck(webConsole.nc)]);
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      logger.info({ component: 'console', signal }, 'shutting down');
      void webConsole
        .stop()
        .then(() => observability.stop())
        .then(() => process.exit(0));
    });
}

main().catch((err) => {
  process.stderr.write(`console failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
