import type { Msg, NatsConnection, Subscription } from 'nats';
import { PLANES, subjects } from '@locus/contracts';
import { slope } from '@locus/platform';
import { CONVERGENCE_INPUT_TYPES, MoveBoard, type ConvergenceTopology, type MoveTrack } from '@locus/domain';
import { requestJson } from './lab';
import { answerFigures, classifyError, classifyReply, defaultMaxInFlight, OpenLoopPacer, type Answer, type AnswerFigures } from './open-loop';

/**
 * Load generation: cold moves sent open-loop at a rate (each VM in at most one move at a time, to a
 * random hypervisor at another site), every event of the lab folded into a move board, and per
 * phase the sends, the answers and the completions. One driver per lab; phases run one after another.
 */

export interface LoadSetup {
  nc: NatsConnection;
  prefix: string;
  /** Unique per run: part of every requestId. */
  runId: string;
  random: () => number;
  vmNames: string[];
  vmSite: Map<string, string>;
  /** Each VM's address: plane events named by address (`10-1-0-10`) are matched to their VM. */
  vmIp?: Map<string, string>;
  hvsBySite: Map<string, string[]>;
  hostRouteSites: Set<string>;
  itrSites: string[];
  convergenceTopology?: ConvergenceTopology;
  /** Client timeout of vm.move, ms (well above 100 ms: slow answers count as slow, not as timeouts). */
  requestTimeoutMs: number;
  /** Cap on requests awaiting a reply; default {@link defaultMaxInFlight}. */
  maxInFlight?: number;
  log: (msg: string) => void;
  aborted: () => boolean;
  /** Called about once a second during phases and drains (RSS sampling). */
  tick?: () => void;
}

export interface PhaseFigures {
  name: string;
  /** Offered rate, moves/s. */
  rate: number;
  durationS: number;
  windowS: number;
  /** Requests due by the schedule. */
  due: number;
  sent: number;
  /** Due but not sent: the in-flight cap was reached (the client would have been closed-loop), or every VM was already moving. */
  notSent: { inFlightCap: number; noIdleVm: number };
  maxInFlight: number;
  /** Replies accepting a move, for requests of this phase (also those answered after it ended). */
  accepted: number;
  /** MoveCompleted of the bench's moves (any phase) arriving during the window. */
  completedInWindow: number;
  sustainedPerS: number;
  acceptedPerS: number;
  sentPerS: number;
  backlog: { x: number; y: number }[];
  /** Accepted and not finished when the phase began (carried over from an earlier phase). */
  backlogStart: number;
  backlogEnd: number;
  backlogMax: number;
  backlogSlopePerS?: number;
  /** performance.now() at the window's start and end. */
  startMs: number;
  endMs: number;
}

export class LoadDriver {
  readonly board: MoveBoard;
  /** The bench's accepted moves, with the phase that sent each. */
  readonly phaseOf = new Map<string, string>();
  readonly completedAt = new Map<string, number>();
  readonly counts = { sent: 0, accepted: 0, timeouts: 0, completed: 0, failed: 0, cancelled: 0, late: 0 };
  readonly refused: Record<string, number> = {};
  inFlight = 0;
  private readonly answers = new Map<string, Answer[]>();
  private readonly sentIn = new Map<string, number>();
  private readonly idleVms: string[];
  /** VMs sent and not yet released: plane events of the others are not read at all (the bench shares the lab's two cores). */
  private readonly busy = new Set<string>();
  /** VM by the address token plane subjects carry (`10-1-0-10`, `10-1-0-10_32`). */
  private readonly vmByToken = new Map<string, string>();
  private readonly released = new Set<string>();
  private readonly counted = new Map<string, Set<string>>();
  /** Final VM events of moves whose vm.move reply had not come yet: counted when it comes. */
  private readonly early = new Map<string, { type: string; at: number }[]>();
  private subs: Subscription[] = [];
  private readonly decoder = new TextDecoder();
  private currentPhase = '';

