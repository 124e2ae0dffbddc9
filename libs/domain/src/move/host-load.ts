import type { LocationRow } from '../vm/location.projection';
import type { MoveRow } from './move.projection';

/** One VM's rows as the projections hold them: its location and (some of) its moves, at least the active one. */
export interface VmRowsView {
  location?: LocationRow;
  moves: readonly (MoveRow | undefined)[];
}

/** What a change of one VM's rows does to a host's load (a `host_load` row), per column. */
export interface HostLoadDelta {
  hypervisor: string;
  /** Memory of the VMs located there. */
  locatedMb: number;
  /** Memory of the VMs located elsewhere whose active move heads there. */
  headingMb: number;
  /** Operator moves running from there (in progress; HA restarts take no outbound slot). */
  movesRunning: number;
  /** Moves from there waiting for a slot (accepted, not started). */
  movesWaiting: number;
}

const isActive = (move: MoveRow): boolean => move.state === 'accepted' || move.state === 'in-progress';

/** The VM's active move; a VM has at most one (the projection's unique index says so). */
function activeMove(vm: VmRowsView): MoveRow | undefined {
  for (const move of vm.moves) if (move && isActive(move)) return move;
  return undefined;
}

/**
 * The memory a VM's active move sends to its target: the VM's memory while it is located elsewhere
 * (once relocated it counts as located there instead); undefined when the VM has no such move.
 */
export function memoryHeading(vm: VmRowsView): { hypervisor: string; mb: number } | undefined {
  const move = activeMove(vm);
  if (!vm.location || !move || move.to.hypervisor === vm.location.hypervisor) return undefined;
  return { hypervisor: move.to.hypervisor, mb: vm.location.memoryMb };
}

/** What one VM adds to each host's load: where it is located, where its active move heads, the outbound slot or queue place that move takes. */
function loadOf(vm: VmRowsView): HostLoadDelta[] {
  const load: HostLoadDelta[] = [];
  const none = { locatedMb: 0, headingMb: 0, movesRunning: 0, movesWaiting: 0 };
  if (vm.location) load.push({ ...none, hypervisor: vm.location.hypervisor, locatedMb: vm.location.memoryMb });
  const heading = memoryHeading(vm);
  if (heading) load.push({ ...none, hypervisor: heading.hypervisor, headingMb: heading.mb });
  const move = activeMove(vm);
  if (move?.state === 'accepted') load.push({ ...none, hypervisor: move.from.hypervisor, movesWaiting: 1 });
  if (move?.state === 'in-progress' && move.cause !== 'ha-restart') load.push({ ...none, hypervisor: move.from.hypervisor, movesRunning: 1 });
  return load;
}

/**
 * How one VM's change from `before` to `after` changes the hosts' load, per host with a nonzero
 * change: its load after less its load before. The append statement adds these to `host_load`, so
 * that `vm.move` and the saga's admission read one row per host instead of counting and summing the
 * host's moves and VMs (O(queue length) and O(moves heading there) per request).
 */
export function hostLoadDeltas(before: VmRowsView, after: VmRowsView): HostLoadDelta[] {
  const byHost = new Map<string, HostLoadDelta>();
  const add = (delta: HostLoadDelta, sign: 1 | -1) => {
    const sum = byHost.get(delta.hypervisor) ?? { hypervisor: delta.hypervisor, locatedMb: 0, headingMb: 0, movesRunning: 0, movesWaiting: 0 };
    sum.locatedMb += sign * delta.locatedMb;
    sum.headingMb += sign * delta.headingMb;
    sum.movesRunning += sign * delta.movesRunning;
    sum.movesWaiting += sign * delta.movesWaiting;
    byHost.set(delta.hypervisor, sum);
  };
  for (const delta of loadOf(before)) add(delta, -1);
  for (const delta of loadOf(after)) add(delta, 1);
  return [...byHost.values()].filter((d) => d.locatedMb !== 0 || d.headingMb !== 0 || d.movesRunning !== 0 || d.movesWaiting !== 0);
}
