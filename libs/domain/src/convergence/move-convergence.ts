import { isPlaneOutcomeType, type Location, type MoveMode, type PlaneEvent, type PlaneTiming, type StaleComponent } from '@locus/contracts';

/**
 * Network convergence of moves, as a pure model: given what a move touches (MoveAccepted's
 * planes), the topology facts that say who has to act (which sites inject host routes, which
 * are in the mapping system, which sites carry the VM's L2 domain) and the plane events seen
 * so far, it decides when every plane agrees with the move's new location version, how long
 * each plane took after the location commit, and, at the deadline, what is still stale.
 *
 * Inputs may arrive in any order and more than once (a durable consumer redelivers, a restart
 * replays): every decision is taken from the whole set of facts, matched by VM, location version
 * and stream sequence, never from the order they came in. Times are wall-clock ms (the events'
 * `at`), so a replay decides the same times.
 */
export interface ConvergenceTopology {
  site(name: string): { hostRoutes: boolean; mappingSystem: boolean } | undefined;
  /** Sites of the VM's L2 domain: each runs an ARP proxy with neighbours of its subnet. */
  domainSitesOf(vm: string): readonly string[];
}

export type ConvergenceInput =
  | { kind: 'accepted'; seq?: number; moveId: string; vm: string; mode: MoveMode; from: Location; to: Location; planes: readonly string[] }
  | { kind: 'relocated'; seq: number; moveId: string; vm: string; ip: string; locationVersion: number; at: number }
  | { kind: 'announced'; moveId: string; vm: string; hypervisor: string; at: number }
  | { kind: 'completed'; moveId: string; vm: string; downtimeMs: number; totalMs: number; rounds: number; at: number }
  /** Failed or cancelled: nothing to converge (a failure after the commit leaves the VM stopped). */
  | { kind: 'ended'; moveId: string }
  /** MoveConverged or MoveConvergenceLate is in the VM's stream. */
  | { kind: 'recorded'; moveId: string; outcome: 'converged' | 'late' }
  | { kind: 'plane'; seq: number; event: PlaneEvent };

export interface MoveSummaryFacts {
  moveId: string;
  vm: string;
  mode: MoveMode;
  from: Location;
  to: Location;
  planes: readonly string[];
  locationVersion: number;
  downtimeMs?: number;
  rounds?: number;
}

export type ConvergenceVerdict =
  | { kind: 'converged'; move: MoveSummaryFacts; convergenceMs: number; planes: Record<string, PlaneTiming>; wasLate: boolean }
  | { kind: 'late'; move: MoveSummaryFacts; afterMs: number; stale: StaleComponent[]; planes: Record<string, PlaneTiming> }
  | { kind: 'superseded'; move: MoveSummaryFacts; by: string };

export interface ConvergenceProgress {
  /** Planes that agree, with their time after the commit and what they did. */
  done: Record<string, PlaneTiming>;
  stale: StaleComponent[];
}

const NO_MOVES: ReadonlySet<never> = new Set();

interface TrackedMove {
  moveId: string;
  vm: string;
  info?: { mode: MoveMode; from: Location; to: Location; planes: readonly string[]; acceptedSeq?: number };
  relocated?: { seq: number; ip: string; locationVersion: number; at: number };
  announced?: { hypervisor: string; at: number };
  completed?: { downtimeMs: number; totalMs: number; rounds: number; at: number };
  late: boolean;
  /** A verdict `converged` was given (waiting for MoveConverged to show up in the stream). */
  converged: boolean;
}

interface Fact {
  seq: number;
  at: number;
  event: PlaneEvent;
}

/** Plane facts kept per VM: few while no move of it is tracked (they may precede its VM events), more while one is. */
const IDLE_FACTS = 32;
const TRACKED_FACTS = 512;
/**
 * VMs with no tracked move whose facts are kept, the most recent first out last: the planes report
 * every VM at start (a route, a registration, an ARP entry each), and keeping those for every VM of a
 * 100,000-VM lab held 500,000 facts (~230 MiB) that no move would ever read.
 */
const IDLE_VMS_WITH_FACTS = 4096;

