import type { HostRoute, RibPath } from '@locus/domain';

/**
 * A read-only view of a RIB: a site speaker's own table, or the core's (the WAN). `watch`
 * calls the listener on every change (it carries no detail: callers list what they need).
 */
export interface RibView {
  readonly kind: 'gobgp' | 'memory';
  /** Paths of this prefix, or of each of these prefixes (exact matches; an empty list: none); without one, the whole table. */
  list(prefix?: string | readonly string[]): Promise<RibPath[]>;
  watch(listener: () => void): () => void;
  close(): Promise<void>;
}

/**
 * The paths of some prefixes: one lookup each where that is cheap (in memory, or a few prefixes
 * over gRPC), else one listing of the whole table, filtered.
 */
export async function pathsOf(view: RibView, prefixes: readonly string[]): Promise<RibPath[]> {
  if (view.kind === 'memory' || prefixes.length <= 64) return (await Promise.all(prefixes.map((p) => view.list(p)))).flat();
  const wanted = new Set(prefixes);
  return (await view.list()).filter((p) => wanted.has(p.prefix));
}

/**
 * The network side of one site's route injector: the routes its speaker originates. Effects
 * only; every decision is in @locus/domain. A later Linux driver (netns + a routing daemon)
 * implements the same four calls.
 */
export interface RibDriver extends RibView {
  readonly site: string;
  /** Originates the route (replacing any path of the same prefix this speaker originates). */
  advertise(route: HostRoute): Promise<void>;
  /** Stops originating this path. */
  withdraw(path: RibPath): Promise<void>;
  /** Paths this speaker originates (not the ones it learnt). */
  list(prefix?: string | readonly string[]): Promise<RibPath[]>;
}

/** Every site's speaker and the core, however they are run (spawned gobgpd, remote gobgpd, in memory). */
export interface BgpFabric {
  readonly kind: 'gobgp' | 'memory';
  driverFor(site: string): RibDriver;
  core(): RibView;
  describe(): Record<string, unknown>;
  stop(): Promise<void>;
}
