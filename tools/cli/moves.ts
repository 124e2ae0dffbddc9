/**
 * What `locus watch` shows and what the benchmark measures: every move folded from the events on
 * `<prefix>.evt.>` (VM events from the location store, plane events from the mapping system, the
 * route injectors and the ARP proxies). Pure: events in, rows and transitions out.
 *
 * Convergence, two ways:
 *  - **tracker**: when the manager's convergence tracker publishes `MoveConverged` (VM event), its
 *    `convergenceMs` (and per-plane times, when it gives them) are taken as they are.
 *  - **observed**: from the plane events themselves, timed from the location commit (the
 *    `recordedAt` of `VmRelocated`) to the last of the plane events that finish the move:
 *      map:    `Registered` of the new version, then `CacheUpdated` of that version from every ITR
 *              the map-server said it would update (`publishTo` + `smrTo` of `Registered`);
 *      routes: `RouteConfirmed` at the target site (the new /32 is in the core RIB) and, when the
 *              source site injects host routes, `RouteWithdrawn` of the old /32 there;
 *      arp:    the ARP proxies' decisions for the move (`ProxyInstalled`, `ProxyRemoved`,
 *              `GratuitousArpSent`, `NeighbourRepaired` by garp/announce) when there are any: a
 *              move between two sites away from the VM's home has none, so ARP never holds a move back.
 *    A move is observed converged once map and routes are done for every plane it was accepted with.
 */
import type { PlaneEvent, RecordedEvent } from '@locus/contracts';

export type PlaneName = 'map' | 'routes' | 'arp';
export type PlaneStatus = 'n/a' | 'pending' | 'done';

export interface Loc {
  hypervisor: string;
  site: string;
}

export interface PlaneView {
  status: PlaneStatus;
  /** ms from the location commit to the plane's last finishing event. */
  ms?: number;
  detail?: string;
}

export interface MoveTrack {
  moveId: string;
  vm: string;
  mode: string;
  from?: Loc;
  to?: Loc;
  state: string;
  /** Last step seen, e.g. `VmStoppedAtSource`. */
  step?: string;
  requestId?: string;
  planes: string[];
  acceptedAt?: number;
  /** MoveStarted: admitted from the source host's outbound queue. */
  startedAt?: number;
  firstSeenAt: number;
  /** Location commit: `recordedAt` of VmRelocated. */
  relocatedAt?: number;
  finishedAt?: number;
  locationVersion?: number;
  downtimeMs?: number;
  totalMs?: number;
  error?: string;
  precopy?: { round: number; maxRounds?: number; sentBytes: number; dirtyBytes: number; expectedDowntimeMs: number; downtimeLimitMs?: number; throttlePct: number };
  map: { registeredAt?: number; waitFor?: string[]; cached: Map<string, number>; notifiedAwayAt?: number };
  routes: { advertisedAt?: number; confirmedAt?: number; confirmMs?: number; withdrawnAt?: number };
  arp: { lastAt?: number; events: number; types: Set<string> };
  /** Latest `at` of any plane event attributed to the move. */
  lastPlaneAt?: number;
  observed?: { at: number; ms: number };
  tracker?: { at: number; ms?: number; planes?: Record<string, { ms?: number } & Record<string, unknown>> };
  /** MoveConvergenceLate: the tracker's deadline ran out with these still stale. */
  late?: { afterMs: number; stale: { plane: string; component: string; detail: string }[] };
}

/** The tracker's plane names (the move's `planes`) for each column. */
export const TRACKER_PLANE: Record<PlaneName, string> = { map: 'mapping', routes: 'host-routes', arp: 'arp-proxy' };

export interface BoardOptions {
  /**
   * Sites that inject host routes: a move from one of them is routes-done only once its old /32 is
   * withdrawn there. Undefined (the CLI, which does not load the topology): the withdrawal is shown
   * when seen but not waited for.
   */
  hostRouteSites?: ReadonlySet<string>;
  /** Keep at most this many moves (oldest finished ones are forgotten first). */
  maxMoves?: number;
}

const FINAL = new Set(['completed', 'converged', 'failed', 'cancelled']);
const ARP_FINISHING = new Set(['ProxyInstalled', 'ProxyRemoved', 'GratuitousArpSent', 'NeighbourRepaired']);

const t = (iso: string | undefined): number | undefined => {
  if (!iso) return undefined;
  const v = Date.parse(iso);
  return Number.isFinite(v) ? v : undefined;
};

