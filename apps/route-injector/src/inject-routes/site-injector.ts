import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { HostRouteView, LocationEvent, PlaneEvent, ReconcileFix, SiteRoutesView, VmView } from '@locus/contracts';
import {
  RouteTracker,
  SiteOriginators,
  firstByPrefix,
  confirmedInCore,
  formatCommunity,
  ipOfPrefix,
  planPrefix,
  prefixToken,
  reconcileDiff,
  samePath,
  desiredRoute,
  versionCommunity,
  type HostRoute,
  type PrefixAction,
  type Replacement,
  type RibPath,
  type RouteFact,
  type RouteSite,
} from '@locus/domain';
import { fetchLocationSnapshot, type FeedHandler, type LocationFollower, type PlaneEventPublisher } from '@locus/messaging';
import { pathsOf, type RibDriver, type RibView } from '../rib/rib-driver';
import { routeFactOf, snapshotFact } from '../follow-locations/route-facts';

export interface SiteInjectorDeps {
  nc: NatsConnection;
  prefix: string;
  logger: Logger;
  publisher: PlaneEventPublisher;
}

export interface SiteInjectorOptions {
  site: RouteSite;
  sites: readonly RouteSite[];
  driver: RibDriver;
  core: RibView;
  /** Make-before-break: how long an old route waits for the new site's confirmation before it goes anyway. */
  holdMs: number;
  /** How long to wait for a new route to appear in the core before saying so. */
  confirmTimeoutMs: number;
  /** Shared by the sites of one process (default: the site's own). */
  tracker?: RouteTracker;
  /** Which sites of the process originate each /32, shared by them (default: the site's own): it picks who hears an event. */
  originators?: SiteOriginators;
  /**
   * The newest RouteConfirmed of each VM, shared by the sites of one process (default: the site's
   * own). One table per process, not per site: every site hears every confirmation, and
   * `planPrefix` only heeds one from the VM's current site, so a shared table decides alike.
   */
  replacements?: Map<string, Replacement>;
  /**
   * Hands a RouteConfirmed this site published (once the stream has it) straight to the other sites
   * of the process: the old site withdraws without waiting for the stream to deliver it back. The
   * stream's copy arrives later and changes nothing (the replacement is already recorded).
   */
  confirmedLocally?: (event: PlaneEvent) => void;
}

interface PendingConfirm {
  route: HostRoute;
  startedAt: number;
  /** When `RouteAdvertised` was published (a live step): `RouteConfirmed`, stored, carries it. */
  advertisedAt?: string;
  trigger: string;
  moveId?: string;
  /** Said once that the route is not in the core RIB yet. */
  warned?: boolean;
  /** Originated by the start-up reconcile into a RIB that lacked it: its steps are said at debug level, summed up once. */
  initial?: boolean;
}

/**
 * One site's host-route injector. It follows the location events (its process's location feed,
 * after a `vm.list` snapshot) and the other sites' RouteConfirmed (the process's plane feed), originates a /32 per VM running at its site through its RIB driver,
 * confirms each one by seeing it in the core RIB, and withdraws a VM's old /32 only once the
 * new site's route is confirmed (make-before-break). Reconcile (at start and on demand) fixes
 * any drift between its RIB and the location DB. Decisions are @locus/domain's `planPrefix`
 * and `reconcileDiff`; this class only does the I/O.
 */
export class SiteRouteInjector implements LocationFollower {
  /** Where every VM is: one tracker for all the sites of the process (it is the same for each of them). */
  readonly tracker: RouteTracker;
  readonly originators: SiteOriginators;
  readonly name: string;
  private readonly log: Logger;
  private readonly component: string;
  private readonly replacements: Map<string, Replacement>;
  private readonly held = new Map<string, { since: number; vm: string }>();
  private readonly pending = new Map<string, PendingConfirm>();
  private readonly confirmed = new Map<string, { version: number; ms: number }>();
  /** What the process's RouteConfirmed feed hands to this site. */
  readonly confirmations: FeedHandler<PlaneEvent>;
  private unwatch?: () => void;
  private timer?: NodeJS.Timeout;
  private chain: Promise<unknown> = Promise.resolve();
  private running = false;

