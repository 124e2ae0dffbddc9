import { performance } from 'node:perf_hooks';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import {
  LOCATION_EVENT_TYPES,
  LocusError,
  mappingSubjects,
  routingSubjects,
  subjects,
  type AgentInventoryReply,
  type DriftReply,
  type DriftRepairView,
  type DriftView,
  type SiteRoutesView,
} from '@locus/contracts';
import {
  decideHostDrift,
  findDrift,
  hostsNamedBy,
  isSilentSinceStart,
  nextKnownDrift,
  pacedStepStartMs,
  planAgentAsks,
  routePageLimit,
  uniqueDrift,
  type DriftInput,
  type DriftLocation,
  type DriftScope,
  type DriftSiteRoutes,
  type HostRepairPlan,
  type HostView,
  type MappingEntryFacts,
} from '@locus/domain';
import { MoveReadModel } from '@locus/eventstore';
import { requestJson } from '@locus/messaging';
import type { TopologyIndex } from '@locus/topology';
import type { VmCommandService } from '../../vm-commands/vm-command.service';
import { DriftRepairer } from './drift-repair';

export interface DriftOptions {
  prefix: string;
  /** Repair what the hypervisors disagree about in the periodic check (default true); `drift.check` says for itself. */
  repair?: boolean;
  /** Real ms a repair's boot may take before the check stops waiting for it. */
  repairStepTimeoutMs?: number;
  /** Real ms between two periodic checks; 0: only on request. */
  intervalMs: number;
  /** How long each plane has to answer one request. */
  timeoutMs?: number;
  /** VMs of the rolling sweep each periodic check compares; 0 or absent: enough for a sweep to take `sweepPeriods` periods (counted when each sweep starts). */
  slice?: number;
  /** Periods one sweep takes when `slice` is automatic (default 10). */
  sweepPeriods?: number;
  /** VMs compared at once, with one filtered request per plane (default and most 1000: the planes' filter limit). */
  chunk?: number;
}

/** Events after which a VM's planes should follow it: the periodic check compares the VM next time. */
export const DRIFT_TRIGGER_TYPES: ReadonlySet<string> = new Set([...LOCATION_EVENT_TYPES, 'MoveCompleted', 'VmRestartedByRepair']);

/** The location version an appended event carries, if any. */
function locationVersionOf(data: unknown): number | undefined {
  const v = (data as { locationVersion?: unknown } | undefined)?.locationVersion;
  return typeof v === 'number' ? v : undefined;
}

/** The figures of one periodic check. */
export interface PeriodicDriftCheck extends DriftReply {
  /** VMs whose location changed (from this manager's appends) since the previous check. */
  changed: number;
  /** VMs compared again: a disagreement known, skipped as moving or converging, or a plane silent last time. */
  again: number;
  /** VMs asked by name of their DB host (and the hosts their recent events named) only, not of every agent. */
  askedByHost: number;
  /** VMs of the rolling sweep in this check, and the sweep's position after it (the last name compared; none: the sweep completed). */
  swept: number;
  sweepPosition?: string;
  sweepCompleted: boolean;
  /** Routes listed in this check's page of each host-route site's RIB. */
  routesListed: number;
  /** Steps of the check (chunks of VMs, then the pages of routes), and the ms it waited between them (paced). */
  chunks: number;
  waitedMs: number;
  ms: number;
}

/** How a periodic check runs: paced (the timer's) spreads its chunks over part of the interval; unpaced (a test's call) runs them back to back. */
export interface PeriodicCheckOptions {
  paced?: boolean;
}

/** A paced check stopped by `stop()` between two of its steps: what it did not compare is compared next time. */
class DriftCheckStopped extends Error {
  constructor() {
    super('drift check stopped');
  }
}

type Unavailable = { unavailable: string };
type StaleFacts = Extract<NonNullable<DriftInput['arpStale']>, readonly unknown[]>;
/** What one comparison found and what it compared. */
interface Pass {
  found: DriftView[];
  compared: Set<string>;
  /** VMs compared with the agents' inventories, and the repairs that comparison decided. */
  hostCompared: Set<string>;
  repairs: HostRepairPlan[];
  skipped: Set<string>;
  silent: Set<string>;
  asked: Set<string>;
  /** Per VM asked of some agents only, the agents asked (`agent:<host>`); `askedEveryAgent`: VMs asked of every agent. */
  hostAsked: Map<string, Set<string>>;
  askedEveryAgent: Set<string>;
  routePages: Map<string, { after?: string; through?: string }>;
  routesListed: number;
}
const emptyPass = (): Pass => ({
  found: [],
  compared: new Set(),
  hostCompared: new Set(),
  repairs: [],
  skipped: new Set(),
  silent: new Set(),
  asked: new Set(),
  hostAsked: new Map(),
  askedEveryAgent: new Set(),
  routePages: new Map(),
  routesListed: 0,
});

