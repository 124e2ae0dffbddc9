import type { DataSource } from 'typeorm';
import { LocusError, type MoveMode, type MoveOptions, type MovePlan, type MovePrediction } from '@locus/contracts';
import { checkMoveRequest, checkMoveRules, predictMove, PRECOPY_DEFAULTS, type NetworkPlane } from '@locus/domain';
import { MoveReadModel, type VmLocationRow } from '@locus/eventstore';
import type { TopologyIndex } from '@locus/topology';

const MiB = 1024 * 1024;
/** Size of a VM's configuration (descriptor, NVRAM, device state) shipped in a cold move. */
export const CONFIG_BYTES = 256 * 1024;

export interface MovePlanning {
  allowed: true;
  plan: MovePlan;
  prediction: MovePrediction;
  warnings: string[];
  planes: NetworkPlane[];
  from: { hypervisor: string; site: string };
  to: { hypervisor: string; site: string };
}

/** What a move asks for (the body of `vm.move` and `move.plan`). */
export type MoveRequest = { vm: string; to: string; mode: MoveMode; options?: MoveOptions };

/** Which hypervisors are declared failed (the HA monitor answers this). */
export interface HostHealth {
  isDown(hypervisor: string): boolean;
  down(): ReadonlySet<string>;
}

/**
 * Turns a move request into a checked plan: the network rules (pure, in the domain), the
 * engine's parameters from the VM's workload profile and the hosts' links, with per-move
 * overrides, and the prediction of every phase. Used by `vm.move` and `move.plan` alike.
 */
export class MovePlanner {
  private readonly reads: MoveReadModel;

  constructor(
    dataSource: DataSource,
    private readonly topology: TopologyIndex,
    private readonly health: HostHealth,
  ) {
    this.reads = new MoveReadModel(dataSource);
  }

  /** Reads where the VM is, checks the request (checkMoveRequest) and plans it. */
  async plan(req: MoveRequest): Promise<MovePlanning> {
    return this.planChecked(MovePlanner.checked(this.topology, req, await this.reads.location(req.vm)), req);
  }

  /** The request checked against where the VM is (UNKNOWN_TARGET, UNKNOWN_VM, SAME_LOCATION): the location, or the refusal thrown. */
  static checked(topology: TopologyIndex, req: { vm: string; to: string }, at: VmLocationRow | undefined): VmLocationRow {
    const refused = checkMoveRequest(topology, req, at);
    if (refused) throw new LocusError(refused.code, refused.message);
    return at!;
  }

  /**
   * Plans a request already checked (`checked`) for the VM at `row`: the network rules, the engine's
   * parameters, the prediction. `targetUsedMb`: the memory committed on the target, when the caller
   * read it already (with the request's other facts); else it is read here.
   */
  async planChecked(row: VmLocationRow, req: MoveRequest, targetUsedMb?: number): Promise<MovePlanning> {
    const target = this.topology.hypervisor(req.to)!;
    const vmDef = this.topology.vm(req.vm);
    const memoryMb = vmDef?.memoryMb ?? 1024;
    const verdict = checkMoveRules(this.topology, {
      vm: { name: req.vm, l2Domain: row.l2Domain, memoryMb, hypervisor: row.hypervisor },
      mode: req.mode,
      to: req.to,
      hostsDown: this.health.down(),
      targetUsedMb: targetUsedMb ?? (await this.usedMemoryMb(req.to, req.vm)),
    });
    if (!verdict.ok) throw new LocusError(verdict.code, verdict.message);
    const plan = this.buildPlan(req.vm, row.hypervisor, req.to, req.mode, memoryMb, req.options ?? {});
    return {
      allowed: true,
      plan,
      prediction: predictMove(plan),
      warnings: verdict.warnings,
      planes: verdict.planes,
      from: { hypervisor: row.hypervisor, site: row.site },
      to: { hypervisor: target.name, site: target.site },
    };
  }

  /** Memory committed on a hypervisor: VMs located there plus VMs heading there by an active move (one `host_load` row). */
  usedMemoryMb(hypervisor: string, except?: string): Promise<number> {
    return this.reads.memoryCommittedMb(hypervisor, except);
  }

  buildPlan(vm: string, from: string, to: string, mode: MoveMode, memoryMb: number, options: MoveOptions): MovePlan {
    const profile = this.topology.profileOf(vm) ?? { workingSetMb: 256, dirtyRateMBps: 10, bootMs: 20_000, shutdownMs: 5_000 };
    const source = this.topology.hypervisor(from)!;
    const target = this.topology.hypervisor(to)!;
    const linkMbps = Math.min(source.linkMbps, target.linkMbps, options.bandwidthMbps ?? Infinity);
    const bandwidthBps = (linkMbps * 1e6) / 8;
    const memoryBytes = memoryMb * MiB;
    switch (mode) {
      case 'cold':
        return { mode, shutdownMs: profile.shutdownMs, bootMs: profile.bootMs, configBytes: CONFIG_BYTES, bandwidthBps };
      case 'warm':
        return { mode, memoryBytes, bandwidthBps, sourceDiskBps: source.diskMBps * MiB, targetDiskBps: target.diskMBps * MiB };
      case 'hot':
        return {
          mode,
          memoryBytes,
          workingSetBytes: (options.workingSetMb ?? profile.workingSetMb) * MiB,
          dirtyRateBps: (options.dirtyRateMBps ?? profile.dirtyRateMBps) * MiB,
          bandwidthBps,
          downtimeLimitMs: options.downtimeLimitMs ?? PRECOPY_DEFAULTS.downtimeLimitMs,
          maxRounds: options.maxRounds ?? PRECOPY_DEFAULTS.maxRounds,
          maxDataBytes: (options.maxDataFactor ?? PRECOPY_DEFAULTS.maxDataFactor) * memoryBytes,
          policy: options.policy ?? PRECOPY_DEFAULTS.policy,
          resumeMs: PRECOPY_DEFAULTS.resumeMs,
        };
    }
  }
}
