import type { NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import {
  ListRoutesRequest,
  LocusError,
  ReconcileRoutesRequest,
  routingSubjects,
  unknownName,
  type ListRoutesReply,
  type ReconcileFix,
  type ReconcileRoutesReply,
  type Reply,
  type SiteRoutesView,
} from '@locus/contracts';
import { addJsonEndpoint, addJsonService, requestJson } from '@locus/messaging';
import type { SiteRouteInjector } from '../inject-routes/site-injector';

/**
 * `<prefix>.routes.list` and `<prefix>.routes.reconcile`, served by every route-injector
 * process (one answers, queue group): it asks each site's injector on its own subject
 * (`<prefix>.routes.site.<site>.list|reconcile`, served by whichever process runs that site)
 * and merges the answers; a site whose injector does not answer is marked `unavailable`.
 * `prefixes`, `after` and `limit` of `routes.list` are passed on: each site filters and pages its own RIB.
 */
export async function serveRoutes(
  nc: NatsConnection,
  injectors: readonly SiteRouteInjector[],
  allSites: readonly { name: string; hostRoutes: boolean }[],
  prefix: string,
  logger: Logger,
): Promise<Service> {
  const log = logger.child({ component: 'route-injector' });
  const subj = routingSubjects(prefix);
  const service = await addJsonService(nc, {
    name: 'locus-route-injector',
    version: '0.1.0',
    description: 'Locus host-route injectors: /32 per VM through each site BGP speaker',
  });
  const targets = (site?: string): string[] => {
    if (!site) return allSites.filter((s) => s.hostRoutes).map((s) => s.name);
    const known = allSites.find((s) => s.name === site);
    if (!known)
      throw unknownName(
        'site',
        site,
        allSites.map((s) => s.name),
      );
    if (!known.hostRoutes) throw new LocusError('UNKNOWN_SITE', `${site} does not inject host routes (topology hostRoutes: false)`);
    return [site];
  };
  addJsonEndpoint(service, {
    name: 'routes-list',
    subject: subj.routesList,
    schema: ListRoutesRequest,
    logger: log,
    handler: async (body): Promise<{ ok: true } & ListRoutesReply> => {
      const { site: only, ...filter } = body; // prefixes, after, limit: each site applies them to its own RIB
      const sites = await Promise.all(
        targets(only).map(async (site): Promise<SiteRoutesView> => {
          try {
            const reply = await requestJson<Reply<{ view: SiteRoutesView }>>(nc, subj.siteRoutesList(site), filter, 3000);
            if (!reply.ok) throw new Error(reply.error.message);
            return reply.view;
          } catch {
            return { site, rib: 'memory', routes: [], unavailable: true };
          }
        }),
      );
      return { ok: true, sites };
    },
  });
  addJsonEndpoint(service, {
    name: 'routes-reconcile',
    subject: subj.routesReconcile,
    schema: ReconcileRoutesRequest,
    logger: log,
    handler: async (body): Promise<{ ok: true } & ReconcileRoutesReply> => {
      const sites = await Promise.all(
        targets(body.site).map(async (site) => {
          try {
            const reply = await requestJson<Reply<{ fixes: ReconcileFix[] }>>(nc, subj.siteRoutesReconcile(site), {}, 30_000);
            if (!reply.ok) throw new Error(reply.error.message);
            return { site, fixes: reply.fixes };
          } catch {
            return { site, fixes: [], unavailable: true };
          }
        }),
      );
      return { ok: true, sites };
    },
  });
  for (const injector of injectors) {
    addJsonEndpoint(service, {
      name: `routes-${injector.name}-list`,
      subject: subj.siteRoutesList(injector.name),
      schema: ListRoutesRequest,
      logger: log,
      handler: async ({ prefixes, after, limit }) => ({ ok: true, view: await injector.view({ prefixes, after, limit }) }),
    });
    addJsonEndpoint(service, {
      name: `routes-${injector.name}-reconcile`,
      subject: subj.siteRoutesReconcile(injector.name),
      schema: ReconcileRoutesRequest,
      logger: log,
      handler: async () => ({ ok: true, fixes: await injector.reconcile('request') }),
    });
  }
  // The subscriptions reach the server before anyone is told the endpoints are up.
  await nc.flush();
  return service;
}
