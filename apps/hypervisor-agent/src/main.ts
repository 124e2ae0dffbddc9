import 'reflect-metadata';
import { createLogger, loadConfig } from '@locus/platform';
import { startAgents } from './start-agents';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const agents = await startAgents(config, logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void agents.stop().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(`hypervisor-agent failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
