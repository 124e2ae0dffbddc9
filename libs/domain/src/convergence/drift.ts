import type { DriftView } from '@locus/contracts';
import { comparePrefixText } from '../mapping/eid-prefix';

/**
 * Drift: where a network plane disagrees with the location DB outside a move's convergence.
 * Pure comparison of the DB's rows with what each plane says (its query endpoints); a plane
 * that did not answer is one disagreement of its own.
 */
export interface DriftLocation {
  vm: string;
  ip: string;
  site: string;
  state: 'running' | 'stopped' | 'moving';
  locationVersion: number;
  /** The DB's host (compared with the agents' inventories, see host-drift). */
  hypervisor?: string;
}

export interface DriftSite {
  name: string;
  hostRoutes: boolean;
  mappingSystem: boolean;
}

export interface MappingEntryFacts {
  prefix: string;
  vm?: string;
  site?: string;
  version?: number;
  negative?: boolean;
}

/**
 * What to compare. A plane left out (`registry`, `itrs`, `routes`, `arpStale` undefined) is not
 * compared. `locations` are every VM, or with `partial` only some of them (a chunk, the VMs that
 * changed): the planes were then asked about those VMs only, and a plane entry for an address none
 * of them has is left alone (it may be another VM's). Without `partial`, `locations` must hold
 * every VM that has an address named in the planes' entries (all VMs, or the owners of one page
 * of routes looked up by address): a route for an address no VM has is drift.
 */
export interface DriftInput {
  locations: readonly DriftLocation[];
  sites: readonly DriftSite[];
  /** VMs not compared: moving, or a move of theirs still converging within its deadline. */
  skip: ReadonlySet<string>;
  /** `locations` is a subset of the VMs (see above). */
  partial?: boolean;
  /** The map-server's registrations, or why it did not answer. */
  registry?: readonly MappingEntryFacts[] | { unavailable: string };
  /** Each ITR's cache. */
  itrs?: readonly { itr: string; entries: readonly MappingEntryFacts[] | { unavailable: string } }[];
  /** `routes.list`: each host-route site's RIB (a site whose injector is down says so). */
  routes?: readonly DriftSiteRoutes[] | { unavailable: string };
  /** `arp.stale`: neighbours holding a wrong MAC. */
  arpStale?: readonly { vm: string; ip: string; site: string; neighbour: string; heldMac: string; rightMac: string | null; since: string }[] | { unavailable: string };
}

export interface DriftSiteRoutes {
  site: string;
  unavailable?: boolean;
  routes: readonly { prefix: string; vm?: string; locationVersion?: number; state: string }[];
}

