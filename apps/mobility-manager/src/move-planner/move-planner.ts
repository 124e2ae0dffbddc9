import type { DataSource } from 'typeorm';
import { LocusError, type MoveMode, type MoveOptions, type MovePlan, type MovePrediction } from '@locus/contracts';
import { checkMoveRules, predictMove, PRECOPY_DEFAULTS, type NetworkPlane } from '@locus/domain';
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
  constructor(
    private readonly dataSource: DataSource,
    private readonly topology: TopologyIndex,
    private readonly health: HostHealth,
  ) {}

  async plan(req: { vm: string; to: string; mode: MoveMode; options?: MoveOptions }): Promise<MovePlanning> {
    const target = this.topology.hypervisor(req.to);
    if (!target) throw new LocusError('UNKNOWN_TARGET', `no hypervisor named ${req.to}; see locus.topology.get for the hypervisors`);
    const rows = await this.dataSource.query(`SELECT name, l2_domain, hypervisor, site FROM vm_location WHERE name = $1`, [req.vm]);
    if (rows.length === 0) throw new LocusError('UNKNOWN_VM', `no VM named ${req.vm}`);
    const row = rows[0];
    const vmDef = this.topology.vm(req.vm);
    const memoryMb = vmDef?.memoryMb ?? 1024;
    if (row.hypervisor === req.to) throw new LocusError('SAME_LOCATION', `VM ${req.vm} already runs on ${req.to}`);
    const verdict = checkMoveRules(this.topology, {
      vm: { name: req.vm, l2Domain: row.l2_domain, memoryMb, hypervisor: row.hypervisor },
      mode: req.mode,
      to: req.to,
      hostsDown: this.health.down(),
      targetUsedMb: await this.usedMemoryMb(req.to, req.vm),
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

  /** Memory committed on a hypervisor: VMs located there plus active moves heading there (summed in the database). */
  async usedMemoryMb(hypervisor: string, except?: string): Promise<number> {
    const rows: { used: number }[] = await this.dataSource.query(
      `SELECT (SELECT coalesce(sum(memory_mb), 0) FROM vm_location WHERE hypervisor = $1 AND name <> $2)
            + (SELECT coalesce(sum(l.memory_mb), 0) FROM moves m JOIN vm_location l ON l.name = m.vm
                WHERE m.state IN ('accepted', 'in-progress') AND m.view->'to'->>'hypervisor' = $1 AND m.vm <> $2 AND l.hypervisor <> $1) AS used`,
      [hypervisor, except ?? ''],
    );
    return Number(rows[0]?.used ?? 0);
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
