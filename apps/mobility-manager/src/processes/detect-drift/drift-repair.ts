import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { LocusError, subjects, type AgentStepReply, type DriftRepairView, type ErrorBody } from '@locus/contracts';
import { stuckRepairAction, type HostRepairPlan } from '@locus/domain';
import { requestJson } from '@locus/messaging';
import type { VmCommandService } from '../../vm-commands/vm-command.service';

export interface DriftRepairOptions {
  prefix: string;
  /** Real ms one repair boot may take before the check stops waiting (the next check looks again). */
  stepTimeoutMs?: number;
  /** Boots of one VM at one location version that went unanswered before the repair is declared stuck. */
  maxUnanswered?: number;
  /** Repairs run at once. */
  concurrency?: number;
}

/**
 * Carries out the repairs the drift check decided, through the recorded paths only: the location
 * DB's location asserted again (VmLocationReasserted, appended at the version the check compared:
 * refused if the VM changed since), then the boot on the DB's host asked of its agent and recorded
 * (VmRestartedByRepair). A boot the host refuses, or that goes unanswered `maxUnanswered` times, is
 * loudly stuck: VmRepairStuck with what a human must do, and an error log line saying it. A stuck VM
 * is not tried again by the periodic check (its disagreement stays known); `drift.check` tries again.
 */
export class DriftRepairer {
  private readonly log: Logger;
  private readonly inFlight = new Set<string>();
  /** VMs stuck, at the location version they got stuck at. */
  private readonly stuck = new Map<string, number>();
  /** Unanswered boots per VM, at one location version. */
  private readonly unanswered = new Map<string, { locationVersion: number; count: number }>();

  constructor(
    private readonly deps: { nc: NatsConnection; commands: VmCommandService; logger: Logger },
    private readonly options: DriftRepairOptions,
  ) {
    this.log = deps.logger.child({ component: 'drift-repair' });
  }

