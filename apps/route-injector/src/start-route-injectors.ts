import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Inject, Module, type DynamicModule, type INestApplicationContext, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection, Service } from 'nats';
import { subjects } from '@locus/contracts';
import { RouteTracker, SiteOriginators, type Replacement, type RouteSite } from '@locus/domain';
import { connectNats, ensureEventStream, feedDurableName, LocationFeed, PlaneEventFeed, PlaneEventPublisher, type LocationFeedHub } from '@locus/messaging';
import { NestPinoLogger, natsCredentials, type LocusConfig, type Logger } from '@locus/platform';
import { defaultTopologyPath, loadTopologyFile, type TopologyIndex } from '@locus/topology';
import { noteRouteConfirmed, SiteRouteInjector } from './inject-routes/site-injector';
import { routeAudience, routeFactOf } from './follow-locations/route-facts';
import { serveRoutes } from './serve-routes/route-endpoints';
import type { BgpFabric } from './rib/rib-driver';
import { InMemoryFabric } from './rib/in-memory-rib';
import { StartingFabric } from './rib/starting-fabric';
import { RemoteGoBgpFabric } from './rib/gobgp-rib-driver';
import { gobgpdBinary, startGoBgpFabric } from './lab-bgp/gobgp-fabric';
import { LinuxDataplane } from '@locus/dataplane';
import { LinuxFibSync } from './rib/linux-fib';

export interface RouteInjectorOptions {
  /** Sites this process runs an injector for (default LOCUS_SITES, else every site with hostRoutes). */
  sites?: string[];
  /** The BGP fabric to drive; default from the environment (see routeInjectorEnv), else a spawned gobgpd fabric, else in memory. */
  fabric?: BgpFabric;
  /** Make-before-break hold (default LOCUS_ROUTE_HOLD_MS or 60000). */
  holdMs?: number;
  confirmTimeoutMs?: number;
  /** The process's shared consumer of the location events (the lab's `planes` process), instead of one of its own. */
  locationHub?: LocationFeedHub;
}

export interface RouteInjectorEnv {
  sites?: string[];
  bgp: 'auto' | 'gobgp' | 'memory';
  siteApis?: Record<string, string>;
  coreApi?: string;
  holdMs: number;
}

/** LOCUS_SITES, LOCUS_BGP (auto|gobgp|memory), LOCUS_GOBGP_API (`dc1=host:50051,…`), LOCUS_GOBGP_CORE_API, LOCUS_ROUTE_HOLD_MS. */
export function routeInjectorEnv(env: NodeJS.ProcessEnv = process.env): RouteInjectorEnv {
  const list = (v?: string) =>
    v && v !== 'all'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  const bgp = (env.LOCUS_BGP ?? 'auto') as RouteInjectorEnv['bgp'];
  if (!['auto', 'gobgp', 'memory'].includes(bgp)) throw new Error(`LOCUS_BGP must be auto, gobgp or memory, not ${bgp}`);
  const apis = list(env.LOCUS_GOBGP_API);
  return {
    sites: list(env.LOCUS_SITES),
    bgp,
    siteApis: apis && Object.fromEntries(apis.map((kv) => kv.split('=').map((s) => s.trim()) as [string, string])),
    coreApi: env.LOCUS_GOBGP_CORE_API || undefined,
    holdMs: Number(env.LOCUS_ROUTE_HOLD_MS ?? 60_000),
  };
}

export function routeSites(topology: TopologyIndex): RouteSite[] {
  return topology.sites.map((s) => ({ name: s.name, routerIp: s.router.ip, hostRoutes: s.hostRoutes }));
}