/**
 * What a check remembers of the planes: a plane's first failure is reused for the rest of it (one
 * timeout, not one per chunk, and one disagreement); and how many of its requests may be in flight
 * at once (a paced check: a few, so that the planes serve the moves' messages between them).
 */
class Memo extends Map<string, Unavailable> {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly maxInFlight = Infinity) {
    super();
  }

  async inTurn<T>(request: () => Promise<T>): Promise<T> {
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await request();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}

const ARP_NAMES_PER_REQUEST = 500; // 500 names of up to 63 characters stay under the 64 KiB request limit
/** Up to this many VMs of a page by name an agent is asked about by name; more, by the range of their names (a request of a few bytes per agent). */
const AGENT_NAMES_PER_REQUEST = 100;
const MAX_AGAIN = 10_000;
/** VMs compared in one step of a paced check: each step reads its VMs' rows right before comparing them, and is a short burst. */
const PACED_CHUNK = 250;
/** The part of the interval a paced check spreads its steps over (the rest is slack for a slow check). */
const PACED_SPREAD = 0.5;
/** Requests of a paced check in flight at once (an unpaced one sends a chunk's all at once). */
const PACED_IN_FLIGHT = 8;
/**
 * The smallest page of a site's routes in a periodic check: a site's page is sized by its RIB
 * alone (walked in as many periods as the sweep), so a small RIB is listed a route or two a
 * period, not whole every period.
 */
const MIN_ROUTE_PAGE = 1;

/** How the agents are asked about a list of VMs (see `planAgentAsks`). */
interface HostAsk {
  /** The VMs are a page by name (the sweep, a full check): a range covers them and nothing else. */
  contiguous: boolean;
  /** Asked of every agent (the default), or only of its DB host and `related` hosts. */
  everyAgent?: (vm: string) => boolean;
  related?: (vm: string) => Iterable<string> | undefined;
}
const EVERY_AGENT_PAGE: HostAsk = { contiguous: true };
const EVERY_AGENT_NAMED: HostAsk = { contiguous: false };

/**
 * Drift detector: compares the location DB with what every plane says through its query
 * endpoints (`map.list` of the map-server and of each ITR, `routes.list`, `arp.stale`).
 *
 * - Periodically (incremental): the VMs whose location changed since the previous check (this
 *   manager's appends; not those whose move has converged since, which the tracker saw every plane
 *   agree with: the sweep compares them in turn), the VMs to compare again (a disagreement known, skipped as moving or
 *   converging), and the next slice of a rolling sweep over all VMs by name, each plane asked with
 *   a filter for those VMs only; plus the next page of each host-route site's RIB (sized to walk
 *   it in about a sweep), for routes no VM has. Every agent is asked about the sweep's slice (by
 *   the range of its names) and the VMs due again (by name); a VM that changed only of its DB
 *   host and the hosts its events named (the one it just left). A period costs O(changed + slice),
 *   and drift nobody caused through Locus (a copy on a third host included) is found within one
 *   sweep (about `sweepPeriods` periods). The timer's check runs in steps of `PACED_CHUNK` VMs
 *   spread over half the interval, each reading its rows right before comparing them.
 * - On `drift.check` (full): every VM, in chunks of `chunk` VMs with the same filters, and every
 *   site's whole RIB in pages: no truncation, whatever the number of VMs.
 *
 * VMs that are moving or whose move is still converging within its deadline are left out. Each
 * disagreement is logged once when it appears and once when a later check that compared it again
 * no longer finds it.
 */
export class DriftDetector {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private known = new Map<string, DriftView>();
  /** Components that have answered a check since the detector started (see isSilentSinceStart). */
  private readonly answered = new Set<string>();
  private readonly log: Logger;
  private unlisten?: () => void;
  private changed = new Set<string>();
  /** The newest location version the events that put each VM in `changed` carried. */
  private readonly changedAt = new Map<string, number>();
  private again = new Set<string>();
  /** Hosts each VM's appended events named since it was last compared with them (where it was, is or went): asked about it besides its DB host. */
  private readonly related = new Map<string, Set<string>>();
  /** Sets of the VMs with events appended while their rows were being compared (see `watched`). */
  private readonly watches = new Set<Set<string>>();
  private stopping = false;
  /** Ends the wait between two steps of a paced check at once (stop). */
  private wake?: () => void;
  private sweep?: { startedAt: number; after?: string; slice: number; periods: number; vms: number; compared: number };
  private readonly routeCursor = new Map<string, { after?: string; total?: number }>();
  private readonly repairer?: DriftRepairer;
  /** The last periodic check's figures. */
  last?: PeriodicDriftCheck;
  /** Sweeps completed since start. */
  sweeps = 0;

  private readonly reads: MoveReadModel;