  constructor(private readonly x: LoadSetup) {
    this.board = new MoveBoard({ topology: x.convergenceTopology });
    this.idleVms = [...x.vmNames];
    for (const [vm, ip] of x.vmIp ?? []) this.vmByToken.set(ip.replace(/\./g, '-'), vm);
    for (let i = this.idleVms.length - 1; i > 0; i--) {
      const j = Math.floor(x.random() * (i + 1));
      [this.idleVms[i], this.idleVms[j]] = [this.idleVms[j], this.idleVms[i]];
    }
  }

  /**
   * The events the bench's figures are made of, into the board: a move's acceptance, start, commit,
   * end and the tracker's record (the convergence book's VM inputs and `MoveStarted`), and the planes'
   * outcomes. Its other steps (stop, transfer, start at the target) and host events are left on the
   * server: a quarter of the messages, and the bench shares the lab's two cores.
   */
  static observedSubjects(prefix: string): string[] {
    const s = subjects(prefix);
    return [...[...CONVERGENCE_INPUT_TYPES, 'MoveStarted'].map((type) => s.vmEvent('*', type)), ...PLANES.map((plane) => `${prefix}.evt.${plane}.*.*`)];
  }

  async subscribe(): Promise<void> {
    this.subs = LoadDriver.observedSubjects(this.x.prefix).map((subject) => this.x.nc.subscribe(subject, { callback: (err, msg) => this.onEvent(err, msg) }));
    await this.x.nc.flush();
  }

  private onEvent(err: Error | null, msg: Msg): void {
    if (err) return;
    // <prefix>.evt.<vm|plane>.<entity>.…: a plane's fact about a VM that is not moving is
    // skipped before it is parsed (thousands per second at 10,000 VMs, none of them the bench's).
    const [, , kind, entity] = msg.subject.split('.', 4);
    if (kind !== 'vm' && entity !== undefined && !this.busy.has(entity) && !this.busy.has(this.vmByToken.get(entity.split('_')[0]) ?? '')) return;
    let payload: any;
    try {
      payload = JSON.parse(this.decoder.decode(msg.data));
    } catch {
      return;
    }
    this.board.apply(msg.subject, payload);
    const moveId: string | undefined = payload?.data?.moveId ?? payload?.moveId;
    const type = payload?.type as string | undefined;
    if (!moveId || !type) return;
    const now = performance.now();
    if (type === 'VmRelocated' && this.phaseOf.has(moveId)) this.noteCommit(moveId, payload);
    if (this.phaseOf.has(moveId)) this.note(moveId, type, now);
    else if (['MoveCompleted', 'MoveFailed', 'MoveCancelled', 'MoveConvergenceLate'].includes(type)) {
      // the reply may still be on its way: keep the event until it is (moves of others are never claimed)
      const list = this.early.get(moveId) ?? [];
      list.push({ type, at: now });
      this.early.set(moveId, list);
    }
  }

  unsubscribe(): void {
    for (const sub of this.subs) sub.unsubscribe();
  }

  /**
   * Where the time before the planes goes: from the location decision (`metadata.at`) to the row's
   * insert (`recordedAt`, the transaction's start: group commit's wait) and to the event reaching
   * subscribers of the stream (the commit, the outbox relay, the JetStream publish).
   */
  readonly commitStages = new Map<string, { toInsertMs: number; toStreamMs: number }>();

  private noteCommit(moveId: string, e: { metadata?: { at?: string }; recordedAt?: string }): void {
    const at = Date.parse(e.metadata?.at ?? '');
    const recorded = Date.parse(e.recordedAt ?? '');
    if (Number.isFinite(at) && Number.isFinite(recorded) && !this.commitStages.has(moveId)) this.commitStages.set(moveId, { toInsertMs: recorded - at, toStreamMs: Date.now() - at });
  }

  /** Counts one event of one of the bench's moves (once per type) and frees its VM when it is done. */
  private note(moveId: string, type: string, at: number): void {
    const seen = this.counted.get(moveId) ?? new Set<string>();
    this.counted.set(moveId, seen);
    if (!seen.has(type)) {
      seen.add(type);
      if (type === 'MoveCompleted') {
        this.completedAt.set(moveId, at);
        this.counts.completed++;
      } else if (type === 'MoveFailed') this.counts.failed++;
      else if (type === 'MoveCancelled') this.counts.cancelled++;
      else if (type === 'MoveConvergenceLate') this.counts.late++;
    }
    const m = this.board.moves.get(moveId);
    if (m && (m.state === 'failed' || m.state === 'cancelled' || (this.completedAt.has(moveId) && this.board.convergence(m)))) this.release(moveId);
  }

