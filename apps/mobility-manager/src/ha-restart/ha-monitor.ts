import { randomUUID } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LocusError, subjects } from '@locus/contracts';
import { detectFailures, emptyLiveness, heartbeat, rankRestartTargets, type Clock } from '@locus/domain';
import type { PgEventStore } from '@locus/eventstore';
import type { TopologyIndex } from '@locus/topology';
import type { HostHealth, MovePlanner } from '../plan-move/move-planner';
import type { VmCommandService } from '../vm-commands/vm-command.service';

export interface HaOptions {
  prefix: string;
  enabled: boolean;
  /** Simulated ms of silence after which a host is declared failed. */
  hostTimeoutMs: number;
  timeScale: number;
}

/**
 * HA restart, the cold mobility that follows a failure: listens to the agents' heartbeats,
 * declares a host failed after its silence, and restarts its VMs on surviving hosts with
 * capacity (same site first, then any site the network rules allow) as cold moves with
 * cause `ha-restart`. Every decision is one log line. A host that comes back is fenced by
 * the location versions: its agent drops the VMs now placed elsewhere.
 */
export class HaMonitor implements HostHealth {
  private readonly liveness = emptyLiveness();
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private checking = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly deps: { nc: NatsConnection; store: PgEventStore; commands: VmCommandService; planner: () => MovePlanner; topology: TopologyIndex; dataSource: DataSource; clock: Clock; logger: Logger },
    private readonly options: HaOptions,
  ) {
    this.log = deps.logger.child({ component: 'ha-monitor' });
  }

  isDown(hypervisor: string): boolean {
    return this.liveness.failed.has(hypervisor);
  }

  down(): ReadonlySet<string> {
    return this.liveness.failed;
  }

  start(): void {
    if (!this.options.enabled) {
      this.log.info('HA restart disabled (LOCUS_HA=false)');
      return;
    }
    this.sub = this.deps.nc.subscribe(subjects(this.options.prefix).heartbeat('*'), {
      callback: (err, msg) => {
        if (err) return;
        const host = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
        if (heartbeat(this.liveness, host, this.deps.clock.now()) === 'recovered') void this.onRecovered(host);
      },
    });
    const periodMs = Math.max(10, this.options.hostTimeoutMs / this.options.timeScale / 5);
    this.timer = setInterval(() => {
      this.checking = this.checking.then(() => this.check()).catch((err) => this.log.error({ err: (err as Error).message }, 'HA check failed'));
    }, periodMs);
    this.log.info({ hostTimeoutMs: this.options.hostTimeoutMs }, `HA restart armed: a host silent for ${this.options.hostTimeoutMs / 1000} s is declared failed`);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
    await this.checking;
  }

  private async check(): Promise<void> {
    for (const { host, silentMs } of detectFailures(this.liveness, this.deps.clock.now(), this.options.hostTimeoutMs)) await this.onFailure(host, silentMs);
  }

  private async onFailure(host: string, silentMs: number): Promise<void> {
    const vms: string[] = (await this.deps.dataSource.query(`SELECT name FROM vm_location WHERE hypervisor = $1 ORDER BY name`, [host])).map((r: { name: string }) => r.name);
    await this.appendHostEvent(host, 'HostDeclaredFailed', { hypervisor: host, silentMs: Math.round(silentMs), vms });
    this.log.warn({ host, silentMs: Math.round(silentMs), vms }, `${host} declared failed after ${(silentMs / 1000).toFixed(1)} s without heartbeat; restarting ${vms.length} VMs elsewhere`);
    for (const vm of vms) await this.restartElsewhere(vm, host);
  }

  private async restartElsewhere(vm: string, failed: string): Promise<void> {
    const planner = this.deps.planner();
    const site = this.deps.topology.hypervisor(failed)?.site ?? '';
    const candidates = [];
    for (const h of this.deps.topology.hypervisors)
      if (h.name !== failed && !this.liveness.failed.has(h.name) && this.liveness.lastSeen.has(h.name))
        candidates.push({ name: h.name, site: h.site, freeMb: h.memoryMb - (await planner.usedMemoryMb(h.name, vm)) });
    const refusals: string[] = [];
    for (const candidate of rankRestartTargets(site, candidates)) {
      try {
        const p = await planner.plan({ vm, to: candidate.name, mode: 'cold' });
        const moveId = randomUUID();
        await this.deps.commands.execute(
          vm,
          { type: 'RequestMove', moveId, mode: 'cold', to: p.to, cause: 'ha-restart', plan: p.plan, warnings: p.warnings, planes: p.planes },
          { correlationId: moveId, component: 'ha-monitor' },
        );
        this.log.info({ vm, from: failed, to: candidate.name, site: candidate.site, moveId, sameSite: candidate.site === site, skipped: refusals }, `HA: restarting ${vm} on ${candidate.name} (${candidate.site === site ? 'same site' : `site ${candidate.site}`})`);
        return;
      } catch (err) {
        if (!(err instanceof LocusError)) throw err;
        if (err.code === 'MOVE_IN_PROGRESS') {
          this.log.warn({ vm, from: failed }, `HA: ${vm} has a move in progress; it finishes or fails on its own`);
          return;
        }
        refusals.push(`${candidate.name}: ${err.code}`);
      }
    }
    this.log.error({ vm, from: failed, refusals }, `HA: no surviving host can restart ${vm} (${refusals.join('; ') || 'no live hosts'})`);
  }

  private async onRecovered(host: string): Promise<void> {
    this.log.info({ host }, `${host} heartbeats again: back in service (its agent fences the VMs restarted elsewhere)`);
    await this.appendHostEvent(host, 'HostRecovered', { hypervisor: host }).catch((err) => this.log.error({ err: (err as Error).message }, 'could not record recovery'));
  }

  private async appendHostEvent(host: string, type: string, data: object): Promise<void> {
    const streamId = `host:${host}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const { version } = await this.deps.store.readStream(streamId);
      try {
        await this.deps.store.append(streamId, version, [{ type, data, metadata: { correlationId: `host:${host}`, component: 'ha-monitor', at: new Date().toISOString() } }]);
        return;
      } catch (err) {
        if (attempt === 4) throw err;
      }
    }
  }
}