  constructor(
    private readonly deps: {
      nc: NatsConnection;
      dataSource: DataSource;
      topology: TopologyIndex;
      logger: Logger;
      converging: () => ReadonlySet<string>;
      /** Committed appends of this manager (the event store), to know which VMs changed. */
      appends?: { onAppended(listener: (events: readonly { streamId: string; type: string; data?: unknown }[]) => void): () => void };
      /** Appends the repairs' events; without it the hypervisors are compared, never repaired. */
      commands?: VmCommandService;
      /** Hosts the HA monitor declared failed: their VMs are its to restart, not drift's to repair. */
      down?: () => ReadonlySet<string>;
    },
    private readonly options: DriftOptions,
  ) {
    this.log = deps.logger.child({ component: 'drift-detector' });
    this.reads = new MoveReadModel(deps.dataSource);
    this.repairer = deps.commands
      ? new DriftRepairer({ nc: deps.nc, commands: deps.commands, logger: deps.logger }, { prefix: options.prefix, stepTimeoutMs: options.repairStepTimeoutMs })
      : undefined;
  }

  private get chunk(): number {
    return Math.min(1000, Math.max(1, this.options.chunk ?? 1000));
  }

  start(): void {
    const periodic = this.options.intervalMs > 0;
    this.stopping = false;
    this.unlisten = this.deps.appends?.onAppended((events) => {
      for (const e of events) {
        if (!e.streamId.startsWith('vm:')) continue;
        const vm = e.streamId.slice(3);
        for (const touched of this.watches) touched.add(vm);
        if (!periodic) continue;
        const version = locationVersionOf(e.data);
        // Its move converged at the newest location the VM has: every network plane said it agrees
        // (the convergence tracker's verdict) and each of the move's steps was confirmed by its host,
        // so it is not compared again as changed; the sweep compares it in turn, as every VM (a copy
        // on a host no step touched is the sweep's to find). A move that converges late, after a
        // newer location (a drift repair), leaves the VM to be compared.
        if (e.type === 'MoveConverged') {
          if (version !== undefined && version >= (this.changedAt.get(vm) ?? 0)) {
            this.changed.delete(vm);
            this.changedAt.delete(vm);
          }
        } else if (DRIFT_TRIGGER_TYPES.has(e.type)) {
          this.changed.add(vm);
          if (version !== undefined && version > (this.changedAt.get(vm) ?? 0)) this.changedAt.set(vm, version);
        }
        const hosts = hostsNamedBy(e.data);
        if (hosts.length === 0) continue;
        const related = this.related.get(vm) ?? new Set<string>();
        for (const h of hosts) related.add(h);
        this.related.set(vm, related);
      }
    });
    if (!periodic) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.checkPeriodic({ paced: true })
        .catch((err) => {
          if (err instanceof DriftCheckStopped) this.log.debug('drift check stopped');
          else this.log.warn({ err: (err as Error).message }, 'drift check failed');
        })
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.log.info(
      { intervalMs: this.options.intervalMs, slice: this.options.slice || 'auto', sweepPeriods: this.sweepPeriods },
      `drift detector armed: every ${(this.options.intervalMs / 1000).toFixed(1)} s the VMs that changed and a slice of a sweep over all VMs (${this.options.slice ? `${this.options.slice} per period` : `a sweep in ~${this.sweepPeriods} periods`}) are compared with every plane`,
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.unlisten?.();
    this.wake?.();
    await this.running;
  }

  private get sweepPeriods(): number {
    return Math.max(1, this.options.sweepPeriods ?? 10);
  }

  // ---- full check (drift.check) ----

  /**
   * `drift.check`: every VM and every site's whole RIB, in chunks and pages; or, with `vms`, those
   * VMs only (an agent whose inventory differs from the DB asks this). Repairs what the hypervisors
   * disagree about unless `repair` is false, trying again VMs stuck before.
   */
  async check(req: { vms?: readonly string[]; repair?: boolean } = {}): Promise<DriftReply> {
    if (req.vms) return this.checkVms(req.vms, req.repair ?? true);
    const t0 = performance.now();
    const converging = this.deps.converging();
    const memo = new Memo();
    const pass = emptyPass();
    let chunks = 0;
    for (let after: string | undefined; ;) {
      const rows = await this.watched(async (touched) => {
        const rows = await this.reads.driftLocationsAfter(after, this.chunk);
        if (rows.length) await this.compare(rows, converging, pass, memo, EVERY_AGENT_PAGE, touched);
        return rows;
      });
      if (rows.length) chunks++;
      if (rows.length < this.chunk) break;
      after = rows[rows.length - 1].vm;
    }
    for (const site of this.hostRouteSites()) {
      for (let after: string | undefined; ;) {
        const page = await this.routePage(site, after, this.chunk, converging, pass, memo);
        if (!page) break; // not answering: the site is silent
        if (page.next === undefined) {
          pass.routePages.set(`route-injector:${site}`, {});
          break;
        }
        after = page.next;
      }
    }
    const disagreements = this.settle(pass);
    const repairs = await this.repair(pass, req.repair ?? true, true);
    const ms = performance.now() - t0;
    this.log.debug(
      { vms: pass.compared.size, chunks, routes: pass.routesListed, skipped: pass.skipped.size, disagreements: disagreements.length, repairs: repairs.length, ms: round(ms) },
      `full drift check: ${pass.compared.size} VMs in ${chunks} chunk(s), ${pass.routesListed} routes, ${round(ms)} ms`,
    );
    return { checkedAt: new Date().toISOString(), vms: pass.compared.size, skipped: [...pass.skipped].sort(), disagreements, ...(repairs.length ? { repairs } : {}) };
  }

  /** The VMs named only, on every plane; names the DB does not have are returned as `unknown` (all unknown: UNKNOWN_VM). */
  private async checkVms(names: readonly string[], repair: boolean): Promise<DriftReply> {
    const pass = emptyPass();
    const rows = await this.watched(async (touched) => {
      const rows = await this.reads.driftLocationsNamed(names);
      if (rows.length) await this.compare(rows, this.deps.converging(), pass, new Memo(), EVERY_AGENT_NAMED, touched);
      return rows;
    });
    const found = new Set(rows.map((r) => r.vm));
    const unknown = [...new Set(names)].filter((n) => !found.has(n)).sort();
    if (rows.length === 0) throw new LocusError('UNKNOWN_VM', `no VM named ${unknown.join(', ')}`);
    const disagreements = this.settle(pass);
    const repairs = await this.repair(pass, repair, true);
    this.log.info(
      { vms: rows.length, unknown, disagreements: disagreements.length, repairs: repairs.length },
      `drift check of ${rows.length} named VM(s): ${disagreements.length} disagreement(s)${repairs.length ? `, ${repairs.length} repair(s)` : ''}`,
    );
    return {
      checkedAt: new Date().toISOString(),
      vms: pass.compared.size,
      skipped: [...pass.skipped].sort(),
      disagreements,
      ...(repairs.length ? { repairs } : {}),
      ...(unknown.length ? { unknown } : {}),
    };
  }

  /** Carries out the check's repairs (when asked to and able to); the repaired VMs are compared again next period. */
  private async repair(pass: Pass, wanted: boolean, retryStuck: boolean): Promise<DriftRepairView[]> {
    if (!wanted || !this.repairer || pass.repairs.length === 0) return [];
    const done = await this.repairer.repair(pass.repairs, retryStuck);
    for (const r of done) this.dueAgain(r.vm);
    return done;
  }

  // ---- periodic check (incremental) ----

  /**
   * The VMs that changed or are due again, the next slice of the sweep and the next page of each
   * site's routes. `paced` (the timer's check): in steps of a few hundred VMs spread over about
   * half the interval, each step reading its VMs' rows right before comparing them, so that the
   * planes and the manager see a trickle, not a burst that queues every move behind it.
   */
  async checkPeriodic(options: PeriodicCheckOptions = {}): Promise<PeriodicDriftCheck> {
    const changed = this.changed;
    const again = this.again;
    this.changed = new Set();
    this.again = new Set();
    for (const vm of changed) this.changedAt.delete(vm);
    try {
      return await this.periodic(changed, again, options.paced ?? false);
    } catch (err) {
      // not compared: next time
      for (const vm of changed) this.changed.add(vm);
      for (const vm of again) this.dueAgain(vm);
      throw err;
    }
  }

  private async periodic(changed: ReadonlySet<string>, again: ReadonlySet<string>, paced: boolean): Promise<PeriodicDriftCheck> {
    const t0 = performance.now();
    // the hosts each changed VM's events had named when this check began (a paced check runs for seconds; later moves name more)
    const relatedAtStart = new Map([...changed].map((vm): [string, string[]] => [vm, [...(this.related.get(vm) ?? [])]]));
    if (!this.sweep) {
      const n = await this.reads.vmCount();
      this.sweep = { startedAt: Date.now(), slice: this.options.slice || Math.max(1, Math.ceil(n / this.sweepPeriods)), periods: 0, vms: n, compared: 0 };
    }
    const sweep = this.sweep;
    const chunk = paced ? Math.min(this.chunk, PACED_CHUNK) : this.chunk;
    const extra = [...new Set([...changed, ...again])].sort();
    // steps: the sweep's slice in chunks, then the VMs that changed or are due again (less those the sweep compared), then the route pages
    const steps = Math.ceil(sweep.slice / chunk) + Math.ceil(extra.length / chunk) + 1;
    const spreadMs = paced ? this.options.intervalMs * PACED_SPREAD : 0;
    let step = 0;
    let waitedMs = 0;
    const next = async () => {
      const wait = t0 + pacedStepStartMs(step++, steps, spreadMs) - performance.now();
      if (paced) waitedMs += await this.pause(wait);
    };

    const memo = new Memo(paced ? PACED_IN_FLIGHT : Infinity);
    const pass = emptyPass();
    // the sweep: every agent asked, by the range of each chunk's names
    const swept = new Set<string>();
    let sweepAfter = sweep.after;
    for (let left = sweep.slice; left > 0;) {
      await next();
      const want = Math.min(chunk, left);
      const rows = await this.watched(async (touched) => {
        const rows = await this.reads.driftLocationsAfter(sweepAfter, want);
        if (rows.length) await this.compare(rows, this.deps.converging(), pass, memo, EVERY_AGENT_PAGE, touched);
        return rows;
      });
      if (rows.length === 0) break;
      for (const r of rows) swept.add(r.vm);
      left -= rows.length;
      sweepAfter = rows[rows.length - 1].vm;
      if (rows.length < want) break; // the last VM by name
    }
    // the VMs that changed, asked of their DB host and the hosts their events named; those due again (a disagreement known: a copy may be anywhere), of every agent
    const named = extra.filter((vm) => !swept.has(vm));
    const relatedAsked = new Map<string, string[]>();
    const byHost: HostAsk = {
      contiguous: false,
      everyAgent: (vm) => again.has(vm),
      related: (vm) => {
        const hosts = [...(this.related.get(vm) ?? [])];
        relatedAsked.set(vm, hosts);
        return hosts;
      },
    };
    for (let i = 0; i < named.length; i += chunk) {
      await next();
      await this.watched(async (touched) => {
        const rows = await this.reads.driftLocationsNamed(named.slice(i, i + chunk));
        if (rows.length) await this.compare(rows, this.deps.converging(), pass, memo, byHost, touched);
      });
    }
    // the next page of each site's RIB, sized so that a site is listed in about as many periods as the VMs are swept
    await next();
    const converging = this.deps.converging();
    const periodsPerSweep = Math.max(1, Math.ceil(sweep.vms / sweep.slice));
    const routeSites = this.hostRouteSites();
    await Promise.all(
      routeSites.map(async (site) => {
        const cursor = this.routeCursor.get(site) ?? {};
        const total = cursor.total ?? Math.ceil(sweep.vms / routeSites.length); // a guess until the site says
        const limit = routePageLimit(total, periodsPerSweep, { min: MIN_ROUTE_PAGE, max: this.chunk });
        const page = await this.routePage(site, cursor.after, limit, converging, pass, memo);
        if (page) this.routeCursor.set(site, { after: page.next, total: page.total });
      }),
    );
    const disagreements = this.settle(pass);
    const repairs = await this.repair(pass, this.options.repair ?? true, false);
    // compare again next time: what was skipped, and what was compared while a plane was silent
    for (const vm of pass.skipped) this.dueAgain(vm);
    if (pass.silent.size) for (const vm of changed) this.dueAgain(vm);
    // the hosts a VM's events named are asked again only if its own host did not answer (hosts named meanwhile stay)
    for (const [vm, hosts] of relatedAsked) {
      if (!pass.hostCompared.has(vm)) continue;
      const left = this.related.get(vm);
      for (const h of hosts) left?.delete(h);
      if (left?.size === 0) this.related.delete(vm);
    }
    // every agent was asked: the hosts named until then are done (not those named by events after this check began)
    for (const vm of changed) {
      if (!(swept.has(vm) || pass.askedEveryAgent.has(vm)) || !pass.hostCompared.has(vm)) continue;
      const left = this.related.get(vm);
      for (const h of relatedAtStart.get(vm) ?? []) left?.delete(h);
      if (left?.size === 0) this.related.delete(vm);
    }

    sweep.periods++;
    sweep.compared += swept.size;
    const completed = swept.size < sweep.slice;
    if (completed) {
      this.sweep = undefined;
      this.sweeps++;
      const ms = Date.now() - sweep.startedAt;
      this.log.info(
        { vms: sweep.compared, periods: sweep.periods, ms, disagreements: this.known.size },
        `drift sweep completed: all ${sweep.compared} VMs in ${sweep.periods} period(s), ${(ms / 1000).toFixed(1)} s; ${this.known.size} disagreement(s) known`,
      );
    } else sweep.after = sweepAfter;

    const ms = performance.now() - t0;
    const result: PeriodicDriftCheck = {
      checkedAt: new Date().toISOString(),
      vms: pass.compared.size,
      skipped: [...pass.skipped].sort(),
      disagreements,
      ...(repairs.length ? { repairs } : {}),
      changed: changed.size,
      again: again.size,
      askedByHost: pass.hostAsked.size,
      swept: swept.size,
      ...(completed ? {} : { sweepPosition: sweep.after }),
      sweepCompleted: completed,
      routesListed: pass.routesListed,
      chunks: step,
      waitedMs: round(waitedMs),
      ms,
    };
    this.last = result;
    this.log.debug(
      {
        vms: result.vms,
        changed: result.changed,
        again: result.again,
        askedByHost: result.askedByHost,
        swept: result.swept,
        sweepPosition: result.sweepPosition ?? null,
        routes: result.routesListed,
        skipped: result.skipped.length,
        disagreements: disagreements.length,
        chunks: result.chunks,
        paced,
        waitedMs: result.waitedMs,
        ms: round(ms),
      },
      `drift check: ${result.vms} VMs compared (${result.changed} changed, ${result.again} again, ${result.swept} of the sweep${result.sweepPosition ? `, now after ${result.sweepPosition}` : ', sweep completed'}), ${result.routesListed} routes listed, ${disagreements.length} disagreement(s), ${round(ms)} ms in ${result.chunks} step(s)${paced ? ` (${round(waitedMs)} ms of it waiting between them)` : ''}`,
    );
    return result;
  }

  /**
   * Runs `work` (a read of rows, then their comparison) with the set of the VMs that had events
   * appended meanwhile: the planes are asked a little after the rows were read, and a VM whose
   * stream grew in between (moved, started moving, repaired) may be ahead of its row on a plane.
   * `compare` leaves such a VM out as moving (compared again next time): neither found nor
   * resolved, nor repaired on an old row.
   */
  private async watched<T>(work: (touched: ReadonlySet<string>) => Promise<T>): Promise<T> {
    const touched = new Set<string>();
    this.watches.add(touched);
    try {
      return await work(touched);
    } finally {
      this.watches.delete(touched);
    }
  }

  /** Waits up to `ms` between two steps of a paced check (at once on stop); returns the ms waited. Throws once stopping. */
  private async pause(ms: number): Promise<number> {
    const t = performance.now();
    if (ms > 0 && !this.stopping)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake?.(), ms);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    if (this.stopping) throw new DriftCheckStopped();
    return performance.now() - t;
  }

