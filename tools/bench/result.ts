import type { Summary } from '@locus/platform';
import type { CostFigures } from './costs';
import type { AnswerFigures } from './open-loop';
import type { StartStep } from './start-lab';

/** What a bench run measured, as types only: the report renders it, the targets judge it, `--json` prints it. */

/** One load phase: what was offered, sent, accepted and completed in its window. */
export interface PhaseSummary {
  /** Offered, moves/s. */
  rate: number;
  windowS: number;
  sent: number;
  sentPerS: number;
  /** Due by the schedule but not sent: the in-flight cap was reached, or no VM was idle. */
  notSent: { inFlightCap: number; noIdleVm: number };
  maxInFlight: number;
  accepted: number;
  acceptedPerS: number;
  completedInWindow: number;
  sustainedPerS: number;
  /** Accepted and not finished when the phase began (phase 2: carried over from phase 1). */
  backlogStart?: number;
  backlogEnd: number;
  backlogMax: number;
  backlogSlopePerS?: number;
}

/** --compare-vms: the same configuration on a fresh lab of another size, and the ratio of the convergence p50s. */
export interface CompareFigures {
  /** The command line that runs the compare lab alone. */
  command: string;
  vms: number;
  itrs: number;
  rate: number;
  durationS: number;
  labReadyS?: number;
  placeS?: number;
  sent: number;
  completed: number;
  timeouts: number;
  sustainedPerS: number;
  used: 'tracker' | 'computed' | 'none';
  convergence?: Summary;
  totalPeakMiB: number;
  /** Convergence p50 of the main run and of the compare run (each its own used source), and main / compare. */
  mainP50?: number;
  compareP50?: number;
  ratioP50?: number;
  notes: string[];
}

/** Everything one benchmark run measured (what `--json` prints). */
/** A fixed CPU job and a system call, timed (`machineControl`). */
export interface MachineControl {
  jsLoopMs: number;
  syscallUs: number;
}

export interface BenchResult {
  date: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memGiB: number;
    node: string;
    nats: string;
    postgres: string;
    /** The machine's speed at the floors' time, to compare runs across machines and hours: a fixed JavaScript loop (ms) and one system call (µs). */
    control?: MachineControl;
  };
  command: string;
  config: {
    preset: string;
    vms: number;
    itrs: number;
    hypervisors: number;
    rate: number;
    durationS: number;
    bootMs: number;
    shutdownMs: number;
    cacheFraction: number;
    mode: 'cold';
    idle: boolean;
    natsServer: 'shared' | 'private';
    rib: string;
    logLevel: string;
    attach: boolean;
    /** --overload: a second phase at twice the completed rate of the first. */
    overload?: boolean;
    /** --compare-vms N. */
    compareVms?: number;
    /** Client timeout of every vm.move request, ms. */
    requestTimeoutMs?: number;
    /** Sites per plane-service process the lab ran with. */
    sitesPerProcess?: number;
    /** How the services were grouped into processes (start-lab's ProcessLayout). */
    processes?: string;
  };
  startup: {
    labReadyS?: number;
    placeS?: number;
    cachedEntries: number;
    warmS: number;
    /** Each service: seconds since the lab started when it was spawned and when it was ready. */
    steps?: StartStep[];
    /** The manager answers vm.list by pages. */
    /** The plane services started at once, one process each. */
    concurrent?: boolean;
  };
  floors: {
    C: { ms: number; how: string };
    H: { ms: number; how: string };
    gobgp?: { ms: number; p99?: number; how: string };
    gobgpSkipped?: string;
  };
  moves: {
    sent: number;
    accepted: number;
    refused: Record<string, number>;
    timeouts: number;
    completed: number;
    failed: number;
    cancelled: number;
    windowS: number;
    /** Moves completed inside the sending window per second of it. */
    sustainedPerS: number;
    acceptedPerS: number;
    backlogEnd: number;
    backlogMax: number;
    /** Least-squares growth of (accepted − finished) over the window, moves per second. */
    backlogSlopePerS: number | undefined;
    /** Accepted but not finished when the drain gave up. */
    unfinished: number;
    /** Completed but not converged (neither the tracker's nor the bench's figure) when the drain gave up. */
    unconverged: number;
    drainS: number;
    /** vm.move request → reply, ms. */
    requestMs: Summary;
    /** Where a completed move's time went (event recordedAt differences), ms. */
    phases: { queued: Summary; toCommit: Summary; commitToCompleted: Summary };
    /** Every answer of the window's requests by kind: latency percentiles, client timeouts, share within 100 ms. */
    answers?: AnswerFigures;
    sentPerS?: number;
    notSent?: { inFlightCap: number; noIdleVm: number };
    maxInFlight?: number;
  };
  /** Per-move costs over the load window (phase 1). */
  costs?: CostFigures;
  /** --overload: phase 1 at --rate (its completed rate is the peak), phase 2 at twice the peak. */
  overload?: {
    peakPerS: number;
    phase1: PhaseSummary;
    phase2?: PhaseSummary & { ratioToPeak?: number; answers: AnswerFigures; convergence?: Summary; costs?: CostFigures };
  };
  compare?: CompareFigures;
  convergence: {
    used: 'tracker' | 'computed' | 'none';
    tracker?: Summary;
    computed?: Summary;
    /** The tracker's time of each plane, from the location commit to that plane agreeing. */
    byPlane?: Record<string, Summary>;
    /** VmRelocated: decision (`metadata.at`) → its insert (`recordedAt`) and → received on the stream by the bench. */
    commitStages?: { toInsert: Summary; toStream: Summary };
    /** The tracker's figure for moves committed in the window's first seconds and after them: how long the lab takes to warm up. */
    warmUp?: { firstS: number; first: Summary; after: Summary };
    late: number;
    how: string;
  };
  events: { appended: number; perS: number; streamMessages: number; streamPerS: number };
  rss: {
    services: { name: string; pid?: number; peakMiB: number; maxRssMiB: number; cpuS: number }[];
    totalPeakMiB: number;
    totalMaxRssMiB: number;
    benchCpuS: number;
    /** Whole machine during the load window (or the idle wait): busy share of all cores, and the share used by the lab's own processes and the bench. */
    machineBusyPct?: number;
    labBusyPct?: number;
    /** Who used the CPU during the window (share of all cores), e.g. PostgreSQL, the shared nats-server, other users' processes. */
    topCpu?: { who: string; pct: number }[];
  };
  notes: string[];
}
