import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { subjects, type AgentStepReply, type ErrorBody, type RecordedEvent, type VmEventOf } from '@locus/contracts';
import { nextSagaStep, type SagaStep, type VmCommand } from '@locus/domain';
import { ACK, DurableConsumer, requestJson, type Outcome } from '@locus/messaging';
import type { VmCommandService } from '../vm-commands/vm-command.service';

export interface MoveSagaOptions {
  prefix: string;
  stream: string;
  /** Real-time limit of one agent step (a boot at scale 1 takes as long as the profile says). */
  agentTimeoutMs: number;
  /** Unanswered agent requests are retried this many times before a move that can still go back fails. */
  maxAgentRetries?: number;
}

/**
 * Drives every move forward from the VM events on JetStream. For each event it reads the
 * VM's stream and asks the pure saga what comes next, so redelivered or out-of-date events
 * repeat nothing: an event that is not the head of its stream is acknowledged and skipped,
 * and a step already recorded decides to no events. Agent steps are idempotent per move.
 */
export class MoveSagaRunner {
  private consumer?: DurableConsumer;
  private readonly log: Logger;

  constructor(
    private readonly deps: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; commands: VmCommandService; logger: Logger },
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
    if (event.type === 'VmPlaced' || event.type === 'MoveCompleted') return ACK;
    const vm = event.streamId.slice(3);
    const { state, version } = await this.deps.commands.load(vm);
    if (version > event.streamVersion) return ACK; // a later event of this VM drives the saga
    const step = nextSagaStep(state);
    if (!step) return ACK;
    const ctx = { correlationId: step.moveId, causationId: event.id };
    if (step.kind === 'commit') {
      const { events } = await this.deps.commands.execute(vm, { type: 'CommitLocation', moveId: step.moveId }, { ...ctx, component: 'mobility-manager' });
      const relocated = events.find((e) => e.type === 'VmRelocated');
      if (relocated) {
        const d = relocated.data as VmEventOf<'VmRelocated'>['data'];
        this.log.info({ moveId: step.moveId, vm, to: d.to.hypervisor, site: d.to.site, locationVersion: d.locationVersion }, `location committed: ${vm} now at ${d.to.hypervisor} (${d.to.site}), version ${d.locationVersion}`);
      }
      return ACK;
    }
    return this.runAgentStep(vm, step, msg, ctx);
  }

  private async runAgentStep(vm: string, step: Extract<SagaStep, { kind: 'agent' }>, msg: JsMsg, ctx: { correlationId: string; causationId: string }): Promise<Outcome> {
    const action = step.action === 'restart' ? 'start' : step.action;
    const subject = subjects(this.options.prefix).agent(step.hypervisor, action);
    const body = { moveId: step.moveId, vm, locationVersion: step.locationVersion, ...(step.action === 'transfer' ? { peer: step.peer } : {}) };
    this.log.info({ moveId: step.moveId, vm, step: step.action, hypervisor: step.hypervisor }, `asking ${step.hypervisor} to ${step.action} ${vm}`);
    let reply: ({ ok: true } & AgentStepReply) | { ok: false; error: ErrorBody };
    try {
      reply = await requestJson(this.deps.nc, subject, body, this.options.agentTimeoutMs);
    } catch (err) {
      const attempts = msg.info.redeliveryCount;
      const canFail = step.action === 'stop' || step.action === 'transfer';
      if (canFail && attempts > (this.options.maxAgentRetries ?? 10)) {
        return this.fail(vm, step, { code: 'UNAVAILABLE', message: `agent ${step.hypervisor} did not answer ${step.action} after ${attempts} attempts: ${(err as Error).message}` }, ctx);
      }
      return { retryInMs: Math.min(5000, 200 * 2 ** Math.min(attempts, 5)), reason: `agent ${step.hypervisor} did not answer ${step.action}: ${(err as Error).message}` };
    }
    if (!reply.ok) {
      if (step.action === 'stop' || step.action === 'transfer') return this.fail(vm, step, reply.error, ctx);
      // Past the stop nothing can go back without a restart; keep trying and say why.
      return { retryInMs: 2000, reason: `${step.hypervisor} refused ${step.action}: ${reply.error.code} ${reply.error.message}` };
    }
    const component = `agent:${step.hypervisor}`;
    const command: VmCommand =
      step.action === 'stop'
        ? { type: 'RecordSourceStopped', moveId: step.moveId, hypervisor: step.hypervisor, durationMs: reply.durationMs }
        : step.action === 'transfer'
          ? { type: 'RecordConfigTransferred', moveId: step.moveId, bytes: reply.bytes ?? 0, durationMs: reply.durationMs }
          : step.action === 'start'
            ? { type: 'RecordTargetStarted', moveId: step.moveId, hypervisor: step.hypervisor, locationVersion: step.locationVersion, durationMs: reply.durationMs }
            : { type: 'RecordRestartedAtSource', moveId: step.moveId, hypervisor: step.hypervisor, durationMs: reply.durationMs };
    const { events } = await this.deps.commands.execute(vm, command, { ...ctx, component });
    const completed = events.find((e) => e.type === 'MoveCompleted');
    if (completed) {
      const d = completed.data as VmEventOf<'MoveCompleted'>['data'];
      this.log.info({ moveId: step.moveId, vm, downtimeMs: d.downtimeMs, totalMs: d.totalMs, locationVersion: d.locationVersion }, `move ${step.moveId.slice(0, 8)} ${vm} completed: downtime ${fmt(d.downtimeMs)}, total ${fmt(d.totalMs)}`);
    }
    return ACK;
  }

  private async fail(vm: string, step: SagaStep, error: ErrorBody, ctx: { correlationId: string; causationId: string }): Promise<Outcome> {
    this.log.warn({ moveId: step.moveId, vm, code: error.code, reason: error.message }, `move ${step.moveId.slice(0, 8)} ${vm} failed`);
    await this.deps.commands.execute(vm, { type: 'FailMove', moveId: step.moveId, code: error.code, message: error.message }, { ...ctx, component: 'mobility-manager' });
    return ACK;
  }
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
