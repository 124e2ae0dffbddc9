import type { DataSource } from 'typeorm';
import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { decodeVmEventFrom, HEADERS, isOwnEventSubject, MANAGER_DURABLES, subjects, type AgentStepReply, type ErrorBody, type RecordedEvent, type RecordedVmEvent } from '@locus/contracts';
import {
  attemptTimeoutMs,
  commandOfAnswer,
  commandOfStep,
  decisionsAfter,
  expectedStepMs,
  failureOf,
  freeOutboundSlots,
  mayStartNow,
  nextSagaStep,
  silenceOf,
  type AgentStep,
  type SagaStep,
  type StepRetryPolicy,
  type VmState,
} from '@locus/domain';
import { MoveReadModel } from '@locus/eventstore';
import { ACK, DurableConsumer, LinkWatch, requestJson, type Outcome } from '@locus/messaging';
import type { FollowUp, VmCommandService } from '../../vm-commands/vm-command.service';
import { SerialPerKey } from '../../shared/serial-per-key';
import type { HostAdmissions } from '../../shared/host-admissions';

export interface MoveSagaOptions {
  prefix: string;
  stream: string;
  /** How agent step requests are timed out and sent again (simulated ms on the lab's time scale), and when an agent is given up on. */
  stepRetry: Omit<StepRetryPolicy, 'minRealMs'>;
  /** Real ms before an event left unacknowledged (its manager crashed) is delivered again; a handler still working keeps it. */
  ackWaitMs?: number;
  /** Concurrent outbound moves per source hypervisor; more wait in a queue (KubeVirt's default is 2). */
  maxOutboundPerHost?: number;
  /** Called when a queued move of `host` started here (its queue shrank): `vm.move` then asks the database again. */
  onSlotFreed?: (host: string) => void;
}

/** No attempt at an agent step waits less than this (real ms): a round trip through a busy NATS. */
export const AGENT_MIN_TIMEOUT_REAL_MS = 200;

type Ctx = { correlationId: string; causationId: string };
/** What a step did: the outcome for its trigger message, and the events it recorded (none: the move waits). */
type Stepped = { outcome: Outcome; events: RecordedEvent[] };
/** What asking an agent came to: its reply, or why there is none. */
type Answer = { reply: ({ ok: true } & AgentStepReply) | { ok: false; error: ErrorBody } } | { unanswered: string; stopping: boolean };
const TERMINAL = new Set(['MoveCompleted', 'MoveFailed', 'MoveCancelled', 'VmRestartedAtSource']);

/**
 * Drives every move forward from the VM events on JetStream (`<prefix>.evt.vm.>`). For each
 * event it loads the VM's state and asks the pure saga what comes next, then keeps going while
 * each step records events, so redelivered or out-of-date events repeat nothing: an event that
 * is not the head of its stream is acknowledged and skipped, and a step already recorded
 * decides to no events. Agent steps are idempotent per move.
 */
export class MoveSagaRunner {
  private consumer?: DurableConsumer<RecordedEvent>;
  private readonly log: Logger;
  /** Admission is serialised per source host (with vm.move's starts at acceptance) so two moves never take the last slot together. */
  private readonly admissions: HostAdmissions;
  /**
   * One driver per VM in this process: a move started here is driven at once, and its
   * MoveStarted arriving from the stream to this process meanwhile waits, then finds the move
   * already past it. (Delivered to another replica, it drives there too: correct, as any two
   * replicas driving one VM are, but work done twice.)
   */
  private readonly vms = new SerialPerKey();
  /** Moves this process started and drives outside a stream delivery: `stop` waits for them. */
  private readonly drivingStarted = new Set<Promise<unknown>>();
  private readonly link: LinkWatch;
  private readonly stopping = new AbortController();
  private readonly reads: MoveReadModel;

