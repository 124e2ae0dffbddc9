/**
 * What one hypervisor believes it hosts, and the fencing rule that keeps a VM running in
 * exactly one place: a host never acts for a location version older than the highest one
 * it has seen for that VM, and forgets a VM (keeping its version) once the VM is relocated away.
 */
import type { HostedVmState } from '@locus/contracts';
import type { VmState } from '../vm/vm.state';

export type HostedState = HostedVmState;

export interface HostedVm {
  state: HostedState;
  locationVersion: number;
}

export interface HostInventory {
  hypervisor: string;
  vms: Map<string, HostedVm>;
  /** Highest location version seen per VM, including VMs that have left. */
  seen: Map<string, number>;
}

export const emptyInventory = (hypervisor: string): HostInventory => ({ hypervisor, vms: new Map(), seen: new Map() });

export type LocationFact =
  | { type: 'placed'; vm: string; hypervisor: string; locationVersion: number }
  | { type: 'relocated'; vm: string; from: string; to: string; locationVersion: number }
  /** A drift repair: the VM belongs on `hypervisor` at this version; any other host holding it drops its copy. */
  | { type: 'reasserted'; vm: string; hypervisor: string; locationVersion: number };

export type ApplyOutcome = 'applied' | 'duplicate' | 'stale' | 'not-mine';

/** Applies a location fact from the event stream; older or repeated facts change nothing. */
export function applyLocationFact(inv: HostInventory, fact: LocationFact): ApplyOutcome {
  const mine =
    fact.type === 'placed'
      ? fact.hypervisor === inv.hypervisor
      : fact.type === 'reasserted'
        ? fact.hypervisor === inv.hypervisor || inv.vms.has(fact.vm) || inv.seen.has(fact.vm)
        : fact.from === inv.hypervisor || fact.to === inv.hypervisor;
  if (!mine) return 'not-mine';
  const seen = inv.seen.get(fact.vm) ?? 0;
  if (fact.locationVersion < seen) return 'stale';
  if (fact.locationVersion === seen) return 'duplicate';
  inv.seen.set(fact.vm, fact.locationVersion);
  if (fact.type === 'placed') {
    inv.vms.set(fact.vm, { state: 'running', locationVersion: fact.locationVersion });
  } else if (fact.type === 'reasserted') {
    const current = inv.vms.get(fact.vm);
    // The named host keeps what it runs; a VM it lacks waits there for the repair's boot.
    if (fact.hypervisor === inv.hypervisor) inv.vms.set(fact.vm, { state: current?.state ?? 'incoming', locationVersion: fact.locationVersion });
    else inv.vms.delete(fact.vm);
  } else if (fact.to === inv.hypervisor) {
    const current = inv.vms.get(fact.vm);
    // The target owns the VM from the commit on; it runs once the saga asks it to boot.
    inv.vms.set(fact.vm, { state: current?.state === 'running' ? 'running' : 'incoming', locationVersion: fact.locationVersion });
  } else {
    inv.vms.delete(fact.vm);
  }
  return 'applied';
}

/** May this host act on `vm` for `locationVersion`? Refuses anything older than what it has seen. */
export function checkFence(inv: HostInventory, vm: string, locationVersion: number): { ok: true } | { ok: false; reason: string } {
  const seen = inv.seen.get(vm) ?? 0;
  if (locationVersion < seen) return { ok: false, reason: `${inv.hypervisor} has seen ${vm} at location version ${seen}; a request for version ${locationVersion} is stale` };
  return { ok: true };
}

export function observeVersion(inv: HostInventory, vm: string, locationVersion: number): void {
  if (locationVersion > (inv.seen.get(vm) ?? 0)) inv.seen.set(vm, locationVersion);
}

/**
 * What the hypervisor that holds the VM (`state.location`: the source before the commit, the
 * target after it) is doing with it, as far as the recorded events say. A step under way but
 * not recorded counts as not done: an agent restarted from this repeats it rather than skip it.
 */
export function recordedHostState(state: VmState): HostedState | undefined {
  if (state.status !== 'placed') return undefined;
  const move = state.move;
  if (!move) return state.run;
  switch (move.phase) {
    case 'queued':
    case 'started':
    case 'precopy':
    case 'switching':
      return 'running';
    case 'source-stopped':
    case 'config-transferred':
      return 'stopped';
    case 'suspended':
    case 'state-transferred':
      return 'suspended';
    case 'switched':
      return 'paused';
    case 'relocated':
      return 'incoming';
    case 'resumed':
    case 'announced':
      return 'running';
    case 'restarting-at-source':
      if (state.run === 'running') return 'running';
      return move.mode === 'warm' ? 'suspended' : move.mode === 'hot' ? 'paused' : 'stopped';
    default: {
      const never: never = move.phase;
      throw new Error(`unhandled phase ${never}`);
    }
  }
}