  private release(moveId: string): void {
    if (this.released.has(moveId)) return;
    const m = this.board.moves.get(moveId);
    if (!m) return;
    this.released.add(moveId);
    if (m.to?.site && m.state !== 'failed' && m.state !== 'cancelled') this.x.vmSite.set(m.vm, m.to.site);
    this.makeIdle(m.vm);
  }

  private makeIdle(vm: string): void {
    this.busy.delete(vm);
    this.idleVms.push(vm);
  }

  finished(): number {
    return this.counts.completed + this.counts.failed + this.counts.cancelled;
  }

  backlog(): number {
    return this.counts.accepted - this.finished();
  }

  private pickTarget(vm: string): string | undefined {
    const here = this.x.vmSite.get(vm);
    const sites = [...this.x.hvsBySite.keys()].filter((s) => s !== here && this.x.hostRouteSites.has(s) && this.x.itrSites.includes(s));
    if (!sites.length) return undefined;
    const site = sites[Math.floor(this.x.random() * sites.length)];
    const hvs = this.x.hvsBySite.get(site)!;
    return hvs[Math.floor(this.x.random() * hvs.length)];
  }

  /** Sends one cold move of an idle VM; false when there is none to move. */
  private sendOne(): boolean {
    const vm = this.idleVms.shift();
    if (!vm) return false;
    this.busy.add(vm);
    const to = this.pickTarget(vm);
    if (!to) {
      this.makeIdle(vm);
      return false;
    }
    const phase = this.currentPhase;
    this.counts.sent++;
    this.sentIn.set(phase, (this.sentIn.get(phase) ?? 0) + 1);
    this.inFlight++;
    const t0 = performance.now();
    const answers = this.answers.get(phase) ?? [];
    this.answers.set(phase, answers);
    const requestId = `bench-${this.x.runId}-${this.counts.sent}`;
    void requestJson(this.x.nc, subjects(this.x.prefix).request('vm.move'), { vm, to, mode: 'cold', requestId }, this.x.requestTimeoutMs)
      .then((r) => {
        const ms = performance.now() - t0;
        const a = classifyReply(r);
        answers.push({ ...a, ms });
        if (a.kind === 'accepted') {
          this.counts.accepted++;
          this.phaseOf.set(r.moveId, phase);
          // events of this move that arrived before the reply
          for (const e of this.early.get(r.moveId) ?? []) this.note(r.moveId, e.type, e.at);
          this.early.delete(r.moveId);
          this.note(r.moveId, 'MoveAccepted', performance.now());
        } else {
          this.refused[a.code!] = (this.refused[a.code!] ?? 0) + 1;
          if (a.code !== 'MOVE_IN_PROGRESS') this.makeIdle(vm);
        }
      })
      .catch((err) => {
        const a = classifyError(err);
        answers.push({ ...a, ms: performance.now() - t0 });
        if (a.kind === 'timeout') this.counts.timeouts++;
        else this.refused[a.code] = (this.refused[a.code] ?? 0) + 1;
        this.makeIdle(vm);
      })
      .finally(() => this.inFlight--);
    return true;
  }

