import type { HostRoute, RibPath } from '@locus/domain';
import type { BgpFabric, RibDriver, RibView } from './rib-driver';

/**
 * An in-memory stand-in for the BGP fabric, used when gobgpd is not installed (the lab says so):
 * each site's table and a core that holds every site's paths after a short propagation delay,
 * with best path = highest LOCAL_PREF.
 */
export class InMemoryFabric implements BgpFabric {
  readonly kind = 'memory' as const;
  private readonly tables = new Map<string, Map<string, RibPath>>();
  /** prefix -> each site's path (its `neighbour` is the site): an array, as most prefixes have one (a Map per prefix cost ~1 KiB). */
  private readonly coreTable = new Map<string, RibPath[]>();
  private readonly listeners = new Set<() => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Watchers of the core are told once per turn of the event loop, however many paths changed in it. */
  private notifyScheduled = false;

  constructor(
    readonly sites: readonly string[],
    private readonly propagationMs = 2,
  ) {
    for (const s of sites) this.tables.set(s, new Map());
  }

  driverFor(site: string): RibDriver {
    const table = this.tables.get(site);
    if (!table) throw new Error(`the in-memory fabric has no speaker for ${site}`);
    const fabric = this;
    const listeners = new Set<() => void>();
    return {
      kind: 'memory',
      site,
      async advertise(route: HostRoute) {
        const path: RibPath = { prefix: route.prefix, nextHop: route.nextHop, localPref: route.localPref, locationVersion: route.locationVersion, best: true, neighbour: '' };
        table.set(route.prefix, path);
        listeners.forEach((l) => l());
        fabric.propagate(site, route.prefix, { ...path, neighbour: site });
      },
      async withdraw(path: RibPath) {
        const current = table.get(path.prefix);
        if (!current || current.nextHop !== path.nextHop) return;
        table.delete(path.prefix);
        listeners.forEach((l) => l());
        fabric.propagate(site, path.prefix, undefined);
      },
      async list(prefix?: string | readonly string[]) {
        if (prefix !== undefined) return (typeof prefix === 'string' ? [prefix] : [...new Set(prefix)]).flatMap((p) => table.get(p) ?? []).map((p) => ({ ...p }));
        return [...table.values()].map((p) => ({ ...p }));
      },
      watch(listener: () => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      async close() {
        listeners.clear();
      },
    };
  }

  core(): RibView {
    const fabric = this;
    return {
      kind: 'memory',
      async list(prefix?: string | readonly string[]) {
        const out: RibPath[] = [];
        const tables = prefix !== undefined ? (typeof prefix === 'string' ? [prefix] : [...new Set(prefix)]).map((p) => [p, fabric.coreTable.get(p)] as const) : fabric.coreTable;
        for (const [, paths] of tables) {
          if (!paths) continue;
          const best = paths.reduce<RibPath | undefined>((b, x) => (!b || x.localPref > b.localPref ? x : b), undefined);
          for (const x of paths) out.push({ ...x, best: x === best });
        }
        return out;
      },
      watch(listener: () => void) {
        fabric.listeners.add(listener);
        return () => fabric.listeners.delete(listener);
      },
      async close() {},
    };
  }

  /** Plants a path in a site's table as if by hand (drift for tests), without going through an injector. */
  plant(site: string, path: RibPath): void {
    this.tables.get(site)?.set(path.prefix, path);
    this.propagate(site, path.prefix, { ...path, neighbour: site });
  }

  describe() {
    return { rib: 'memory', sites: this.sites };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.listeners.clear();
  }

  private notifyCore(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      this.listeners.forEach((l) => l());
    });
  }

  private propagate(site: string, prefix: string, path: RibPath | undefined): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      const others = (this.coreTable.get(prefix) ?? []).filter((p) => p.neighbour !== site);
      const paths = path ? [...others, path] : others;
      if (paths.length === 0) this.coreTable.delete(prefix);
      else this.coreTable.set(prefix, paths);
      this.notifyCore();
    }, this.propagationMs);
    this.timers.add(t);
  }
}