export class MoveBoard {
  readonly moves = new Map<string, MoveTrack>();
  private readonly byVersion = new Map<string, string>();
  /** Set once any MoveConverged was seen: the tracker exists. */
  trackerSeen = false;

  constructor(private readonly options: BoardOptions = {}) {}

  /** Applies one message from `<prefix>.evt.>`; returns human-readable transitions (for line output). */
  apply(subject: string, payload: unknown, now = Date.now()): string[] {
    // The category is `evt.<category>.`: `<prefix>.evt.vm.<vm>[.loc].<type>`, `<prefix>.evt.<plane>.<entity>.<type>`.
    const parts = subject.split('.');
    const category = parts[parts.length - 2] === 'loc' && parts[parts.length - 5] === 'evt' ? parts[parts.length - 4] : parts[parts.length - 3];
    if (category === 'vm') return this.applyVmEvent(payload as RecordedEvent, now);
    if (category === 'map' || category === 'route' || category === 'arp') return this.applyPlaneEvent(payload as PlaneEvent, now);
    return [];
  }

  applyVmEvent(e: RecordedEvent, now = Date.now()): string[] {
    const d = (e.data ?? {}) as Record<string, any>;
    const moveId: string | undefined = d.moveId;
    if (!moveId) return [];
    const at = t(e.recordedAt) ?? t(e.metadata?.at) ?? now;
    const vmName = d.vm ?? (e.streamId?.startsWith('vm:') ? e.streamId.slice(3) : '?');
    let m = this.moves.get(moveId);
    if (!m) {
      m = { moveId, vm: vmName, mode: d.mode ?? '?', state: 'accepted', planes: [], firstSeenAt: now, map: { cached: new Map() }, routes: {}, arp: { events: 0, types: new Set() } };
      this.moves.set(moveId, m);
      this.prune();
    }
    const out: string[] = [];
    const say = (what: string) => out.push(`${m!.vm} ${m!.mode} ${route(m!)}: ${what}`);
    switch (e.type) {
      case 'MoveAccepted':
        Object.assign(m, { vm: d.vm, mode: d.mode, from: d.from, to: d.to, requestId: d.requestId, planes: d.planes ?? [], acceptedAt: at });
        if (d.plan?.mode === 'hot') m.precopy = { round: -1, maxRounds: d.plan.maxRounds, downtimeLimitMs: d.plan.downtimeLimitMs, sentBytes: 0, dirtyBytes: 0, expectedDowntimeMs: 0, throttlePct: 0 };
        say(`accepted (move ${moveId.slice(0, 8)}${m.planes.length ? `, planes ${m.planes.join(', ')}` : ''})`);
        break;
      case 'MoveStarted':
        m.state = 'in-progress';
        m.startedAt = at;
        say('started');
        break;
      case 'PreCopyRoundCompleted':
        m.state = 'in-progress';
        m.precopy = { ...(m.precopy ?? { maxRounds: undefined, downtimeLimitMs: undefined }), round: d.round, sentBytes: (m.precopy?.sentBytes ?? 0) + (d.sentBytes ?? 0), dirtyBytes: d.dirtyBytes, expectedDowntimeMs: d.expectedDowntimeMs, throttlePct: d.throttlePct };
        say(`pre-copy round ${d.round}: ${Math.round(d.sentBytes / 1048576)} MiB sent, ${Math.round(d.dirtyBytes / 1048576)} MiB dirty, downtime would be ${Math.round(d.expectedDowntimeMs)} ms`);
        break;
      case 'VmRelocated':
        m.relocatedAt = at;
        m.locationVersion = d.locationVersion;
        m.from = m.from ?? d.from;
        m.to = m.to ?? d.to;
        this.byVersion.set(`${m.vm}@${d.locationVersion}`, moveId);
        say(`location committed, version ${d.locationVersion}`);
        break;
      case 'MoveCompleted':
        m.state = m.state === 'converged' ? 'converged' : 'completed';
        m.finishedAt = at;
        m.downtimeMs = d.downtimeMs;
        m.totalMs = d.totalMs;
        if (m.locationVersion === undefined) m.locationVersion = d.locationVersion;
        say(`completed: downtime ${Math.round(d.downtimeMs)} ms (simulated)`);
        break;
      case 'MoveFailed':
        m.state = 'failed';
        m.finishedAt = at;
        m.error = `${d.code}: ${d.message}`;
        say(`FAILED ${d.code}: ${d.message}`);
        break;
      case 'MoveCancelled':
        m.state = 'cancelled';
        m.finishedAt = at;
        say(`cancelled in ${d.phase}`);
        break;
      case 'MoveConvergenceLate':
        m.late = { afterMs: d.afterMs, stale: d.stale ?? [] };
        say(`NOT converged after ${Math.round(d.afterMs)} ms (tracker): ${(d.stale ?? []).map((x: any) => `${x.component}: ${x.detail}`).join('; ')}`);
        break;
      case 'MoveConverged': {
        this.trackerSeen = true;
        const ms = typeof d.convergenceMs === 'number' ? d.convergenceMs : m.relocatedAt !== undefined ? at - m.relocatedAt : undefined;
        m.tracker = { at, ms, planes: d.planes };
        m.state = 'converged';
        say(`converged${ms !== undefined ? ` in ${round1(ms)} ms` : ''} (tracker)`);
        break;
      }
      default:
        break;
    }
    if (!['MoveConverged', 'MoveAccepted'].includes(e.type)) m.step = e.type;
    return out;
  }

