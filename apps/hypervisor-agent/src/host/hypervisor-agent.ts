import type { Logger } from 'pino';
import { LocusError, type AgentInventoryReply, type AgentInventoryRequest, type AgentStepReply, type AgentStepRequest } from '@locus/contracts';
import {
  applyLocationFact,
  checkFence,
  dirtiedDuring,
  emptyInventory,
  observeVersion,
  RARP_ANNOUNCE_OFFSETS_MS,
  transferMs,
  type Clock,
  type HostedVm,
  type HostInventory,
  type LocationFact,
} from '@locus/domain';
import { wallClockMs } from '@locus/platform';
import type { TopologyIndex } from '@locus/topology';
import { SimulatedVmNetwork, type VmNetwork } from './vm-network';
import type { GuestHealth, HypervisorDriver } from './hypervisor-driver';

type Step = 'stop' | 'transfer' | 'start' | 'suspend' | 'receive-state' | 'resume' | 'precopy-round' | 'pause-and-copy' | 'announce' | 'postcopy-pull';
/** A step's result; a real hypervisor also says when the guest stopped or ran again (`startedAt`, `endedAt`: its own moments) and its pass figures. */
type Work = {
  durationMs: number;
  bytes?: number;
  dirtyBytes?: number;
  offsetsMs?: number[];
  startedAt?: number;
  endedAt?: number;
  pass?: Pick<AgentStepReply, 'measured' | 'completed' | 'throttlePct' | 'expectedDowntimeMs' | 'dirtyRateBps'>;
};

/**
 * One simulated hypervisor. It holds its VMs' run state and executes move steps on its
 * clock, with the durations the move's plan gives (the same arithmetic as the prediction).
 * It fences: it never acts for a location version older than one it has seen. Steps are
 * idempotent per (move, step, round) and run one at a time per VM, so a restart ordered
 * after a cancel waits for the stop that was still running.
 */
export class HypervisorAgent {
  readonly inventory: HostInventory;
  private readonly done = new Map<string, AgentStepReply>();
  private readonly running = new Map<string, Promise<AgentStepReply>>();
  private readonly perVm = new Map<string, Promise<unknown>>();
  private readonly log: Logger;
  /** A silent host sends no heartbeats (the lab's way to make a host fail or be partitioned). */
  silent = false;
  /** The lab's other fault: a host that answers but cannot boot VMs (a broken disk, no memory left); every boot fails with this. */
  bootFailure?: string;
  /** Steps carried out so far (replays not counted), by step (read by the metrics). */
  readonly stepsDone = new Map<string, number>();
  /** Until the location DB's snapshot is applied the agent cannot tell which VMs it hosts. */
  private inventoryLoaded = false;

  /**
   * What the hypervisor runs is known apart from the location DB (`held` given at start): a VM the
   * DB places here that the hypervisor does not hold is reported, not assumed to run.
   */
  readonly knowsWhatItRuns: boolean;

  constructor(
    readonly name: string,
    private readonly topology: TopologyIndex,
    private readonly clock: Clock,
    logger: Logger,
    /** What the hypervisor still runs when the agent (re)starts; none: the lab's empty simulated host, which takes the DB's word. */
    held?: HostInventory,
    /** Stamps each step's start and end (wall clock): the downtime recorded is the one these measure. */
    private readonly wallNow: () => number = wallClockMs,
    /** The VMs' links (the Linux dataplane's veths); simulated: none. */
    private readonly network: VmNetwork = new SimulatedVmNetwork(),
    /** The hypervisor that really runs some VMs (QEMU); every other VM is simulated on the clock. */
    private readonly driver?: HypervisorDriver,
  ) {
    this.inventory = emptyInventory(name);
    for (const [vm, v] of held?.vms ?? []) this.inventory.vms.set(vm, { ...v });
    for (const [vm, version] of held?.seen ?? []) this.inventory.seen.set(vm, version);
    this.knowsWhatItRuns = held !== undefined;
    this.log = logger.child({ component: `agent:${name}` });
  }

  /** The start-up snapshot is applied: from now on the agent acts on steps and answers for its VMs. */
  markInventoryLoaded(): void {
    this.inventoryLoaded = true;
  }