export function findDrift(input: DriftInput): DriftView[] {
  const out: DriftView[] = [];
  const byIp = new Map(input.locations.map((l) => [`${l.ip}/32`, l]));
  const byName = new Map(input.locations.map((l) => [l.vm, l]));
  const site = new Map(input.sites.map((s) => [s.name, s]));
  const compared = (l: DriftLocation | undefined): l is DriftLocation => !!l && l.state !== 'moving' && !input.skip.has(l.vm);
  const where = (l: DriftLocation) => `${l.vm} is at ${l.site} v${l.locationVersion}`;

  // mapping: the registry holds every VM at a mapping site, at its site and version
  if (!input.registry) {
    // not compared
  } else if ('unavailable' in input.registry) out.push({ plane: 'mapping', component: 'map-server', detail: `not answering: ${input.registry.unavailable}` });
  else {
    const registered = new Map(input.registry.filter((e) => !e.negative).map((e) => [e.prefix, e]));
    for (const l of input.locations) {
      if (!compared(l) || !site.get(l.site)?.mappingSystem) continue;
      const e = registered.get(`${l.ip}/32`);
      if (!e) out.push({ plane: 'mapping', component: 'map-server', vm: l.vm, detail: `no registration of ${l.ip}/32; ${where(l)}` });
      else if (e.site !== l.site || e.version !== l.locationVersion)
        out.push({ plane: 'mapping', component: 'map-server', vm: l.vm, detail: `registers ${l.ip}/32 at ${e.site} v${e.version}; ${where(l)}` });
    }
  }
  for (const { itr, entries } of input.itrs ?? []) {
    if ('unavailable' in entries) {
      out.push({ plane: 'mapping', component: `itr:${itr}`, detail: `not answering: ${entries.unavailable}` });
      continue;
    }
    for (const e of entries) {
      const l = byIp.get(e.prefix);
      if (e.negative || !compared(l)) continue;
      if (e.site !== l.site || e.version !== l.locationVersion) out.push({ plane: 'mapping', component: `itr:${itr}`, vm: l.vm, detail: `caches ${e.prefix} at ${e.site} v${e.version}; ${where(l)}` });
    }
  }

  // host routes: each running VM at a host-route site has its /32 there, at its version; nobody else has one
  if (!input.routes) {
    // not compared
  } else if ('unavailable' in input.routes) out.push({ plane: 'host-routes', component: 'route-injector', detail: `not answering: ${input.routes.unavailable}` });
  else {
    const views = new Map(input.routes.map((v) => [v.site, v]));
    for (const v of input.routes) {
      if (v.unavailable) {
        out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, detail: 'not answering' });
        continue;
      }
      for (const r of v.routes) {
        const l = byIp.get(r.prefix);
        if (!l) {
          if (!input.partial) out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, detail: orphanDetail(r.prefix) });
          continue;
        }
        if (!compared(l)) continue;
        if (l.site !== v.site)
          out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, vm: l.vm, detail: `still originates ${r.prefix} v${r.locationVersion ?? '?'} (${r.state}); ${where(l)}` });
        else if (l.state === 'stopped') out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, vm: l.vm, detail: `originates ${r.prefix} of a stopped VM` });
        else if (r.locationVersion !== l.locationVersion)
          out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, vm: l.vm, detail: `originates ${r.prefix} at v${r.locationVersion ?? '?'}; ${where(l)}` });
      }
    }
    for (const l of input.locations) {
      if (!compared(l) || l.state !== 'running' || !site.get(l.site)?.hostRoutes) continue;
      const v = views.get(l.site);
      if (!v || v.unavailable) continue; // said above
      if (!v.routes.some((r) => r.prefix === `${l.ip}/32` && r.locationVersion === l.locationVersion && r.state === 'confirmed'))
        out.push({ plane: 'host-routes', component: `route-injector:${l.site}`, vm: l.vm, detail: `no confirmed ${l.ip}/32 v${l.locationVersion}; ${where(l)}` });
    }
  }

  // ARP: no neighbour holds a wrong MAC for a VM
  if (!input.arpStale) {
    // not compared
  } else if ('unavailable' in input.arpStale) out.push({ plane: 'arp-proxy', component: 'arp-proxy', detail: `not answering: ${input.arpStale.unavailable}` });
  else
    for (const s of input.arpStale) {
      const l = byName.get(s.vm);
      if (l ? !compared(l) : input.partial) continue;
      out.push({
        plane: 'arp-proxy',
        component: `arp-proxy:${s.site}`,
        vm: s.vm,
        detail: `neighbour ${s.neighbour} holds ${s.heldMac} for ${s.ip} since ${s.since}${s.rightMac ? ` (right: ${s.rightMac})` : ' (nobody answers for it on that segment)'}`,
      });
    }
  return out;
}

/** A stable key of a disagreement, to log only what changed between two checks. */
export function driftKey(d: DriftView): string {
  return `${d.plane}|${d.component}|${d.vm ?? ''}|${d.detail.replace(/ since \S+/, '')}`;
}

const ORPHAN = /^originates (\S+), which no VM has$/;
const orphanDetail = (prefix: string) => `originates ${prefix}, which no VM has`;

/** The prefix of a route no VM has (a disagreement about an address, not a VM), else undefined. */
export function orphanRoutePrefix(d: DriftView): string | undefined {
  return d.vm === undefined && d.plane === 'host-routes' ? ORPHAN.exec(d.detail)?.[1] : undefined;
}

