import type { NatsConnection, Service } from 'nats';
import type { Logger } from 'pino';
import { ArpListRequest, ArpStaleRequest, routingSubjects, unknownName, type ArpListReply, type ArpStaleReply, type Reply, type SiteArpView, type StaleNeighbourView } from '@locus/contracts';
import { addJsonEndpoint, addJsonService, requestJson } from '@locus/messaging';
import type { SiteArpProxy } from '../proxy-arp/site-arp-proxy';

/**
 * `<prefix>.arp.stale` and `<prefix>.arp.list`, answered by any arp-proxy process (queue group)
 * from every site's proxy (`<prefix>.arp.site.<site>.stale|list`); a site that does not answer is listed as unavailable.
 * `arp.stale`'s `vm` or `vms` is passed on: each site answers for those VMs only. A site or VM the
 * topology does not have is refused (UNKNOWN_SITE, UNKNOWN_VM); of a `vms` list only the known
 * ones are asked about and the rest listed as `unknown` (none known: UNKNOWN_VM).
 */
export async function serveArp(nc: NatsConnection, proxies: readonly SiteArpProxy[], siteNames: readonly string[], isVm: (name: string) => boolean, prefix: string, logger: Logger): Promise<Service> {
  const log = logger.child({ component: 'arp-proxy' });
  const subj = routingSubjects(prefix);
  const service = await addJsonService(nc, { name: 'locus-arp-proxy', version: '0.1.0', description: 'Locus ARP proxies: proxy-ARP, gratuitous ARP and anycast gateways per site' });
  addJsonEndpoint(service, {
    name: 'arp-stale',
    subject: subj.arpStale,
    schema: ArpStaleRequest,
    logger: log,
    handler: async (request): Promise<{ ok: true } & ArpStaleReply> => {
      if (request.vm !== undefined && !isVm(request.vm)) throw unknownName('vm', request.vm);
      const unknown = request.vms ? [...new Set(request.vms.filter((vm) => !isVm(vm)))].sort() : [];
      if (request.vms && unknown.length === new Set(request.vms).size) throw unknownName('vm', unknown);
      const body = unknown.length ? { vms: request.vms!.filter(isVm) } : request;
      const stale: StaleNeighbourView[] = [];
      const unavailableSites: string[] = [];
      await Promise.all(
        siteNames.map(async (site) => {
          try {
            const reply = await requestJson<Reply<{ stale: StaleNeighbourView[] }>>(nc, subj.siteArpStale(site), body, 3000);
            if (!reply.ok) throw new Error(reply.error.message);
            stale.push(...reply.stale);
          } catch {
            unavailableSites.push(site);
          }
        }),
      );
      stale.sort((a, b) => a.since.localeCompare(b.since) || a.neighbour.localeCompare(b.neighbour));
      return { ok: true, stale, ...(unavailableSites.length ? { unavailableSites: unavailableSites.sort() } : {}), ...(unknown.length ? { unknown } : {}) };
    },
  });
  addJsonEndpoint(service, {
    name: 'arp-list',
    subject: subj.arpList,
    schema: ArpListRequest,
    logger: log,
    handler: async (body): Promise<{ ok: true } & ArpListReply> => {
      if (body.site && !siteNames.includes(body.site)) throw unknownName('site', body.site, siteNames);
      const targets = body.site ? [body.site] : [...siteNames];
      const sites = await Promise.all(
        targets.map(async (site): Promise<SiteArpView> => {
          try {
            const reply = await requestJson<Reply<{ view: SiteArpView }>>(nc, subj.siteArpList(site), {}, 3000);
            if (!reply.ok) throw new Error(reply.error.message);
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
