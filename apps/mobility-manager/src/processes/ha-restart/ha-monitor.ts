import { randomUUID } from 'node:crypto';
import type { NatsConnection, Status, Subscription } from 'nats';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { hostStreamId, LocusError, parseHostEvent, subjects } from '@locus/contracts';
import { checkHosts, emptyLiveness, heartbeat, hostDecider, lostSight, rankRestartTargets, type Clock, type HostCommand } from '@locus/domain';
import { handleStreamCommand, MoveReadModel, type PgEventStore } from '@locus/eventstore';
import type { TopologyIndex } from '@locus/topology';
import type { HostHealth, MovePlanner } from '../../move-planner/move-planner';
import type { VmCommandService } from '../../vm-commands/vm-command.service';

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
 *
 * Silence counts only while this manager watches (see `checkHosts`): each check first makes a
 * round trip to NATS, which returns after every heartbeat sent to it before has been handled, and
 * a stall of the manager, a NATS server that does not answer or a lost connection restarts every
 * host's grace period instead of failing them all.
 */
export class HaMonitor implements HostHealth {
  private readonly liveness = emptyLiveness();
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private checking = Promise.resolve();
  private busy = false;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private readonly deps: {
      nc: NatsConnection;
      store: PgEventStore;
      commands: VmCommandService;
      planner: () => MovePlanner;
      topology: TopologyIndex;
      dataSource: DataSource;
      clock: Clock;
      logger: Logger;
    },
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
        if (!this.liveness.lastSeen.has(host)) this.log.debug({ host }, `HA: first heartbeat from ${host}`);
        if (heartbeat(this.liveness, host, this.deps.clock.now()) === 'recovered') void this.onRecovered(host);
      },
    });
    void this.watchConnection(this.deps.nc.status());
    const periodMs = Math.max(10, this.options.hostTimeoutMs / this.options.timeScale / 5);
    this.timer = setInterval(() => this.tick(), periodMs);
    this.log.info(
      { hostTimeoutMs: this.options.hostTimeoutMs, maxGapMs: this.maxGapMs },
      `HA restart armed: a host this manager watches stay silent for ${this.options.hostTimeoutMs / 1000} s is declared failed`,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.sub?.unsubscribe();
    await this.checking;
  }

  /** Checks are spaced by a fifth of the timeout: a gap of half of it means the manager was not watching. */
  private get maxGapMs(): number {
    return this.options.hostTimeoutMs / 2;
  }

  /** A lost connection means the heartbeats sent meanwhile never reach this manager. */
  private async watchConnection(status: AsyncIterable<Status>): Promise<void> {
    for await (const s of status) {
      if (this.stopped) return;
      if (s.type === 'disconnect' && this.liveness.watchingSince !== undefined) {
        lostSight(this.liveness);
        this.log.warn({ server: s.data }, 'HA: cut off from NATS: no host is judged until this manager sees heartbeats again');
      }
    }
  }

  /** One check at a time: a round trip that hangs (NATS stalled) shows as a gap when it finally returns. */
  private tick(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.checking = this.check()
      .catch((err) => this.log.error({ err: (err as Error).message }, 'HA check failed'))
      .finally(() => (this.busy = false));
  }

  private async check(): Promise<void> {
    try {
      // Returns after NATS sent everything queued for this manager, heartbeats included (a PING after them).
      await this.deps.nc.rtt();
    } catch {
      lostSight(this.liveness);
      return;
    }
    if (this.stopped) return;
    const { failed, resumed } = checkHosts(this.liveness, this.deps.clock.now(), { timeoutMs: this.options.hostTimeoutMs, maxGapMs: this.maxGapMs });
    if (resumed?.gapMs !== undefined)
      this.log.warn(
        { gapMs: Math.round(resumed.gapMs), hosts: this.liveness.lastSeen.size },
        `HA: this manager could not watch heartbeats for ${(resumed.gapMs / 1000).toFixed(1)} s (stalled or cut off from NATS): grace period restarted, nobody declared failed for that silence`,
      );
    else if (resumed) this.log.info({ hosts: this.liveness.lastSeen.size }, 'HA: watching heartbeats');
    for (const { host, silentMs } of failed) await this.onFailure(host, silentMs);
  }

  private async onFailure(host: string, silentMs: number): Promise<void> {
    const vms = await new MoveReadModel(this.deps.dataSource).vmsOn(host);
    await this.recordHost(host, { type: 'DeclareHostFailed', hypervisor: host, silentMs, vms });
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
        this.log.info(
          { vm, from: failed, to: candidate.name, site: candidate.site, moveId, sameSite: candidate.site === site, skipped: refusals },
          `HA: restarting ${vm} on ${candidate.name} (${candidate.site === site ? 'same site' : `site ${candidate.site}`})`,
        );
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
    await this.recordHost(host, { type: 'RecordHostRecovered', hypervisor: host }).catch((err) => this.log.error({ err: (err as Error).message }, 'could not record recovery'));
  }

  /** Records a host's health on its stream through the host decider (libs/domain ha/host.decider.ts). */
  private async recordHost(host: string, command: HostCommand): Promise<void> {
    await handleStreamCommand(this.deps.store, hostStreamId(host), hostDecider, parseHostEvent, command, { correlationId: hostStreamId(host), component: 'ha-monitor', at: new Date().toISOString() });
  }
}
