import {
  decodeStreamEventFrom,
  EventRejected,
  isRecordedVmEvent,
  type EventRejectReason,
  type Location,
  type PlaneEvent,
  type PlaneTiming,
  type RecordedVmEvent,
  type StaleComponent,
} from '@locus/contracts';
import { MoveConvergenceBook, type ConvergenceProgress, type ConvergenceTopology, type ConvergenceVerdict } from './move-convergence';
import { convergenceInputOf } from './convergence-input';
import { describePlaneEvent, describeVmEvent } from './move-timeline';

/**
 * Every move folded from the events on `<prefix>.evt.>` and the live steps on `<prefix>.live.>` (VM events from the location store, plane
 * events from the mapping system, the route injectors and the ARP proxies): what `locus watch`,
 * `locus move --wait`, the bench and the console show. Pure: events in, rows and lines out.
 *
 * A move's convergence has one definition, the MoveConvergenceBook's (the manager's convergence
 * tracker decides with the same book): real ms from the location commit (`metadata.at` of
 * `VmRelocated`) to the last plane agreeing with the move's location version. The board holds
 * two copies of that one figure: `tracker`, as the tracker recorded it in `MoveConverged`, and
 * `computed`, the board's own book over the events it saw (the same figure when it saw them all;
 * shown before the tracker's is recorded, and where no tracker runs). `convergence()` prefers the
 * recorded one.
 */
export type PlaneName = 'map' | 'routes' | 'arp';
export type PlaneStatus = 'n/a' | 'pending' | 'done';

export interface PlaneView {
  status: PlaneStatus;
  /** ms from the location commit to the plane agreeing. */
  ms?: number;
  detail?: string;
}

/** One line of a move's timeline: who did what, when (epoch ms: the event's own time). */
export interface TimelineEntry {
  at: number;
  component: string;
  event: string;
  text: string;
}

export interface ConvergenceFigure {
  /** ms from the location commit to the last plane agreeing. */
  ms: number;
  planes: Record<string, PlaneTiming>;
}

export interface MoveTrack {
  moveId: string;
  vm: string;
  mode: string;
  from?: Location;
  to?: Location;
  state: string;
  /** Last step seen, e.g. `VmStoppedAtSource`. */
  step?: string;
  requestId?: string;
  planes: string[];
  acceptedAt?: number;
  /** MoveStarted: admitted from the source host's outbound queue. */
  startedAt?: number;
  firstSeenAt: number;
  /** Location commit: `metadata.at` of VmRelocated. */
  relocatedAt?: number;
  finishedAt?: number;
  locationVersion?: number;
  downtimeMs?: number;
  totalMs?: number;
  error?: string;
  precopy?: { round: number; maxRounds?: number; sentBytes: number; dirtyBytes: number; expectedDowntimeMs: number; downtimeLimitMs?: number; throttlePct: number };
  /** Every event of the move, in the order received (at most TIMELINE_LIMIT). */
  timeline: TimelineEntry[];
  /** Planes done so far and what is still stale, after the commit (the book's progress). */
  progress?: ConvergenceProgress;
  /** MoveConverged: the convergence tracker's record. */
  tracker?: ConvergenceFigure;
  /** The same definition over the events this board saw. */
  computed?: ConvergenceFigure;
  /** MoveConvergenceLate: the tracker's deadline ran out with these still stale. */
  late?: { afterMs: number; stale: StaleComponent[] };
}

/** The tracker's plane names (the move's `planes`) for each column. */
export const TRACKER_PLANE: Record<PlaneName, string> = { map: 'mapping', routes: 'host-routes', arp: 'arp-proxy' };

export interface BoardOptions {
  /** What convergence needs of the topology (`convergenceTopologyOf`); without it only the tracker's figures are shown. */
  topology?: ConvergenceTopology;
  /** Keep at most this many moves (oldest finished ones are forgotten first). */
  maxMoves?: number;
}

const FINAL = new Set(['completed', 'converged', 'failed', 'cancelled']);
const TIMELINE_LIMIT = 300;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

const t = (iso: string | undefined): number | undefined => {
  if (!iso) return undefined;
  const v = Date.parse(iso);
  return Number.isFinite(v) ? v : undefined;
};