  constructor(
    private readonly opts: SiteInjectorOptions,
    private readonly deps: SiteInjectorDeps,
  ) {
    this.name = opts.site.name;
    this.component = `route-injector:${this.name}`;
    this.tracker = opts.tracker ?? new RouteTracker();
    this.originators = opts.originators ?? new SiteOriginators();
    this.replacements = opts.replacements ?? new Map();
    this.log = deps.logger.child({ component: this.component });
    this.confirmations = { name: this.component, member: this.name, handle: (event) => this.onRouteConfirmed(event) };
  }

  get site(): RouteSite {
    return this.opts.site;
  }

  /** The feed hands this site the events of the VMs it serves or whose /32 it still originates (see routeAudience). */
  get member(): string {
    return this.name;
  }

  /**
   * Called by the process once the feed's snapshot is loaded and before its events flow: reconcile,
   * say so, then watch. `through`: the last stream sequence the snapshot holds (see `LocationFeed.start`).
   */
  async start(through?: number): Promise<void> {
    this.running = true;
    this.unwatch = this.opts.core.watch(() => void this.checkPending());
    await this.reconcile('start');
    // Advisory: without it a move committed before this start waits for its deadline, nothing worse.
    if (through !== undefined) await this.sayReconciled(through).catch((err: Error) => this.log.warn({ err: err.message, through }, 'could not publish RoutesReconciled'));
    this.timer = setInterval(() => void this.tick(), 250);
    this.log.info({ rib: this.opts.driver.kind, nextHop: this.site.routerIp, ...(through !== undefined ? { through } : {}) }, 'route injector ready');
  }

  /**
   * `RoutesReconciled` of the whole site: its RIB now agrees with every location event up to
   * `through`. A move committed before this injector started (a lab still starting, an injector
   * restarted) left a site that never originated its old /32 and so never withdraws one: this is
   * how the convergence tracker learns that the site agrees with it anyway.
   */
  private async sayReconciled(through: number): Promise<void> {
    const held = [...this.held.keys()].sort();
    const routes = (await this.opts.driver.list()).length;
    const event: PlaneEvent = {
      id: `RoutesReconciled:${this.name}:start:${through}:${randomUUID()}`,
      plane: 'route',
      type: 'RoutesReconciled',
      component: this.component,
      locationVersion: 0,
      at: new Date().toISOString(),
      data: { site: this.name, trigger: 'start', through, held, routes },
    };
    await this.deps.publisher.publish(event, this.name);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.unwatch?.();
    await this.chain.catch(() => undefined);
  }

  /** Soft state, hard truth: the VMs and their versions from the location DB (the feed's `vm.list` snapshot). */
  loadSnapshot(vms: readonly VmView[]): void {
    for (const view of vms) {
      const tracked = this.tracker.get(view.name);
      if (!tracked || view.locationVersion > tracked.locationVersion) this.tracker.apply(snapshotFact(view));
      else if (view.locationVersion === tracked.locationVersion && view.state === 'stopped') this.tracker.apply({ type: 'down', vm: view.name, reason: 'stopped in the location DB' });
    }
    this.log.debug({ vms: vms.length }, 'locations loaded from the location DB');
  }

  async handle(event: LocationEvent): Promise<void> {
    await this.onVmEvent(event);
  }

  // ---- inputs ----