  // ---- comparing ----

  /** Compares these VMs (those not moving or converging) with every plane, in chunks, each plane asked for the chunk only. */
  private async compare(locations: readonly DriftLocation[], converging: ReadonlySet<string>, pass: Pass, memo: Memo, hostAsk: HostAsk, touched: ReadonlySet<string> = new Set()): Promise<void> {
    await this.compareHosts(locations, pass, memo, hostAsk, touched);
    const compared: DriftLocation[] = [];
    for (const l of locations) {
      if (l.state === 'moving' || converging.has(l.vm)) pass.skipped.add(l.vm);
      else compared.push(l);
    }
    if (compared.length === 0) return;
    const map = mappingSubjects(this.options.prefix);
    const routing = routingSubjects(this.options.prefix);
    const sites = this.sites();
    const itrSites = sites.filter((s) => s.mappingSystem).map((s) => s.name);
    for (const c of ['map-server', 'route-injector', 'arp-proxy', ...itrSites.map((i) => `itr:${i}`), ...this.hostRouteSites().map((s) => `route-injector:${s}`)]) pass.asked.add(c);
    for (let i = 0; i < compared.length; i += this.chunk) {
      const chunk = compared.slice(i, i + this.chunk);
      const eids = chunk.map((l) => `${l.ip}/32`);
      const vms = chunk.map((l) => l.vm);
      const [registry, routes, arpStale, ...itrs] = await Promise.all([
        this.ask<{ entries: MappingEntryFacts[] }>(memo, 'map-server', map.list, { eids, limit: eids.length }).then((r) => ('unavailable' in r ? r : r.entries)),
        this.ask<{ sites: SiteRoutesView[] }>(memo, 'route-injector', routing.routesList, { prefixes: eids }).then((r) => ('unavailable' in r ? r : r.sites)),
        this.arpStale(memo, vms, pass),
        ...itrSites.map((itr) =>
          this.ask<{ entries: MappingEntryFacts[] }>(memo, `itr:${itr}`, map.list, { itr, eids, limit: eids.length }).then((r) => ({ itr, entries: 'unavailable' in r ? r : r.entries })),
        ),
      ]);
      if ('unavailable' in registry) pass.silent.add('map-server');
      for (const { itr, entries } of itrs) if ('unavailable' in entries) pass.silent.add(`itr:${itr}`);
      if ('unavailable' in routes) pass.silent.add('route-injector');
      else for (const v of routes) if (v.unavailable) pass.silent.add(`route-injector:${v.site}`);
      if ('unavailable' in arpStale) pass.silent.add('arp-proxy');
      // a VM whose events were appended since its row was read: as if moving
      const skip = new Set(converging);
      for (const vm of vms) if (touched.has(vm)) skip.add(vm);
      pass.found.push(...findDrift({ locations: chunk, sites, skip, partial: true, registry, routes, arpStale, itrs }));
      for (const vm of vms) {
        if (touched.has(vm)) pass.skipped.add(vm);
        else pass.compared.add(vm);
      }
    }
  }