export class MoveBoard {
  readonly moves = new Map<string, MoveTrack>();
  private readonly byVersion = new Map<string, string>();
  private readonly vmByIp = new Map<string, string>();
  private readonly book?: MoveConvergenceBook;
  /** Arrival order: the book's sequence of facts. */
  private seq = 0;
  /** Set once any MoveConverged was seen: the tracker exists. */
  trackerSeen = false;
  /** Messages `apply` did not take, by reason: not an event of this stream's subjects, or not the event its subject carries. */
  readonly rejected: Record<EventRejectReason, number> = { undecodable: 0, 'wrong-source': 0 };

  constructor(private readonly options: BoardOptions = {}) {
    if (options.topology) this.book = new MoveConvergenceBook(options.topology, Infinity);
  }

  /** Applies one message from `<prefix>.evt.>` or `<prefix>.live.>`; returns human-readable transitions (for line output). */
  apply(subject: string, payload: unknown, now = Date.now()): string[] {
    // Decoded as every consumer decodes it (the contracts' schemas, the subject's VM, plane and type):
    // what fails is counted in `rejected` and not shown. The prefix is what precedes `.evt.`
    // (stored events) or `.live.` (the planes' steps).
    const stored = subject.indexOf('.evt.');
    const at = stored >= 0 ? stored : subject.indexOf('.live.');
    if (at < 0) return [];
    let event;
    try {
      event = decodeStreamEventFrom(subject.slice(0, at), subject, payload);
    } catch (err) {
      if (!(err instanceof EventRejected)) throw err;
      this.rejected[err.reason]++;
      return [];
    }
    if ('plane' in event) return this.applyPlaneEvent(event, now);
    return isRecordedVmEvent(event) ? this.applyVmEvent(event, now) : []; // host events: no move to show
  }