  private async onVmEvent(event: LocationEvent): Promise<void> {
    const fact = routeFactOf(event);
    if (!fact) return;
    const outcome = this.tracker.applyEvent(event.id, fact);
    if (outcome === 'stale') {
      this.log.info({ vm: fact.vm, event: event.type, version: 'locationVersion' in fact ? fact.locationVersion : undefined }, 'older location event ignored');
      return;
    }
    if (outcome === 'duplicate' && fact.type === 'relocated' && fact.from === this.name && fact.to !== this.name) {
      await this.serial(() => this.sayLeftBeforeSnapshot(fact, event.id));
      return;
    }
    if (outcome !== 'applied') return;
    const vm = this.tracker.get(fact.vm);
    if (!vm) return;
    // Only the site the VM left, the site it is at, or one that still originates the /32 has anything to do.
    if (!this.concerns(fact, vm.site)) {
      const own = await this.opts.driver.list(`${vm.ip}/32`);
      if (own.length === 0) return;
    }
    await this.serial(() => this.converge(`${vm.ip}/32`, { id: event.id, cause: causeOf(fact), moveId: 'moveId' in event.data ? event.data.moveId : undefined }));
  }

  /**
   * A relocation away from this site that the snapshot already held (it was committed before the
   * snapshot was read, and reached the stream after the point the feed started from): this site
   * never originated the VM's old /32, so no `RouteWithdrawn` will say it agrees. If it originates
   * none below the new version, `RoutesReconciled` of that VM says so (a redelivery publishes the
   * same id again, which the stream drops).
   */
  private async sayLeftBeforeSnapshot(fact: Extract<RouteFact, { type: 'relocated' }>, eventId: string): Promise<void> {
    const prefix = `${fact.ip}/32`;
    const older = (await this.opts.driver.list(prefix)).filter((p) => (p.locationVersion ?? 0) < fact.locationVersion);
    if (older.length) return; // it still has one to withdraw: RouteWithdrawn will say so
    await this.emit('RoutesReconciled', fact.vm, prefix, fact.locationVersion, { id: eventId, cause: 'snapshot', moveId: fact.moveId }, { site: this.name, trigger: 'snapshot', held: [] });
  }

  private async onRouteConfirmed(event: PlaneEvent): Promise<void> {
    const confirmed = noteRouteConfirmed(event, this.replacements, this.tracker);
    if (!confirmed || confirmed.site === this.name) return;
    const { prefix } = confirmed;
    const own = await this.opts.driver.list(prefix);
    if (own.length) await this.serial(() => this.converge(prefix, { id: event.id, cause: 'confirmation', moveId: event.moveId }));
  }

  private concerns(fact: RouteFact, vmSite: string): boolean {
    if (fact.type === 'relocated') return fact.from === this.name || fact.to === this.name;
    return vmSite === this.name;
  }

  // ---- converge one prefix (event path) ----

  private async converge(prefix: string, trigger: { id: string; cause: string; moveId?: string }, holdExpired = false): Promise<void> {
    const vm = this.tracker.byIp(ipOfPrefix(prefix));
    const own = await this.opts.driver.list(prefix);
    const ownerSite = vm ? this.opts.sites.find((s) => s.name === vm.site) : undefined;
    const replacement = vm ? this.replacements.get(vm.vm) : undefined;
    const actions = planPrefix({ site: this.site, prefix, vm, ownerSite, own, replacement, holdExpired });
    for (const a of actions) await this.execute(a, trigger);
  }

