import type { Logger } from 'pino';
import type { LinuxDataplane } from '@locus/dataplane';
import type { RibPath, RouteSite } from '@locus/domain';
import type { RibView } from './rib-driver';

/**
 * The kernel side of BGP on the Linux dataplane (what zebra does for a routing daemon): the
 * core's best /32s become `ip route replace … via <site router> proto bgp` in the core's
 * namespace and in every site router's but the one that originates them; a /32 the core no
 * longer holds is deleted. The core's RIB is read on every change it reports and the tables
 * are brought to it, one pass at a time.
 */
export class LinuxFibSync {
  private readonly installed = new Map<string, Map<string, string>>(); // namespace -> prefix -> next hop
  private unwatch?: () => void;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly log: Logger;
  /** Passes done (a test waits for one after a change). */
  passes = 0;

  constructor(
    private readonly core: RibView,
    private readonly dataplane: LinuxDataplane,
    private readonly sites: readonly RouteSite[],
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'dataplane:fib' });
  }

  /** Reads what an earlier run installed (proto bgp), then follows the core. */
  async start(): Promise<void> {
    for (const { ns } of this.tables()) {
      const routes = await this.dataplane.hostRoutes(ns, 'bgp');
      this.installed.set(ns, new Map(routes.filter((r) => r.via).map((r) => [r.prefix, r.via!])));
    }
    this.unwatch = this.core.watch(() => this.schedule());
    await this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    await this.running?.catch(() => undefined);
  }

  /** One pass now (or right after the running one). */
  schedule(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass().catch((err) => this.log.warn({ err: (err as Error).message }, 'FIB pass failed; the next change retries'));
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private tables(): { ns: string; routerIp?: string }[] {
    return [
      { ns: this.dataplane.names.core() },
      ...this.sites.filter((s) => this.dataplane.topology.site(s.name)?.kind !== 'branch').map((s) => ({ ns: this.dataplane.names.router(s.name), routerIp: s.routerIp })),
    ];
  }

  private async pass(): Promise<void> {
    const best = bestPaths(await this.core.list());
    const changes: string[] = [];
    for (const { ns, routerIp } of this.tables()) {
      const have = this.installed.get(ns) ?? new Map<string, string>();
      this.installed.set(ns, have);
      const want = new Map([...best].filter(([, nextHop]) => nextHop !== routerIp));
      for (const [prefix, nextHop] of want) {
        if (have.get(prefix) === nextHop) continue;
        await this.dataplane.replaceRoute(ns, prefix, nextHop);
        have.set(prefix, nextHop);
        changes.push(`${ns}: ${prefix} via ${nextHop}`);
        this.log.debug({ ns, prefix, nextHop }, `ip route replace ${prefix} via ${nextHop} (${ns})`);
      }
      for (const prefix of [...have.keys()]) {
        if (want.has(prefix)) continue;
        await this.dataplane.deleteRoute(ns, prefix);
        have.delete(prefix);
        changes.push(`${ns}: ${prefix} withdrawn`);
        this.log.debug({ ns, prefix }, `ip route del ${prefix} (${ns}): withdrawn`);
      }
    }
    this.passes++;
    if (changes.length)
      this.log.info(
        { changed: changes.length, routes: best.size, changes: changes.slice(0, 12) },
        `kernel routes follow the core: ${changes.length} /32 change(s) installed${changes.length > 12 ? ' (first 12 listed)' : ''}`,
      );
  }
}

/** Per prefix, the next hop of the core's best path (the flag when the RIB gives it, else the highest LOCAL_PREF). */
export function bestPaths(paths: readonly RibPath[]): Map<string, string> {
  const byPrefix = new Map<string, RibPath>();
  for (const p of paths) {
    const held = byPrefix.get(p.prefix);
    if (!held || (p.best && !held.best) || (!!p.best === !!held.best && p.localPref > held.localPref)) byPrefix.set(p.prefix, p);
  }
  return new Map([...byPrefix].map(([prefix, p]) => [prefix, p.nextHop]));
}