export class MoveConvergenceBook {
  private readonly moves = new Map<string, TrackedMove>();
  /** The same moves by VM, and the VM of each relocated address: plane facts name a VM or an address. */
  private readonly byVm = new Map<string, Set<TrackedMove>>();
  private readonly vmByIp = new Map<string, string>();
  private readonly facts = new Map<string, Fact[]>();
  private readonly seenFacts = new Map<string, Set<string>>();
  /** VMs holding facts while none of their moves is tracked, least recently reported first. */
  private readonly idleWithFacts = new Set<string>();
  /** Move ids decided for good (converged and recorded, failed, superseded): later inputs about them change nothing. */
  private readonly closed = new Set<string>();
  private readonly closedOrder: string[] = [];
  /**
   * Whether this book is fed the planes' live steps too (a watcher subscribed to `<prefix>.live.>`),
   * or the stored outcomes only (the manager's tracker): what is still stale is then said by the
   * outcome missing, not by steps that were never read.
   */
  private stepsSeen = false;

  /**
   * Each site's last start-up reconcile of a plane (`RoutesReconciled`, `ArpReconciled`,
   * `MappingReconciled` without a VM), by `<plane>:<site>`: it agrees with every move whose location commit reached the stream at
   * or before `through`, but for the addresses in `held`.
   */
  private readonly reconciledSites = new Map<string, { through: number; held: ReadonlySet<string>; at: number }>();

  constructor(
    private readonly topology: ConvergenceTopology,
    readonly deadlineMs: number,
    /**
     * What the inputs' `seq` is: the event stream's sequence (the tracker's consumer), or only the
     * order they arrived in (a watcher on core NATS). A site's reconcile names a stream sequence, so
     * it counts only in the first case; a watcher learns the outcome from the tracker's record.
     */
    private readonly sequence: 'stream' | 'arrival' = 'arrival',
  ) {}

  /** Applies one input; returns the verdicts it makes (at most one converged per move). */
  apply(input: ConvergenceInput): ConvergenceVerdict[] {
    if (input.kind === 'plane') return this.applyPlane(input.seq, input.event);
    if (this.closed.has(input.moveId)) return [];
    switch (input.kind) {
      case 'accepted': {
        const m = this.track(input.moveId, input.vm);
        if (!m.info) m.info = { mode: input.mode, from: input.from, to: input.to, planes: input.planes, acceptedSeq: input.seq };
        else if (m.info.acceptedSeq === undefined && input.seq !== undefined) m.info.acceptedSeq = input.seq;
        return this.check(m);
      }
      case 'relocated': {
        const m = this.track(input.moveId, input.vm);
        if (!m.relocated) {
          m.relocated = { seq: input.seq, ip: input.ip, locationVersion: input.locationVersion, at: input.at };
          this.vmByIp.set(input.ip, m.vm);
        }
        const out: ConvergenceVerdict[] = [];
        for (const other of [...this.movesOf(m.vm)])
          if (other !== m && (!other.relocated || other.relocated.locationVersion < input.locationVersion)) {
            this.close(other.moveId);
            if (other.info && other.relocated && !other.converged) out.push({ kind: 'superseded', move: this.summary(other), by: m.moveId });
          }
        return [...out, ...this.check(m)];
      }
      case 'announced': {
        const m = this.track(input.moveId, input.vm);
        m.announced ??= { hypervisor: input.hypervisor, at: input.at };
        return this.check(m);
      }
      case 'completed': {
        const m = this.track(input.moveId, input.vm);
        m.completed ??= { downtimeMs: input.downtimeMs, totalMs: input.totalMs, rounds: input.rounds, at: input.at };
        return this.check(m);
      }
      case 'ended':
        this.close(input.moveId);
        return [];
      case 'recorded': {
        if (input.outcome === 'converged') {
          this.close(input.moveId);
          return [];
        }
        const m = this.moves.get(input.moveId);
        if (m) m.late = true;
        return [];
      }
      default: {
        const never: never = input;
        throw new Error(`unhandled convergence input ${JSON.stringify(never)}`);
      }
    }
  }

  /** Moves past their deadline with a stale plane: one `late` verdict each (a later `converged` may follow). */
  due(now: number): ConvergenceVerdict[] {
    const out: ConvergenceVerdict[] = [];
    for (const m of this.moves.values()) {
      if (m.late || m.converged || !m.info || !m.relocated || now < m.relocated.at + this.deadlineMs) continue;
      const p = this.progressOf(m);
      if (p.stale.length === 0) continue; // only the VM is not running yet: converges when it completes
      m.late = true;
      out.push({ kind: 'late', move: this.summary(m), afterMs: Math.max(0, now - m.relocated.at), stale: p.stale, planes: p.done });
    }
    return out;
  }

