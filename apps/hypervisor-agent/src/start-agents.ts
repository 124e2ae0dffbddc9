import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Module, type DynamicModule, type INestApplicationContext, type OnApplicationBootstrap, type OnApplicationShutdown, Inject } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { subjects } from '@locus/contracts';
import type { HostInventory } from '@locus/domain';
import { connectNats, ensureEventStream, type LocationFeedHub } from '@locus/messaging';
import { NestPinoLogger, natsCredentials, ScaledClock, type LocusConfig, type Logger } from '@locus/platform';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { LinuxDataplane } from '@locus/dataplane';
import { AgentHost, type AgentHostDeps } from './agent-host';
import { LinuxVmNetwork } from './host/linux-vm-network';
import { qemuDriverFor } from './qemu/qemu-setup';

const HOST = Symbol('AGENT_HOST');

class AgentLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(HOST) private readonly host: AgentHost) {}
  onApplicationBootstrap() {
    return this.host.start();
  }
  onApplicationShutdown() {
    return this.host.stop();
  }
}

@Module({})
export class HypervisorAgentModule {
  static register(host: AgentHost): DynamicModule {
    return { module: HypervisorAgentModule, providers: [{ provide: HOST, useValue: host }, AgentLifecycle], exports: [HOST] };
  }
}

export interface RunningAgents {
  app: INestApplicationContext;
  host: AgentHost;
  nc: NatsConnection;
  stop(): Promise<void>;
}

/**
 * The agents named in the config (or every hypervisor of the topology) with their NATS
 * connection, not started yet (`startAgents` starts them; a test may serve before loading).
 */
export async function prepareAgents(config: LocusConfig, logger: Logger, options: AgentStartOptions = {}): Promise<{ host: AgentHost; nc: NatsConnection }> {
  const { index: topology } = loadTopologyFile(config.topologyPath ?? defaultTopologyPath());
  const names = config.hypervisors === 'all' ? topology.hypervisors.map((h) => h.name) : config.hypervisors;
  const unknown = names.filter((n) => !topology.hypervisor(n));
  if (unknown.length) throw new Error(`LOCUS_HYPERVISORS names hypervisors the topology does not have: ${unknown.join(', ')}`);
  const nc = await connectNats(config.natsUrl, `locus-agents-${names.join('-').slice(0, 40)}`, logger, natsCredentials(config, 'agent'));
  const jsm = await nc.jetstreamManager();
  await ensureEventStream(jsm, config.streamName, subjects(config.subjectPrefix).eventsWildcard, config.streamReplicas);
  const dataplane = config.dataplane === 'linux' ? new LinuxDataplane(topology, { prefix: config.dataplanePrefix }) : undefined;
  const driver = config.hypervisor === 'qemu' ? await qemuDriverFor(config, topology, dataplane, logger) : undefined;
  const deps: AgentHostDeps = {
    nc,
    js: nc.jetstream(),
    jsm,
    topology,
    clock: new ScaledClock(config.timeScale),
    logger,
    prefix: config.subjectPrefix,
    stream: config.streamName,
    heartbeatMs: config.heartbeatMs,
    timeScale: config.timeScale,
    ...(options.locationHub ? { locationHub: options.locationHub } : {}),
    ...(dataplane ? { network: new LinuxVmNetwork(dataplane, logger) } : {}),
    ...(driver ? { driver } : {}),
  };
  return { host: new AgentHost(names, deps, options.held), nc };
}

export interface AgentStartOptions {
  /** What each hypervisor still runs as its agent starts (the lab's hypervisors are simulated: a test says it). */
  held?: ReadonlyMap<string, HostInventory>;
  /** The process's shared consumer of the location events (the lab's `planes` process), instead of one of its own. */
  locationHub?: LocationFeedHub;
}

/** Starts the hypervisor agents named in the config (or every hypervisor of the topology). */
export async function startAgents(config: LocusConfig, logger: Logger, options: AgentStartOptions = {}): Promise<RunningAgents> {
  const { host, nc } = await prepareAgents(config, logger, options);
  const app = await NestFactory.createApplicationContext(HypervisorAgentModule.register(host), { logger: new NestPinoLogger(logger) });
  await app.init();
  return {
    app,
    host,
    nc,
    async stop() {
      await app.close();
      await host.stopDriver();
      await nc.drain().catch(() => undefined);
    },
  };
}