  constructor(
    private readonly deps: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; commands: VmCommandService; dataSource: DataSource; logger: Logger; admissions: HostAdmissions },
    private readonly options: MoveSagaOptions,
  ) {
    this.log = deps.logger.child({ component: 'move-saga' });
    this.admissions = deps.admissions;
    this.link = new LinkWatch(deps.nc.status());
    this.reads = new MoveReadModel(deps.dataSource);
  }

  private get retryPolicy(): StepRetryPolicy {
    return { ...this.options.stepRetry, minRealMs: AGENT_MIN_TIMEOUT_REAL_MS };
  }

  async start(): Promise<void> {
    const s = subjects(this.options.prefix);
    this.consumer = new DurableConsumer(this.deps.js, this.deps.jsm, {
      stream: this.options.stream,
      durable: MANAGER_DURABLES.saga,
      filterSubject: s.vmEvents,
      logger: this.log,
      ackWaitMs: this.options.ackWaitMs ?? 3000,
      // A VM's later events wait (unacked) behind the handler that drives its move: allow thousands
      // of moves at once (a rack failing over), not the server's default of 1,000 messages.
      maxAckPending: 20_000,
      // Only VM events on their own VM's subject drive a move (schema and source checked once here).
      decode: (msg): RecordedEvent => decodeVmEventFrom(this.options.prefix, msg.subject, msg.json<unknown>()),
      // A step this saga recorded itself comes back not the head: its headers say so before any decode.
      skip: (msg) => this.isPast(msg),
      handle: (event) => this.onEvent(event),
    });
    await this.consumer.start();
  }

  /** Its consumer's counts: handled, skipped undecoded (steps it recorded itself), dropped by reason. */
  consumerStats(): DurableConsumer<RecordedEvent>['stats'] | undefined {
    return this.consumer?.stats;
  }

  /** What its consumer dropped before handling, by reason (for `locus_events_dropped_total`). */
  drops(): ReturnType<DurableConsumer<RecordedEvent>['drops']> | undefined {
    return this.consumer?.drops();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.consumer?.stop();
    // A step asked of an agent gives up at once now (the abort): nothing is appended after the caller closes the pool.
    await Promise.allSettled([...this.drivingStarted]);
  }

  /**
   * Whether the VM's state in memory is already past this event (its version is below the cached
   * one), so that `drive` would ack it and do nothing: told by the outbox's headers. Terminal events
   * are never skipped (a move's end runs its host's queue).
   */
  private isPast(msg: JsMsg): boolean {
    const type = msg.headers?.get(HEADERS.type);
    const stream = msg.headers?.get(HEADERS.stream);
    const versionHeader = msg.headers?.get(HEADERS.streamVersion);
    const version = Number(versionHeader);
    if (!type || TERMINAL.has(type) || !stream?.startsWith('vm:') || !versionHeader || !Number.isInteger(version)) return false;
    if (!isOwnEventSubject(this.options.prefix, msg.subject, stream, type)) return false; // decoded, and dropped as wrong-source
    const cached = this.deps.commands.cachedVersion(stream.slice(3));
    return cached !== undefined && cached > version;
  }

  private async onEvent(event: RecordedEvent): Promise<Outcome> {
    if (event.type === 'VmPlaced') return ACK;
    const vm = event.streamId.slice(3);
    // A move ended: its host's queue goes on. The saga did that already for the terminal events it
    // recorded itself; the others (a cancel, an HA decision, another replica's) are done here.
    if (TERMINAL.has(event.type) && !this.queueRunAfter.delete(event.id)) {
      const from = await this.sourceOf(event);
      if (from) await this.admitQueued(from);
    }
    return this.vms.run(vm, () => this.drive(vm, event));
  }

  /**
   * Drives the VM's move from the state after `trigger` for as long as there is a next step this
   * process can take: each step's recorded events are the state the next step is decided on, so a
   * move runs at the pace of its agents and commits, not of the stream's round trips. The stream
   * stays the durable trigger: its later events of this VM arrive as not-the-head and are acked,
   * and when a step cannot complete now (an agent that does not answer) the head event's own
   * delivery retries it. Only the head of the stream drives: an older event changes nothing.
   */
  private async drive(vm: string, trigger: RecordedEvent): Promise<Outcome> {
    let { state, version } = await this.deps.commands.load(vm, trigger.streamVersion);
    if (version > trigger.streamVersion) return ACK; // a later event of this VM drives the saga
    let causationId = trigger.id;
    for (let taken = 0; ; taken++) {
      const step = nextSagaStep(state);
      if (!step) return ACK;
      const ctx: Ctx = { correlationId: step.moveId, causationId };
      const { outcome, events } = await this.take(vm, state, step, ctx);
      if (events.length === 0) return taken === 0 ? outcome : ACK;
      const terminal = events.find((e) => TERMINAL.has(e.type));
      if (terminal && state.status === 'placed' && state.move) {
        this.rememberQueueRun(terminal.id);
        void this.admitQueued(state.move.from.hypervisor).catch((err: Error) => this.log.warn({ err: err.message }, 'admission of queued moves failed; the next terminal event retries it'));
      }
      ({ state, version } = await this.deps.commands.load(vm, version + events.length));
      causationId = events[events.length - 1].id;
    }
  }

  /** One step of the saga. */
  private async take(vm: string, state: VmState, step: SagaStep, ctx: Ctx): Promise<Stepped> {
    switch (step.kind) {
      case 'admit':
        return { outcome: ACK, events: await this.admit(vm, step, state.status === 'placed' ? state.move?.cause : undefined, ctx) };
      case 'commit':
        return this.commit(vm, step, ctx);
      case 'switchover': {
        const { events } = await this.deps.commands.execute(vm, commandOfStep(step), { ...ctx, component: 'mobility-manager' });
        for (const e of events) this.logDecision(vm, e);
        return { outcome: ACK, events };
      }
      case 'fail':
        return this.fail(vm, step, { code: step.code, message: step.message }, ctx);
      case 'agent':
        return this.runAgentStep(vm, state, step, ctx);
      default: {
        const never: never = step;
        throw new Error(`unhandled saga step ${JSON.stringify(never)}`);
      }
    }
  }

  private async commit(vm: string, step: Extract<SagaStep, { kind: 'commit' }>, ctx: Ctx): Promise<Stepped> {
    const { events } = await this.deps.commands.execute(vm, commandOfStep(step), { ...ctx, component: 'mobility-manager' });
    for (const e of events) this.logDecision(vm, e);
    return { outcome: ACK, events };
  }

  /**
   * The steps the saga decides alone right after an agent's answer (`decisionsAfter`: the location
   * commit after the last transfer, a switchover, a failure verdict), recorded in the answer's own
   * append: such a step costs no transaction and no commit wait of its own.
   */
  private decisionsAfterAnswer(ctx: Ctx): FollowUp {
    return (state) => ({ events: decisionsAfter(state).flatMap((d) => d.events), ctx: { ...ctx, component: 'mobility-manager' } });
  }

  /**
   * The progress line of a decision the saga recorded: a location commit, a switchover, a failure
   * verdict chained after an answer (`fail` says its own before it records one).
   */
  private logDecision(vm: string, e: RecordedEvent): void {
    if (e.type === 'VmRelocated') {
      const d = (e as RecordedVmEvent<'VmRelocated'>).data;
      this.log.info(
        { moveId: d.moveId, vm, to: d.to.hypervisor, site: d.to.site, locationVersion: d.locationVersion },
        `location committed: ${vm} now at ${d.to.hypervisor} (${d.to.site}), version ${d.locationVersion}`,
      );
    } else if (e.type === 'SwitchoverStarted') {
      const { moveId, reason, remainingBytes, expectedDowntimeMs } = (e as RecordedVmEvent<'SwitchoverStarted'>).data;
      this.log.info(
        { moveId, vm, reason, remainingBytes: Math.round(remainingBytes), expectedDowntimeMs: round(expectedDowntimeMs) },
        `switchover of ${vm}: ${reason}, expected downtime ${fmt(expectedDowntimeMs)}`,
      );
    } else if (e.type === 'MoveFailed') {
      const { moveId, code, message } = (e as RecordedVmEvent<'MoveFailed'>).data;
      this.log.warn({ moveId, vm, code, reason: message }, `move ${moveId.slice(0, 8)} ${vm} failed: ${code}`);
    }
  }

  /** Starts a queued move when admission lets it (libs/domain admission: a free outbound slot; HA restarts never wait). Returns what was appended. */
  private admit(vm: string, step: Extract<SagaStep, { kind: 'admit' }>, cause: 'operator' | 'ha-restart' | undefined, ctx: Ctx): Promise<RecordedEvent[]> {
    const { hypervisor: host, moveId } = step;
    return this.admissions.run(host, async () => {
      if (!mayStartNow(cause, cause === 'ha-restart' ? 0 : await this.reads.operatorMovesRunningFrom(host), this.limit)) {
        this.log.info({ moveId, vm, host, limit: this.limit }, `move of ${vm} queued: ${host} already has ${this.limit} outbound moves`);
        return [];
      }
      const { events } = await this.deps.commands.execute(vm, commandOfStep(step), { ...ctx, component: 'mobility-manager' });
      return events;
    });
  }

  /**
   * A move from `host` ended: start the oldest queued moves that now fit (one query: the running
   * count and the queue's head), and drive each at once (`driveStarted`).
   */
  private admitQueued(host: string): Promise<unknown> {
    return this.admissions.run(host, async () => {
      const { running, queued } = await this.reads.outboundQueueOf(host, this.limit);
      const free = freeOutboundSlots(running, this.limit);
      for (const q of queued.slice(0, Math.max(0, free))) {
        const { events } = await this.deps.commands
          .execute(q.vm, commandOfStep({ kind: 'admit', moveId: q.moveId, hypervisor: host }), { correlationId: q.moveId, causationId: q.moveId, component: 'mobility-manager' })
          .catch((err: Error) => {
            this.log.warn({ moveId: q.moveId, vm: q.vm, err: err.message }, `queued move of ${q.vm} not started`);
            return { events: [] as RecordedEvent[] };
          });
        const started = events[events.length - 1];
        if (started) this.options.onSlotFreed?.(host);
        if (started && !this.stopping.signal.aborted) {
          this.log.info({ moveId: q.moveId, vm: q.vm, host }, `queued move of ${q.vm} started: ${host} has a free outbound slot; driving it here`);
          this.driveStarted(q.vm, started);
        }
      }
    });
  }

  /**
   * Drives a move this process just started (a queued one, or one `vm.move` started in its
   * acceptance's append) at once, rather than after its MoveStarted's round trip through the
   * outbox and the stream: a slot is held from MoveStarted on, so that trip was slot time. Not
   * awaited: the move runs for as long as it runs. The stream's delivery stays the durable trigger
   * if this process stops first.
   */
  driveStarted(vm: string, started: RecordedEvent): void {
    if (this.stopping.signal.aborted) return;
    const moveId = 'moveId' in started.data ? started.data.moveId : undefined;
    const driving: Promise<unknown> = this.vms
      .run(vm, () => this.drive(vm, started))
      .catch((err: Error) => this.log.warn({ moveId, vm, err: err.message }, `move of ${vm} started; its stream delivery drives it on`))
      .finally(() => this.drivingStarted.delete(driving));
    this.drivingStarted.add(driving);
  }

  /** Terminal events this process recorded and ran its host's queue after (bounded: their stream delivery removes them). */
  private readonly queueRunAfter = new Set<string>();

  private rememberQueueRun(eventId: string): void {
    this.queueRunAfter.add(eventId);
    if (this.queueRunAfter.size > 10_000) this.queueRunAfter.delete(this.queueRunAfter.values().next().value!);
  }

  private get limit(): number {
    return this.options.maxOutboundPerHost ?? 2;
  }

  private async sourceOf(event: RecordedEvent): Promise<string | undefined> {
    const moveId = 'moveId' in event.data ? event.data.moveId : undefined;
    if (!moveId) return undefined;
    return this.reads.sourceHostOf(moveId);
  }

  private async runAgentStep(vm: string, state: VmState, step: AgentStep, ctx: Ctx): Promise<Stepped> {
    const subject = subjects(this.options.prefix).agent(step.hypervisor, step.action);
    const body = {
      moveId: step.moveId,
      vm,
      locationVersion: step.locationVersion,
      ...(step.peer ? { peer: step.peer } : {}),
      ...(step.meta ? { round: step.meta.round } : {}),
      ...definedParams(step.params),
    };
    const label = step.purpose === 'restart' ? 'restart' : step.action;
    if (step.action !== 'precopy-round') this.log.info({ moveId: step.moveId, vm, step: label, hypervisor: step.hypervisor }, `asking ${step.hypervisor} to ${label} ${vm}`);
    const canGoBack = state.status === 'placed' && !!state.move && ['started', 'source-stopped', 'suspended', 'precopy'].includes(state.move.phase) && step.purpose !== 'restart';
    const answer = await this.ask(step, subject, body);
    if ('unanswered' in answer) {
      const reason = `agent ${step.hypervisor} did not answer ${step.action}: ${answer.unanswered}`;
      if (!answer.stopping && canGoBack) return this.fail(vm, step, { code: 'UNAVAILABLE', message: reason }, ctx);
      if (!answer.stopping && step.action === 'postcopy-pull')
        return this.fail(vm, step, { code: 'POSTCOPY_SOURCE_LOST', message: `source ${step.peer} died during postcopy: the pages it still held are lost` }, ctx);
      // Past the point of no return nothing can go back: the event comes again and the step is asked again.
      return { outcome: { retryInMs: attemptTimeoutMs(this.retryPolicy, Infinity), reason }, events: [] };
    }
    const { reply } = answer;
    if (!reply.ok) {
      if (canGoBack || reply.error.code === 'POSTCOPY_SOURCE_LOST') return this.fail(vm, step, reply.error, ctx);
      // Past the point of no return nothing can go back; keep trying and say why.
      return { outcome: { retryInMs: 2000, reason: `${step.hypervisor} refused ${step.action}: ${reply.error.code} ${reply.error.message}` }, events: [] };
    }
    const { events } = await this.deps.commands.execute(
      vm,
      commandOfAnswer(step, reply, this.options.stepRetry.timeScale),
      { ...ctx, component: `agent:${step.hypervisor}` },
      this.decisionsAfterAnswer(ctx),
    );
    for (const e of events) {
      this.logEvent(vm, e);
      this.logDecision(vm, e);
    }
    return { outcome: ACK, events };
  }

  /**
   * Sends the step until its agent answers, again after each attempt's timeout (short, doubling,
   * time-scaled: see StepRetryPolicy), or until the agent is given up on: silent for `giveUpRealMs`
   * over an unbroken link once the step's expected duration has passed. A repeat is safe: the
   * agent runs a (move, step, round) once and answers every repeat with its result. The event
   * that triggered the step stays in progress meanwhile (the consumer's `working()`).
   */
  private async ask(step: AgentStep, subject: string, body: object): Promise<Answer> {
    const policy = this.retryPolicy;
    const signal = this.stopping.signal;
    const expectedRealMs = expectedStepMs(step) / policy.timeScale;
    const started = performance.now();
    let silentMs = 0;
    let late = 0;
    let lastError = '';
    let logged = '';
    for (let attempt = 0; !signal.aborted; attempt++) {
      const timeoutMs = attemptTimeoutMs(policy, attempt);
      const mark = this.link.mark();
      const sentAt = performance.now();
      const sentRealMs = sentAt - started;
      try {
        const reply = await requestJson<Extract<Answer, { reply: unknown }>['reply']>(this.deps.nc, subject, body, timeoutMs);
        // An agent still loading its inventory (or down) says UNAVAILABLE: not a refusal of the step,
        // so it is asked again like one that did not answer, never failed for a VM it cannot see yet.
        if (reply.ok || reply.error.code !== 'UNAVAILABLE') return { reply };
        lastError = `UNAVAILABLE ${reply.error.message}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      // No responders, or a link already down, fail at once: the next attempt still waits its turn.
      await delay(timeoutMs - (performance.now() - sentAt), signal);
      const elapsedRealMs = performance.now() - started;
      silentMs += silenceOf({ linkUnbroken: this.link.unbrokenSince(mark), sentRealMs, endedRealMs: elapsedRealMs, expectedRealMs });
      if (silentMs >= policy.giveUpRealMs) return { unanswered: `silent ${(silentMs / 1000).toFixed(1)} s over ${attempt + 1} attempts, the last: ${lastError}`, stopping: false };
      // Within its expected duration a step is just running: say so once it is late, then every fifth attempt or when the answer changes.
      if (elapsedRealMs > expectedRealMs && (late++ % 5 === 0 || lastError !== logged)) {
        logged = lastError;
        this.log.info(
          {
            moveId: step.moveId,
            step: step.action,
            hypervisor: step.hypervisor,
            attempts: attempt + 1,
            silentMs: Math.round(silentMs),
            nextTimeoutMs: Math.round(attemptTimeoutMs(policy, attempt + 1)),
            err: lastError,
          },
          `${step.hypervisor} has not answered ${step.action} past its expected ${fmt(expectedRealMs * policy.timeScale)}; asking again`,
        );
      }
    }
    return { unanswered: 'the mobility manager is stopping', stopping: true };
  }

  /** One progress line per meaningful step; the completion line carries the figures. */
  private logEvent(vm: string, e: RecordedEvent): void {
    if (e.type === 'PreCopyRoundCompleted') {
      const d = e.data;
      this.log.info(
        {
          moveId: d.moveId,
          vm,
          round: d.round,
          sentBytes: d.sentBytes,
          dirtyBytes: Math.round(d.dirtyBytes),
          throttlePct: d.throttlePct,
          roundMs: round(d.durationMs),
          expectedDowntimeMs: round(d.expectedDowntimeMs),
        },
        `pre-copy ${vm} round ${d.round}: sent ${mib(d.sentBytes)}, ${mib(d.dirtyBytes)} dirty, downtime if stopped now ${fmt(d.expectedDowntimeMs)}${d.throttlePct ? `, vCPU throttled ${d.throttlePct}%` : ''}`,
      );
    } else if (e.type === 'MoveCompleted') {
      const d = e.data;
      const moveId = d.moveId;
      this.log.info(
        { moveId, vm, downtimeMs: d.downtimeMs, modelDowntimeMs: d.modelDowntimeMs, totalMs: d.totalMs, rounds: d.rounds, dataSentBytes: d.dataSentBytes, locationVersion: d.locationVersion },
        `move ${moveId.slice(0, 8)} ${vm} completed: downtime ${fmt(d.downtimeMs)} (model ${fmt(d.modelDowntimeMs ?? d.downtimeMs)}), total ${fmt(d.totalMs)}${d.rounds ? `, ${d.rounds} pre-copy rounds` : ''}`,
      );
    } else if (e.type === 'VmRestartedAtSource') this.log.info({ moveId: e.data.moveId, vm, hypervisor: e.data.hypervisor }, `${vm} running again at ${e.data.hypervisor}`);
  }

  private async fail(vm: string, step: SagaStep, error: ErrorBody, ctx: Ctx): Promise<Stepped> {
    this.log.warn({ moveId: step.moveId, vm, code: error.code, reason: error.message }, `move ${step.moveId.slice(0, 8)} ${vm} failed: ${error.code}`);
    const { events } = await this.deps.commands.execute(vm, failureOf(step, error), { ...ctx, component: 'mobility-manager' });
    return { outcome: ACK, events };
  }
}

function definedParams(params: Record<string, number | string | null>): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {};
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) out[k] = v;
  if ('workingSetBytes' in params) out.workingSetBytes = params.workingSetBytes;
  return out;
}

/** Waits `ms` (nothing when not positive), or less when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