  applyVmEvent(e: RecordedVmEvent, now = Date.now()): string[] {
    const moveId = 'moveId' in e.data ? e.data.moveId : undefined;
    if (!moveId) return [];
    const at = t(e.metadata?.at) ?? t(e.recordedAt) ?? now;
    const vmName = ('vm' in e.data ? e.data.vm : undefined) ?? (e.streamId?.startsWith('vm:') ? e.streamId.slice(3) : '?');
    let m = this.moves.get(moveId);
    if (!m) {
      m = { moveId, vm: vmName, mode: ('mode' in e.data ? e.data.mode : undefined) ?? '?', state: 'accepted', planes: [], firstSeenAt: now, timeline: [] };
      this.moves.set(moveId, m);
      this.prune();
    }
    const out: string[] = [];
    const say = (what: string) => out.push(`${m!.vm} ${m!.mode} ${route(m!)}: ${what}`);
    switch (e.type) {
      case 'MoveAccepted':
        Object.assign(m, { vm: e.data.vm, mode: e.data.mode, from: e.data.from, to: e.data.to, requestId: e.data.requestId, planes: e.data.planes ?? [], acceptedAt: at });
        if (e.data.plan?.mode === 'hot')
          m.precopy = { round: -1, maxRounds: e.data.plan.maxRounds, downtimeLimitMs: e.data.plan.downtimeLimitMs, sentBytes: 0, dirtyBytes: 0, expectedDowntimeMs: 0, throttlePct: 0 };
        say(`accepted (move ${moveId.slice(0, 8)}${m.planes.length ? `, planes ${m.planes.join(', ')}` : ''})`);
        break;
      case 'MoveStarted':
        m.state = 'in-progress';
        m.startedAt = at;
        say('started');
        break;
      case 'PreCopyRoundCompleted':
        m.state = 'in-progress';
        m.precopy = {
          ...(m.precopy ?? { maxRounds: undefined, downtimeLimitMs: undefined }),
          round: e.data.round,
          sentBytes: (m.precopy?.sentBytes ?? 0) + (e.data.sentBytes ?? 0),
          dirtyBytes: e.data.dirtyBytes,
          expectedDowntimeMs: e.data.expectedDowntimeMs,
          throttlePct: e.data.throttlePct,
        };
        say(
          `pre-copy round ${e.data.round}: ${Math.round(e.data.sentBytes / 1048576)} MiB sent, ${Math.round(e.data.dirtyBytes / 1048576)} MiB dirty, downtime would be ${Math.round(e.data.expectedDowntimeMs)} ms`,
        );
        break;
      case 'VmRelocated':
        m.relocatedAt = at;
        m.locationVersion = e.data.locationVersion;
        m.from = m.from ?? e.data.from;
        m.to = m.to ?? e.data.to;
        this.byVersion.set(`${m.vm}@${e.data.locationVersion}`, moveId);
        if (e.data.ip) this.vmByIp.set(e.data.ip, m.vm);
        say(`location committed, version ${e.data.locationVersion}`);
        break;
      case 'MoveCompleted':
        m.state = m.state === 'converged' ? 'converged' : 'completed';
        m.finishedAt = at;
        m.downtimeMs = e.data.downtimeMs;
        m.totalMs = e.data.totalMs;
        if (m.locationVersion === undefined) m.locationVersion = e.data.locationVersion;
        say(`completed: downtime ${Math.round(e.data.downtimeMs)} ms (simulated)`);
        break;
      case 'MoveFailed':
        m.state = 'failed';
        m.finishedAt = at;
        m.error = `${e.data.code}: ${e.data.message}`;
        say(`FAILED ${e.data.code}: ${e.data.message}`);
        break;
      case 'MoveCancelled':
        m.state = 'cancelled';
        m.finishedAt = at;
        say(`cancelled in ${e.data.phase}`);
        break;
      case 'MoveConvergenceLate':
        m.late = { afterMs: e.data.afterMs, stale: e.data.stale ?? [] };
        say(`NOT converged ${Math.round(e.data.afterMs)} ms after the location commit: ${(e.data.stale ?? []).map((x) => `${x.component}: ${x.detail}`).join('; ')}`);
        break;
      case 'MoveConverged': {
        this.trackerSeen = true;
        m.tracker = { ms: e.data.convergenceMs, planes: e.data.planes ?? {} };
        m.state = 'converged';
        // Said once: the board's own book gave the same figure already unless it missed events.
        if (!m.computed || Math.abs(m.computed.ms - m.tracker.ms) > 0.01) say(`converged in ${round1(m.tracker.ms)} ms after the location commit (convergence tracker)`);
        break;
      }
      // a step with no state of its own on the board (its timeline line is below)
      case 'VmPlaced':
      case 'VmStoppedAtSource':
      case 'VmConfigTransferred':
      case 'VmSuspendedAtSource':
      case 'VmStateTransferred':
      case 'SwitchoverStarted':
      case 'VmPausedAndCopied':
      case 'VmStartedAtTarget':
      case 'VmResumedAtTarget':
      case 'RarpAnnounced':
      case 'PostcopyCompleted':
      case 'VmRestartedAtSource':
      case 'VmLocationReasserted':
      case 'VmRestartedByRepair':
      case 'VmRepairStuck':
        break;
    }
    if (!['MoveConverged', 'MoveAccepted', 'MoveConvergenceLate'].includes(e.type)) m.step = e.type;
    this.note(m, { at, component: e.metadata?.component ?? '?', event: e.type, text: describeVmEvent(e) });
    const input = convergenceInputOf(e, ++this.seq);
    if (!this.book || !input) return out;
    const verdicts = this.book.apply(input);
    return [...out, ...this.progressed(m), ...this.verdicts(verdicts)];
  }

  applyPlaneEvent(e: PlaneEvent, now = Date.now()): string[] {
    let version = e.locationVersion;
    const replacedBy = e.data?.replacedBy;
    if (e.type === 'RouteWithdrawn' && isRecord(replacedBy) && typeof replacedBy.locationVersion === 'number' && replacedBy.locationVersion) version = replacedBy.locationVersion;
    const vm = e.vm ?? (e.eid ? this.vmByIp.get(e.eid.replace(/\/32$/, '')) : undefined);
    const m = (e.moveId ? this.moves.get(e.moveId) : undefined) ?? (vm ? this.moves.get(this.byVersion.get(`${vm}@${version}`) ?? '') : undefined);
    const verdicts = this.book?.apply({ kind: 'plane', seq: ++this.seq, event: e }) ?? [];
    const mine = !!m && m.relocatedAt !== undefined && (m.locationVersion === undefined || e.type === 'RouteWithdrawn' || e.locationVersion === m.locationVersion || e.plane === 'arp');
    // (a plane event about an older version of the VM, e.g. its previous move, is not this move's)
    if (m && mine) this.note(m, { at: t(e.at) ?? now, component: e.component, event: e.type, text: describePlaneEvent(e) });
    return [...(m && mine ? this.progressed(m) : []), ...this.verdicts(verdicts)];
  }

