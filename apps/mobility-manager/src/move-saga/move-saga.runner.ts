import type { DataSource } from 'typeorm';
import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { subjects, type AgentStepReply, type ErrorBody, type RecordedEvent, type VmEventOf } from '@locus/contracts';
import { nextSagaStep, type SagaStep, type VmCommand, type VmState } from '@locus/domain';
import { ACK, DurableConsumer, requestJson, type Outcome } from '@locus/messaging';
import type { VmCommandService } from '../vm-commands/vm-command.service';

export interface MoveSagaOptions {
  prefix: string;
  stream: string;
  /** Real-time limit of one agent step (a boot at scale 1 takes as long as the profile says). */
  agentTimeoutMs: number;
  /** Unanswered agent requests are retried this many times before a move that can still go back fails. */
  maxAgentRetries?: number;
  /** Concurrent outbound moves per source hypervisor; more wait in a queue (KubeVirt's default is 2). */
  maxOutboundPerHost?: number;
}

type AgentStep = Extract<SagaStep, { kind: 'agent' }>;
type Ctx = { correlationId: string; causationId: string };
const TERMINAL = new Set(['MoveCompleted', 'MoveFailed', 'MoveCancelled', 'VmRestartedAtSource']);

/**
 * Drives every move forward from the VM events on JetStream. For each event it reads the
 * VM's stream and asks the pure saga what comes next, so redelivered or out-of-date events
 * repeat nothing: an event that is not the head of its stream is acknowledged and skipped,
 * and a step already recorded decides to no events. Agent steps are idempotent per move.
 */