/** Picks the fabric: given, remote gobgpd from the environment, a spawned lab fabric, or (said loudly) in memory. */
export async function chooseFabric(env: RouteInjectorEnv, sites: RouteSite[], logger: Logger): Promise<{ fabric: BgpFabric; owned: boolean }> {
  const log = logger.child({ component: 'route-injector' });
  const injecting = sites.filter((s) => s.hostRoutes);
  if (env.bgp === 'memory') {
    log.warn('LOCUS_BGP=memory: route injectors run on an in-memory RIB, not a BGP speaker');
    return { fabric: new InMemoryFabric(injecting.map((s) => s.name)), owned: true };
  }
  if (env.coreApi) {
    if (!env.siteApis) throw new Error('LOCUS_GOBGP_CORE_API is set but LOCUS_GOBGP_API (site=host:port,…) is not');
    log.info({ core: env.coreApi, sites: env.siteApis }, 'driving the gobgpd speakers given in LOCUS_GOBGP_API');
    return { fabric: new RemoteGoBgpFabric(env.siteApis, env.coreApi), owned: true };
  }
  // Spawned in the background: the injectors load their snapshot while gobgpd peers (5–9 s).
  if (gobgpdBinary()) return { fabric: new StartingFabric('gobgp', startGoBgpFabric(injecting, logger)), owned: true };
  if (env.bgp === 'gobgp') throw new Error('LOCUS_BGP=gobgp but gobgpd is not installed (Debian: apt-get install gobgpd)');
  log.warn('gobgpd is not installed (Debian: apt-get install gobgpd, or .ci/install-gobgp.sh): route injectors run on an IN-MEMORY RIB, not a real BGP speaker');
  return { fabric: new InMemoryFabric(injecting.map((s) => s.name)), owned: true };
}

const INJECTORS = Symbol('ROUTE_INJECTORS');

class InjectorLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(INJECTORS) private readonly host: { start(): Promise<void>; stop(): Promise<void> }) {}
  onApplicationBootstrap() {
    return this.host.start();
  }
  onApplicationShutdown() {
    return this.host.stop();
  }
}

@Module({})
export class RouteInjectorModule {
  static register(host: { start(): Promise<void>; stop(): Promise<void> }): DynamicModule {
    return { module: RouteInjectorModule, providers: [{ provide: INJECTORS, useValue: host }, InjectorLifecycle], exports: [INJECTORS] };
  }
}

export interface RunningRouteInjectors {
  app: INestApplicationContext;
  injectors: SiteRouteInjector[];
  fabric: BgpFabric;
  nc: NatsConnection;
  injector(site: string): SiteRouteInjector | undefined;
  /** The process's feeds (location events, RouteConfirmed): what each dropped before dispatch. */
  feeds: readonly (LocationFeed | PlaneEventFeed)[];
  /** The Linux dataplane's kernel routes following the core (with --dataplane linux). */
  fib?: LinuxFibSync;
  stop(): Promise<void>;
}