  /**
   * The hypervisors: the agents asked what they hold and have seen of these VMs (see `HostAsk`:
   * every agent by default, by name or by the range of a page's names; or a VM's DB host and the
   * hosts its events named only), each VM decided by `decideHostDrift` with what the agents asked
   * about it said. Moving VMs too (a host ahead of the DB fences their moves); not those on a host
   * that did not answer or that the HA monitor declared failed.
   */
  private async compareHosts(locations: readonly DriftLocation[], pass: Pass, memo: Memo, hostAsk: HostAsk, touched: ReadonlySet<string>): Promise<void> {
    const s = subjects(this.options.prefix);
    const hosts = this.deps.topology.hypervisors.map((h) => h.name);
    const down = this.deps.down?.() ?? new Set<string>();
    const converging = this.deps.converging();
    for (let i = 0; i < locations.length; i += this.chunk) {
      const chunk = locations.slice(i, i + this.chunk);
      const plan = planAgentAsks(
        hosts,
        chunk.map((l) => {
          const everyAgent = hostAsk.everyAgent?.(l.vm) ?? true;
          return { vm: l.vm, hypervisor: l.hypervisor, everyAgent, ...(everyAgent ? {} : { related: hostAsk.related?.(l.vm) }) };
        }),
        { contiguous: hostAsk.contiguous, namesPerRequest: AGENT_NAMES_PER_REQUEST },
      );
      for (const l of chunk) {
        const asked = plan.askedOf.get(l.vm);
        if (!asked || pass.askedEveryAgent.has(l.vm)) {
          pass.askedEveryAgent.add(l.vm);
          pass.hostAsked.delete(l.vm);
          continue;
        }
        const before = pass.hostAsked.get(l.vm) ?? new Set<string>();
        for (const h of asked) before.add(`agent:${h}`);
        pass.hostAsked.set(l.vm, before);
      }
      const replies = await Promise.all(
        hosts.map(async (h): Promise<AgentInventoryReply | undefined> => {
          const requests = plan.requests.get(h);
          if (!requests) return undefined; // not asked
          const component = `agent:${h}`;
          pass.asked.add(component);
          const first = !memo.has(component);
          const merged: AgentInventoryReply = { hypervisor: h, vms: [], seen: [] };
          for (const filter of requests) {
            const r = await this.ask<AgentInventoryReply>(memo, component, s.agent(h, 'inventory'), filter);
            if ('unavailable' in r) {
              pass.silent.add(component);
              if (first) pass.found.push({ plane: 'hypervisors', component, detail: `not answering: ${r.unavailable}` });
              return undefined;
            }
            merged.vms.push(...r.vms);
            merged.seen!.push(...(r.seen ?? []));
          }
          return merged;
        }),
      );
      // In the topology's order of hosts, whichever answered first: the same facts give the same findings.
      const views = new Map<string, HostView[]>();
      const answered = new Set<string>();
      hosts.forEach((h, i) => {
        const r = replies[i];
        if (!r) return;
        answered.add(h);
        const held = new Map(r.vms.map((v) => [v.name, v]));
        const seen = new Map((r.seen ?? []).map((v) => [v.name, v.locationVersion]));
        for (const name of new Set([...held.keys(), ...seen.keys()])) {
          const v = held.get(name);
          const view: HostView = { hypervisor: h, seen: seen.get(name) ?? 0, ...(v ? { held: { state: v.state, locationVersion: v.locationVersion } } : {}) };
          views.set(name, [...(views.get(name) ?? []), view]);
        }
      });
      for (const l of chunk) {
        if (touched.has(l.vm)) {
          pass.skipped.add(l.vm); // its row may be behind the agents now
          continue;
        }
        const hypervisor = l.hypervisor ?? '';
        const locationHostAnswered = answered.has(hypervisor) && !down.has(hypervisor);
        const decision = decideHostDrift({
          location: { vm: l.vm, site: l.site, hypervisor, state: l.state, locationVersion: l.locationVersion },
          hosts: views.get(l.vm) ?? [],
          locationHostAnswered,
          converging: converging.has(l.vm),
        });
        if (!locationHostAnswered) continue;
        pass.hostCompared.add(l.vm);
        pass.found.push(...decision.disagreements);
        // A VM asked of some hosts only is repaired only once every agent has been asked: a copy may run on one
        // not asked ("missing" would boot a second copy). It is due again, and the next check asks every agent.
        if (decision.repair && pass.hostAsked.has(l.vm)) this.dueAgain(l.vm);
        else if (decision.repair) pass.repairs.push(decision.repair);
      }
    }
  }

