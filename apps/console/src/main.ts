import { createLogger, loadConfig } from '@locus/platform';
import { startConsole } from './console-server';

/** The console on its own (compose): LOCUS_CONSOLE_PORT and LOCUS_CONSOLE_HOST, NATS as the operator (NATS_NKEY_SEED_FILE). */
async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const webConsole = await startConsole(config, logger, { port: config.consolePort, host: config.consoleHost });
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      logger.info({ component: 'console', signal }, 'shutting down');
      void webConsole.stop().then(() => process.exit(0));
    });
}

main().catch((err) => {
  process.stderr.write(`console failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
