import type { HostDriftFinding, Location, MoveCause, MoveMode, MovePlan, PlaneTiming, StaleComponent } from '@locus/contracts';
import type { PrecopyRound } from '../precopy/precopy.model';

/**
 * When an agent saw the VM stop serving (`downAt`) or serve again (`upAt`): wall-clock epoch ms
 * from the agents' replies, with the lab's `timeScale` to turn their difference into simulated ms.
 */
type DownAt = { downAt?: number };
type UpAt = { upAt?: number; timeScale?: number };

/** Commands the VM decider accepts; a string-tagged union closed by an exhaustive switch. */
export type VmCommand =
  | { type: 'PlaceVm'; vm: string; ip: string; mac: string; l2Domain: string; memoryMb: number; location: Location }
  | {
      type: 'RequestMove';
      moveId: string;
      mode: MoveMode;
      to: Location;
      requestId?: string;
      cause?: MoveCause;
      plan?: MovePlan;
      warnings?: string[];
      planes?: string[];
    }
  | { type: 'StartMove'; moveId: string }
  // cold
  | ({ type: 'RecordSourceStopped'; moveId: string; hypervisor: string; durationMs: number } & DownAt)
  | { type: 'RecordConfigTransferred'; moveId: string; bytes: number; durationMs: number }
  | ({ type: 'RecordTargetStarted'; moveId: string; hypervisor: string; locationVersion: number; durationMs: number } & UpAt)
  // warm
  | ({ type: 'RecordSuspended'; moveId: string; hypervisor: string; bytes: number; durationMs: number } & DownAt)
  | { type: 'RecordStateTransferred'; moveId: string; bytes: number; durationMs: number }
  // hot
  | { type: 'RecordPrecopyRound'; moveId: string; round: PrecopyRound }
  | { type: 'StartSwitchover'; moveId: string; reason: 'converged' | 'max-rounds' | 'max-data' | 'postcopy'; remainingBytes: number; expectedDowntimeMs: number }
  | ({ type: 'RecordPausedAndCopied'; moveId: string; hypervisor: string; bytes: number; durationMs: number } & DownAt)
  | { type: 'RecordAnnounced'; moveId: string; hypervisor: string; offsetsMs: number[] }
  | { type: 'RecordPostcopyPulled'; moveId: string; bytes: number; durationMs: number }
  // warm and hot
  | ({ type: 'RecordResumed'; moveId: string; hypervisor: string; locationVersion: number; durationMs: number } & UpAt)
  // all
  | { type: 'CommitLocation'; moveId: string }
  | { type: 'FailMove'; moveId: string; code: string; message: string }
  | { type: 'CancelMove'; moveId: string }
  | { type: 'RecordRestartedAtSource'; moveId: string; hypervisor: string; durationMs: number }
  // network convergence, after the location commit (the convergence tracker)
  | { type: 'RecordConverged'; moveId: string; locationVersion: number; convergenceMs: number; planes: Record<string, PlaneTiming> }
  | { type: 'RecordConvergenceLate'; moveId: string; locationVersion: number; afterMs: number; stale: StaleComponent[]; planes: Record<string, PlaneTiming> }
  // drift repair (the drift detector): the location DB is the truth, asserted again above every version seen
  | {
      type: 'ReassertLocation';
      repairId: string;
      /** The location version the drift check compared: the repair is refused if the VM changed since. */
      expectedLocationVersion: number;
      hypervisor: string;
      locationVersion: number;
      findings: HostDriftFinding[];
      evict: string[];
      start: boolean;
    }
  | { type: 'RecordRepairRestarted'; repairId: string; hypervisor: string; locationVersion: number; durationMs: number }
  | { type: 'DeclareRepairStuck'; repairId: string; hypervisor: string; locationVersion: number; findings: HostDriftFinding[]; reason: string; action: string };
