import type { LocationRow } from '../vm/location.projection';
import type { MoveRow } from './move.projection';

/** One VM's rows as the projections hold them: its location and (some of) its moves, at least the active one. */
export interface VmRowsView {
  location?: LocationRow;
  moves: Iterable<MoveRow | undefined>;
}

/** What a change of one VM's rows does to a host's memory: located there, and heading there by an active move. */
export interface HostMemoryDelta {
  hypervisor: string;
  locatedMb: number;
  headingMb: number;
}

const isActive = (move: MoveRow): boolean => move.state === 'accepted' || move.state === 'in-progress';

/**
 * The memory a VM's active move sends to its target: the VM's memory while it is located elsewhere
 * (once relocated it counts as located there instead); undefined when the VM has no such move. A
 * VM has at most one active move (the projection's unique index says so).
 */
export function memoryHeading(vm: VmRowsView): { hypervisor: string; mb: number } | undefined {
  if (!vm.location) return undefined;
  for (const move of vm.moves) {
    if (move && isActive(move) && move.to.hypervisor !== vm.location.hypervisor) return { hypervisor: move.to.hypervisor, mb: vm.location.memoryMb };
  }
  return undefined;
}

/**
 * How one VM's change from `before` to `after` moves committed memory between hosts, per host with a
 * nonzero change: located memory leaves the old host and arrives at the new one (or changes size),
 * heading memory follows the VM's active move. The append statement adds these to `host_memory`, so
 * a capacity check reads one row instead of summing the VMs and moves of a host.
 */
export function hostMemoryDeltas(before: VmRowsView, after: VmRowsView): HostMemoryDelta[] {
  const byHost = new Map<string, HostMemoryDelta>();
  const add = (hypervisor: string, locatedMb: number, headingMb: number) => {
    const delta = byHost.get(hypervisor) ?? { hypervisor, locatedMb: 0, headingMb: 0 };
    delta.locatedMb += locatedMb;
    delta.headingMb += headingMb;
    byHost.set(hypervisor, delta);
  };
  if (before.location) add(before.location.hypervisor, -before.location.memoryMb, 0);
  if (after.location) add(after.location.hypervisor, after.location.memoryMb, 0);
  const wasHeading = memoryHeading(before);
  const isHeading = memoryHeading(after);
  if (wasHeading) add(wasHeading.hypervisor, 0, -wasHeading.mb);
  if (isHeading) add(isHeading.hypervisor, 0, isHeading.mb);
  return [...byHost.values()].filter((d) => d.locatedMb !== 0 || d.headingMb !== 0);
}