  applyPlaneEvent(e: PlaneEvent, now = Date.now()): string[] {
    const d = (e.data ?? {}) as Record<string, any>;
    let version = e.locationVersion;
    if (e.type === 'RouteWithdrawn' && d.replacedBy?.locationVersion) version = d.replacedBy.locationVersion;
    const m =
      (e.moveId ? this.moves.get(e.moveId) : undefined) ?? (e.vm ? this.moves.get(this.byVersion.get(`${e.vm}@${version}`) ?? '') : undefined);
    if (!m || m.relocatedAt === undefined) return [];
    // a plane event about an older version of the VM (e.g. its previous move) is not this move's
    if (m.locationVersion !== undefined && e.type !== 'RouteWithdrawn' && e.locationVersion !== m.locationVersion && e.plane !== 'arp') return [];
    // A plane event's `at` is its producer's clock; a lab clock running faster than real time
    // (--time-scale) puts it in the future: then the time it arrived is the better estimate.
    const stamped = t(e.at);
    const at = stamped === undefined || stamped > now + 1000 ? now : stamped;
    const out: string[] = [];
    const before = { map: this.observedPlane(m, 'map').status, routes: this.observedPlane(m, 'routes').status, arp: this.observedPlane(m, 'arp').status };
    let counts = false;
    if (e.plane === 'map') {
      if (e.type === 'Registered' && e.locationVersion === m.locationVersion) {
        m.map.registeredAt = at;
        m.map.waitFor = [...new Set<string>([...(d.publishTo ?? []), ...(d.smrTo ?? [])])];
        counts = true;
      } else if (e.type === 'CacheUpdated' && d.itr && e.locationVersion === m.locationVersion) {
        if (!m.map.cached.has(d.itr)) m.map.cached.set(d.itr, at);
        counts = true;
      } else if (e.type === 'Notified' && d.kind === 'away') {
        m.map.notifiedAwayAt = at;
      }
    } else if (e.plane === 'route') {
      if (e.type === 'RouteAdvertised' && d.site === m.to?.site) m.routes.advertisedAt = at;
      else if (e.type === 'RouteConfirmed' && d.site === m.to?.site) {
        m.routes.confirmedAt = at;
        m.routes.confirmMs = d.ms;
        counts = true;
      } else if (e.type === 'RouteWithdrawn' && d.site === m.from?.site) {
        m.routes.withdrawnAt = at;
        counts = true;
      }
    } else if (e.plane === 'arp' && ARP_FINISHING.has(e.type) && (e.type !== 'NeighbourRepaired' || ['garp', 'announce'].includes(d.how))) {
      m.arp.lastAt = Math.max(m.arp.lastAt ?? 0, at);
      m.arp.events++;
      m.arp.types.add(e.type);
      counts = true;
    }
    if (counts) m.lastPlaneAt = Math.max(m.lastPlaneAt ?? 0, at);
    for (const p of ['map', 'routes', 'arp'] as const) {
      const v = this.observedPlane(m, p);
      if (v.status === 'done' && before[p] !== 'done') out.push(`${m.vm} ${m.mode} ${route(m)}: ${p} done in ${round1(v.ms ?? 0)} ms${v.detail ? ` (${v.detail})` : ''}`);
    }
    if (!m.observed && this.requiredDone(m)) {
      m.observed = { at: m.lastPlaneAt ?? at, ms: (m.lastPlaneAt ?? at) - m.relocatedAt };
      out.push(`${m.vm} ${m.mode} ${route(m)}: converged in ${round1(m.observed.ms)} ms (observed: last plane event after the location commit)`);
    } else if (m.observed && counts) {
      // a later finishing event (e.g. ARP after the routes) moves the observed convergence later
      m.observed = { at: m.lastPlaneAt!, ms: m.lastPlaneAt! - m.relocatedAt };
    }
    return out;
  }

