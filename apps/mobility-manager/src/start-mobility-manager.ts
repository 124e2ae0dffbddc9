// TypeORM's entity decorators (the projections) need the metadata polyfill before they load.
import 'reflect-metadata';
import type { NatsConnection, Service } from 'nats';
import type { DataSource } from 'typeorm';
import { subjects } from '@locus/contracts';
import { OutboxRelay, openStore, PgEventStore, VmInlineProjection } from '@locus/eventstore';
import { addJsonService, connectNats, ensureEventStream, JetStreamOutboxPublisher, serveRequestEndpoints, type EndpointStats } from '@locus/messaging';
import { natsCredentials, ScaledClock, serviceDatabaseUrl, type LocusConfig, type Logger } from '@locus/platform';
import { defaultTopologyPath, loadTopologyFile, type TopologyIndex } from '@locus/topology';
import { managerEndpoints } from './endpoints';
import { VmCommandService } from './vm-commands/vm-command.service';
import { MoveSagaRunner } from './processes/move-saga/move-saga.runner';
import { placeTopologyVms } from './seed-vms/place-topology-vms';
import { MovePlanner } from './move-planner/move-planner';
import { HaMonitor } from './processes/ha-restart/ha-monitor';
import { ConvergenceTracker } from './processes/track-convergence/convergence-tracker';
import { DriftDetector } from './processes/detect-drift/drift-detector';
import { HostAdmissions } from './shared/host-admissions';

export const OUTBOX_CHANNEL = 'locus_outbox';

/** Endpoints that change state (or cost a prediction): admission-controlled, at most LOCUS_MAX_CONCURRENT_REQUESTS running and LOCUS_MAX_QUEUED_REQUESTS waiting each. */
export const ADMISSION_CONTROLLED = ['vm.move', 'move.cancel', 'move.plan'] as const;

