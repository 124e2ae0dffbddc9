import { z } from 'zod';
import { Name } from './names';

/**
 * Host routes and ARP: the request bodies of the route-injector and arp-proxy endpoints
 * (`<prefix>.routes.list`, `<prefix>.routes.reconcile`, `<prefix>.arp.stale`, `<prefix>.arp.list`),
 * the types of their replies and the names of the plane events they publish.
 * Never under `<prefix>.evt.>`: the event stream would answer a request with its PubAck.
 */
export const ListRoutesRequest = z.strictObject({ site: Name.optional() });
export type ListRoutesRequest = z.infer<typeof ListRoutesRequest>;

export const ReconcileRoutesRequest = z.strictObject({ site: Name.optional() });
export type ReconcileRoutesRequest = z.infer<typeof ReconcileRoutesRequest>;

export const ArpStaleRequest = z.strictObject({ vm: Name.optional() });
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

export const ROUTE_EVENT_TYPES = ['RouteAdvertised', 'RouteConfirmed', 'RouteWithdrawn', 'ReconcileFixed'] as const;
export const ARP_EVENT_TYPES = ['ProxyInstalled', 'ProxyRemoved', 'GratuitousArpSent', 'NeighbourRepaired', 'NeighbourStale', 'ArpConverged'] as const;
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
