import type { Logger } from 'pino';
import { LocusError, type AgentInventoryReply, type AgentStepReply, type AgentStepRequest } from '@locus/contracts';
import { applyLocationFact, checkFence, emptyInventory, observeVersion, type Clock, type HostInventory, type LocationFact } from '@locus/domain';
import type { TopologyIndex } from '@locus/topology';

/** Size of a VM's configuration (descriptor, NVRAM, device state) shipped in a cold move. */
export const CONFIG_BYTES = 256 * 1024;

type Step = 'stop' | 'transfer' | 'start';

/**
 * One simulated hypervisor. It holds its VMs' run state, executes move steps on its clock
 * with the durations of the VM's workload profile, and fences: it never acts for a location
 * version older than one it has seen. Steps are idempotent per (move, step): a repeated
 * request joins the running step or gets the stored result.
 */
export class HypervisorAgent {
  readonly inventory: HostInventory;
  private readonly done = new Map<string, AgentStepReply>();
  private readonly running = new Map<string, Promise<AgentStepReply>>();
  private readonly log: Logger;

  constructor(
    readonly name: string,
    private readonly topology: TopologyIndex,
    private readonly clock: Clock,
    logger: Logger,
  ) {
    this.inventory = emptyInventory(name);
    this.log = logger.child({ component: `agent:${name}` });
  }

  /** Applies a location fact from the event stream (or the start-up snapshot). */
  learn(fact: LocationFact): void {
    const outcome = applyLocationFact(this.inventory, fact);
    if (outcome === 'stale')
      this.log.info({ vm: fact.vm, locationVersion: fact.locationVersion, seen: this.inventory.seen.get(fact.vm) }, 'ignored stale location event (older version than applied)');
    else if (outcome === 'applied') this.log.debug({ vm: fact.vm, fact: fact.type, locationVersion: fact.locationVersion }, 'location applied');
  }

  inventoryReply(): AgentInventoryReply {
    return {
      hypervisor: this.name,
      vms: [...this.inventory.vms].map(([name, v]) => ({ name, state: v.state, locationVersion: v.locationVersion })),
    };
  }

  stop(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('stop', req, async () => {
      const vm = this.hosted(req, ['running', 'stopped']);
      const profile = this.topology.profileOf(req.vm);
      const durationMs = vm.state === 'running' ? profile?.shutdownMs ?? 0 : 0;
      this.log.info({ vm: req.vm, moveId: req.moveId, shutdownMs: durationMs }, 'guest shutdown started');
      await this.clock.sleep(durationMs);
      vm.state = 'stopped';
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: durationMs }, 'VM stopped at source');
      return { durationMs };
    });
  }

  transfer(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('transfer', req, async () => {
      const fence = checkFence(this.inventory, req.vm, req.locationVersion);
      if (!fence.ok) throw new LocusError('FENCED', fence.reason);
      const linkMbps = Math.min(this.linkMbps(this.name), req.peer ? this.linkMbps(req.peer) : Infinity);
      const durationMs = (CONFIG_BYTES * 8) / (linkMbps * 1000);
      this.log.info({ vm: req.vm, moveId: req.moveId, from: req.peer, bytes: CONFIG_BYTES, linkMbps }, 'receiving VM configuration');
      await this.clock.sleep(durationMs);
      if (!this.inventory.vms.has(req.vm)) this.inventory.vms.set(req.vm, { state: 'incoming', locationVersion: req.locationVersion });
      observeVersion(this.inventory, req.vm, req.locationVersion);
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: round(durationMs) }, 'VM configuration received');
      return { durationMs, bytes: CONFIG_BYTES };
    });
  }

  /** Boots the VM here for `locationVersion` (at the target after the commit, or back at the source after a failure). */
  start(req: AgentStepRequest): Promise<AgentStepReply> {
    return this.once('start', req, async () => {
      const fence = checkFence(this.inventory, req.vm, req.locationVersion);
      if (!fence.ok) throw new LocusError('FENCED', fence.reason);
      observeVersion(this.inventory, req.vm, req.locationVersion);
      const vm = this.inventory.vms.get(req.vm) ?? { state: 'incoming' as const, locationVersion: req.locationVersion };
      vm.locationVersion = req.locationVersion;
      this.inventory.vms.set(req.vm, vm);
      const durationMs = vm.state === 'running' ? 0 : this.topology.profileOf(req.vm)?.bootMs ?? 0;
      this.log.info({ vm: req.vm, moveId: req.moveId, locationVersion: req.locationVersion, bootMs: durationMs }, 'VM boot started');
      await this.clock.sleep(durationMs);
      vm.state = 'running';
      this.log.info({ vm: req.vm, moveId: req.moveId, ms: durationMs }, 'VM running');
      return { durationMs };
    });
  }

  private hosted(req: AgentStepRequest, states: string[]) {
    const fence = checkFence(this.inventory, req.vm, req.locationVersion);
    if (!fence.ok) throw new LocusError('FENCED', fence.reason);
    const vm = this.inventory.vms.get(req.vm);
    if (!vm) throw new LocusError('AGENT_FAILED', `${req.vm} is not on ${this.name}`);
    if (!states.includes(vm.state)) throw new LocusError('AGENT_FAILED', `${req.vm} is ${vm.state} on ${this.name}`);
    return vm;
  }

  private once(step: Step, req: AgentStepRequest, work: () => Promise<{ durationMs: number; bytes?: number }>): Promise<AgentStepReply> {
    const key = `${req.moveId}:${step}:${req.locationVersion}`;
    const stored = this.done.get(key);
    if (stored) return Promise.resolve({ ...stored, replayed: true });
    const inFlight = this.running.get(key);
    if (inFlight) return inFlight.then((r) => ({ ...r, replayed: true }));
    const promise = work().then((r) => {
      const reply: AgentStepReply = { moveId: req.moveId, vm: req.vm, hypervisor: this.name, durationMs: round(r.durationMs), replayed: false, ...(r.bytes !== undefined ? { bytes: r.bytes } : {}) };
      this.done.set(key, reply);
      return reply;
    });
    this.running.set(key, promise);
    return promise.finally(() => this.running.delete(key));
  }

  private linkMbps(hypervisor: string): number {
    return this.topology.hypervisor(hypervisor)?.linkMbps ?? 1000;
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
