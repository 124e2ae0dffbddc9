/** The soak's checker: figures from what the event store, the agents and the drift check said at the end. */

export interface FaultWindow {
  kind: 'kill-service' | 'kill-nats' | 'stop' | 'pg-terminate' | 'pg-stop';
  /** The process (manager, a hypervisor's agent, a plane service, a NATS node) or what was terminated or stopped. */
  target: string;
  /** Milliseconds since the soak's moves began: the fault, and the target back (restarted and answering, or continued). */
  startMs: number;
  endMs: number;
}

export interface StoredEvent {
  id: string;
  type: string;
  data: any;
  /** recorded_at, in milliseconds since the soak's moves began. */
  atMs: number;
}

export interface SoakFacts {
  seed: number;
  durationS: number;
  timeScale: number;
  /** The manager's failure timeout in real milliseconds: a host silent this long may be failed over. */
  hostTimeoutRealMs: number;
  /** The agents' heartbeat period in real milliseconds: the manager's last heartbeat came up to this long before a kill. */
  heartbeatRealMs: number;
  lastFaultEndMs: number;
  sent: { requestId: string; vm: string; moveId?: string; refused?: string; unanswered?: boolean }[];
  faults: FaultWindow[];
  events: StoredEvent[];
  /** Each hypervisor's VMs as its agent answered `inventory` (undefined: no answer). */
  inventories: Map<string, string[] | undefined>;
  drift: any;
  /** Services that exited without being killed (the soak's supervisor started them again). */
  crashes?: string[];
}

export interface SoakReport {
  ok: boolean;
  seed: number;
  durationS: number;
  faults: Record<string, number>;
  /** Every fault with its window (ms since the moves began), for reading a failure against the logs. */
  faultWindows: FaultWindow[];
  movesSent: number;
  refused: number;
  /** Refusals by error code (a VM already moving, a mode its placement does not allow, the manager not ready…). */
  refusedBy: Record<string, number>;
  unanswered: number;
  accepted: number;
  haRestarts: number;
  terminal: { completed: number; converged: number; failed: number; cancelled: number };
  notTerminal: number;
  /** Completed moves whose planes did not agree in time (MoveConvergenceLate, no MoveConverged after it). */
  late: number;
  /** Completed moves with neither verdict whose VM was relocated again (a newer location version) before their planes agreed: the planes follow the newer move now. */
  superseded: number;
  /** Completed moves with neither verdict and no later relocation: nobody is still tracking them (the convergence was lost). */
  unsettled: number;
  lost: number;
  duplicated: number;
  doubleLocated: number;
  agentsUnanswered: number;
  drift: number | 'no answer';
  spuriousHa: number;
  crashes: number;
  afterLastFault: { moves: number; p50S?: number; p99S?: number; maxS?: number };
  details: string[];
}

/** Real ms a host's measured silence may exceed the fault that caused it (a heartbeat's phase, a loaded machine's delay). */
const HA_SLACK_MS = 1000;

const TERMINAL = { MoveCompleted: 'completed', MoveConverged: 'converged', MoveFailed: 'failed', MoveCancelled: 'cancelled' } as const;

