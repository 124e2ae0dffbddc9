import type { VmState } from '../vm/vm.state';

/**
 * The cold-move saga as a pure function of the VM's state: what must happen next.
 * The runner asks this after every event, so a crash anywhere resumes at the right step.
 */
export type SagaStep =
  | { kind: 'agent'; action: 'stop'; hypervisor: string; moveId: string; locationVersion: number }
  | { kind: 'agent'; action: 'transfer'; hypervisor: string; peer: string; moveId: string; locationVersion: number }
  | { kind: 'commit'; moveId: string }
  | { kind: 'agent'; action: 'start'; hypervisor: string; moveId: string; locationVersion: number }
  | { kind: 'agent'; action: 'restart'; hypervisor: string; moveId: string; locationVersion: number };

export function nextSagaStep(state: VmState): SagaStep | null {
  if (state.status !== 'placed' || !state.move) return null;
  const { move, locationVersion } = state;
  const base = { moveId: move.moveId, locationVersion };
  switch (move.phase) {
    case 'accepted':
      return { kind: 'agent', action: 'stop', hypervisor: move.from.hypervisor, ...base };
    case 'source-stopped':
      return { kind: 'agent', action: 'transfer', hypervisor: move.to.hypervisor, peer: move.from.hypervisor, ...base };
    case 'config-transferred':
      return { kind: 'commit', moveId: move.moveId };
    case 'relocated':
      return { kind: 'agent', action: 'start', hypervisor: move.to.hypervisor, ...base };
    case 'restarting-at-source':
      return { kind: 'agent', action: 'restart', hypervisor: move.from.hypervisor, ...base };
    default: {
      const never: never = move.phase;
      throw new Error(`unhandled phase ${never}`);
    }
  }
}
