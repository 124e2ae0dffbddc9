import 'reflect-metadata';
import { createLogger, loadConfig, watchEventLoop, startServiceObservability } from '@locus/platform';
import { startAgents } from './start-agents';
import { observeAgents } from './observability/agent-metrics';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  const observability = await startServiceObservability(config, logger);
  const agents = await startAgents(config, logger);
  observability.ready(observeAgents(observability.metrics, agents));
  // Watched once started: a start's own long steps (a snapshot, placing the VMs) are timed by its start lines.
  watchEventLoop(logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(
      signal,
      () =>
        void agents
          .stop()
          .then(() => observability.stop())
          .then(() => process.exit(0)),
    );
}

main().catch((err) => {
  console.error(`hypervisor-agent failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