  private async execute(action: PrefixAction, trigger: { id: string; cause: string; moveId?: string; reconcile?: boolean }): Promise<void> {
    const vm = this.tracker.byIp(ipOfPrefix(action.prefix));
    switch (action.kind) {
      case 'keep':
        this.held.delete(action.prefix);
        return;
      case 'advertise': {
        this.held.delete(action.prefix);
        const startedAt = Date.now();
        this.originators.add(action.prefix, this.name);
        await this.opts.driver.advertise(action.route);
        // A replaced path of another next hop is not overwritten by the new one: withdraw it.
        for (const old of action.replaces) if (old.nextHop !== action.route.nextHop) await this.opts.driver.withdraw(old);
        this.confirmed.delete(action.prefix);
        const initial = trigger.cause === 'reconcile-start' && action.replaces.length === 0;
        if (initial && this.initialRoutes) {
          this.initialRoutes.total++;
          this.initialRoutes.waiting++;
        }
        this.initialSettled(this.pending.get(action.prefix)); // replaced by this one (a move came first)
        this.pending.set(action.prefix, { route: action.route, startedAt, trigger: trigger.id, moveId: trigger.moveId, ...(initial ? { initial } : {}) });
        // A first start originates every VM's route: one summary line says so, not three lines a VM.
        this.log[initial ? 'debug' : 'info'](
          {
            vm: action.route.vm,
            prefix: action.prefix,
            version: action.route.locationVersion,
            localPref: action.route.localPref,
            community: formatCommunity(versionCommunity(action.route.locationVersion)),
            reason: action.reason,
          },
          `route advertised: ${action.prefix} via ${action.route.nextHop}`,
        );
        const advertised = await this.emit('RouteAdvertised', action.route.vm, action.prefix, action.route.locationVersion, trigger, {
          site: this.name,
          prefix: action.prefix,
          nextHop: action.route.nextHop,
          localPref: action.route.localPref,
          largeCommunity: formatCommunity(versionCommunity(action.route.locationVersion)),
          cause: trigger.cause,
          reason: action.reason,
        });
        const pending = this.pending.get(action.prefix);
        if (pending) pending.advertisedAt = advertised.at;
        void this.checkPending();
        return;
      }
      case 'withdraw': {
        this.held.delete(action.prefix);
        this.initialSettled(this.pending.get(action.prefix));
        this.pending.delete(action.prefix);
        this.confirmed.delete(action.prefix);
        await this.opts.driver.withdraw(action.path);
        if ((await this.opts.driver.list(action.prefix)).length === 0) this.originators.remove(action.prefix, this.name);
        const log = action.breakBeforeMake ? this.log.warn.bind(this.log) : this.log.info.bind(this.log);
        log(
          { vm: action.vm, prefix: action.prefix, version: action.path.locationVersion, replacedBy: action.replacedBy, reason: action.reason },
          `route withdrawn: ${action.prefix} via ${action.path.nextHop}`,
        );
        await this.emit('RouteWithdrawn', action.vm, action.prefix, action.path.locationVersion ?? vm?.locationVersion ?? 0, trigger, {
          site: this.name,
          prefix: action.prefix,
          nextHop: action.path.nextHop,
          cause: trigger.cause,
          reason: action.reason,
          replacedBy: action.replacedBy,
          breakBeforeMake: !!action.breakBeforeMake,
        });
        return;
      }
      case 'hold': {
        if (!this.held.has(action.prefix)) {
          this.held.set(action.prefix, { since: Date.now(), vm: action.vm });
          this.log.info({ vm: action.vm, prefix: action.prefix, waitFor: action.waitFor, reason: action.reason }, `route held: ${action.prefix} stays until the new one is confirmed`);
        }
        return;
      }
    }
  }

  // ---- confirmation, holds ----