  /** Status of one plane for a move. */
  plane(m: MoveTrack, p: PlaneName): PlaneView {
    const name = TRACKER_PLANE[p];
    const figure = m.tracker ?? m.computed;
    const timing = (figure?.planes ?? m.progress?.done)?.[name];
    if (timing) return { status: 'done', ms: timing.ms, detail: planeDetail(name, timing) };
    if (!m.planes.includes(name) || figure) return { status: 'n/a' };
    const waiting = (m.progress?.stale ?? []).filter((s) => s.plane === name);
    const itrs = waiting.filter((s) => s.component.startsWith('itr:')).length;
    return { status: 'pending', ...(itrs ? { detail: `${itrs} ITR${itrs === 1 ? '' : 's'}` } : {}) };
  }

  /** Convergence of a move: the tracker's record when there is one, else the board's own (same definition). */
  convergence(m: MoveTrack): { ms: number; source: 'tracker' | 'computed' } | undefined {
    if (m.tracker) return { ms: m.tracker.ms, source: 'tracker' };
    if (m.computed) return { ms: m.computed.ms, source: 'computed' };
    return undefined;
  }

  isFinal(m: MoveTrack): boolean {
    return FINAL.has(m.state);
  }

  /** Newest first (by acceptance, else first sight). */
  recent(limit = Infinity): MoveTrack[] {
    return [...this.moves.values()].sort((a, b) => (b.acceptedAt ?? b.firstSeenAt) - (a.acceptedAt ?? a.firstSeenAt)).slice(0, limit);
  }

  private note(m: MoveTrack, entry: TimelineEntry): void {
    if (m.timeline.length < TIMELINE_LIMIT) m.timeline.push(entry);
  }

  /** The book's verdicts: a converged one is the move's computed figure. */
  private verdicts(verdicts: ConvergenceVerdict[]): string[] {
    const out: string[] = [];
    for (const v of verdicts) {
      if (v.kind !== 'converged') continue;
      const m = this.moves.get(v.move.moveId);
      if (!m || m.computed) continue;
      m.computed = { ms: v.convergenceMs, planes: v.planes };
      m.progress = { done: v.planes, stale: [] };
      if (!m.tracker) out.push(`${m.vm} ${m.mode} ${route(m)}: converged in ${round1(v.convergenceMs)} ms after the location commit`);
    }
    return out;
  }

  /** Planes that agree now and did not before: one line each. */
  private progressed(m: MoveTrack): string[] {
    if (!this.book || m.tracker) return [];
    const p = this.book.progress(m.moveId);
    if (!p) return [];
    const before = m.progress?.done ?? {};
    m.progress = p;
    return Object.entries(p.done)
      .filter(([plane]) => plane !== 'location' && !before[plane])
      .map(([plane, timing]) => `${m.vm} ${m.mode} ${route(m)}: ${plane} done in ${round1(timing.ms)} ms${planeDetail(plane, timing) ? ` (${planeDetail(plane, timing)})` : ''}`);
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

/** What a plane did, in a few words: `2/2 ITRs`, `+dc2 -dc1`, `1 proxied`. */
function planeDetail(plane: string, timing: PlaneTiming): string | undefined {
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  if (plane === 'mapping') return timing.reconciled ? `${String(timing.reconciled)} registered at start` : `${n(timing.itrs)}/${n(timing.of)} ITRs`;
  if (plane === 'host-routes')
    return (
      [timing.advertised ? `+${String(timing.advertised)}` : '', timing.withdrawn ? `-${String(timing.withdrawn)}` : '', timing.reconciled ? `${String(timing.reconciled)} had none` : '']
        .filter(Boolean)
        .join(' ') || undefined
    );
  if (plane === 'arp-proxy') return `${n(timing.proxied)} proxied, ${n(timing.repaired)}/${n(timing.stale)} repaired`;
  return undefined;
}

function route(m: MoveTrack): string {
  return `${m.from?.hypervisor ?? '?'}->${m.to?.hypervisor ?? '?'}`;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;
