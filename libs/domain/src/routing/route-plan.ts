/**
 * Route decisions of one site's injector, as pure functions: which /32 the site should
 * originate, what to do about each prefix it originates (advertise, keep, withdraw, hold for
 * make-before-break) and the reconcile diff between the desired /32s and the RIB.
 */
import { hostRouteFor, samePath, type HostRoute, type RibPath } from './host-route';
import type { TrackedVm } from './route-tracker';

export interface RouteSite {
  name: string;
  routerIp: string;
  /** The site injects host routes (topology `hostRoutes`). */
  hostRoutes: boolean;
}

/** Evidence that the VM's new route is up elsewhere: a RouteConfirmed of the new site, or its path in the core RIB. */
export interface Replacement {
  site: string;
  locationVersion: number;
  source: 'route-confirmed' | 'core-rib';
}

export type PrefixAction =
  | { kind: 'keep'; prefix: string; path: RibPath; reason: string }
  | { kind: 'advertise'; prefix: string; route: HostRoute; reason: string; replaces: RibPath[] }
  | { kind: 'withdraw'; prefix: string; path: RibPath; reason: string; vm?: string; replacedBy?: Replacement; breakBeforeMake?: boolean }
  | { kind: 'hold'; prefix: string; path: RibPath; reason: string; vm: string; waitFor: { site: string; locationVersion: number } };

/** The route `site` should originate for `vm` now, or why it should originate none. */
export function desiredRoute(vm: TrackedVm | undefined, site: RouteSite): { route?: HostRoute; reason: string } {
  if (!vm) return { reason: 'no VM has this address' };
  if (!site.hostRoutes) return { reason: `${site.name} does not inject host routes` };
  if (vm.site !== site.name) return { reason: `${vm.vm} is at ${vm.site} (location version ${vm.locationVersion})` };
  if (!vm.up) return { reason: `${vm.vm} is stopped: its route falls until it runs again` };
  return { route: hostRouteFor(vm, site), reason: `${vm.vm} runs at ${site.name} (location version ${vm.locationVersion})` };
}

export interface PlanPrefixInput {
  site: RouteSite;
  prefix: string;
  /** The VM that owns the prefix's address, if any. */
  vm?: TrackedVm;
  /** The site the VM is at now, when it is another one. */
  ownerSite?: RouteSite;
  /** Paths this site originates for the prefix. */
  own: RibPath[];
  /** Newest evidence that the VM's route is up at its site (make-before-break gate). */
  replacement?: Replacement;
  /** The make-before-break hold of this prefix has run out. */
  holdExpired?: boolean;
}

/**
 * One prefix at one site. A /32 the site should originate is advertised (replacing any older
 * version); one it should not is withdrawn at once when nothing will replace it (no such VM,
 * VM stopped, new site without host routes), and otherwise only once the new site's route is
 * confirmed (make-before-break) or the hold runs out (break-before-make, said so).
 */
export function planPrefix(input: PlanPrefixInput): PrefixAction[] {
  const { site, prefix, vm, own } = input;
  const want = desiredRoute(vm, site);
  if (want.route) {
    const route = want.route;
    const exact = own.find((p) => samePath(route, p));
    const others = own.filter((p) => p !== exact);
    if (exact && others.length === 0) return [{ kind: 'keep', prefix, path: exact, reason: want.reason }];
    if (exact) return others.map((path) => ({ kind: 'withdraw' as const, prefix, path, vm: vm?.vm, reason: `duplicate path next to the current one (${describe(path)})` }));
    const reason = own.length ? `${want.reason}; replaces ${own.map(describe).join(', ')}` : want.reason;
    return [{ kind: 'advertise', prefix, route, reason, replaces: own }];
  }
  return own.map((path): PrefixAction => {
    if (!vm || !vm.up || !input.ownerSite || !input.ownerSite.hostRoutes || vm.site === site.name) return { kind: 'withdraw', prefix, path, vm: vm?.vm, reason: want.reason };
    const r = input.replacement;
    if (r && r.site === vm.site && r.locationVersion >= vm.locationVersion)
      return {
        kind: 'withdraw',
        prefix,
        path,
        vm: vm.vm,
        replacedBy: r,
        reason: `${want.reason}; its route from ${r.site} at version ${r.locationVersion} is in the core (${r.source})`,
      };
    if (input.holdExpired)
      return {
        kind: 'withdraw',
        prefix,
        path,
        vm: vm.vm,
        breakBeforeMake: true,
        reason: `${want.reason}; no confirmed route from ${vm.site} before the hold ran out: withdrawn before the new route is made`,
      };
    return {
      kind: 'hold',
      prefix,
      path,
      vm: vm.vm,
      waitFor: { site: vm.site, locationVersion: vm.locationVersion },
      reason: `${want.reason}; kept until ${vm.site} confirms version ${vm.locationVersion} (make-before-break)`,
    };
  });
}