  /** Offers `rate` moves/s for `durationS` seconds, open-loop. */
  async phase(name: string, rate: number, durationS: number): Promise<PhaseFigures> {
    const x = this.x;
    this.currentPhase = name;
    const maxInFlight = x.maxInFlight ?? defaultMaxInFlight(rate, x.requestTimeoutMs);
    const notSent = { inFlightCap: 0, noIdleVm: 0 };
    const backlog: { x: number; y: number }[] = [];
    const startMs = performance.now();
    const backlogStart = this.backlog();
    const pacer = new OpenLoopPacer(rate, startMs);
    const endAt = startMs + durationS * 1000;
    const sent0 = this.counts.sent;
    let nextSample = startMs;
    while (!x.aborted() && performance.now() < endAt) {
      const now = performance.now();
      const n = pacer.take(now);
      for (let k = 0; k < n; k++) {
        if (this.inFlight >= maxInFlight) notSent.inFlightCap++;
        else if (!this.sendOne()) notSent.noIdleVm++;
      }
      if (now >= nextSample) {
        backlog.push({ x: (now - startMs) / 1000, y: this.backlog() });
        x.tick?.();
        nextSample += 1000;
        const t = Math.round((now - startMs) / 1000);
        if (t % 10 === 0)
          x.log(`${name} t=${t} s: sent ${this.counts.sent - sent0}, accepted ${this.counts.accepted}, completed ${this.counts.completed}, backlog ${this.backlog()}, in flight ${this.inFlight}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const endMs = performance.now();
    const windowS = (endMs - startMs) / 1000;
    backlog.push({ x: windowS, y: this.backlog() });
    x.tick?.();
    const completedInWindow = [...this.completedAt.values()].filter((t) => t >= startMs && t <= endMs).length;
    const sent = this.counts.sent - sent0;
    return this.settle({
      name,
      rate,
      durationS,
      windowS,
      due: pacer.total,
      sent,
      notSent,
      maxInFlight,
      accepted: 0,
      completedInWindow,
      sustainedPerS: windowS ? completedInWindow / windowS : 0,
      acceptedPerS: 0,
      sentPerS: windowS ? sent / windowS : 0,
      backlog,
      backlogStart,
      backlogEnd: backlog[backlog.length - 1].y,
      backlogMax: Math.max(0, ...backlog.map((b) => b.y)),
      backlogSlopePerS: slope(backlog.filter((b) => b.x >= Math.min(5, windowS / 4))),
      startMs,
      endMs,
    });
  }

  /** The phase's figures completed with the replies that came in since it ended. */
  settle(p: PhaseFigures): PhaseFigures {
    const accepted = (this.answers.get(p.name) ?? []).filter((a) => a.kind === 'accepted').length;
    return { ...p, accepted, acceptedPerS: p.windowS ? accepted / p.windowS : 0 };
  }

  /** vm.move request → reply, ms, of the replies (every kind) to one phase's requests. */
  requestMsOf(phase: string): number[] {
    return (this.answers.get(phase) ?? []).filter((a) => a.kind !== 'timeout' && a.kind !== 'failed').map((a) => a.ms);
  }

  answerFigures(phase: string, withinMs = 100): AnswerFigures {
    return answerFigures(this.answers.get(phase) ?? [], this.sentIn.get(phase) ?? 0, this.x.requestTimeoutMs, withinMs);
  }

  /** The bench's accepted moves (of one phase, or all). */
  moves(phase?: string): MoveTrack[] {
    return [...this.phaseOf]
      .filter(([, p]) => phase === undefined || p === phase)
      .map(([id]) => this.board.moves.get(id))
      .filter((m): m is MoveTrack => !!m);
  }

  /** Waits up to `maxS` for the accepted moves to finish and converge (and for the tracker's verdict when it runs); seconds waited. */
  async drain(maxS: number): Promise<number> {
    const start = performance.now();
    let lastProgress = start;
    let lastState = '';
    let nextTick = start;
    while (!this.x.aborted() && performance.now() - start < maxS * 1000) {
      const pending = [...this.phaseOf.keys()].filter((id) => {
        const m = this.board.moves.get(id);
        if (!m) return true;
        if (m.state === 'failed' || m.state === 'cancelled') return false;
        if (!this.completedAt.has(id)) return true;
        return this.board.trackerSeen ? !(m.tracker || m.late) : !this.board.convergence(m);
      }).length;
      if (this.inFlight === 0 && pending === 0) break;
      const state = `${pending}/${this.finished()}/${this.inFlight}`;
      if (state !== lastState) {
        lastState = state;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > 10_000) break;
      if (performance.now() >= nextTick) {
        this.x.tick?.();
        nextTick += 1000;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return (performance.now() - start) / 1000;
  }
}