/**
 * What one check compared, so that only what it looked at again can be said to agree again.
 * A full check compares every VM, every component and every site's whole RIB; a periodic one
 * some VMs and one page of each site's routes.
 */
export interface DriftScope {
  /** VMs compared (not skipped) on every plane that answered. */
  vms: ReadonlySet<string>;
  /** VMs compared on the `hypervisors` plane (their host answered; moving VMs too, for versions ahead). */
  hostVms?: ReadonlySet<string>;
  /**
   * Per VM of `hostVms` asked of some agents only (its DB host and the hosts its recent events
   * named): those agents (`agent:<host>`). A VM not named here was asked of every agent. A
   * disagreement of the hypervisors about a VM is decided only if every host it names was asked.
   */
  hostAsked?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Components asked, e.g. `map-server`, `itr:branch`, `route-injector`, `route-injector:dc1`, `arp-proxy`. */
  asked: ReadonlySet<string>;
  /** Components that did not answer (a `route-injector` or `arp-proxy` that did not answer covers its sites): what they said before stands. */
  silent: ReadonlySet<string>;
  /** Per `route-injector:<site>`: the range of its RIB listed, prefixes after `after` (exclusive; none: from the start) through `through` (inclusive; none: to the end). */
  routePages: ReadonlyMap<string, { after?: string; through?: string }>;
}

/** Does this check decide whether `d` still holds? Only if it compared again what `d` is about, and the component answered. */
export function inDriftScope(d: DriftView, scope: DriftScope): boolean {
  const owner = d.component.split(':')[0];
  if (scope.silent.has(d.component) || ((owner === 'route-injector' || owner === 'arp-proxy') && scope.silent.has(owner))) return false;
  if (d.vm !== undefined && d.plane === 'hypervisors') {
    if (!scope.hostVms?.has(d.vm)) return false;
    const asked = scope.hostAsked?.get(d.vm);
    return !asked || (d.hosts ?? [d.component.slice('agent:'.length)]).every((h) => asked.has(`agent:${h}`));
  }
  if (d.vm !== undefined) return scope.vms.has(d.vm);
  const prefix = orphanRoutePrefix(d);
  if (prefix === undefined) return scope.asked.has(d.component); // a component not answering
  const page = scope.routePages.get(d.component);
  return !!page && (page.after === undefined || comparePrefixText(prefix, page.after) > 0) && (page.through === undefined || comparePrefixText(prefix, page.through) <= 0);
}

/**
 * The disagreements known after a check: those found appear (when new), those known before and
 * in the check's scope but not found are resolved, and the others (outside what the check compared)
 * stay known as they were.
 */
export function nextKnownDrift(known: ReadonlyMap<string, DriftView>, found: readonly DriftView[], scope: DriftScope): { known: Map<string, DriftView>; appeared: DriftView[]; resolved: DriftView[] } {
  const now = new Map(found.map((d) => [driftKey(d), d]));
  const appeared = [...now].filter(([k]) => !known.has(k)).map(([, d]) => d);
  const resolved: DriftView[] = [];
  const next = new Map<string, DriftView>();
  for (const [k, d] of known) {
    if (now.has(k)) continue;
    if (inDriftScope(d, scope)) resolved.push(d);
    else next.set(k, d);
  }
  for (const [k, d] of now) next.set(k, d);
  return { known: next, appeared, resolved };
}

/** Disagreements without duplicates (the same one found by two passes of a check), in the order first found. */
export function uniqueDrift(found: readonly DriftView[]): DriftView[] {
  return [...new Map(found.map((d) => [driftKey(d), d])).values()];
}

/**
 * Whether a disagreement is a whole component that has not answered a single check since the
 * detector started (`answered`: the components that have): one still starting, as a lab's route
 * injectors are while their gobgpd peers. It is known and reported all the same; the log says it at
 * info level, not as drift. A component that answered once and then stops is drift.
 */
export function isSilentSinceStart(d: DriftView, answered: ReadonlySet<string>): boolean {
  return d.vm === undefined && d.detail.startsWith('not answering') && !answered.has(d.component);
}
