import type { DriftView } from '@locus/contracts';

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

export interface DriftInput {
  locations: readonly DriftLocation[];
  sites: readonly DriftSite[];
  /** VMs not compared: moving, or a move of theirs still converging within its deadline. */
  skip: ReadonlySet<string>;
  /** The map-server's registrations, or why it did not answer. */
  registry: readonly MappingEntryFacts[] | { unavailable: string };
  /** Each ITR's cache. */
  itrs: readonly { itr: string; entries: readonly MappingEntryFacts[] | { unavailable: string } }[];
  /** `routes.list`: each host-route site's RIB (a site whose injector is down says so). */
  routes:
    | readonly { site: string; unavailable?: boolean; routes: readonly { prefix: string; vm?: string; locationVersion?: number; state: string }[] }[]
    | { unavailable: string };
  /** `arp.stale`: neighbours holding a wrong MAC. */
  arpStale: readonly { vm: string; ip: string; site: string; neighbour: string; heldMac: string; rightMac: string | null; since: string }[] | { unavailable: string };
}

export function findDrift(input: DriftInput): DriftView[] {
  const out: DriftView[] = [];
  const byIp = new Map(input.locations.map((l) => [`${l.ip}/32`, l]));
  const site = new Map(input.sites.map((s) => [s.name, s]));
  const compared = (l: DriftLocation | undefined): l is DriftLocation => !!l && l.state !== 'moving' && !input.skip.has(l.vm);
  const where = (l: DriftLocation) => `${l.vm} is at ${l.site} v${l.locationVersion}`;

  // mapping: the registry holds every VM at a mapping site, at its site and version
  if ('unavailable' in input.registry) out.push({ plane: 'mapping', component: 'map-server', detail: `not answering: ${input.registry.unavailable}` });
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
  for (const { itr, entries } of input.itrs) {
    if ('unavailable' in entries) {
      out.push({ plane: 'mapping', component: `itr:${itr}`, detail: `not answering: ${entries.unavailable}` });
      continue;
    }
    for (const e of entries) {
      const l = byIp.get(e.prefix);
      if (e.negative || !compared(l)) continue;
      if (e.site !== l.site || e.version !== l.locationVersion)
        out.push({ plane: 'mapping', component: `itr:${itr}`, vm: l.vm, detail: `caches ${e.prefix} at ${e.site} v${e.version}; ${where(l)}` });
    }
  }

  // host routes: each running VM at a host-route site has its /32 there, at its version; nobody else has one
  if ('unavailable' in input.routes) out.push({ plane: 'host-routes', component: 'route-injector', detail: `not answering: ${input.routes.unavailable}` });
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
          out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, detail: `originates ${r.prefix}, which no VM has` });
          continue;
        }
        if (!compared(l)) continue;
        if (l.site !== v.site) out.push({ plane: 'host-routes', component: `route-injector:${v.site}`, vm: l.vm, detail: `still originates ${r.prefix} v${r.locationVersion ?? '?'} (${r.state}); ${where(l)}` });
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
  if ('unavailable' in input.arpStale) out.push({ plane: 'arp-proxy', component: 'arp-proxy', detail: `not answering: ${input.arpStale.unavailable}` });
  else
    for (const s of input.arpStale) {
      const l = input.locations.find((x) => x.vm === s.vm);
      if (l && !compared(l)) continue;
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
