import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Inject, Module, type DynamicModule, type INestApplicationContext, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { subjects } from '@locus/contracts';
import { SitePolicy } from '@locus/domain';
import { connectNats, ensureEventStream, PlaneEventPublisher, type LocationFeedHub } from '@locus/messaging';
import { NestPinoLogger, natsCredentials, ScaledClock, type LocusConfig, type Logger } from '@locus/platform';
import { defaultTopologyPath, loadTopologyFile } from '@locus/topology';
import { loadMappingOptions, mappingTimers, type MappingOptions } from './mapping-options';
import { MappingHost } from './mapping-host';
import type { MapServerService } from './map-server/map-server.service';
import type { EtrService } from './register-eid/etr.service';
import type { ItrService } from './itr-cache/itr.service';
import type { MappingDeps } from './shared/deps';
import { mappingSitesOf } from './shared/mapping-sites';
import { siteMac } from './shared/site-keys';

const HOST = Symbol('MAPPING_HOST');

class MappingLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(HOST) private readonly host: MappingHost) {}
  onApplicationBootstrap() {
    return this.host.start();
  }
  onApplicationShutdown() {
    return this.host.stop();
  }
}

@Module({})
export class MappingSystemModule {
  static register(host: MappingHost): DynamicModule {
    return { module: MappingSystemModule, providers: [{ provide: HOST, useValue: host }, MappingLifecycle], exports: [HOST] };
  }
}

export interface RunningMappingSystem {
  app: INestApplicationContext;
  host: MappingHost;
  nc: NatsConnection;
  options: MappingOptions;
  /** The map-server of this process, when it runs one. */
  mapServer?: MapServerService;
  etr(site: string): EtrService | undefined;
  itr(site: string): ItrService | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the mapping system: the map-server / map-resolver and the xTR (ETR + ITR) of each site
 * named by the options (default: everything, from the environment; see mapping-options.ts).
 * `overrides` replace environment settings (tests run the map-server and the xTRs apart).
 */
/** `feeds.locationHub`: the process's shared consumer of the location events (the lab's `planes` process), instead of one of its own. */
export async function startMappingSystem(config: LocusConfig, logger: Logger, overrides: Partial<MappingOptions> = {}, feeds: { locationHub?: LocationFeedHub } = {}): Promise<RunningMappingSystem> {
  const options: MappingOptions = loadMappingOptions(process.env, overrides);
  const topologyFile = loadTopologyFile(config.topologyPath ?? defaultTopologyPath(), { withoutVms: true }); // VMs come from the location DB
  const policy = new SitePolicy(mappingSitesOf(topologyFile.index));
  const siteNames = policy.sites().map((s) => s.name);
  const xtrSites = options.xtrSites === 'all' ? siteNames : options.xtrSites;
  const unknown = [...xtrSites, ...options.smrOnlyItrs].filter((s) => !policy.has(s));
  if (unknown.length) throw new Error(`LOCUS_XTR_SITES / LOCUS_ITR_SMR_ONLY name sites that are not in the mapping system: ${unknown.join(', ')} (mapping sites: ${siteNames.join(', ')})`);

  const timeScale = options.timeScale ?? config.timeScale;
  const lab = new ScaledClock(timeScale);
  const nc = await connectNats(
    config.natsUrl,
    `locus-mapping-system${options.mapServer ? '-ms' : ''}${xtrSites.length ? `-${xtrSites.join('-')}` : ''}`.slice(0, 60),
    logger,
    natsCredentials(config, 'mapping'),
  );
  const jsm = await nc.jetstreamManager();
  await ensureEventStream(jsm, config.streamName, subjects(config.subjectPrefix).eventsWildcard, config.streamReplicas);
  const js = nc.jetstream();
  const deps: MappingDeps = {
    nc,
    js,
    jsm,
    prefix: config.subjectPrefix,
    stream: config.streamName,
    logger,
    ...(feeds.locationHub ? { locationHub: feeds.locationHub } : {}),
    clock: { lab: () => lab.now(), wall: () => Date.now() },
    mac: siteMac(options.keySeed),
    policy,
    options,
    timers: mappingTimers(options, timeScale),
    planes: new PlaneEventPublisher(nc, config.subjectPrefix, logger.child({ component: 'mapping-system' })),
  };
  const host = new MappingHost(deps, { mapServer: options.mapServer, xtrSites, smrOnlyItrs: options.smrOnlyItrs });
  const app = await NestFactory.createApplicationContext(MappingSystemModule.register(host), { logger: new NestPinoLogger(logger) });
  try {
    await app.init();
  } catch (err) {
    await app.close().catch(() => undefined);
    await nc.drain().catch(() => undefined);
    throw err;
  }
  return {
    app,
    host,
    nc,
    options,
    ...(host.mapServer ? { mapServer: host.mapServer } : {}),
    etr: (site) => host.etrs.get(site),
    itr: (site) => host.itrs.get(site),
    async stop() {
      await app.close();
      await nc.drain().catch(() => undefined);
    },
  };
}
