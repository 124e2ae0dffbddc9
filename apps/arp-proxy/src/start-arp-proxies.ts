import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Inject, Module, type DynamicModule, type INestApplicationContext, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection, Service } from 'nats';
import { subjects } from '@locus/contracts';
import { DEFAULT_NEIGHBOURS_PER_SITE, labNeighbours, type ArpDomain, type ArpSite, type Clock, type Random } from '@locus/domain';
import { connectNats, ensureEventStream, feedDurableName, LocationFeed, PlaneEventPublisher, type LocationFeedHub } from '@locus/messaging';
import { NestPinoLogger, natsCredentials, ScaledClock, type LocusConfig, type Logger } from '@locus/platform';
import { defaultTopologyPath, loadTopologyFile, type TopologyIndex } from '@locus/topology';
import { LinuxDataplane } from '@locus/dataplane';
import type { SiteArpDriver } from './arp-driver/arp-driver';
import { LabArpDriver } from './arp-driver/lab-arp-driver';
import { LinuxArpDriver } from './arp-driver/linux-arp-driver';
import { KnownVms } from './proxy-arp/known-vms';
import { applyToKnown, arpAudience, SiteArpProxy } from './proxy-arp/site-arp-proxy';
import { serveArp } from './serve-arp/arp-endpoints';

export interface ArpProxyOptions {
  /** Sites this process runs a proxy for (default LOCUS_SITES, else every site with an L2 domain). */
  sites?: string[];
  /** Clock of the neighbours' ARP timers (default: ScaledClock(config.timeScale)); tests pass a manual one. */
  clock?: Clock;
  random?: Random;
  /** Lab neighbours per L2 domain per site (default LOCUS_ARP_NEIGHBOURS or 3). */
  neighboursPerSite?: number;
  /** The process's shared consumer of the location events (the lab's `planes` process), instead of one of its own. */
  locationHub?: LocationFeedHub;
}

export function arpSites(topology: TopologyIndex): ArpSite[] {
  return topology.sites.map((s) => ({ name: s.name, routerMac: s.router.mac, proxyEnabled: s.arpProxy, gateways: s.anycastGateways.map((g) => ({ ...g })) }));
}

export function arpDomains(topology: TopologyIndex): ArpDomain[] {
  return topology.l2Domains.map((d) => ({ name: d.name, kind: d.kind, sites: [...d.sites], subnet: d.subnet, gateway: d.gateway }));
}

const HOST = Symbol('ARP_PROXIES');

class ArpLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(HOST) private readonly host: { start(): Promise<void>; stop(): Promise<void> }) {}
  onApplicationBootstrap() {
    return this.host.start();
  }
  onApplicationShutdown() {
    return this.host.stop();
  }
}

@Module({})
export class ArpProxyModule {
  static register(host: { start(): Promise<void>; stop(): Promise<void> }): DynamicModule {
    return { module: ArpProxyModule, providers: [{ provide: HOST, useValue: host }, ArpLifecycle], exports: [HOST] };
  }
}

export interface RunningArpProxies {
  app: INestApplicationContext;
  proxies: SiteArpProxy[];
  nc: NatsConnection;
  proxy(site: string): SiteArpProxy | undefined;
  /** The process's location feed (what it dropped before dispatch). */
  feed: LocationFeed;
  stop(): Promise<void>;
}

/** Starts one ARP proxy per site that carries an L2 domain (or those in opts.sites / LOCUS_SITES). */
export async function startArpProxies(config: LocusConfig, logger: Logger, opts: ArpProxyOptions = {}): Promise<RunningArpProxies> {
  const { index: topology } = loadTopologyFile(config.topologyPath ?? defaultTopologyPath());
  const sites = arpSites(topology);
  const domains = arpDomains(topology);
  const withDomains = sites.filter((s) => domains.some((d) => d.sites.includes(s.name))).map((s) => s.name);
  const envSites =
    process.env.LOCUS_SITES && process.env.LOCUS_SITES !== 'all'
      ? process.env.LOCUS_SITES.split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  const names = opts.sites ?? envSites ?? withDomains;
  const unknown = names.filter((n) => !withDomains.includes(n));
  if (unknown.length) throw new Error(`no site with an L2 domain named ${unknown.join(', ')} in the topology`);
  const clock = opts.clock ?? new ScaledClock(config.timeScale);
  const random = opts.random ?? Math.random;
  const perSite = opts.neighboursPerSite ?? Number(process.env.LOCUS_ARP_NEIGHBOURS ?? DEFAULT_NEIGHBOURS_PER_SITE);
  const used = new Set<string>([...topology.vms.map((v) => v.ip), ...topology.l2Domains.map((d) => d.gateway)]);
  const neighbours = labNeighbours(domains, used, perSite);
  const nc = await connectNats(config.natsUrl, `locus-arp-proxy-${names.join('-').slice(0, 40)}`, logger, natsCredentials(config, 'arp-proxy'));
  const jsm = await nc.jetstreamManager();
  await ensureEventStream(jsm, config.streamName, subjects(config.subjectPrefix).eventsWildcard, config.streamReplicas);
  const js = nc.jetstream();
  const deps = { logger, publisher: new PlaneEventPublisher(nc, config.subjectPrefix, logger), clock, known: new KnownVms() };
  const dataplane = config.dataplane === 'linux' ? new LinuxDataplane(topology, { prefix: config.dataplanePrefix, neighboursPerSite: perSite }) : undefined;
  const driverFor = (name: string): SiteArpDriver =>
    dataplane
      ? new LinuxArpDriver(name, dataplane, clock, logger)
      : new LabArpDriver(
          name,
          neighbours.filter((n) => n.site === name),
          clock,
          random,
        );
  const proxies = names.map(
    (name) =>
      new SiteArpProxy(
        sites.find((s) => s.name === name)!,
        sites,
        domains,
        driverFor(name),
        deps,
      ),
  );
  // One consumer of the location events for the process, whatever its number of sites: each event
  // updates the VMs the sites share once, then goes to the sites of the VM's L2 domain.
  const feed = new LocationFeed(
    { nc, js, jsm, prefix: config.subjectPrefix, stream: config.streamName, logger, ...(opts.locationHub ? { locationHub: opts.locationHub } : {}) },
    { durable: feedDurableName('arp-proxies', names), audience: (event) => arpAudience(event, deps.known, domains) },
  );
  feed.subscribe({ name: 'arp-known-vms', handle: (event) => void applyToKnown(deps.known, domains, event) });
  for (const p of proxies) feed.follow(p);
  let service: Service | undefined;
  const host = {
    async start() {
      await feed.start(async (through) => void (await Promise.all(proxies.map((p) => p.start(through)))));
      service = await serveArp(nc, proxies, withDomains, (vm) => topology.vm(vm) !== undefined, config.subjectPrefix, logger);
      logger.info({ component: 'arp-proxy', sites: names, neighbours: neighbours.filter((n) => names.includes(n.site)).length, dataplane: config.dataplane }, 'ARP proxies ready');
    },
    async stop() {
      await service?.stop().catch(() => undefined);
      await feed.stop();
      await Promise.all(proxies.map((p) => p.stop()));
    },
  };
  const app = await NestFactory.createApplicationContext(ArpProxyModule.register(host), { logger: new NestPinoLogger(logger) });
  await app.init();
  return {
    app,
    proxies,
    nc,
    proxy: (site) => proxies.find((p) => p.name === site),
    feed,
    async stop() {
      await app.close();
      await nc.drain().catch(() => undefined);
    },
  };
}