  /** `arp.stale` for these VMs, a few hundred names per request. */
  private async arpStale(memo: Memo, vms: readonly string[], pass: Pass): Promise<StaleFacts | Unavailable> {
    const out: StaleFacts[number][] = [];
    for (let i = 0; i < vms.length; i += ARP_NAMES_PER_REQUEST) {
      const r = await this.ask<{ stale: StaleFacts; unavailableSites?: string[] }>(memo, 'arp-proxy', routingSubjects(this.options.prefix).arpStale, { vms: vms.slice(i, i + ARP_NAMES_PER_REQUEST) });
      if ('unavailable' in r) return r;
      for (const site of r.unavailableSites ?? []) pass.silent.add(`arp-proxy:${site}`);
      out.push(...r.stale);
    }
    return out;
  }

  /**
   * One page of a site's RIB, compared with the VMs that own its addresses (looked up by address):
   * finds routes no VM has, which no filter by VM can. Returns the page's `next` and `total`, or
   * undefined when the site did not answer.
   */
  private async routePage(site: string, after: string | undefined, limit: number, converging: ReadonlySet<string>, pass: Pass, memo: Memo): Promise<{ next?: string; total?: number } | undefined> {
    const component = `route-injector:${site}`;
    pass.asked.add(component);
    if (memo.has('route-injector') || memo.has(component)) {
      pass.silent.add(memo.has('route-injector') ? 'route-injector' : component);
      return undefined;
    }
    const r = await this.ask<{ sites: SiteRoutesView[] }>(memo, 'route-injector', routingSubjects(this.options.prefix).routesList, { site, ...(after ? { after } : {}), limit });
    if ('unavailable' in r) {
      // nobody serves routes.list: said once for the endpoint, as the chunks say it
      pass.silent.add('route-injector');
      pass.found.push({ plane: 'host-routes', component: 'route-injector', detail: `not answering: ${r.unavailable}` });
      return undefined;
    }
    const view = r.sites.find((s) => s.site === site);
    if (!view || view.unavailable) {
      memo.set(component, { unavailable: 'not answering' });
      pass.silent.add(component);
      pass.found.push({ plane: 'host-routes', component, detail: 'not answering' });
      return undefined;
    }
    pass.routesListed += view.routes.length;
    const ips = view.routes.map((x) => /^(\d{1,3}(?:\.\d{1,3}){3})\/32$/.exec(x.prefix)?.[1]).filter((ip): ip is string => !!ip);
    const owners = await this.reads.driftLocationsByIp(ips);
    const routes: DriftSiteRoutes[] = [{ site, routes: view.routes }];
    pass.found.push(...findDrift({ locations: owners, sites: this.sites(), skip: converging, routes }));
    pass.routePages.set(component, { ...(after ? { after } : {}), ...(view.next ? { through: view.next } : {}) });
    return { next: view.next, total: view.total };
  }