  /** Repairs these VMs (a few at a time); `retryStuck`: also those stuck before (an explicit `drift.check`). */
  async repair(plans: readonly HostRepairPlan[], retryStuck: boolean): Promise<DriftRepairView[]> {
    const out: DriftRepairView[] = [];
    const queue = plans.filter((p) => !this.inFlight.has(p.vm) && (retryStuck || this.stuck.get(p.vm) !== comparedVersion(p)));
    const worker = async () => {
      for (let plan = queue.shift(); plan; plan = queue.shift()) {
        this.inFlight.add(plan.vm);
        try {
          out.push(...(await this.repairOne(plan)));
        } catch (err) {
          this.log.warn({ vm: plan.vm, err: (err as Error).message }, `drift repair of ${plan.vm} failed: ${(err as Error).message}; the next check decides again`);
        } finally {
          this.inFlight.delete(plan.vm);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency ?? 8) }, worker));
    return out;
  }

  private async repairOne(plan: HostRepairPlan): Promise<DriftRepairView[]> {
    const repairId = randomUUID();
    const ctx = { correlationId: repairId, component: 'drift-repair' };
    const views: DriftRepairView[] = [];
    const kinds = [...new Set(plan.findings.map((f) => f.kind))].join(', ');
    if (plan.reassert) {
      const { expectedLocationVersion, locationVersion, evict } = plan.reassert;
      try {
        await this.deps.commands.execute(
          plan.vm,
          { type: 'ReassertLocation', repairId, expectedLocationVersion, hypervisor: plan.hypervisor, locationVersion, findings: plan.findings, evict, start: !!plan.start },
          ctx,
        );
      } catch (err) {
        if (!(err instanceof LocusError)) throw err;
        this.log.info({ vm: plan.vm, repairId, code: err.code }, `drift repair of ${plan.vm} not done: ${err.message}`);
        return [{ vm: plan.vm, repairId, outcome: 'refused', hypervisor: plan.hypervisor, locationVersion: expectedLocationVersion, detail: `${err.code}: ${err.message}` }];
      }
      const detail = `${plan.vm} reasserted on ${plan.hypervisor} at location version ${locationVersion} (was ${expectedLocationVersion}; ${kinds})${evict.length ? `; copies on ${evict.join(', ')} dropped` : ''}${plan.start ? `; booting it on ${plan.hypervisor}` : ''}`;
      this.log.warn({ vm: plan.vm, repairId, hypervisor: plan.hypervisor, locationVersion, previousVersion: expectedLocationVersion, kinds, evict }, `drift repair: ${detail}`);
      views.push({ vm: plan.vm, repairId, outcome: 'reasserted', hypervisor: plan.hypervisor, locationVersion, ...(evict.length ? { evicted: evict } : {}), detail });
    }
    if (plan.start) views.push(await this.boot(plan, repairId, plan.start.locationVersion, ctx));
    return views;
  }

  /** Asks the DB's host to boot the VM for `locationVersion` and records it, or declares the repair stuck. */
  private async boot(plan: HostRepairPlan, repairId: string, locationVersion: number, ctx: { correlationId: string; component: string }): Promise<DriftRepairView> {
    const subject = subjects(this.options.prefix).agent(plan.hypervisor, 'start');
    let reply: ({ ok: true } & AgentStepReply) | { ok: false; error: ErrorBody };
    try {
      reply = await requestJson(this.deps.nc, subject, { moveId: repairId, vm: plan.vm, locationVersion }, this.options.stepTimeoutMs ?? 10_000);
    } catch (err) {
      return this.unansweredBoot(plan, repairId, locationVersion, (err as Error).message, ctx);
    }
    if (!reply.ok && reply.error.code === 'UNAVAILABLE') return this.unansweredBoot(plan, repairId, locationVersion, `UNAVAILABLE ${reply.error.message}`, ctx);
    if (!reply.ok) return this.declareStuck(plan, repairId, locationVersion, `${plan.hypervisor} refused the boot: ${reply.error.code} ${reply.error.message}`, ctx);
    this.unanswered.delete(plan.vm);
    this.stuck.delete(plan.vm);
    try {
      await this.deps.commands.execute(
        plan.vm,
        { type: 'RecordRepairRestarted', repairId, hypervisor: plan.hypervisor, locationVersion, durationMs: reply.durationMs },
        { ...ctx, component: `agent:${plan.hypervisor}` },
      );
    } catch (err) {
      if (!(err instanceof LocusError)) throw err;
      // Booted, but the VM changed meanwhile (a move): the next check compares it on the new facts.
      this.log.info({ vm: plan.vm, repairId, code: err.code }, `drift repair boot of ${plan.vm} not recorded: ${err.message}`);
      return { vm: plan.vm, repairId, outcome: 'refused', hypervisor: plan.hypervisor, locationVersion, detail: `booted, not recorded: ${err.code}: ${err.message}` };
    }
    const detail = `${plan.vm} booted again on ${plan.hypervisor} for location version ${locationVersion} (${reply.durationMs} ms)`;
    this.log.info({ vm: plan.vm, repairId, hypervisor: plan.hypervisor, locationVersion, durationMs: reply.durationMs }, `drift repair: ${detail}`);
    return { vm: plan.vm, repairId, outcome: 'restarted', hypervisor: plan.hypervisor, locationVersion, detail };
  }

  private async unansweredBoot(plan: HostRepairPlan, repairId: string, locationVersion: number, why: string, ctx: { correlationId: string; component: string }): Promise<DriftRepairView> {
    const before = this.unanswered.get(plan.vm);
    const count = before?.locationVersion === locationVersion ? before.count + 1 : 1;
    this.unanswered.set(plan.vm, { locationVersion, count });
    const max = this.options.maxUnanswered ?? 3;
    if (count >= max) return this.declareStuck(plan, repairId, locationVersion, `${plan.hypervisor} did not answer the boot ${count} times: ${why}`, ctx);
    this.log.warn(
      { vm: plan.vm, repairId, hypervisor: plan.hypervisor, attempt: count, err: why },
      `drift repair: ${plan.hypervisor} did not answer the boot of ${plan.vm} (${count} of ${max}): ${why}; the next check asks again`,
    );
    return { vm: plan.vm, repairId, outcome: 'pending', hypervisor: plan.hypervisor, locationVersion, detail: `boot not answered (${count} of ${max}): ${why}` };
  }

  private async declareStuck(plan: HostRepairPlan, repairId: string, locationVersion: number, reason: string, ctx: { correlationId: string; component: string }): Promise<DriftRepairView> {
    this.unanswered.delete(plan.vm);
    this.stuck.set(plan.vm, comparedVersion(plan));
    const action = stuckRepairAction(plan, reason);
    try {
      await this.deps.commands.execute(plan.vm, { type: 'DeclareRepairStuck', repairId, hypervisor: plan.hypervisor, locationVersion, findings: plan.findings, reason, action }, ctx);
    } catch (err) {
      if (!(err instanceof LocusError)) throw err;
    }
    this.log.error({ vm: plan.vm, repairId, hypervisor: plan.hypervisor, locationVersion, reason, action }, `drift repair stuck: ${action}`);
    return { vm: plan.vm, repairId, outcome: 'stuck', hypervisor: plan.hypervisor, locationVersion, detail: `${reason}. ${action}` };
  }
}

/**
 * The DB location version a plan was decided on: a stuck VM is left alone until that changes.
 * After a reassert, the next check compares the VM at the reasserted version, so that is what a
 * stuck boot is keyed on.
 */
function comparedVersion(plan: HostRepairPlan): number {
  return plan.start?.locationVersion ?? plan.reassert?.expectedLocationVersion ?? 0;
}
