import 'reflect-metadata';
import { subjects } from '@locus/contracts';
import { openStore, OutboxRelay } from '@locus/eventstore';
import { connectNats, ensureEventStream, JetStreamOutboxPublisher } from '@locus/messaging';
import { createLogger, loadConfig, natsCredentials, serviceDatabaseUrl } from '@locus/platform';
import { OUTBOX_CHANNEL } from '../apps/mobility-manager/src/start-mobility-manager';

/**
 * `node dist/tools/run-outbox-relay.js`: the outbox relay on its own, with the services'
 * environment (NATS_URL, DATABASE_URL, LOCUS_DATABASE_SERVICE_USER, LOCUS_SUBJECT_PREFIX,
 * LOCUS_STREAM) and an optional LOCUS_RELAY_BATCH; like the manager it relays as the service role. Safe beside a running mobility manager: one relay per database holds
 * the leader lock, the others wait for it.
 */
async function main() {
  const config = loadConfig();
  const batch = process.env.LOCUS_RELAY_BATCH;
  const batchSize = batch === undefined || batch === '' ? undefined : Number(batch);
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`LOCUS_RELAY_BATCH must be a positive integer, got "${batch}"`);

  const logger = createLogger(config.logLevel, config.logFormat);
  const log = logger.child({ component: 'run-outbox-relay' });
  const serviceUrl = serviceDatabaseUrl(config);
  const dataSource = await openStore(config.databaseUrl, 2, { serviceUrl, logger });
  const nc = await connectNats(config.natsUrl, 'locus-outbox-relay', logger, natsCredentials(config, 'manager'));
  await ensureEventStream(await nc.jetstreamManager(), config.streamName, subjects(config.subjectPrefix).eventsWildcard, config.streamReplicas);
  const relay = new OutboxRelay(new JetStreamOutboxPublisher(nc.jetstream()), {
    databaseUrl: serviceUrl,
    notifyChannel: OUTBOX_CHANNEL,
    batchSize,
    logger,
  });
  await relay.start();
  log.info({ stream: config.streamName, batchSize: batchSize ?? 'default' }, 'outbox relay started');

  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping the outbox relay');
    await relay.stop();
    await nc.drain().catch(() => undefined);
    await dataSource.destroy();
    log.info({ ...relay.stats }, 'outbox relay stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(`outbox relay failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