/** Starts one route injector per site (those in opts.sites / LOCUS_SITES, else every hostRoutes site). */
export async function startRouteInjectors(config: LocusConfig, logger: Logger, opts: RouteInjectorOptions = {}): Promise<RunningRouteInjectors> {
  const env = routeInjectorEnv();
  const { index: topology } = loadTopologyFile(config.topologyPath ?? defaultTopologyPath(), { withoutVms: true }); // VMs come from the location DB
  const sites = routeSites(topology);
  const names = opts.sites ?? env.sites ?? sites.filter((s) => s.hostRoutes).map((s) => s.name);
  const unknown = names.filter((n) => !sites.some((s) => s.name === n && s.hostRoutes));
  if (unknown.length) throw new Error(`no host-route site named ${unknown.join(', ')} in the topology`);
  const chosen = opts.fabric ? { fabric: opts.fabric, owned: false } : await chooseFabric(env, sites, logger);
  const fabric = chosen.fabric;
  let nc: NatsConnection | undefined;
  try {
    nc = await connectNats(config.natsUrl, `locus-route-injector-${names.join('-').slice(0, 40)}`, logger, natsCredentials(config, 'route-injector'));
    const jsm = await nc.jetstreamManager();
    await ensureEventStream(jsm, config.streamName, subjects(config.subjectPrefix).eventsWildcard, config.streamReplicas);
    const js = nc.jetstream();
    const publisher = new PlaneEventPublisher(nc, config.subjectPrefix, logger.child({ component: 'route-injector' }));
    const deps = { nc, prefix: config.subjectPrefix, logger, publisher };
    const feedDeps = { nc, js, jsm, prefix: config.subjectPrefix, stream: config.streamName, logger, ...(opts.locationHub ? { locationHub: opts.locationHub } : {}) };
    const tracker = new RouteTracker();
    const originators = new SiteOriginators();
    const replacements = new Map<string, Replacement>();
    const injectors = names.map(
      (name) =>
        new SiteRouteInjector(
          {
            site: sites.find((s) => s.name === name)!,
            sites,
            driver: fabric.driverFor(name),
            core: fabric.core(),
            holdMs: opts.holdMs ?? env.holdMs,
            confirmTimeoutMs: opts.confirmTimeoutMs ?? 10_000,
            tracker,
            originators,
            replacements,
            confirmedLocally: (event) => {
              // To the sites the stream's copy will go to (each ignores its own); a failure here is retried when that copy arrives.
              for (const h of confirmations.audienceOf(event)) Promise.resolve(h.handle(event)).catch(() => undefined);
            },
          },
          deps,
        ),
    );
    let service: Service | undefined;
    const conn = nc;
    const fib = config.dataplane === 'linux' ? new LinuxFibSync(fabric.core(), new LinuxDataplane(topology, { prefix: config.dataplanePrefix }), sites, logger) : undefined;
    // One consumer of the location events and one of RouteConfirmed for the process, whatever its number of sites.
    // The process applies each to what its sites share (where the VMs are, the newest confirmations) once,
    // then hands it to the sites it concerns: those it names and those that originate the VM's /32.
    const locations = new LocationFeed(feedDeps, { durable: feedDurableName('route-injectors', names), audience: (event) => routeAudience(event, tracker, originators) });
    const confirmations = new PlaneEventFeed(feedDeps, {
      durable: feedDurableName('route-confirmed', names),
      filterSubject: subjects(config.subjectPrefix).event('route', '*', 'RouteConfirmed'),
      audience: (event) => (typeof event.data.prefix === 'string' ? originators.of(event.data.prefix).filter((site) => site !== event.data.site) : []),
    });
    locations.subscribe({
      name: 'route-tracker',
      handle: (event) => {
        const fact = routeFactOf(event);
        if (fact) tracker.applyEvent(event.id, fact);
      },
    });
    confirmations.subscribe({ name: 'route-confirmations', handle: (event) => void noteRouteConfirmed(event, replacements, tracker) });
    for (const i of injectors) {
      locations.follow(i);
      confirmations.subscribe(i.confirmations);
    }
    const host = {
      async start() {
        try {
          await locations.start(async (through) => {
            if (fabric instanceof StartingFabric) await fabric.started;
            await Promise.all(injectors.map((i) => i.start(through)));
          });
        } catch (err) {
          // Out of the process's shared consumer: a feed that never became ready would fail every delivery.
          await locations.stop().catch(() => undefined);
          throw err;
        }
        await confirmations.start();
        await fib?.start();
        service = await serveRoutes(conn, injectors, sites, config.subjectPrefix, logger);
        logger.info({ component: 'route-injector', sites: names, rib: fabric.kind }, 'route injectors ready');
      },
      async stop() {
        await service?.stop().catch(() => undefined);
        await fib?.stop();
        await locations.stop();
        await confirmations.stop();
        await Promise.all(injectors.map((i) => i.stop()));
      },
    };
    const app = await NestFactory.createApplicationContext(RouteInjectorModule.register(host), { logger: new NestPinoLogger(logger) });
    await app.init();
    return {
      app,
      injectors,
      fabric,
      nc,
      injector: (site) => injectors.find((i) => i.name === site),
      feeds: [locations, confirmations],
      fib,
      async stop() {
        await app.close();
        await conn.drain().catch(() => undefined);
        if (chosen.owned) await fabric.stop();
      },
    };
  } catch (err) {
    await nc?.close().catch(() => undefined);
    if (chosen.owned) await fabric.stop();
    throw err;
  }
}
