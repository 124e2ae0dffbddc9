import type { Location, MoveMode } from '@locus/contracts';

/** Where a move stands, as far as the VM's own stream knows. */
export type MovePhase =
  | 'accepted' // waiting for the source agent to stop the VM
  | 'source-stopped' // waiting for the target agent to take the config
  | 'config-transferred' // waiting for the location commit
  | 'relocated' // location committed; waiting for the target agent to boot the VM
  | 'restarting-at-source'; // the move failed after the stop; the VM must run again at the source

export interface ActiveMove {
  moveId: string;
  mode: MoveMode;
  from: Location;
  to: Location;
  requestId?: string;
  phase: MovePhase;
  /** Simulated milliseconds spent in each finished phase, summed into downtime and total. */
  stopMs: number;
  transferMs: number;
}

export type VmState =
  | { status: 'unknown' }
  | {
      status: 'placed';
      vm: string;
      ip: string;
      mac: string;
      l2Domain: string;
      memoryMb: number;
      location: Location;
      locationVersion: number;
      run: 'running' | 'stopped';
      move?: ActiveMove;
    };

export type PlacedVm = Extract<VmState, { status: 'placed' }>;

export const initialVmState = (): VmState => ({ status: 'unknown' });
