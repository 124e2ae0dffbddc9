import type { Location, MoveMode } from '@locus/contracts';

/** Commands the VM decider accepts; a string-tagged union closed by an exhaustive switch. */
export type VmCommand =
  | {
      type: 'PlaceVm';
      vm: string;
      ip: string;
      mac: string;
      l2Domain: string;
      memoryMb: number;
      location: Location;
    }
  | { type: 'RequestMove'; moveId: string; mode: MoveMode; to: Location; requestId?: string }
  | { type: 'RecordSourceStopped'; moveId: string; hypervisor: string; durationMs: number }
  | { type: 'RecordConfigTransferred'; moveId: string; bytes: number; durationMs: number }
  | { type: 'CommitLocation'; moveId: string }
  | { type: 'RecordTargetStarted'; moveId: string; hypervisor: string; locationVersion: number; durationMs: number }
  | { type: 'FailMove'; moveId: string; code: string; message: string }
  | { type: 'RecordRestartedAtSource'; moveId: string; hypervisor: string; durationMs: number };