  /**
   * The links follow the location DB at start: every VM running here is plugged in here (the Linux
   * dataplane is built from the topology's placement; earlier moves kept in the DB put VMs elsewhere).
   */
  async plugInRunningVms(): Promise<number> {
    let plugged = 0;
    // A real guest placed here boots here (the lab's start: the guests follow the location DB too).
    const real = [...this.inventory.vms].filter(([vm, hosted]) => hosted.state === 'running' && this.real(vm));
    await Promise.all(
      real.map(async ([vm]) => {
        try {
          const r = await this.driver!.boot(vm, this.name);
          this.log.info({ vm, bootMs: r.ms }, `${vm} booted on ${this.name} as a QEMU guest`);
          plugged++;
        } catch (err) {
          this.log.warn({ vm, err: (err as Error).message }, `could not boot ${vm} on ${this.name} as a QEMU guest`);
        }
      }),
    );
    if (this.network.kind === 'lab') return plugged;
    for (const [vm, hosted] of this.inventory.vms) {
      if (hosted.state !== 'running' || this.real(vm)) continue;
      try {
        await this.network.attach(vm, this.name, 'resume');
        plugged++;
      } catch (err) {
        this.log.warn({ vm, err: (err as Error).message }, `could not plug ${vm} into ${this.name}'s dataplane`);
      }
    }
    return plugged;
  }

  /** Why this agent cannot act yet (its inventory is not loaded), or undefined once it can. */
  notReady(): string | undefined {
    return this.inventoryLoaded ? undefined : `${this.name} is starting: its inventory is not loaded from the location DB yet`;
  }

  /** Applies a location fact from the event stream (or the start-up snapshot). */
  learn(fact: LocationFact): void {
    const before = this.inventory.vms.get(fact.vm);
    const outcome = applyLocationFact(this.inventory, fact);
    if (outcome === 'stale') this.log.info({ vm: fact.vm, locationVersion: fact.locationVersion, seen: this.inventory.seen.get(fact.vm) }, 'ignored stale location event (older version than applied)');
    else if (outcome === 'applied') {
      this.log.debug({ vm: fact.vm, fact: fact.type, locationVersion: fact.locationVersion }, 'location applied');
      if (before?.state === 'running' && !this.inventory.vms.has(fact.vm))
        this.log.warn({ vm: fact.vm, locationVersion: fact.locationVersion }, `fenced: ${fact.vm} was relocated away at version ${fact.locationVersion}; local copy stopped`);
    }
  }

  /** After a silence: VMs the location DB places elsewhere must not run here. */
  fenceAgainst(placedHere: ReadonlySet<string>): string[] {
    const fenced: string[] = [];
    for (const [vm, hosted] of this.inventory.vms)
      if (!placedHere.has(vm) && hosted.state !== 'incoming') {
        this.inventory.vms.delete(vm);
        fenced.push(vm);
      }
    if (fenced.length) this.log.warn({ vms: fenced }, `fenced after recovery: ${fenced.join(', ')} now run elsewhere; local copies stopped`);
    return fenced;
  }

  /** What it holds (all, or of the VMs the filter names), and with a filter the newest version it has seen of each (what a drift check compares). */
  inventoryReply(filter: AgentInventoryRequest = {}): AgentInventoryReply {
    const named = new Set(filter.vms ?? []);
    const ranged = filter.from !== undefined || filter.through !== undefined;
    if (named.size === 0 && !ranged) return { hypervisor: this.name, vms: [...this.inventory.vms].map(([name, v]) => ({ name, state: v.state, locationVersion: v.locationVersion })) };
    const wanted = (name: string) => named.has(name) || (ranged && (filter.from === undefined || name >= filter.from) && (filter.through === undefined || name <= filter.through));
    const vms: AgentInventoryReply['vms'] = [];
    for (const [name, v] of this.inventory.vms) if (wanted(name)) vms.push({ name, state: v.state, locationVersion: v.locationVersion });
    const seen: NonNullable<AgentInventoryReply['seen']> = [];
    for (const [name, locationVersion] of this.inventory.seen) if (wanted(name)) seen.push({ name, locationVersion });
    return { hypervisor: this.name, vms, seen };
  }