  private async checkPending(): Promise<void> {
    if (!this.running || this.pending.size === 0) return;
    let core: RibPath[];
    try {
      // Only the prefixes waiting for confirmation: the core holds every site's /32s.
      core = await pathsOf(this.opts.core, [...this.pending.keys()]);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'core RIB not readable; will retry');
      return;
    }
    const confirming: Promise<void>[] = [];
    for (const [prefix, p] of [...this.pending]) {
      if (this.pending.get(prefix) !== p) continue;
      if (confirmedInCore(p.route, core)) {
        this.pending.delete(prefix);
        const ms = Date.now() - p.startedAt;
        this.confirmed.set(prefix, { version: p.route.locationVersion, ms });
        this.log[p.initial ? 'debug' : 'info']({ vm: p.route.vm, prefix, version: p.route.locationVersion, ms }, `route confirmed in the core RIB after ${ms} ms`);
        this.initialSettled(p, ms);
        // Not awaited one by one (each is handled when its ack comes, in the order sent): after a start,
        // thousands are confirmed in one check. At most a window of them in flight per check.
        if (confirming.length >= PUBLISH_WINDOW) await Promise.all(confirming.splice(0));
        confirming.push(
          this.emit(
            'RouteConfirmed',
            p.route.vm,
            prefix,
            p.route.locationVersion,
            { id: p.trigger, cause: 'core-rib', moveId: p.moveId },
            {
              site: this.name,
              prefix,
              nextHop: p.route.nextHop,
              ms,
              via: 'core-rib',
              ...(p.advertisedAt ? { advertisedAt: p.advertisedAt } : {}),
            },
          ).then(
            (event) => this.opts.confirmedLocally?.(event),
            (err) => this.log.warn({ err: (err as Error).message }, 'could not publish RouteConfirmed'),
          ),
        );
      } else if (Date.now() - p.startedAt > this.opts.confirmTimeoutMs && !p.warned) {
        p.warned = true;
        this.log.warn({ prefix, version: p.route.locationVersion, waitedMs: Date.now() - p.startedAt }, 'route not in the core RIB yet');
      }
    }
    await Promise.all(confirming);
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    void this.checkPending();
    const now = Date.now();
    for (const [prefix, h] of [...this.held]) {
      if (now - h.since < this.opts.holdMs) continue;
      await this.serial(() => this.converge(prefix, { id: `hold-${h.since}`, cause: 'hold-expired' }, true)).catch((err) =>
        this.log.warn({ err: (err as Error).message, prefix }, 'hold expiry failed; will retry'),
      );
    }
  }

  // ---- reconcile ----

  /** Compares the site's RIB with the location DB and fixes every difference, one log line and one ReconcileFixed each. */
  reconcile(trigger: 'start' | 'request'): Promise<ReconcileFix[]> {
    return this.serial(async () => {
      if (trigger === 'request') this.loadSnapshot(await fetchLocationSnapshot(this.deps.nc, this.deps.prefix, {}, this.log, { maxAttempts: 1 }));
      const [own, core] = await Promise.all([this.opts.driver.list(), this.opts.core.list()]);
      const actions = reconcileDiff({ site: this.site, vms: this.tracker.all(), sites: this.opts.sites, own, core });
      const runId = `reconcile-${randomUUID()}`;
      if (trigger === 'start') this.initialRoutes = { waiting: 0, total: 0, since: Date.now(), slowestMs: 0, originated: false };
      const fixes: ReconcileFix[] = [];
      // Each fix's ReconcileFixed goes out without waiting for the previous one's ack (one connection
      // writes them in order): a start on an empty RIB is one fix per VM of the site, and a round trip
      // each made a 100,000-VM lab's injectors the last service ready by a minute.
      // Each carries its outcome (a rejection waiting for its await would end the process).
      const published: Promise<Error | undefined>[] = [];
      for (const a of actions) {
        const vm = this.tracker.byIp(ipOfPrefix(a.prefix));
        // a make-before-break hold the site already has is not drift
        if (a.kind === 'hold' && this.held.has(a.prefix)) continue;
        const fix: ReconcileFix = {
          site: this.name,
          prefix: a.prefix,
          vm: vm?.vm,
          fix: a.kind === 'advertise' ? (a.replaces.length ? 'replaced' : 'added') : a.kind === 'withdraw' ? 'withdrawn' : 'deferred',
          reason: a.reason,
          locationVersion: a.kind === 'advertise' ? a.route.locationVersion : a.kind === 'withdraw' || a.kind === 'hold' ? a.path.locationVersion : undefined,
        };
        await this.execute(a, { id: `${runId}-${a.prefix}`, cause: `reconcile-${trigger}`, reconcile: true });
        // A route the RIB lacks at start is the start's work (a first start, a speaker that lost its table); what it had wrong is drift.
        const initial = trigger === 'start' && fix.fix === 'added';
        this.log[initial ? 'debug' : 'info'](
          { trigger, prefix: a.prefix, vm: fix.vm, fix: fix.fix, reason: a.reason },
          `${initial ? 'start-up reconcile' : 'reconcile fixed drift'}: ${fix.fix} ${a.prefix}`,
        );
        published.push(settled(this.emit('ReconcileFixed', fix.vm, a.prefix, fix.locationVersion ?? vm?.locationVersion ?? 0, { id: `${runId}-${a.prefix}`, cause: trigger }, { ...fix, trigger })));
        if (published.length >= PUBLISH_WINDOW) await firstFailure(published.splice(0));
        fixes.push(fix);
      }
      await firstFailure(published);
      this.originators.reset(this.name, fixes.length ? (await this.opts.driver.list()).map((p) => p.prefix) : own.map((p) => p.prefix));
      const byFix = countBy(fixes.map((f) => f.fix));
      this.log.info(
        { trigger, fixes: fixes.length, byFix, routes: own.length },
        fixes.length
          ? `reconcile done: ${Object.entries(byFix)
              .map(([fix, n]) => `${n} ${fix}`)
              .join(', ')} (the RIB held ${own.length} route${own.length === 1 ? '' : 's'} of this site)`
          : 'reconcile: RIB matches the location DB',
      );
      // after its summary: the line saying the core RIB has them all follows it
      if (this.initialRoutes) {
        this.initialRoutes.originated = true;
        this.confirmedInitial();
      }
      return fixes;
    });
  }

  /** The start-up reconcile's routes (originated into a RIB that lacked them), and how many still wait for the core RIB. */
  private initialRoutes?: { waiting: number; total: number; since: number; slowestMs: number; originated: boolean };

  /** A pending route no longer waits (confirmed after `confirmedMs`, or replaced or withdrawn first). */
  private initialSettled(p: PendingConfirm | undefined, confirmedMs?: number): void {
    const r = this.initialRoutes;
    if (!p?.initial || !r) return;
    r.waiting--;
    if (confirmedMs !== undefined) r.slowestMs = Math.max(r.slowestMs, confirmedMs);
    this.confirmedInitial();
  }

  /** Once the start has originated them all and the core RIB has the last one: said in one line. */
  private confirmedInitial(): void {
    const r = this.initialRoutes;
    if (!r?.originated || r.waiting > 0) return;
    this.initialRoutes = undefined;
    if (r.total === 0) return;
    this.log.info(
      { routes: r.total, ms: Date.now() - r.since, slowestMs: r.slowestMs },
      `the core RIB has the ${r.total} route${r.total === 1 ? '' : 's'} this start originated, ${Date.now() - r.since} ms after it began`,
    );
  }

  // ---- views ----

  /**
   * The site's routes by prefix: all of them, only `prefixes` (one lookup each in the RIB and the
   * core), and/or one page (`after` exclusive, `limit`; the view then has `total` and `next`).
   */
  async view(filter: { prefixes?: readonly string[]; after?: string; limit?: number } = {}): Promise<SiteRoutesView> {
    const paged = filter.after !== undefined || filter.limit !== undefined;
    const coreOf = (prefixes?: readonly string[]) => this.opts.core.list(prefixes).catch(() => [] as RibPath[]);
    const whole = !filter.prefixes && !paged;
    const [all, wholeCore] = await Promise.all([this.opts.driver.list(filter.prefixes), whole ? coreOf() : undefined]);
    // One more than the page says whether another page follows.
    const page = firstByPrefix(all, (p) => p.prefix, filter.limit === undefined ? Infinity : filter.limit + 1, filter.after);
    const own = filter.limit === undefined ? page : page.slice(0, filter.limit);
    // the core only for the prefixes shown, unless the whole table is
    const core = wholeCore ?? (await coreOf(own.map((p) => p.prefix)));
    const inCore = new Set(core.map((c) => `${c.prefix}|${c.nextHop}|${c.locationVersion}`));
    const routes: HostRouteView[] = own.map((p) => {
      const vm = this.tracker.byIp(ipOfPrefix(p.prefix));
      const want = desiredRoute(vm, this.site).route;
      const state = want && samePath(want, p) ? (inCore.has(`${p.prefix}|${p.nextHop}|${p.locationVersion}`) ? 'confirmed' : 'advertised') : this.held.has(p.prefix) ? 'withdrawing' : 'stale';
      const c = this.confirmed.get(p.prefix);
      return {
        prefix: p.prefix,
        vm: vm?.vm,
        locationVersion: p.locationVersion,
        state,
        nextHop: p.nextHop,
        localPref: p.localPref,
        ...(c && c.version === p.locationVersion ? { confirmMs: c.ms } : {}),
      } satisfies HostRouteView;
    });
    if (!paged) return { site: this.name, rib: this.opts.driver.kind, routes };
    return { site: this.name, rib: this.opts.driver.kind, routes, total: all.length, ...(own.length < page.length ? { next: own[own.length - 1].prefix } : {}) };
  }

  // ---- helpers ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    // The chain keeps no result: a start-up reconcile's fixes (one per VM) stayed alive until the next task.
    this.chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async emit(
    type: string,
    vm: string | undefined,
    prefix: string,
    locationVersion: number,
    trigger: { id: string; cause: string; moveId?: string },
    data: Record<string, unknown>,
  ): Promise<PlaneEvent> {
    const event: PlaneEvent = {
      id: `${type}:${this.name}:${prefix}:v${locationVersion}:${trigger.id}`,
      plane: 'route',
      type,
      component: this.component,
      vm,
      eid: prefix,
      moveId: trigger.moveId,
      locationVersion,
      at: new Date().toISOString(),
      data,
    };
    await this.deps.publisher.publish(event, vm ?? prefixToken(prefix));
    return event;
  }
}

