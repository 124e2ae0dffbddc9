import type { Location, MoveCause, MoveMode, MovePlan } from '@locus/contracts';
import type { PrecopyRound } from '../precopy/precopy.model';

/** Where a move stands, as far as the VM's own stream knows. */
export type MovePhase =
  | 'queued' // accepted; waiting for a slot among the source host's outbound moves
  | 'started' // admitted; the first step is on its way
  | 'source-stopped' // cold: guest shut down at the source
  | 'config-transferred' // cold: the target holds the config
  | 'suspended' // warm: memory written to disk at the source
  | 'state-transferred' // warm: the target holds the suspended state
  | 'precopy' // hot: pre-copy rounds running while the VM runs
  | 'switching' // hot: switchover decided (point of no return), pausing at the source
  | 'switched' // hot: paused and copied; waiting for the location commit
  | 'relocated' // location committed; waiting for the target to run the VM
  | 'resumed' // hot: running at the target; waiting for the announce
  | 'announced' // hot postcopy: announced; pulling the remaining pages from the source
  | 'restarting-at-source'; // failed or cancelled after the VM stopped: it must run again at the source

export interface ActiveMove {
  moveId: string;
  mode: MoveMode;
  cause: MoveCause;
  from: Location;
  to: Location;
  requestId?: string;
  plan?: MovePlan;
  phase: MovePhase;
  rounds: PrecopyRound[];
  /** Simulated ms per finished phase (shutdown, transfer, boot, suspend, state-transfer, resume, precopy, stop-and-copy, postcopy). */
  phases: Record<string, number>;
  /** Simulated ms with the VM running (pre-copy, postcopy pull) and stopped (everything else). */
  liveMs: number;
  downMs: number;
  /** Wall-clock epoch ms at which the source agent saw the VM stop serving (stop, suspend or pause). */
  downAt?: number;
  /** Hot: the downtime the agents measured up to the resume, simulated ms (the move completes after the announce). */
  observedDowntimeMs?: number;
  dataSentBytes: number;
  postcopy: boolean;
  switchoverReason?: 'converged' | 'max-rounds' | 'max-data' | 'postcopy';
}

/** Convergence outlives the active move: it is recorded after MoveCompleted, by move id. */
export interface MoveConvergenceState {
  moveId: string;
  locationVersion: number;
  converged: boolean;
  late: boolean;
}

export interface LastRepair {
  repairId: string;
  locationVersion: number;
  restarted: boolean;
  stuck: boolean;
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
      /** The network convergence of the last committed move: opened by its location commit, closed when it converged. */
      convergence?: MoveConvergenceState;
      /** The last drift repair of the VM (see VmLocationReasserted): what was done, so a repeated record changes nothing. */
      repair?: LastRepair;
    };

export type PlacedVm = Extract<VmState, { status: 'placed' }>;

export const initialVmState = (): VmState => ({ status: 'unknown' });