  /** Where a tracked move stands now (undefined before its commit or when not tracked). */
  progress(moveId: string): ConvergenceProgress | undefined {
    const m = this.moves.get(moveId);
    return m?.info && m.relocated ? this.progressOf(m) : undefined;
  }

  /** VMs whose last move is still converging within its deadline: their planes may legitimately disagree. */
  converging(): Set<string> {
    const out = new Set<string>();
    for (const m of this.moves.values()) if (!m.late && !m.converged) out.add(m.vm);
    return out;
  }

  isTracked(moveId: string): boolean {
    return this.moves.has(moveId);
  }

  /** Tracked from a later event of it, but its MoveAccepted (what it touches) was not seen. */
  needsMoveFacts(moveId: string): boolean {
    const m = this.moves.get(moveId);
    return !!m && !m.info;
  }

  isClosed(moveId: string): boolean {
    return this.closed.has(moveId);
  }

  get size(): number {
    return this.moves.size;
  }

  // ---- internals ----

  private track(moveId: string, vm: string): TrackedMove {
    let m = this.moves.get(moveId);
    if (!m) {
      m = { moveId, vm, late: false, converged: false };
      this.moves.set(moveId, m);
      let ofVm = this.byVm.get(vm);
      if (!ofVm) this.byVm.set(vm, (ofVm = new Set()));
      ofVm.add(m);
      this.idleWithFacts.delete(vm); // its facts stay while the move is tracked
    }
    return m;
  }

  /** The tracked moves of one VM (every plane fact is about a VM: no scan of every move). */
  private movesOf(vm: string): ReadonlySet<TrackedMove> {
    return this.byVm.get(vm) ?? NO_MOVES;
  }

  private close(moveId: string): void {
    const m = this.moves.get(moveId);
    if (m) {
      const ofVm = this.byVm.get(m.vm);
      ofVm?.delete(m);
      if (ofVm?.size === 0) {
        this.byVm.delete(m.vm);
        if (m.relocated && this.vmByIp.get(m.relocated.ip) === m.vm) this.vmByIp.delete(m.relocated.ip);
        // Its facts are about versions now decided: keeping them for every VM ever moved grew without end.
        this.facts.delete(m.vm);
        this.seenFacts.delete(m.vm);
      }
    }
    this.moves.delete(moveId);
    if (this.closed.has(moveId)) return;
    this.closed.add(moveId);
    this.closedOrder.push(moveId);
    if (this.closedOrder.length > 10_000) this.closed.delete(this.closedOrder.shift()!);
  }

  private applyPlane(seq: number, event: PlaneEvent): ConvergenceVerdict[] {
    if (!this.stepsSeen && !isPlaneOutcomeType(event.type)) this.stepsSeen = true;
    if ((event.type === 'RoutesReconciled' || event.type === 'ArpReconciled' || event.type === 'MappingReconciled') && event.vm === undefined) return this.applySiteReconciled(event);
    const vm = event.vm ?? this.vmOfAddress(event.eid);
    if (!vm) return [];
    let seen = this.seenFacts.get(vm);
    if (!seen) this.seenFacts.set(vm, (seen = new Set()));
    if (seen.has(event.id)) return [];
    seen.add(event.id);
    const list = this.facts.get(vm) ?? [];
    list.push({ seq, at: Date.parse(event.at), event });
    const tracked = [...this.movesOf(vm)];
    const cap = tracked.length ? TRACKED_FACTS : IDLE_FACTS;
    while (list.length > cap) seen.delete(list.shift()!.event.id);
    this.facts.set(vm, list);
    this.idleWithFacts.delete(vm);
    if (tracked.length === 0) {
      this.idleWithFacts.add(vm);
      for (const oldest of this.idleWithFacts) {
        if (this.idleWithFacts.size <= IDLE_VMS_WITH_FACTS) break;
        this.idleWithFacts.delete(oldest);
        this.facts.delete(oldest);
        this.seenFacts.delete(oldest);
      }
    }
    return tracked.flatMap((m) => this.check(m));
  }

