import type { Service } from 'nats';
import { MapListRequest, MapResolveRequest, mappingSubjects } from '@locus/contracts';
import { addJsonEndpoint, addJsonService, feedDurableName, LocationFeed } from '@locus/messaging';
import { ListMappingsHandler } from './list-mappings/list-mappings.handler';
import { etrAudience, EtrLocationFollower } from './follow-locations/location-follower';
import { MapServerService } from './map-server/map-server.service';
import { EtrService } from './register-eid/etr.service';
import { ItrService } from './itr-cache/itr.service';
import { ResolveEidHandler } from './resolve-eid/resolve-eid.handler';
import type { LocationVersions } from '@locus/domain';
import type { MappingDeps } from './shared/deps';
import { SiteInbox } from './shared/site-inbox';

export interface MappingRoles {
  mapServer: boolean;
  /** Sites whose xTR runs here: an ITR for each, an ETR for those that may claim EIDs. */
  xtrSites: string[];
  smrOnlyItrs: string[];
}

/** The roles of the mapping system one process hosts: the map-server and/or the xTRs of some sites. */
export class MappingHost {
  readonly mapServer?: MapServerService;
  readonly etrs = new Map<string, EtrService>();
  readonly itrs = new Map<string, ItrService>();
  /** Per xTR site: the check of what the map-server sends its ETR and ITR, and the refusals counted. */
  readonly inboxes = new Map<string, SiteInbox>();
  private feed?: LocationFeed;
  private service?: Service;

  constructor(
    private readonly deps: MappingDeps,
    readonly roles: MappingRoles,
  ) {
    if (roles.mapServer) this.mapServer = new MapServerService(deps);
    // One table of location versions for all the ETRs here, not one per site.
    const versions: LocationVersions = new Map();
    for (const site of roles.xtrSites) {
      const inbox = new SiteInbox(site, { mac: deps.mac, clock: deps.clock, logger: deps.logger, replayWindowMs: deps.options.replayWindowMs });
      this.inboxes.set(site, inbox);
      this.itrs.set(site, new ItrService(site, !roles.smrOnlyItrs.includes(site), deps, inbox));
      if (deps.policy.hasEtr(site)) this.etrs.set(site, new EtrService(site, deps, inbox, versions));
    }
  }

  /** The durable consumer this process follows the location events with (one for all its ETRs). */
  get feedDurable(): string {
    return feedDurableName('mapping-etrs', [...this.etrs.keys()]);
  }

  /** What the location feed dropped before dispatch (undecodable, wrong source); none without ETRs. */
  feedDrops(): ReturnType<LocationFeed['drops']> {
    return this.feed?.drops();
  }

  async start(): Promise<void> {
    const d = this.deps;
    this.service = await addJsonService(d.nc, {
      name: 'locus-mapping-system',
      version: '0.1.0',
      description: `Locus mapping system:${this.mapServer ? ' map-server/map-resolver' : ''}${this.roles.xtrSites.length ? ` xTRs ${this.roles.xtrSites.join(', ')}` : ''}`,
    });
    if (this.mapServer) {
      await this.mapServer.start(this.service);
      const s = mappingSubjects(d.prefix);
      const log = d.logger.child({ component: 'map-resolver' });
      const resolve = new ResolveEidHandler(this.mapServer, { nc: d.nc, prefix: d.prefix, policy: d.policy, clock: d.clock, negativeTtlMin: d.options.negativeTtlMin });
      const list = new ListMappingsHandler(this.mapServer, { nc: d.nc, prefix: d.prefix, policy: d.policy, clock: d.clock });
      addJsonEndpoint(this.service, { name: 'map-resolve', subject: s.resolve, schema: MapResolveRequest, logger: log, handler: (req) => resolve.handle(req) });
      addJsonEndpoint(this.service, { name: 'map-list', subject: s.list, schema: MapListRequest, logger: log, handler: (req) => list.handle(req) });
    }
    for (const itr of this.itrs.values()) await itr.start(this.service);
    for (const etr of this.etrs.values()) await etr.start(this.service);
    if (this.etrs.size) {
      // One consumer for the process: each location event is delivered once and handed to the ETRs of the sites it names.
      this.feed = new LocationFeed(d, { durable: this.feedDurable, audience: etrAudience });
      for (const etr of this.etrs.values()) this.feed.follow(new EtrLocationFollower(etr));
      // Each ETR says MappingReconciled once the map-server has acknowledged its snapshot's EIDs.
      await this.feed.start(async (through) => {
        for (const etr of this.etrs.values()) etr.reconcileFrom(through);
      });
      for (const etr of this.etrs.values()) d.logger.info({ component: `etr:${etr.site}`, claims: etr.claims.size }, `location snapshot loaded: ${etr.claims.size} EIDs to register`);
    }
    // The endpoints' subscriptions have reached the server: "ready" means a request is answered.
    await d.nc.flush();
    d.logger.info(
      { component: 'mapping-system', mapServer: !!this.mapServer, etrs: [...this.etrs.keys()], itrs: [...this.itrs.keys()], smrOnly: this.roles.smrOnlyItrs, keySource: d.options.keySource },
      `mapping system ready: ${this.mapServer ? 'map-server, ' : ''}ETRs ${[...this.etrs.keys()].join(', ') || 'none'}, ITRs ${[...this.itrs.keys()].join(', ') || 'none'}; site keys from ${d.options.keySource}`,
    );
  }

  async stop(): Promise<void> {
    await this.feed?.stop();
    await Promise.all([...this.etrs.values()].map((e) => e.stop()));
    await Promise.all([...this.itrs.values()].map((i) => i.stop()));
    await this.mapServer?.stop();
    await this.service?.stop().catch(() => undefined);
    await this.deps.planes.flush();
  }
}