export class MoveSagaRunner {
  private consumer?: DurableConsumer;
  private readonly log: Logger;
  /** Admission is serialised per source host so two moves never take the last slot together. */
  private readonly admissions = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; commands: VmCommandService; dataSource: DataSource; logger: Logger },
    private readonly options: MoveSagaOptions,
  ) {
    this.log = deps.logger.child({ component: 'move-saga' });
  }

  async start(): Promise<void> {
    const s = subjects(this.options.prefix);
    this.consumer = new DurableConsumer(this.deps.js, this.deps.jsm, {
      stream: this.options.stream,
      durable: 'mobility-move-saga',
      filterSubject: s.event('vm', '*', '*'),
      logger: this.log,
      ackWaitMs: 30_000,
      handle: (event, msg) => this.onEvent(event, msg),
    });
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  private async onEvent(event: RecordedEvent, msg: JsMsg): Promise<Outcome> {
    if (event.type === 'VmPlaced') return ACK;
    const vm = event.streamId.slice(3);
    if (TERMINAL.has(event.type)) {
      const from = await this.sourceOf(event);
      if (from) await this.admitQueued(from);
    }
    const { state, version } = await this.deps.commands.load(vm);
    if (version > event.streamVersion) return ACK; // a later event of this VM drives the saga
    const step = nextSagaStep(state);
    if (!step) return ACK;
    const ctx: Ctx = { correlationId: step.moveId, causationId: event.id };
    switch (step.kind) {
      case 'admit':
        await this.admit(vm, step.hypervisor, step.moveId, ctx);
        return ACK;
      case 'commit':
        return this.commit(vm, step.moveId, ctx);
      case 'switchover': {
        const { moveId, reason, remainingBytes, expectedDowntimeMs } = step;
        this.log.info({ moveId, vm, reason, remainingBytes: Math.round(remainingBytes), expectedDowntimeMs: round(expectedDowntimeMs) }, `switchover of ${vm}: ${reason}, expected downtime ${fmt(expectedDowntimeMs)}`);
        await this.deps.commands.execute(vm, { type: 'StartSwitchover', moveId, reason, remainingBytes, expectedDowntimeMs }, { ...ctx, component: 'mobility-manager' });
        return ACK;
      }
      case 'fail':
        return this.fail(vm, step, { code: step.code, message: step.message }, ctx);
      case 'agent':
        return this.runAgentStep(vm, state, step, msg, ctx);
      default: {
        const never: never = step;
        throw new Error(`unhandled saga step ${JSON.stringify(never)}`);
      }
    }
  }

  private async commit(vm: string, moveId: string, ctx: Ctx): Promise<Outcome> {
    const { events } = await this.deps.commands.execute(vm, { type: 'CommitLocation', moveId }, { ...ctx, component: 'mobility-manager' });
    const relocated = events.find((e) => e.type === 'VmRelocated');
    if (relocated) {
      const d = relocated.data as VmEventOf<'VmRelocated'>['data'];
      this.log.info({ moveId, vm, to: d.to.hypervisor, site: d.to.site, locationVersion: d.locationVersion }, `location committed: ${vm} now at ${d.to.hypervisor} (${d.to.site}), version ${d.locationVersion}`);
    }
    return ACK;
  }

  /** Starts a queued move when its source host has a free outbound slot. */
  private admit(vm: string, host: string, moveId: string, ctx: Ctx): Promise<unknown> {
    const previous = this.admissions.get(host) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(async () => {
      const active = await this.deps.dataSource.query(
        `SELECT count(*)::int AS n FROM moves WHERE state = 'in-progress' AND view->'from'->>'hypervisor' = $1 AND view->>'cause' <> 'ha-restart'`,
        [host],
      );
      const limit = this.options.maxOutboundPerHost ?? 2;
      const isHa = (await this.deps.dataSource.query(`SELECT view->>'cause' AS cause FROM moves WHERE move_id = $1`, [moveId]))[0]?.cause === 'ha-restart';
      if (!isHa && active[0].n >= limit) {
        this.log.info({ moveId, vm, host, active: active[0].n, limit }, `move of ${vm} queued: ${host} already has ${active[0].n} outbound moves`);
        return;
      }
      await this.deps.commands.execute(vm, { type: 'StartMove', moveId }, { ...ctx, component: 'mobility-manager' });
    });
    this.admissions.set(host, next);
    return next;
  }

  /** A move from `host` ended: start the oldest queued moves that now fit. */
  private async admitQueued(host: string): Promise<void> {
    const queued: { move_id: string; vm: string }[] = await this.deps.dataSource.query(
      `SELECT move_id, vm FROM moves WHERE state = 'accepted' AND view->'from'->>'hypervisor' = $1 ORDER BY accepted_at, move_id LIMIT 4`,
      [host],
    );
    for (const q of queued) await this.admit(q.vm, host, q.move_id, { correlationId: q.move_id, causationId: q.move_id });
  }

  private async sourceOf(event: RecordedEvent): Promise<string | undefined> {
    const moveId = (event.data as { moveId?: string }).moveId;
    if (!moveId) return undefined;
    const rows = await this.deps.dataSource.query(`SELECT view->'from'->>'hypervisor' AS host FROM moves WHERE move_id = $1`, [moveId]);
    return rows[0]?.host;
  }

  private async runAgentStep(vm: string, state: VmState, step: AgentStep, msg: JsMsg, ctx: Ctx): Promise<Outcome> {
    const subject = subjects(this.options.prefix).agent(step.hypervisor, step.action);
    const body = { moveId: step.moveId, vm, locationVersion: step.locationVersion, ...(step.peer ? { peer: step.peer } : {}), ...definedParams(step.params) };
    const label = step.purpose === 'restart' ? 'restart' : step.action;
    if (step.action !== 'precopy-round') this.log.info({ moveId: step.moveId, vm, step: label, hypervisor: step.hypervisor }, `asking ${step.hypervisor} to ${label} ${vm}`);
    let reply: ({ ok: true } & AgentStepReply) | { ok: false; error: ErrorBody };
    const canGoBack = state.status === 'placed' && !!state.move && ['started', 'source-stopped', 'suspended', 'precopy'].includes(state.move.phase) && step.purpose !== 'restart';
    try {
      reply = await requestJson(this.deps.nc, subject, body, this.options.agentTimeoutMs);
    } catch (err) {
      const attempts = msg.info.redeliveryCount;
      if (canGoBack && attempts > (this.options.maxAgentRetries ?? 10))
        return this.fail(vm, step, { code: 'UNAVAILABLE', message: `agent ${step.hypervisor} did not answer ${step.action} after ${attempts} attempts: ${(err as Error).message}` }, ctx);
      if (step.action === 'postcopy-pull' && attempts > (this.options.maxAgentRetries ?? 10))
        return this.fail(vm, step, { code: 'POSTCOPY_SOURCE_LOST', message: `source ${step.peer} died during postcopy: the pages it still held are lost` }, ctx);
      return { retryInMs: Math.min(5000, 200 * 2 ** Math.min(attempts, 5)), reason: `agent ${step.hypervisor} did not answer ${step.action}: ${(err as Error).message}` };
    }
    if (!reply.ok) {
      if (canGoBack || reply.error.code === 'POSTCOPY_SOURCE_LOST') return this.fail(vm, step, reply.error, ctx);
      // Past the point of no return nothing can go back; keep trying and say why.
      return { retryInMs: 2000, reason: `${step.hypervisor} refused ${step.action}: ${reply.error.code} ${reply.error.message}` };
    }
    const { events } = await this.deps.commands.execute(vm, this.recordOf(step, reply), { ...ctx, component: `agent:${step.hypervisor}` });
    for (const e of events) this.logEvent(vm, e);
    return ACK;
  }

  private recordOf(step: AgentStep, reply: AgentStepReply): VmCommand {
    const { moveId, hypervisor, locationVersion } = step;
    const durationMs = reply.durationMs;
    if (step.purpose === 'restart') return { type: 'RecordRestartedAtSource', moveId, hypervisor, durationMs };
    switch (step.action) {
      case 'stop':
        return { type: 'RecordSourceStopped', moveId, hypervisor, durationMs };
      case 'transfer':
        return { type: 'RecordConfigTransferred', moveId, bytes: reply.bytes ?? 0, durationMs };
      case 'start':
        return { type: 'RecordTargetStarted', moveId, hypervisor, locationVersion, durationMs };
      case 'suspend':
        return { type: 'RecordSuspended', moveId, hypervisor, bytes: reply.bytes ?? 0, durationMs };
      case 'receive-state':
        return { type: 'RecordStateTransferred', moveId, bytes: reply.bytes ?? 0, durationMs };
      case 'resume':
        return { type: 'RecordResumed', moveId, hypervisor, locationVersion, durationMs };
      case 'precopy-round': {
        const p = step.params;
        const bandwidthBps = p.bandwidthBps as number;
        const dirtyBytes = reply.dirtyBytes ?? 0;
        return {
          type: 'RecordPrecopyRound',
          moveId,
          round: {
            round: step.meta?.round ?? 0,
            sentBytes: reply.bytes ?? 0,
            durationMs,
            dirtyBytes,
            throttlePct: (p.throttlePct as number) ?? 0,
            expectedDowntimeMs: (dirtyBytes / bandwidthBps) * 1000 + (step.meta?.resumeMs ?? 0),
          },
        };
      }
      case 'pause-and-copy':
        return { type: 'RecordPausedAndCopied', moveId, hypervisor, bytes: reply.bytes ?? 0, durationMs };
      case 'announce':
        return { type: 'RecordAnnounced', moveId, hypervisor, offsetsMs: reply.offsetsMs ?? [] };
      case 'postcopy-pull':
        return { type: 'RecordPostcopyPulled', moveId, bytes: reply.bytes ?? 0, durationMs };
      default: {
        const never: never = step.action;
        throw new Error(`unhandled agent action ${never}`);
      }
    }
  }

  /** One progress line per meaningful step; the completion line carries the figures. */
  private logEvent(vm: string, e: RecordedEvent): void {
    const d = e.data as Record<string, any>;
    const moveId = d.moveId as string;
    if (e.type === 'PreCopyRoundCompleted')
      this.log.info(
        { moveId, vm, round: d.round, sentBytes: d.sentBytes, dirtyBytes: Math.round(d.dirtyBytes), throttlePct: d.throttlePct, roundMs: round(d.durationMs), expectedDowntimeMs: round(d.expectedDowntimeMs) },
        `pre-copy ${vm} round ${d.round}: sent ${mib(d.sentBytes)}, ${mib(d.dirtyBytes)} dirty, downtime if stopped now ${fmt(d.expectedDowntimeMs)}${d.throttlePct ? `, vCPU throttled ${d.throttlePct}%` : ''}`,
      );
    else if (e.type === 'MoveCompleted')
      this.log.info(
        { moveId, vm, downtimeMs: d.downtimeMs, totalMs: d.totalMs, rounds: d.rounds, dataSentBytes: d.dataSentBytes, locationVersion: d.locationVersion },
        `move ${moveId.slice(0, 8)} ${vm} completed: downtime ${fmt(d.downtimeMs)}, total ${fmt(d.totalMs)}${d.rounds ? `, ${d.rounds} pre-copy rounds` : ''}`,
      );
    else if (e.type === 'VmRestartedAtSource') this.log.info({ moveId, vm, hypervisor: d.hypervisor }, `${vm} running again at ${d.hypervisor}`);
  }

  private async fail(vm: string, step: SagaStep, error: ErrorBody, ctx: Ctx): Promise<Outcome> {
    this.log.warn({ moveId: step.moveId, vm, code: error.code, reason: error.message }, `move ${step.moveId.slice(0, 8)} ${vm} failed: ${error.code}`);
    await this.deps.commands.execute(vm, { type: 'FailMove', moveId: step.moveId, code: error.code, message: error.message }, { ...ctx, component: 'mobility-manager' });
    return ACK;
  }
}

function definedParams(params: Record<string, number | null>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) out[k] = v;
  if ('workingSetBytes' in params) out.workingSetBytes = params.workingSetBytes;
  return out;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