function percentile(sorted: number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function buildSoakReport(f: SoakFacts): SoakReport {
  const details: string[] = [];
  const accepted = new Map<string, StoredEvent>();
  const ends = new Map<string, StoredEvent[]>();
  const completions = new Map<string, number>();
  const late = new Set<string>();
  const converged = new Set<string>();
  const ids = new Map<string, number>();
  for (const e of f.events) {
    ids.set(e.id, (ids.get(e.id) ?? 0) + 1);
    const moveId = e.data?.moveId as string | undefined;
    if (!moveId) continue;
    if (e.type === 'MoveAccepted') accepted.set(moveId, e);
    if (e.type in TERMINAL) ends.set(moveId, [...(ends.get(moveId) ?? []), e]);
    if (e.type === 'MoveCompleted') completions.set(moveId, (completions.get(moveId) ?? 0) + 1);
    if (e.type === 'MoveConvergenceLate') late.add(moveId);
    if (e.type === 'MoveConverged') converged.add(moveId);
  }
  // Terminal by the move's last word: a converged move has also completed; it counts once, as converged.
  const terminal = { completed: 0, converged: 0, failed: 0, cancelled: 0 };
  for (const [, es] of ends) terminal[TERMINAL[es[es.length - 1].type as keyof typeof TERMINAL]]++;
  const open = [...accepted.keys()].filter((m) => !ends.has(m));
  for (const m of open) details.push(`not terminal: move ${m} (${accepted.get(m)!.data.vm})`);

  // A move relocated again later has its planes following the newer version: it is superseded, not lost.
  const versions = new Map<string, { vm: string; locationVersion: number }>();
  const lastVersion = new Map<string, number>();
  for (const e of f.events)
    if (e.type === 'VmRelocated') {
      versions.set(e.data.moveId, { vm: e.data.vm, locationVersion: e.data.locationVersion });
      lastVersion.set(e.data.vm, Math.max(lastVersion.get(e.data.vm) ?? 0, e.data.locationVersion));
    }
  const noVerdict = [...completions.keys()].filter((m) => !converged.has(m) && !late.has(m));
  const isSuperseded = (m: string) => {
    const v = versions.get(m);
    return !!v && (lastVersion.get(v.vm) ?? 0) > v.locationVersion;
  };
  const superseded = noVerdict.filter(isSuperseded);
  const unsettled = noVerdict.filter((m) => !isSuperseded(m));
  for (const m of unsettled) details.push(`unsettled: move ${m} (${accepted.get(m)?.data.vm}) completed with no convergence verdict (neither converged nor late)`);
  const stillLate = [...late].filter((m) => !converged.has(m));

  const lostMoves = f.sent.filter((x) => x.moveId && !accepted.has(x.moveId));
  for (const x of lostMoves) details.push(`lost: ${x.requestId} was accepted as ${x.moveId}, and the store has no MoveAccepted for it`);
  const dupIds = [...ids].filter(([, n]) => n > 1);
  const dupCompletions = [...completions].filter(([, n]) => n > 1);
  for (const [id, n] of dupIds) details.push(`duplicated: event ${id} stored ${n} times`);
  for (const [m, n] of dupCompletions) details.push(`duplicated: move ${m} has ${n} MoveCompleted`);

  const holders = new Map<string, string[]>();
  for (const [host, vms] of f.inventories) for (const vm of vms ?? []) holders.set(vm, [...(holders.get(vm) ?? []), host]);
  const double = [...holders].filter(([, hs]) => hs.length > 1);
  for (const [vm, hs] of double) details.push(`double-located: ${vm} held by ${hs.join(' and ')}`);
  const agentsUnanswered = [...f.inventories.values()].filter((v) => v === undefined).length;
  if (agentsUnanswered) details.push(`${agentsUnanswered} agent(s) did not answer inventory at the end`);

  // Every plane runs in the soak: a disagreement of any plane (hypervisors, mapping, routes, ARP) is drift.
  const answered = f.drift?.ok !== false && Array.isArray(f.drift?.disagreements);
  const disagreements: any[] = answered ? f.drift.disagreements : [];
  const drift = answered ? disagreements.length : ('no answer' as const);
  if (!answered) details.push(`drift.check did not answer: ${JSON.stringify(f.drift?.error ?? f.drift)}`);
  for (const d of disagreements) details.push(`drift: ${JSON.stringify(d)}`);

  // A host's failover is earned when its agent was killed or stopped close to the failure timeout
  // and that fault overlaps the silence the manager measured. The silence is longer than the fault
  // by up to a heartbeat before it and the time the process takes to speak again after it (a
  // loaded machine: up to a second seen), hence the slack; a failover with no such fault is spurious.
  const earned = (e: StoredEvent) => {
    const silentRealMs = Number(e.data.silentMs ?? 0) / f.timeScale;
    return f.faults.some(
      (w) =>
        (w.kind === 'kill-service' || w.kind === 'stop') &&
        w.target === e.data.hypervisor &&
        w.endMs - w.startMs >= f.hostTimeoutRealMs - f.heartbeatRealMs - HA_SLACK_MS &&
        w.startMs <= e.atMs &&
        w.endMs >= e.atMs - silentRealMs - HA_SLACK_MS,
    );
  };
  const declared = f.events.filter((e) => e.type === 'HostDeclaredFailed');
  const spurious = declared.filter((e) => !earned(e));
  for (const e of spurious)
    details.push(
      `spurious HA: ${e.data.hypervisor} declared failed at +${(e.atMs / 1000).toFixed(1)} s (silent ${e.data.silentMs} ms simulated) with no kill or stop of it near ${f.hostTimeoutRealMs} ms then`,
    );
  const haRestarts = [...accepted.values()].filter((e) => e.data.cause === 'ha-restart');
  const spuriousHosts = new Set(spurious.map((e) => e.data.hypervisor));
  const spuriousRestarts = haRestarts.filter((e) => spuriousHosts.has(e.data.from?.hypervisor)).length;

  // Time to terminal after the last fault, for every move still open when it ended.
  const after = [...accepted]
    .filter(([m, a]) => a.atMs <= f.lastFaultEndMs && !(ends.get(m)?.[0].atMs! <= f.lastFaultEndMs))
    .map(([m]) => ends.get(m)?.[0].atMs)
    .filter((t): t is number => t !== undefined)
    .map((t) => (t - f.lastFaultEndMs) / 1000)
    .sort((a, b) => a - b);

  for (const c of f.crashes ?? []) details.push(`crash: ${c}`);
  const faults: Record<string, number> = {};
  for (const w of f.faults) faults[w.kind] = (faults[w.kind] ?? 0) + 1;
  const report: SoakReport = {
    ok: false,
    seed: f.seed,
    durationS: f.durationS,
    faults,
    faultWindows: f.faults,
    movesSent: f.sent.length,
    refused: f.sent.filter((x) => x.refused).length,
    refusedBy: f.sent.reduce<Record<string, number>>((acc, x) => (x.refused ? { ...acc, [x.refused]: (acc[x.refused] ?? 0) + 1 } : acc), {}),
    unanswered: f.sent.filter((x) => x.unanswered).length,
    accepted: accepted.size - haRestarts.length,
    haRestarts: haRestarts.length,
    terminal,
    notTerminal: open.length,
    late: stillLate.length,
    superseded: superseded.length,
    unsettled: unsettled.length,
    lost: lostMoves.length,
    duplicated: dupIds.length + dupCompletions.length,
    doubleLocated: double.length,
    agentsUnanswered,
    drift,
    spuriousHa: spuriousRestarts + spurious.length,
    crashes: f.crashes?.length ?? 0,
    afterLastFault: { moves: after.length, p50S: percentile(after, 50), p99S: percentile(after, 99), maxS: after[after.length - 1] },
    details,
  };
  report.ok =
    report.notTerminal === 0 &&
    report.unsettled === 0 &&
    report.lost === 0 &&
    report.duplicated === 0 &&
    report.doubleLocated === 0 &&
    agentsUnanswered === 0 &&
    drift === 0 &&
    report.spuriousHa === 0;
  return report;
}

export function renderSoakTable(r: SoakReport): string {
  const s = (x?: number) => (x === undefined ? '–' : `${x.toFixed(2)} s`);
  const rows: [string, string][] = [
    ['seed / duration', `${r.seed} / ${r.durationS} s`],
    [
      'faults',
      Object.entries(r.faults)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none',
    ],
    ['moves sent', String(r.movesSent)],
    [
      '  refused (typed answer)',
      `${r.refused}${
        r.refused
          ? ` (${Object.entries(r.refusedBy)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')})`
          : ''
      }`,
    ],
    ['  unanswered after 4 tries', String(r.unanswered)],
    ['moves accepted (operator)', String(r.accepted)],
    ['HA restarts accepted', String(r.haRestarts)],
    ['terminal: completed', String(r.terminal.completed)],
    ['terminal: converged', String(r.terminal.converged)],
    ['terminal: failed', String(r.terminal.failed)],
    ['terminal: cancelled', String(r.terminal.cancelled)],
    ['not terminal after the drain', String(r.notTerminal)],
    ['completed, planes late (not converged)', String(r.late)],
    ['completed, superseded before converging', String(r.superseded)],
    ['completed, no convergence verdict', String(r.unsettled)],
    ['lost (accepted, no events)', String(r.lost)],
    ['duplicated events', String(r.duplicated)],
    ['double-located VMs', String(r.doubleLocated)],
    ['drift disagreements', String(r.drift)],
    ['spurious HA (hosts + restarts)', String(r.spuriousHa)],
    ['services that exited by themselves', String(r.crashes)],
    [`time to terminal after last fault (${r.afterLastFault.moves} moves) p50`, s(r.afterLastFault.p50S)],
    ['  p99', s(r.afterLastFault.p99S)],
    ['  max', s(r.afterLastFault.maxS)],
    ['result', r.ok ? 'PASS' : 'FAIL'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return [...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), ...r.details.slice(0, 40).map((d) => `  ! ${d}`), ''].join('\n');
}