  private applySiteReconciled(event: PlaneEvent): ConvergenceVerdict[] {
    const { site, through, held } = event.data;
    if (this.sequence !== 'stream' || typeof site !== 'string' || typeof through !== 'number') return [];
    const key = `${event.plane}:${site}`;
    const known = this.reconciledSites.get(key);
    if (known && known.through >= through) return [];
    this.reconciledSites.set(key, { through, held: new Set(stringsOf(held)), at: Date.parse(event.at) });
    // A site-wide fact (rare: a service's start): any move in flight may be the one it settles.
    return [...this.moves.values()].flatMap((m) => this.check(m));
  }

  private vmOfAddress(eid: string | undefined): string | undefined {
    if (!eid) return undefined;
    const vm = this.vmByIp.get(eid.replace(/\/32$/, ''));
    return vm !== undefined && this.movesOf(vm).size > 0 ? vm : undefined;
  }

  private check(m: TrackedMove): ConvergenceVerdict[] {
    if (m.converged || !m.info || !m.relocated || !m.completed) return [];
    const p = this.progressOf(m);
    if (p.stale.length) return [];
    m.converged = true;
    const convergenceMs = Math.max(0, ...Object.values(p.done).map((t) => t.ms));
    return [{ kind: 'converged', move: this.summary(m), convergenceMs: round3(convergenceMs), planes: p.done, wasLate: m.late }];
  }

  /**
   * When `site`'s start-up reconcile of `plane` said it agrees with the move (its commit on the
   * stream at or before the reconcile's `through`, the VM's address not held). Undefined: not (yet).
   */
  private siteReconciledAt(plane: PlaneEvent['plane'], site: string, m: TrackedMove, address: string): number | undefined {
    const r = this.reconciledSites.get(`${plane}:${site}`);
    return r && m.relocated && m.relocated.seq <= r.through && !r.held.has(address) ? r.at : undefined;
  }

  private summary(m: TrackedMove): MoveSummaryFacts {
    const info = m.info!;
    return {
      moveId: m.moveId,
      vm: m.vm,
      mode: info.mode,
      from: info.from,
      to: info.to,
      planes: info.planes,
      locationVersion: m.relocated?.locationVersion ?? 0,
      ...(m.completed ? { downtimeMs: m.completed.downtimeMs, rounds: m.completed.rounds } : {}),
    };
  }