/** Events one reconcile or one confirmation check has published and not yet had acked, at most: then it waits for them (a process may run 50 sites). */
const PUBLISH_WINDOW = 32;

/** The promise's failure as a value (undefined when it succeeded): it never rejects. */
function settled(p: Promise<unknown>): Promise<Error | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
}

/** Waits for all; throws the first failure among them, as awaiting each in turn did. */
async function firstFailure(outcomes: Promise<Error | undefined>[]): Promise<void> {
  const failed = (await Promise.all(outcomes)).find((e) => e !== undefined);
  if (failed) throw failed;
}

function causeOf(fact: RouteFact): string {
  switch (fact.type) {
    case 'placed':
      return 'placed';
    case 'relocated':
      return 'relocated';
    case 'down':
      return 'fall';
    case 'up':
      return 'rise';
  }
}

/**
 * A RouteConfirmed, once per process whatever its number of sites: the newest confirmation of the
 * VM (its replacement) and where the VM is. Returns the confirming site and prefix, or nothing for
 * a confirmation that names neither.
 */
export function noteRouteConfirmed(event: PlaneEvent, replacements: Map<string, Replacement>, tracker: RouteTracker): { site: string; prefix: string } | undefined {
  const { site, prefix } = event.data;
  if (!event.vm || typeof site !== 'string' || typeof prefix !== 'string' || !site || !prefix) return undefined;
  const prev = replacements.get(event.vm);
  if (!prev || prev.locationVersion <= event.locationVersion) replacements.set(event.vm, { site, locationVersion: event.locationVersion, source: 'route-confirmed' });
  tracker.observe(event.vm, ipOfPrefix(prefix), site, event.locationVersion);
  return { site, prefix };
}

/** How many of each value. */
function countBy<T extends string>(values: readonly T[]): Partial<Record<T, number>> {
  const out: Partial<Record<T, number>> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
