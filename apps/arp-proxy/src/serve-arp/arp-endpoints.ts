import type { NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import { ArpListRequest, ArpStaleRequest, routingSubjects, type ArpListReply, type ArpStaleReply, type SiteArpView, type StaleNeighbourView } from '@locus/contracts';
import { addJsonEndpoint, requestJson } from '@locus/messaging';
import { LocusError } from '@locus/contracts';
import type { SiteArpProxy } from '../proxy-arp/site-arp-proxy';

/**
 * `<prefix>.arp.stale` and `<prefix>.arp.list`, answered by any arp-proxy process (queue group)
 * from every site's proxy (`<prefix>.arp.site.<site>.stale|list`); a site that does not answer is listed as unavailable.
 * `arp.stale`'s `vm` or `vms` is passed on: each site answers for those VMs only.
 */
export async function serveArp(nc: NatsConnection, proxies: readonly SiteArpProxy[], siteNames: readonly string[], prefix: string, logger: Logger): Promise<Service> {
  const log = logger.child({ component: 'arp-proxy' });
  const subj = routingSubjects(prefix);
  const service = await nc.services.add({ name: 'locus-arp-proxy', version: '0.1.0', description: 'Locus ARP proxies: proxy-ARP, gratuitous ARP and anycast gateways per site' });
  addJsonEndpoint(service, {
    name: 'arp-stale',
    subject: subj.arpStale,
    schema: ArpStaleRequest,
    logger: log,
    handler: async (body): Promise<{ ok: true } & ArpStaleReply> => {
      const stale: StaleNeighbourView[] = [];
      const unavailableSites: string[] = [];
      await Promise.all(
        siteNames.map(async (site) => {
          try {
            const reply = await requestJson(nc, subj.siteArpStale(site), body, 3000);
            if (!reply.ok) throw new Error(reply.error?.message);
            stale.push(...reply.stale);
          } catch {
            unavailableSites.push(site);
          }
        }),
      );
      stale.sort((a, b) => a.since.localeCompare(b.since) || a.neighbour.localeCompare(b.neighbour));
      return { ok: true, stale, ...(unavailableSites.length ? { unavailableSites: unavailableSites.sort() } : {}) };
    },
  });
  addJsonEndpoint(service, {
    name: 'arp-list',
    subject: subj.arpList,
    schema: ArpListRequest,
    logger: log,
    handler: async (body): Promise<{ ok: true } & ArpListReply> => {
      if (body.site && !siteNames.includes(body.site)) throw new LocusError('UNKNOWN_SITE', `no ARP proxy site ${body.site} (sites: ${siteNames.join(', ')})`);
      const targets = body.site ? [body.site] : [...siteNames];
      const sites = await Promise.all(
        targets.map(async (site): Promise<SiteArpView> => {
          try {
            const reply = await requestJson(nc, subj.siteArpList(site), {}, 3000);
            if (!reply.ok) throw new Error(reply.error?.message);
            return reply.view;
          } catch {
            return { site, proxyEnabled: false, proxies: [], gateways: [], neighbours: [], unavailable: true };
          }
        }),
      );
      return { ok: true, sites };
    },
  });
  for (const p of proxies) {
    addJsonEndpoint(service, {
      name: `arp-${p.name}-stale`,
      subject: subj.siteArpStale(p.name),
      schema: ArpStaleRequest,
      logger: log,
      handler: async (body) => ({ ok: true, stale: await p.stale(body.vms ?? (body.vm !== undefined ? [body.vm] : undefined)) }),
    });
    addJsonEndpoint(service, {
      name: `arp-${p.name}-list`,
      subject: subj.siteArpList(p.name),
      schema: ArpListRequest,
      logger: log,
      handler: () => ({ ok: true, view: p.view() }),
    });
  }
  // The subscriptions reach the server before anyone is told the endpoints are up.
  await nc.flush();
  return service;
}