  /** Merges a check's findings into what is known, logs what changed, and marks the VMs with disagreements to compare again. */
  private settle(pass: Pass): DriftView[] {
    const disagreements = uniqueDrift(pass.found);
    const scope: DriftScope = { vms: pass.compared, hostVms: pass.hostCompared, hostAsked: pass.hostAsked, asked: pass.asked, silent: pass.silent, routePages: pass.routePages };
    const { known, appeared, resolved } = nextKnownDrift(this.known, disagreements, scope);
    this.known = known;
    for (const d of known.values()) if (d.vm) this.dueAgain(d.vm);
    for (const d of appeared.slice(0, 20)) {
      const fields = { plane: d.plane, vm: d.vm, drift: d.component, ...(d.kind ? { kind: d.kind, hosts: d.hosts } : {}) };
      if (isSilentSinceStart(d, this.answered)) this.log.info(fields, `drift: ${d.component} has not answered yet (still starting?): ${d.detail}`);
      else this.log.warn(fields, `drift: ${d.component}${d.vm ? ` (${d.vm})` : ''} disagrees with the location DB: ${d.kind ? `${d.kind}: ` : ''}${d.detail}`);
    }
    for (const c of pass.asked) if (!pass.silent.has(c)) this.answered.add(c);
    if (appeared.length > 20) this.log.warn({ more: appeared.length - 20 }, `drift: ${appeared.length - 20} more disagreements`);
    for (const d of resolved.slice(0, 20)) this.log.info({ plane: d.plane, vm: d.vm, drift: d.component }, `drift resolved: ${d.component}${d.vm ? ` (${d.vm})` : ''} agrees again`);
    if (resolved.length > 20) this.log.info({ more: resolved.length - 20 }, `drift: ${resolved.length - 20} more resolved`);
    if (appeared.length || resolved.length)
      this.log.info({ disagreements: known.size }, known.size ? `drift: ${known.size} disagreement(s) with the location DB` : 'drift: every plane agrees with the location DB again');
    return disagreements;
  }

  /** Compared again by the next periodic check (only while the detector runs periodically; bounded: the sweep finds the rest). */
  private dueAgain(vm: string): void {
    if (this.options.intervalMs > 0 && this.again.size < MAX_AGAIN) this.again.add(vm);
  }

  private sites() {
    return this.deps.topology.sites.map((s) => ({ name: s.name, hostRoutes: s.hostRoutes, mappingSystem: s.mappingSystem }));
  }

  private hostRouteSites(): string[] {
    return this.deps.topology.sites.filter((s) => s.hostRoutes).map((s) => s.name);
  }

  private async ask<T>(memo: Memo, component: string, subject: string, body: unknown): Promise<({ ok: true } & T) | Unavailable> {
    const failed = memo.get(component);
    if (failed) return failed;
    try {
      const reply = await memo.inTurn(() => requestJson<({ ok: true } & T) | { ok: false; error: { code: string; message: string } }>(this.deps.nc, subject, body, this.options.timeoutMs ?? 3000));
      if (reply.ok) return reply;
      const r = { unavailable: `${reply.error.code}: ${reply.error.message}` };
      memo.set(component, r);
      return r;
    } catch (err) {
      const r = { unavailable: (err as Error).message };
      memo.set(component, r);
      return r;
    }
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