  private progressOf(m: TrackedMove): ConvergenceProgress {
    const info = m.info!;
    const rel = m.relocated!;
    const V = rel.locationVersion;
    const facts = this.facts.get(m.vm) ?? [];
    const after = (at: number) => round3(Math.max(0, at - rel.at));
    const done: Record<string, PlaneTiming> = { location: { ms: 0, site: info.to.site, locationVersion: V } };
    const stale: StaleComponent[] = [];
    const of = (plane: PlaneEvent['plane'], type: string, pred: (f: Fact) => boolean = () => true) => facts.filter((f) => f.event.plane === plane && f.event.type === type && pred(f));
    const first = (list: Fact[]) => list.reduce<Fact | undefined>((a, f) => (!a || f.at < a.at ? f : a), undefined);
    const data = (f: Fact) => f.event.data;
    const prefix = `${rel.ip}/32`;

    if (info.planes.includes('l2-announce')) {
      if (m.announced) done['l2-announce'] = { ms: after(m.announced.at), hypervisor: m.announced.hypervisor };
      else stale.push({ plane: 'l2-announce', component: `agent:${info.to.hypervisor}`, detail: `${m.vm} not announced (RARP) at ${info.to.hypervisor} yet` });
    }

    if (info.planes.includes('mapping') && this.topology.site(info.to.site)?.mappingSystem) {
      const converged = first(of('map', 'MappingConverged', (f) => f.event.locationVersion === V));
      const registered = first(of('map', 'Registered', (f) => f.event.locationVersion === V && data(f).site === info.to.site));
      const updated = new Map<string, Fact>();
      for (const f of of('map', 'CacheUpdated', (x) => x.event.locationVersion >= V)) {
        const itr = String(data(f).itr ?? f.event.component.replace(/^itr:/, ''));
        if (!updated.has(itr) || updated.get(itr)!.at > f.at) updated.set(itr, f);
      }
      // The new site's ETR started after the commit: its start-up registrations (from a snapshot that had the move) say it agrees.
      const reconciledAt = converged ? undefined : this.siteReconciledAt('map', info.to.site, m, prefix);
      if (reconciledAt !== undefined) {
        done.mapping = { ms: after(reconciledAt), reconciled: info.to.site, itrs: 0, of: 0 };
      } else if (converged) {
        const d = data(converged);
        const itrs = stringsOf(d.itrs);
        const dropped = stringsOf(d.dropped);
        // The steps (Registered, CacheUpdated) are live facts a stream reader never sees; the outcome carries their times.
        const registeredAt = registered ? registered.at : timeOf(d.registeredAt);
        const itrAt = (itr: string) => updated.get(itr)?.at ?? timeOf(isRecord(d.itrAt) ? d.itrAt[itr] : undefined);
        done.mapping = {
          ms: after(converged.at),
          ...(registeredAt !== undefined ? { registeredMs: after(registeredAt) } : {}),
          itrs: itrs.length,
          of: itrs.length + dropped.length,
          itrMs: Object.fromEntries(
            [...itrs]
              .sort((a, b) => a.localeCompare(b))
              .map((itr): [string, number | undefined] => [itr, itrAt(itr)])
              .filter((e): e is [string, number] => e[1] !== undefined)
              .map(([itr, at]) => [itr, after(at)]),
          ),
          ...(dropped.length ? { dropped } : {}),
        };
      } else if (!this.stepsSeen) {
        stale.push({ plane: 'mapping', component: 'map-server', detail: `${prefix} v${V}: no MappingConverged yet (not registered, or ITRs still on an older version: map.list says which)` });
      } else if (!registered) {
        stale.push({ plane: 'mapping', component: `etr:${info.to.site}`, detail: `${prefix} v${V} not registered with the map-server` });
      } else {
        const d = data(registered);
        const via = new Map<string, string>([...stringsOf(d.smrTo).map((i): [string, string] => [i, 'SMR']), ...stringsOf(d.publishTo).map((i): [string, string] => [i, 'publication'])]);
        const waiting = [...via].filter(([itr]) => !updated.has(itr)).sort(([a], [b]) => a.localeCompare(b));
        for (const [itr, how] of waiting) stale.push({ plane: 'mapping', component: `itr:${itr}`, detail: `still caches ${prefix} at an older version (${how} of v${V} not answered)` });
        if (waiting.length === 0) stale.push({ plane: 'mapping', component: 'map-server', detail: `${prefix} v${V}: the ITRs hold it but the map-server reported no convergence` });
      }
    }

    if (info.planes.includes('host-routes')) {
      const B = info.to.site;
      const A = info.from.site;
      const newSite = !!this.topology.site(B)?.hostRoutes;
      const oldSite = A !== B && !!this.topology.site(A)?.hostRoutes;
      const since = info.acceptedSeq ?? rel.seq;
      const advertised = newSite ? first(of('route', 'RouteAdvertised', (f) => data(f).site === B && f.event.locationVersion === V)) : undefined;
      const confirmed = newSite ? first(of('route', 'RouteConfirmed', (f) => data(f).site === B && f.event.locationVersion === V)) : undefined;
      const withdrawn = oldSite
        ? first(of('route', 'RouteWithdrawn', (f) => data(f).site === A && f.event.locationVersion < V && (f.seq > since || f.event.moveId === m.moveId || replacedByVersion(data(f)) >= V)))
        : undefined;
      // The old site never originated the route (it started after the commit): its reconcile says it agrees.
      const reconciledAt =
        oldSite && !withdrawn ? (first(of('route', 'RoutesReconciled', (f) => data(f).site === A && f.event.locationVersion >= V))?.at ?? this.siteReconciledAt('route', A, m, prefix)) : undefined;
      if ((!newSite || confirmed) && (!oldSite || withdrawn || reconciledAt !== undefined)) {
        const last = Math.max(confirmed?.at ?? rel.at, withdrawn?.at ?? reconciledAt ?? rel.at);
        done['host-routes'] = {
          ms: after(last),
          ...(confirmed
            ? {
                advertised: B,
                ...(advertised ? { advertisedMs: after(advertised.at) } : timeOf(data(confirmed).advertisedAt) !== undefined ? { advertisedMs: after(timeOf(data(confirmed).advertisedAt)!) } : {}),
                confirmedMs: after(confirmed.at),
                ...(typeof data(confirmed).ms === 'number' ? { coreMs: data(confirmed).ms } : {}),
              }
            : {}),
          ...(withdrawn ? { withdrawn: A, withdrawnMs: after(withdrawn.at), ...(data(withdrawn).breakBeforeMake ? { breakBeforeMake: true } : {}) } : {}),
          ...(reconciledAt !== undefined ? { reconciled: A, reconciledMs: after(reconciledAt) } : {}),
        };
      } else {
        if (newSite && !confirmed)
          stale.push({
            plane: 'host-routes',
            component: `route-injector:${B}`,
            detail: !this.stepsSeen ? `${prefix} v${V} not confirmed in the core RIB yet` : advertised ? `${prefix} v${V} advertised, not in the core RIB yet` : `${prefix} v${V} not advertised`,
          });
        if (oldSite && !withdrawn)
          stale.push({
            plane: 'host-routes',
            component: `route-injector:${A}`,
            detail: `still originates ${prefix} at an older version` + (newSite && !confirmed ? `, held until ${B} confirms v${V} (make-before-break)` : ''),
          });
      }
    }

    if (info.planes.includes('arp-proxy')) {
      const sites = this.topology.domainSitesOf(m.vm);
      const reports = new Map<string, Fact>();
      // A site whose proxy started after the commit: its start said it agrees (no ArpConverged of its own for the move).
      const reconciled = new Map<string, number>();
      for (const s of sites) {
        const f = first(of('arp', 'ArpConverged', (x) => data(x).site === s && x.event.locationVersion === V));
        const at = f ? undefined : this.siteReconciledAt('arp', s, m, rel.ip);
        if (f) reports.set(s, f);
        else if (at !== undefined) reconciled.set(s, at);
      }
      if (reports.size + reconciled.size === sites.length) {
        const list = [...reports.values()];
        const times = [...list.map((f) => f.at), ...reconciled.values()];
        done['arp-proxy'] = {
          ms: times.length ? after(Math.max(...times)) : 0,
          // ProxyInstalled is a live step; each site's ArpConverged says whether it installed one
          proxied: Math.max(of('arp', 'ProxyInstalled', (f) => f.event.locationVersion === V).length, list.filter((f) => data(f).installed === true).length),
          stale: list.reduce((n, f) => n + (Number(data(f).stale) || 0), 0),
          repaired: list.reduce((n, f) => n + (Number(data(f).repaired) || 0), 0),
          sites: Object.fromEntries([
            ...[...reports].map(([s, f]): [string, unknown] => [s, { ms: after(f.at), rule: data(f).rule }]),
            ...[...reconciled].map(([s, at]): [string, unknown] => [s, { ms: after(at), rule: 'reconciled at start' }]),
          ]),
        };
      } else {
        for (const s of sites.filter((x) => !reports.has(x) && !reconciled.has(x))) {
          const staleAt = of('arp', 'NeighbourStale', (f) => data(f).site === s && f.event.locationVersion === V).map((f) => String(data(f).neighbour));
          const repaired = new Set(of('arp', 'NeighbourRepaired', (f) => data(f).site === s && f.event.locationVersion >= V).map((f) => String(data(f).neighbour)));
          const still = [...new Set(staleAt)].filter((n) => !repaired.has(n)).sort();
          stale.push({
            plane: 'arp-proxy',
            component: `arp-proxy:${s}`,
            detail: still.length ? `${still.length} neighbour(s) still hold ${m.vm}'s old MAC (${still.join(', ')})` : `no ARP report for ${m.vm} v${V} yet`,
          });
        }
      }
    }
    return { done, stale };
  }
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** The location version a `RouteWithdrawn` says replaced the route (`data.replacedBy.locationVersion`), else 0. */
function replacedByVersion(data: Record<string, unknown>): number {
  const by = data.replacedBy;
  return typeof by === 'object' && by !== null && 'locationVersion' in by && typeof by.locationVersion === 'number' ? by.locationVersion : 0;
}

/** Epoch ms of an ISO time in a plane event's data, if it holds one. */
function timeOf(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A list of names in a plane event's data (none when it holds no list). */
function stringsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}
