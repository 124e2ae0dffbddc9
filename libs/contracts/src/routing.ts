import { z } from 'zod';
import { Name } from './names';

/**
 * Host routes and ARP: the request bodies of the route-injector and arp-proxy endpoints
 * (`<prefix>.routes.list`, `<prefix>.routes.reconcile`, `<prefix>.arp.stale`, `<prefix>.arp.list`),
 * the types of their replies and the names of the plane events they publish.
 * Never under `<prefix>.evt.>`: the event stream would answer a request with its PubAck.
 */
/** A route prefix, `a.b.c.d/len` (a VM's is its /32). */
const RoutePrefix = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected a prefix a.b.c.d/len');
/** The most prefixes one filtered `routes.list` may name. */
export const ROUTES_LIST_MAX_PREFIXES = 1000;
/** The most routes one page of `routes.list` holds per site. */
export const ROUTES_LIST_MAX_LIMIT = 5000;

/**
 * `routes.list {"site"?,"prefixes"?,"after"?,"limit"?}`: each site's /32s. `prefixes` (1..1000):
 * only the routes of exactly those prefixes. `after`/`limit`: one page per site, by prefix
 * (numeric order), `after` exclusive; each site's view then says its `total` and, when more follow,
 * `next` (ask again with `"after": next`).
 */
export const ListRoutesRequest = z.strictObject({
  site: Name.optional(),
  prefixes: z
    .array(RoutePrefix)
    .min(1, 'name at least one prefix, or leave prefixes out')
    .max(ROUTES_LIST_MAX_PREFIXES, `at most ${ROUTES_LIST_MAX_PREFIXES} prefixes per request; split the list`)
    .optional(),
  after: RoutePrefix.optional().describe("exclusive cursor: only routes whose prefix sorts after this one (the previous page's `next`)"),
  limit: z.int().min(1).max(ROUTES_LIST_MAX_LIMIT).optional().describe('routes per site in this page'),
});
export type ListRoutesRequest = z.infer<typeof ListRoutesRequest>;

export const ReconcileRoutesRequest = z.strictObject({ site: Name.optional() });
export type ReconcileRoutesRequest = z.infer<typeof ReconcileRoutesRequest>;

/** The most VMs one filtered `arp.stale` may name. */
export const ARP_STALE_MAX_VMS = 1000;

/** `arp.stale {"vm"?}` or `{"vms"?}` (1..1000 names): neighbours holding a wrong MAC, for that VM or those VMs only. */
export const ArpStaleRequest = z
  .strictObject({
    vm: Name.optional(),
    vms: z.array(Name).min(1, 'name at least one VM, or leave vms out').max(ARP_STALE_MAX_VMS, `at most ${ARP_STALE_MAX_VMS} VMs per request; split the list`).optional(),
  })
  .refine((r) => r.vm === undefined || r.vms === undefined, { message: 'give vm or vms, not both', path: ['vms'] });
export type ArpStaleRequest = z.infer<typeof ArpStaleRequest>;

export const ArpListRequest = z.strictObject({ site: Name.optional() });
export type ArpListRequest = z.infer<typeof ArpListRequest>;

/** Endpoint names under the prefix; the `site.<site>.*` forms are per-site endpoints the public ones fan out to. */
export function routingSubjects(prefix: string) {
  return {
    routesList: `${prefix}.routes.list`,
    routesReconcile: `${prefix}.routes.reconcile`,
    arpStale: `${prefix}.arp.stale`,
    arpList: `${prefix}.arp.list`,
    siteRoutesList: (site: string) => `${prefix}.routes.site.${site}.list`,
    siteRoutesReconcile: (site: string) => `${prefix}.routes.site.${site}.reconcile`,
    siteArpStale: (site: string) => `${prefix}.arp.site.${site}.stale`,
    siteArpList: (site: string) => `${prefix}.arp.site.${site}.list`,
  };
}

export const ROUTE_EVENT_TYPES = ['RouteAdvertised', 'RouteConfirmed', 'RouteWithdrawn', 'ReconcileFixed', 'RoutesReconciled'] as const;
export const ARP_EVENT_TYPES = ['ProxyInstalled', 'ProxyRemoved', 'GratuitousArpSent', 'NeighbourRepaired', 'NeighbourStale', 'ArpConverged', 'ArpReconciled'] as const;
export type RouteEventType = (typeof ROUTE_EVENT_TYPES)[number];
export type ArpEventType = (typeof ARP_EVENT_TYPES)[number];

// ---- replies (types only) ----

/** `advertised`: in this site's RIB, not yet seen in the core; `confirmed`: seen in the core RIB;
 * `withdrawing`: the VM is elsewhere, held until its new route is confirmed (make-before-break);
 * `stale`: in the RIB but not wanted (drift, fixed by reconcile). */
export type HostRouteState = 'advertised' | 'confirmed' | 'withdrawing' | 'stale';

export interface HostRouteView {
  prefix: string;
  vm?: string;
  /** Location version carried by the route (BGP large community `<asn>:1:<version>`). */
  locationVersion?: number;
  state: HostRouteState;
  nextHop: string;
  localPref: number;
  /** ms from advertise to the route appearing in the core RIB, once confirmed. */
  confirmMs?: number;
}

export interface SiteRoutesView {
  site: string;
  /** `gobgp` (a real BGP speaker over gRPC) or `memory` (in-memory RIB, when gobgpd is missing). */
  rib: 'gobgp' | 'memory';
  routes: HostRouteView[];
  /** true when no injector answered for the site. */
  unavailable?: boolean;
  /** Paged requests (`after`/`limit`): routes in the site's RIB (matching `prefixes`, if given). */
  total?: number;
  /** Paged requests: the page's last prefix, when more follow. */
  next?: string;
}

export interface ListRoutesReply {
  sites: SiteRoutesView[];
}

export interface ReconcileFix {
  site: string;
  prefix: string;
  vm?: string;
  fix: 'added' | 'withdrawn' | 'replaced' | 'deferred';
  reason: string;
  locationVersion?: number;
}

export interface ReconcileRoutesReply {
  sites: { site: string; fixes: ReconcileFix[]; unavailable?: boolean }[];
}

export interface StaleNeighbourView {
  vm: string;
  ip: string;
  site: string;
  l2Domain: string;
  neighbour: string;
  neighbourIp: string;
  /** The MAC the neighbour's ARP cache holds for the VM's IP. */
  heldMac: string;
  /** The MAC that answers for the IP on the neighbour's segment now (VM, proxy), or null when nobody does. */
  rightMac: string | null;
  since: string;
  /** When the neighbour's own ARP timers would drop the wrong entry (Linux timing), without help. */
  expiresBy: string;
  locationVersion: number;
}

export interface ArpStaleReply {
  stale: StaleNeighbourView[];
  unavailableSites?: string[];
  /** With `vms`: the names the topology does not have (all of them unknown: UNKNOWN_VM). */
  unknown?: string[];
}

export interface ProxyEntryView {
  ip: string;
  vm: string;
  mac: string;
  locationVersion: number;
  since: string;
}

export interface SiteArpView {
  site: string;
  /** The site's proxy switch (topology `arpProxy`). */
  proxyEnabled: boolean;
  proxies: ProxyEntryView[];
  /** Anycast first-hop gateways this site answers for (same virtual MAC at every site carrying the subnet). */
  gateways: { subnet: string; ip: string; mac: string }[];
  neighbours: { name: string; ip: string; mac: string; l2Domain: string }[];
  unavailable?: boolean;
}

export interface ArpListReply {
  sites: SiteArpView[];
}