/** The /32 prefixes a site should originate, from the authoritative locations. */
export function desiredRoutes(vms: readonly TrackedVm[], site: RouteSite): HostRoute[] {
  return vms.flatMap((vm) => desiredRoute(vm, site).route ?? []);
}

export interface ReconcileInput {
  site: RouteSite;
  vms: readonly TrackedVm[];
  sites: readonly RouteSite[];
  /** Every path the site originates. */
  own: readonly RibPath[];
  /** Every path of the core RIB (to tell whether a VM's new route is up before withdrawing an old one). */
  core: readonly RibPath[];
}

/**
 * The reconcile diff of one site: every prefix it originates or should originate, planned
 * against the authoritative locations and the core RIB. Returns only what must change
 * (advertise, withdraw) or wait (hold), never what is in sync.
 */
export function reconcileDiff(input: ReconcileInput): PrefixAction[] {
  const byIp = new Map(input.vms.map((v) => [`${v.ip}/32`, v]));
  const sitesByName = new Map(input.sites.map((s) => [s.name, s]));
  const siteByNextHop = new Map(input.sites.map((s) => [s.routerIp, s.name]));
  const prefixes = new Set<string>([...input.own.map((p) => p.prefix), ...desiredRoutes(input.vms, input.site).map((r) => r.prefix)]);
  // Paths by prefix: a site of a big lab has thousands of prefixes and the core every site's.
  const ownByPrefix = groupByPrefix(input.own);
  const coreByPrefix = groupByPrefix(input.core);
  const actions: PrefixAction[] = [];
  for (const prefix of [...prefixes].sort()) {
    const vm = byIp.get(prefix);
    const ownerSite = vm ? sitesByName.get(vm.site) : undefined;
    const replacement = vm ? replacementInCore(vm, coreByPrefix.get(prefix) ?? [], siteByNextHop) : undefined;
    const own = ownByPrefix.get(prefix) ?? [];
    for (const a of planPrefix({ site: input.site, prefix, vm, ownerSite, own, replacement })) if (a.kind !== 'keep') actions.push(a);
  }
  return actions;
}

function groupByPrefix(paths: readonly RibPath[]): Map<string, RibPath[]> {
  const out = new Map<string, RibPath[]>();
  for (const p of paths) {
    const list = out.get(p.prefix);
    if (list) list.push(p);
    else out.set(p.prefix, [p]);
  }
  return out;
}

/** The VM's route at its current site as the core RIB shows it, if it is there. */
export function replacementInCore(vm: TrackedVm, core: readonly RibPath[], siteByNextHop: ReadonlyMap<string, string>): Replacement | undefined {
  const path = core.find((p) => p.prefix === `${vm.ip}/32` && siteByNextHop.get(p.nextHop) === vm.site && (p.locationVersion ?? 0) >= vm.locationVersion);
  return path ? { site: vm.site, locationVersion: path.locationVersion!, source: 'core-rib' } : undefined;
}

/** A route is confirmed when the core RIB holds exactly it (prefix, next hop, version). */
export function confirmedInCore(route: HostRoute, core: readonly RibPath[]): boolean {
  return core.some((p) => samePath(route, p));
}

function describe(p: RibPath): string {
  return `${p.prefix} via ${p.nextHop} version ${p.locationVersion ?? 'none'}`;
}