  /** Status of one plane for a move. */
  plane(m: MoveTrack, p: PlaneName): PlaneView {
    const tracked = m.tracker?.planes?.[TRACKER_PLANE[p]];
    if (tracked && typeof tracked.ms === 'number') return { status: 'done', ms: tracked.ms, detail: 'tracker' };
    if (m.tracker?.planes && !m.planes.includes(TRACKER_PLANE[p])) return { status: 'n/a' };
    return this.observedPlane(m, p);
  }

  /** Status of one plane from the plane events alone. */
  observedPlane(m: MoveTrack, p: PlaneName): PlaneView {
    const since = (x: number | undefined) => (x !== undefined && m.relocatedAt !== undefined ? x - m.relocatedAt : undefined);
    if (p === 'map') {
      const expected = m.planes.includes('mapping');
      if (m.map.registeredAt === undefined) return { status: expected ? 'pending' : 'n/a' };
      const waitFor = m.map.waitFor ?? [];
      const have = waitFor.filter((i) => m.map.cached.has(i));
      const detail = waitFor.length ? `${have.length}/${waitFor.length} ITRs` : 'no ITR cached it';
      if (have.length < waitFor.length) return { status: 'pending', detail };
      const last = Math.max(m.map.registeredAt, ...have.map((i) => m.map.cached.get(i)!));
      return { status: 'done', ms: since(last), detail };
    }
    if (p === 'routes') {
      const expected = m.planes.includes('host-routes');
      if (m.routes.confirmedAt === undefined) return { status: expected || m.routes.advertisedAt !== undefined ? 'pending' : 'n/a' };
      const needWithdraw = this.options.hostRouteSites ? !!m.from && this.options.hostRouteSites.has(m.from.site) && m.from.site !== m.to?.site : false;
      if (needWithdraw && m.routes.withdrawnAt === undefined) return { status: 'pending', detail: 'old /32 not withdrawn yet' };
      const last = Math.max(m.routes.confirmedAt, m.routes.withdrawnAt ?? 0);
      return { status: 'done', ms: since(last), detail: m.routes.withdrawnAt !== undefined ? 'new confirmed, old withdrawn' : 'new confirmed' };
    }
    if (m.arp.events === 0) return { status: m.planes.includes('arp-proxy') ? 'pending' : 'n/a' };
    return { status: 'done', ms: since(m.arp.lastAt), detail: [...m.arp.types].join(', ') };
  }

  /** Map and routes done for every plane the move was accepted with (ARP never holds a move back; see the header). */
  requiredDone(m: MoveTrack): boolean {
    if (m.relocatedAt === undefined) return false;
    const map = this.observedPlane(m, 'map');
    const routes = this.observedPlane(m, 'routes');
    return map.status !== 'pending' && routes.status !== 'pending' && (map.status === 'done' || routes.status === 'done');
  }

  /** Convergence of a move: the tracker's when it published one, else the observed one. */
  convergence(m: MoveTrack): { ms: number; source: 'tracker' | 'observed' } | undefined {
    if (m.tracker?.ms !== undefined) return { ms: m.tracker.ms, source: 'tracker' };
    if (m.observed) return { ms: m.observed.ms, source: 'observed' };
    return undefined;
  }

  isFinal(m: MoveTrack): boolean {
    return FINAL.has(m.state);
  }

  /** Newest first (by acceptance, else first sight). */
  recent(limit = Infinity): MoveTrack[] {
    return [...this.moves.values()].sort((a, b) => (b.acceptedAt ?? b.firstSeenAt) - (a.acceptedAt ?? a.firstSeenAt)).slice(0, limit);
  }

  private prune(): void {
    const max = this.options.maxMoves;
    if (!max || this.moves.size <= max) return;
    const victims = [...this.moves.values()].filter((m) => this.isFinal(m)).sort((a, b) => (a.acceptedAt ?? a.firstSeenAt) - (b.acceptedAt ?? b.firstSeenAt));
    for (const v of victims.slice(0, this.moves.size - max)) {
      this.moves.delete(v.moveId);
      if (v.locationVersion !== undefined) this.byVersion.delete(`${v.vm}@${v.locationVersion}`);
    }
  }
}

function route(m: MoveTrack): string {
  return `${m.from?.hypervisor ?? '?'}->${m.to?.hypervisor ?? '?'}`;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;