  // ---- cold ----
  stop(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('stop', req, async () => {
      const vm = this.hosted(req, ['running', 'stopped']);
      const real = this.real(req.vm);
      if (real) {
        const r = vm.state === 'running' ? await real.shutdown(req.vm) : { ms: 0, downAt: this.wallNow() };
        vm.state = 'stopped';
        this.log.info({ vm: req.vm, moveId: req.moveId, ms: r.ms }, 'VM stopped at source (ACPI powerdown)');
        return { durationMs: r.ms, startedAt: r.downAt };
      }
      const durationMs = vm.state === 'running' ? (req.durationMs ?? this.topology.profileOf(req.vm)?.shutdownMs ?? 0) : 0;
      this.log.info({ vm: req.vm, moveId: req.moveId, shutdownMs: durationMs }, 'guest shutdown started');
      await this.clock.sleep(durationMs);
      vm.state = 'stopped';
      await this.network.detach(req.vm);
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: durationMs }, 'VM stopped at source');
      return { durationMs };
    });
  }

  transfer(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('transfer', req, async () => {
      this.fence(req);
      const bytes = req.bytes ?? 256 * 1024;
      const durationMs = transferMs(bytes, this.bandwidth(req));
      this.log.info({ vm: req.vm, moveId: req.moveId, from: req.peer, bytes }, 'receiving VM configuration');
      await this.clock.sleep(durationMs);
      this.expect(req, 'incoming');
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: round(durationMs) }, 'VM configuration received');
      return { durationMs, bytes };
    });
  }

  /** Boots the VM here for `locationVersion` (at the target after the commit, or back at the source after a failure or cancel). */
  start(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('start', req, async () => {
      this.fence(req);
      if (this.bootFailure) throw new LocusError('AGENT_FAILED', `${this.name} cannot boot ${req.vm}: ${this.bootFailure}`);
      const vm = this.expect(req, 'incoming');
      vm.locationVersion = req.locationVersion;
      const real = this.real(req.vm);
      if (real) return this.startReal(real, req, vm);
      const profile = this.topology.profileOf(req.vm);
      const durationMs = vm.state === 'running' ? 0 : vm.state === 'paused' ? 0 : vm.state === 'suspended' ? this.resumeFromDiskMs(req.vm) : (req.durationMs ?? profile?.bootMs ?? 0);
      this.log.info({ vm: req.vm, moveId: req.moveId, locationVersion: req.locationVersion, bootMs: durationMs, from: vm.state }, 'VM start');
      const how = vm.state === 'incoming' || vm.state === 'stopped' ? 'boot' : 'resume';
      await this.clock.sleep(durationMs);
      await this.network.attach(req.vm, this.name, how);
      vm.state = 'running';
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: round(durationMs) }, 'VM running');
      return { durationMs };
    });
  }

  // ---- warm ----
  suspend(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('suspend', req, async () => {
      const vm = this.hosted(req, ['running', 'suspended']);
      const real = this.real(req.vm);
      if (real) {
        if (vm.state !== 'running') return { durationMs: 0 };
        const r = await real.save(req.vm);
        vm.state = 'suspended';
        this.log.info({ vm: req.vm, moveId: req.moveId, ms: r.ms, bytes: r.bytes }, 'VM saved to disk at source (QMP stop, migrate to file)');
        return { durationMs: r.ms, bytes: r.bytes, startedAt: r.downAt };
      }
      const bytes = req.bytes ?? 0;
      const durationMs = vm.state === 'running' ? transferMs(bytes, req.diskBps ?? this.diskBps()) : 0;
      this.log.info({ vm: req.vm, moveId: req.moveId, bytes }, 'suspending VM to disk');
      await this.clock.sleep(durationMs);
      vm.state = 'suspended';
      await this.network.detach(req.vm);
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: round(durationMs) }, 'VM suspended at source');
      return { durationMs, bytes };
    });
  }

  receiveState(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('receive-state', req, async () => {
      this.fence(req);
      const real = this.real(req.vm);
      if (real) {
        const r = await real.transferState(req.vm, this.name);
        this.expect(req, 'incoming');
        return { durationMs: r.ms, bytes: r.bytes };
      }
      const bytes = req.bytes ?? 0;
      const durationMs = transferMs(bytes, this.bandwidth(req));
      this.log.info({ vm: req.vm, moveId: req.moveId, from: req.peer, bytes }, 'receiving suspended VM state');
      await this.clock.sleep(durationMs);
      this.expect(req, 'incoming');
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: round(durationMs) }, 'VM state received');
      return { durationMs, bytes };
    });
  }

  /** Resumes the VM here: a warm move reads its memory from disk; a hot move only loads device state. */
  resume(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('resume', req, async () => {
      this.fence(req);
      const vm = this.expect(req, 'incoming');
      vm.locationVersion = req.locationVersion;
      const real = this.real(req.vm);
      if (real) {
        // Warm: the target QEMU starts from the saved state; hot: QEMU resumed the guest at the switchover (its RESUME event).
        const r = req.bytes !== undefined ? await real.restore(req.vm, this.name) : await real.resumed(req.vm, req.moveId, this.name);
        vm.state = 'running';
        this.log.info({ vm: req.vm, moveId: req.moveId, locationVersion: req.locationVersion, ms: r.ms }, 'VM resumed (QEMU)');
        this.checkHealth(real, req.vm, req.moveId);
        return { durationMs: req.bytes !== undefined ? r.ms : 0, endedAt: r.upAt };
      }
      const durationMs = req.bytes !== undefined ? transferMs(req.bytes, req.diskBps ?? this.diskBps()) : (req.durationMs ?? 0);
      await this.clock.sleep(durationMs);
      await this.network.attach(req.vm, this.name, 'resume');
      vm.state = 'running';
      this.log.info({ vm: req.vm, moveId: req.moveId, locationVersion: req.locationVersion, ms: round(durationMs) }, 'VM resumed');
      return { durationMs };
    });
  }

  // ---- hot ----
  /** Sends one pre-copy round while the guest runs, and reports the pages it dirtied meanwhile. */
  precopyRound(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once(
      'precopy-round',
      req,
      async () => {
        this.hosted(req, ['running']);
        const real = this.real(req.vm);
        if (real) {
          if (!req.peer) throw new LocusError('AGENT_FAILED', `a live migration of ${req.vm} needs its target (peer)`);
          const limits = { downtimeLimitMs: req.downtimeLimitMs ?? 300, bandwidthBps: this.bandwidth(req), policy: req.policy ?? 'throttle' };
          const p = await real.migratePass(req.vm, req.moveId, req.peer, req.round ?? 0, limits).catch((err: Error) => {
            throw new LocusError('AGENT_FAILED', `live migration of ${req.vm} to ${req.peer} failed: ${err.message}`);
          });
          return {
            durationMs: p.durationMs,
            bytes: p.sentBytes,
            dirtyBytes: p.dirtyBytes,
            pass: { measured: true, completed: p.completed, throttlePct: p.throttlePct, expectedDowntimeMs: p.expectedDowntimeMs, dirtyRateBps: p.dirtyRateBps },
          };
        }
        const bytes = req.bytes ?? 0;
        const bandwidthBps = this.bandwidth(req);
        const durationMs = transferMs(bytes, bandwidthBps);
        await this.clock.sleep(durationMs);
        const dirtyBytes = dirtiedDuring(
          {
            memoryBytes: 0,
            workingSetBytes: req.workingSetBytes ?? Infinity,
            dirtyRateBps: req.dirtyRateBps ?? 0,
            bandwidthBps,
            downtimeLimitMs: 0,
            maxRounds: 0,
            maxDataBytes: 0,
            policy: 'throttle',
            resumeMs: 0,
          },
          durationMs,
          req.throttlePct ?? 0,
        );
        return { durationMs, bytes, dirtyBytes };
      },
      `${req.round ?? ''}:${req.bytes}:${req.throttlePct ?? 0}`,
    );
  }

  /** The switchover at the source: pause the guest and send what is still dirty. */
  pauseAndCopy(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('pause-and-copy', req, async () => {
      const vm = this.hosted(req, ['running', 'paused']);
      const real = this.real(req.vm);
      if (real) {
        const r = await real.switchover(req.vm, req.moveId);
        vm.state = 'paused';
        this.log.info({ vm: req.vm, moveId: req.moveId, downtimeMs: r.downtimeMs, totalMs: r.totalMs, bytes: r.bytes }, `switchover by QEMU: downtime ${r.downtimeMs} ms`);
        return { durationMs: r.downtimeMs, bytes: r.bytes, startedAt: r.downAt };
      }
      vm.state = 'paused';
      await this.network.pause(req.vm);
      const bytes = req.bytes ?? 0;
      const durationMs = transferMs(bytes, this.bandwidth(req));
      this.log.info({ vm: req.vm, moveId: req.moveId, bytes: Math.round(bytes) }, 'VM paused at source: stop-and-copy');
      await this.clock.sleep(durationMs);
      return { durationMs, bytes };
    });
  }

  /** RARP from the target so switches learn the VM's MAC behind the new port (QEMU: 5 rounds, 50 ms then +100 ms). */
  announce(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('announce', req, async () => {
      this.fence(req);
      const offsetsMs = [...RARP_ANNOUNCE_OFFSETS_MS];
      // QEMU announces the guest itself after the switchover (its self-announce: these offsets).
      if (this.real(req.vm)) return { durationMs: 0, offsetsMs };
      let previous = 0;
      const sent: Promise<void>[] = [];
      for (const offset of offsetsMs) {
        await this.clock.sleep(offset - previous);
        previous = offset;
        sent.push(this.network.announce(req.vm));
      }
      await Promise.all(sent);
      this.log.info({ vm: req.vm, moveId: req.moveId, rounds: offsetsMs.length }, 'RARP announced from the target');
      return { durationMs: 0, offsetsMs };
    });
  }

  /** Postcopy: the VM already runs here; the pages still at the source are pulled on demand. */
  postcopyPull(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('postcopy-pull', req, async () => {
      this.fence(req);
      const bytes = req.bytes ?? 0;
      const durationMs = transferMs(bytes, this.bandwidth(req));
      await this.clock.sleep(durationMs);
      this.log.info({ vm: req.vm, moveId: req.moveId, bytes: Math.round(bytes), ms: round(durationMs) }, 'postcopy pages pulled from the source');
      return { durationMs, bytes };
    });
  }

  /** A postcopy pull needs the source alive: this is what it answers. */
  servePages(vm: string): boolean {
    return this.inventory.vms.get(vm)?.state === 'paused';
  }

  /** A move of `vm` failed or was cancelled: a live migration still running for it stops (QMP migrate_cancel). */
  moveEnded(vm: string, moveId: string): void {
    const real = this.real(vm);
    if (!real || !this.inventory.vms.has(vm)) return;
    real.cancel(vm, moveId).then(
      (cancelled) => cancelled && this.log.info({ vm, moveId }, `live migration of ${vm} cancelled: the move ended without switchover`),
      (err: Error) => this.log.warn({ vm, moveId, err: err.message }, `cancelling the live migration of ${vm} failed`),
    );
  }

  /** The health check after each move of a real guest (its serial console's heartbeat, a ping), newest per VM. */
  readonly health = new Map<string, GuestHealth & { moveId: string; at: number }>();

  private checkHealth(real: HypervisorDriver, vm: string, moveId: string): void {
    void real.health(vm).then((h) => {
      this.health.set(vm, { ...h, moveId, at: Date.now() });
      if (h.ok)
        this.log.info({ vm, moveId, hypervisor: h.hypervisor, heartbeat: h.heartbeat, ping: h.pingOk, ms: h.ms, pings: h.pings }, `health of ${vm} after the move: ok (${h.heartbeat}, ping answered)`);
      else this.log.warn({ vm, moveId, hypervisor: h.hypervisor, reason: h.reason, ms: h.ms, pings: h.pings }, `health of ${vm} after the move: FAILED (${h.reason})`);
    });
  }

  /** Boots, restores or keeps a real guest here (a cold move's target, a restart at the source). */
  private async startReal(real: HypervisorDriver, req: AgentStepRequest, vm: HostedVm): Promise<Work> {
    let r: { ms: number; upAt: number };
    if (vm.state === 'running' || vm.state === 'paused') {
      // A hot move that failed or was cancelled: the migration stops and the guest goes on here.
      await real.cancel(req.vm, req.moveId);
      r = { ms: 0, upAt: this.wallNow() };
    } else if (vm.state === 'suspended') r = await real.restore(req.vm, this.name);
    else r = await real.boot(req.vm, this.name);
    vm.state = 'running';
    this.log.info({ vm: req.vm, moveId: req.moveId, locationVersion: req.locationVersion, bootMs: r.ms }, `VM running (QEMU, boot measured ${r.ms} ms)`);
    this.checkHealth(real, req.vm, req.moveId);
    return { durationMs: r.ms, endedAt: r.upAt };
  }

  private real(vm: string): HypervisorDriver | undefined {
    return this.driver?.runs(vm) ? this.driver : undefined;
  }

  // ---- helpers ----
  private fence(req: AgentStepRequest): void {
    const fence = checkFence(this.inventory, req.vm, req.locationVersion);
    if (!fence.ok) throw new LocusError('FENCED', fence.reason);
    observeVersion(this.inventory, req.vm, req.locationVersion);
  }

  private hosted(req: AgentStepRequest, states: string[]): HostedVm {
    this.fence(req);
    const vm = this.inventory.vms.get(req.vm);
    if (!vm) throw new LocusError('AGENT_FAILED', `${req.vm} is not on ${this.name}`);
    if (!states.includes(vm.state)) throw new LocusError('AGENT_FAILED', `${req.vm} is ${vm.state} on ${this.name}`);
    return vm;
  }

  /** The VM's entry here, created in `state` when the target sees it for the first time. */
  private expect(req: AgentStepRequest, state: HostedVm['state']): HostedVm {
    let vm = this.inventory.vms.get(req.vm);
    if (!vm) {
      vm = { state, locationVersion: req.locationVersion };
      this.inventory.vms.set(req.vm, vm);
    }
    return vm;
  }

  private once(step: Step, req: AgentStepRequest, work: () => Promise<Work>, discriminator = ''): Promise<AgentStepReply> {
    const key = `${req.moveId}:${step}:${req.locationVersion}:${discriminator}`;
    const stored = this.done.get(key);
    if (stored) return Promise.resolve({ ...stored, replayed: true });
    const inFlight = this.running.get(key);
    if (inFlight) return inFlight.then((r) => ({ ...r, replayed: true }));
    const previous = this.perVm.get(req.vm) ?? Promise.resolve();
    let startedAt = 0;
    const promise = previous
      .catch(() => undefined)
      .then(() => {
        startedAt = this.wallNow();
        return work();
      })
      .then((r) => {
        const reply: AgentStepReply = {
          moveId: req.moveId,
          vm: req.vm,
          hypervisor: this.name,
          durationMs: round(r.durationMs),
          startedAt: r.startedAt ?? startedAt,
          endedAt: r.endedAt ?? this.wallNow(),
          replayed: false,
          ...(r.pass ?? {}),
          ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
          ...(r.dirtyBytes !== undefined ? { dirtyBytes: r.dirtyBytes } : {}),
          ...(r.offsetsMs !== undefined ? { offsetsMs: r.offsetsMs } : {}),
        };
        this.done.set(key, reply);
        this.stepsDone.set(step, (this.stepsDone.get(step) ?? 0) + 1);
        return reply;
      });
    this.running.set(key, promise);
    this.perVm.set(req.vm, promise);
    return promise.finally(() => {
      this.running.delete(key);
      if (this.perVm.get(req.vm) === promise) this.perVm.delete(req.vm);
    });
  }

  private bandwidth(req: AgentStepRequest): number {
    if (req.bandwidthBps) return req.bandwidthBps;
    const mine = this.topology.hypervisor(this.name)?.linkMbps ?? 1000;
    const peer = req.peer ? (this.topology.hypervisor(req.peer)?.linkMbps ?? mine) : mine;
    return (Math.min(mine, peer) * 1e6) / 8;
  }

  private diskBps(): number {
    return (this.topology.hypervisor(this.name)?.diskMBps ?? 500) * 1024 * 1024;
  }

  private resumeFromDiskMs(vm: string): number {
    return transferMs((this.topology.vm(vm)?.memoryMb ?? 1024) * 1024 * 1024, this.diskBps());
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
