/**
 * Host routes (/32 per VM), as a site's BGP speaker originates them. Pure data and rules:
 * which attributes a route carries, how a location version is encoded in it, and how a
 * route read back from a RIB is told apart (current, stale, foreign).
 */

/** The private AS every lab speaker uses (iBGP, the core is a route reflector). */
export const LAB_ASN = 65000;
/** Large community `<asn>:1:<locationVersion>` carries the location version on every route. */
export const VERSION_COMMUNITY_TAG = 1;
/** LOCAL_PREF of a route = BASE + location version: the newest location always wins best-path selection. */
export const LOCAL_PREF_BASE = 100;
const LOCAL_PREF_MAX = 0xffffffff;

export interface HostRoute {
  /** `a.b.c.d/32` */
  prefix: string;
  vm?: string;
  site: string;
  /** The site router's address (never a loopback address). */
  nextHop: string;
  localPref: number;
  locationVersion: number;
}

/** A path as read back from a RIB (a site's own or the core's). */
export interface RibPath {
  prefix: string;
  nextHop: string;
  localPref: number;
  /** From the large community; undefined when the route carries none (not ours, or planted by hand). */
  locationVersion?: number;
  /** Best path in that RIB. */
  best?: boolean;
  /** BGP neighbour it was learned from (core RIB), empty for locally originated paths. */
  neighbour?: string;
}

export interface LargeCommunity {
  globalAdmin: number;
  localData1: number;
  localData2: number;
}

export function hostPrefix(ip: string): string {
  return `${ip}/32`;
}

export function ipOfPrefix(prefix: string): string {
  return prefix.replace(/\/32$/, '');
}

/** A subject-safe token for a prefix, for plane-event entities when no VM is known (`10-1-0-10`). */
export function prefixToken(prefix: string): string {
  return ipOfPrefix(prefix).replace(/[./]/g, '-');
}

export function localPrefFor(locationVersion: number): number {
  return Math.min(LOCAL_PREF_MAX, LOCAL_PREF_BASE + Math.max(0, Math.floor(locationVersion)));
}

export function versionCommunity(locationVersion: number, asn = LAB_ASN): LargeCommunity {
  return { globalAdmin: asn, localData1: VERSION_COMMUNITY_TAG, localData2: locationVersion };
}

export function versionFromCommunities(communities: readonly LargeCommunity[], asn = LAB_ASN): number | undefined {
  const c = communities.find((x) => x.globalAdmin === asn && x.localData1 === VERSION_COMMUNITY_TAG);
  return c?.localData2;
}

export function formatCommunity(c: LargeCommunity): string {
  return `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}

/** The route a site originates for a VM at a location version: preferred over every older one. */
export function hostRouteFor(vm: { vm: string; ip: string; locationVersion: number }, site: { name: string; routerIp: string }): HostRoute {
  return {
    prefix: hostPrefix(vm.ip),
    vm: vm.vm,
    site: site.name,
    nextHop: site.routerIp,
    localPref: localPrefFor(vm.locationVersion),
    locationVersion: vm.locationVersion,
  };
}

/** The path in a RIB that is exactly this route (same prefix, next hop and version). */
export function samePath(route: HostRoute, path: RibPath): boolean {
  return route.prefix === path.prefix && route.nextHop === path.nextHop && route.locationVersion === path.locationVersion;
}