export interface MobilityManager {
  /** The NATS service of the request endpoints (`nats micro info locus-mobility-manager`). */
  service: Service;
  nc: NatsConnection;
  dataSource: DataSource;
  store: PgEventStore;
  commands: VmCommandService;
  relay: OutboxRelay;
  saga: MoveSagaRunner;
  ha: HaMonitor;
  planner: MovePlanner;
  topology: TopologyIndex;
  /** Network convergence of every move (absent with LOCUS_CONVERGENCE=false). */
  convergence?: ConvergenceTracker;
  drift: DriftDetector;
  /** Each request endpoint's counters, by pattern (`vm.move`, ...): started, expired (dropped past their deadline), rejected (queue full), running, queued. */
  requestStats(): Map<string, EndpointStats>;
  /** vm.move requests refused so far, by error code. */
  refusals(): ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

export function storeFor(dataSource: DataSource, prefix: string): PgEventStore {
  const s = subjects(prefix);
  return new PgEventStore(dataSource, {
    subjectOf: (streamId, type) => s.streamEvent(streamId, type),
    projectors: [],
    inline: new VmInlineProjection(),
    notifyChannel: OUTBOX_CHANNEL,
  });
}

/**
 * Starts the command side: migrates the store, serves the request subjects, places the
 * topology's VMs, relays the outbox to JetStream and runs the move saga.
 */
export async function startMobilityManager(config: LocusConfig, logger: Logger): Promise<MobilityManager> {
  const log = logger.child({ component: 'mobility-manager' });
  const topologyFile = loadTopologyFile(config.topologyPath ?? defaultTopologyPath());
  for (const w of topologyFile.warnings) log.warn({ warning: w }, 'topology warning');
  const topology = topologyFile.index;

  // Migrated as the owner of DATABASE_URL; the pool and the relay log in as the service role, which can only append and read.
  const serviceUrl = serviceDatabaseUrl(config);
  const storeStarted = performance.now();
  const dataSource = await openStore(config.databaseUrl, config.pgPoolSize, { serviceUrl, logger, warm: true });
  log.info(
    { database: new URL(config.databaseUrl).pathname.slice(1), role: config.databaseServiceUser, connections: config.pgPoolSize, ms: Math.round(performance.now() - storeStarted) },
    'event store ready (migrations applied, every pool connection open)',
  );
  const nc = await connectNats(config.natsUrl, 'locus-mobility-manager', logger, natsCredentials(config, 'manager'));
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const s = subjects(config.subjectPrefix);
  await ensureEventStream(jsm, config.streamName, s.eventsWildcard, config.streamReplicas);

  const store = storeFor(dataSource, config.subjectPrefix);
  const commands = new VmCommandService(store, logger);
  const relay = new OutboxRelay(new JetStreamOutboxPublisher(js), { databaseUrl: serviceUrl, notifyChannel: OUTBOX_CHANNEL, logger });
  // While this process's relay leads, it publishes the store's appends from memory as they commit.
  const stopRelayingFromMemory = relay.relayFromMemory(store);
  await relay.start();

  const clock = new ScaledClock(config.timeScale);
  let planner: MovePlanner | undefined = undefined;
  const ha = new HaMonitor(
    { nc, store, commands, planner: () => planner!, topology, dataSource, clock, logger },
    { prefix: config.subjectPrefix, enabled: config.haEnabled, hostTimeoutMs: config.hostTimeoutMs, timeScale: config.timeScale },
  );
  planner = new MovePlanner(dataSource, topology, ha);
  const convergence = config.convergenceTracking
    ? new ConvergenceTracker({ js, jsm, commands, dataSource, topology, logger }, { prefix: config.subjectPrefix, stream: config.streamName, deadlineMs: config.convergenceDeadlineMs })
    : undefined;
  const driftEveryMs = config.driftIntervalMs > 0 ? Math.max(1000, config.driftIntervalMs / config.timeScale) : 0;
  const drift = new DriftDetector(
    { nc, dataSource, topology, logger, converging: () => convergence?.converging() ?? new Set(), appends: store, commands, down: () => ha.down() },
    { prefix: config.subjectPrefix, intervalMs: driftEveryMs, slice: config.driftSlice },
  );

  // Ready means ready: until the topology's VMs are placed and the saga runs, every request
  // subject answers UNAVAILABLE saying so, never UNKNOWN_VM for a VM not placed yet.
  let starting: string | undefined = 'the mobility manager is starting';
  const limits = { maxConcurrent: config.maxConcurrentRequests, maxQueued: config.maxQueuedRequests };
  const admissions = new HostAdmissions();
  const endpoints = managerEndpoints({
    admissions,
    dataSource,
    topology,
    commands,
    planner,
    logger,
    drift,
    queue: { maxOutboundPerHost: config.maxOutboundPerHost, maxQueuedPerHost: config.maxQueuedPerHost },
    fullQueueMemoryMs: config.fullQueueMemoryMs,
  });
  const service = await addJsonService(nc, { name: 'locus-mobility-manager', version: '0.1.0', description: 'Locus mobility manager: VM moves, locations and topology' });
  const requestStats = serveRequestEndpoints(service, endpoints.handlers, {
    subjectPrefix: config.subjectPrefix,
    logger: log,
    admission: Object.fromEntries(ADMISSION_CONTROLLED.map((endpoint) => [endpoint, limits])),
    defaultBudgetMs: config.requestBudgetMs,
    notReady: () => starting,
  });

  starting = `the mobility manager is starting: placing the topology's ${topology.topology.vms.length} VMs`;
  await placeTopologyVms(topology, commands, logger);
  starting = 'the mobility manager is starting: resuming the moves in progress';
  const saga = new MoveSagaRunner(
    { nc, js, jsm, commands, dataSource, logger, admissions },
    {
      prefix: config.subjectPrefix,
      stream: config.streamName,
      stepRetry: { firstTimeoutMs: config.agentTimeoutMs, maxTimeoutMs: config.agentMaxTimeoutMs, giveUpRealMs: config.agentGiveUpMs, timeScale: config.timeScale },
      ackWaitMs: config.sagaAckWaitMs,
      maxOutboundPerHost: config.maxOutboundPerHost,
      onSlotFreed: (host) => endpoints.moveVm.slotFreed(host),
    },
  );
  endpoints.moveVm.onStarted = (vm, started) => saga.driveStarted(vm, started);
  await saga.start();
  await convergence?.start();
  drift.start();
  ha.start();
  starting = undefined;
  log.info({ prefix: config.subjectPrefix, stream: config.streamName, vms: topology.topology.vms.length }, `mobility manager ready: try ${s.request('vm.move')}`);

  let stopped = false;
  return {
    service,
    nc,
    dataSource,
    store,
    commands,
    relay,
    saga,
    ha,
    planner,
    topology,
    convergence,
    drift,
    requestStats,
    refusals: () => endpoints.moveVm.refusalCounts(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await ha.stop();
      await drift.stop();
      await convergence?.stop();
      // A move accepted from here on waits in accepted for the next start, as one accepted while the saga is down does.
      endpoints.moveVm.onStarted = undefined;
      await saga.stop();
      await service.stop().catch(() => undefined);
      stopRelayingFromMemory();
      await relay.stop();
      await nc.drain().catch(() => undefined);
      await dataSource.destroy();
    },
  };
}
