import type { MovePlan, VmEvent } from '@locus/contracts';
import type { VmCommand } from './vm.commands';
import { decide, fold } from './vm.decider';
import { nextSagaStep, type AgentStep } from '../move/move.saga';
import { commandOfAnswer, commandOfStep, decisionsAfter, type StepAnswer } from '../move/step-outcome';
import { predictMove } from '../move/move.prediction';
import { runRound, precopyParamsOf } from '../precopy/precopy.model';

/** Given/when/then over events: the spec reads as the history, the command and the facts that follow. */
function given(...history: VmEvent[]) {
  const state = fold(history);
  return {
    state,
    when: (command: VmCommand) => {
      const decision = decide(command, state);
      return {
        then: (...expected: VmEvent[]) => expect(decision).toEqual({ ok: true, events: expected }),
        thenNothing: () => expect(decision).toEqual({ ok: true, events: [] }),
        thenRefused: (code: string) => expect(decision).toMatchObject({ ok: false, code }),
        events: () => (decision.ok ? decision.events : []),
      };
    },
  };
}

/** A perfect agent's answer to a step: what the plan predicts (durations from sizes and link speeds). */
function perfectAnswer(step: AgentStep, plan: MovePlan): StepAnswer {
  const p = step.params;
  const ms = (bytes: number, bps: number) => (bytes / bps) * 1000;
  if (step.purpose === 'restart') return { durationMs: 1 };
  switch (step.action) {
    case 'stop':
    case 'start':
      return { durationMs: p.durationMs as number };
    case 'transfer':
    case 'receive-state':
    case 'pause-and-copy':
    case 'postcopy-pull':
      return { bytes: p.bytes as number, durationMs: ms(p.bytes as number, p.bandwidthBps as number) };
    case 'suspend':
      return { bytes: p.bytes as number, durationMs: ms(p.bytes as number, p.diskBps as number) };
    case 'resume':
      return { durationMs: p.bytes !== undefined ? ms(p.bytes as number, p.diskBps as number) : (p.durationMs as number) };
    case 'precopy-round': {
      const round = runRound(precopyParamsOf(plan as Extract<MovePlan, { mode: 'hot' }>), step.meta!.round, p.bytes as number, p.throttlePct as number);
      return { bytes: round.sentBytes, durationMs: round.durationMs, dirtyBytes: round.dirtyBytes };
    }
    case 'announce':
      return { durationMs: 0, offsetsMs: [50, 150, 250, 350, 450] };
  }
}

/** Runs the saga with a perfect agent: every step answers what the plan predicts, recorded as the runner records it (step-outcome). */
function drive(history: VmEvent[]): VmEvent[] {
  const events = [...history];
  for (let i = 0; i < 200; i++) {
    const state = fold(events);
    const step = nextSagaStep(state);
    if (!step || state.status !== 'placed' || !state.move) return events;
    const command: VmCommand = step.kind === 'agent' ? commandOfAnswer(step, perfectAnswer(step, state.move.plan!), 1) : commandOfStep(step);
    const decision = decide(command, state);
    if (!decision.ok) throw new Error(`${command.type} refused: ${decision.message}`);
    events.push(...decision.events);
  }
  throw new Error('saga did not finish');
}

/**
 * `drive` as the runner does it: after each agent's answer, the decisions that follow at once
 * (`decisionsAfter`) go into the same append. Returns the events and how many appends they took.
 */
function driveChained(history: VmEvent[]): { events: VmEvent[]; appends: number } {
  const events = [...history];
  let appends = 0;
  for (let i = 0; i < 200; i++) {
    const state = fold(events);
    const step = nextSagaStep(state);
    if (!step || state.status !== 'placed' || !state.move) return { events, appends };
    const command: VmCommand = step.kind === 'agent' ? commandOfAnswer(step, perfectAnswer(step, state.move.plan!), 1) : commandOfStep(step);
    const decision = decide(command, state);
    if (!decision.ok) throw new Error(`${command.type} refused: ${decision.message}`);
    const appended = [...decision.events];
    if (step.kind === 'agent') appended.push(...decisionsAfter(fold(decision.events, state)).flatMap((d) => d.events));
    events.push(...appended);
    appends++;
  }
  throw new Error('saga did not finish');
}

const MOVE = '7f3a0000-0000-4000-8000-000000000001';
const dc1 = { site: 'dc1', hypervisor: 'dc1-hv1' };
const dc2 = { site: 'dc2', hypervisor: 'dc2-hv1' };
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const coldPlan: MovePlan = { mode: 'cold', shutdownMs: 8000, bootMs: 20000, configBytes: 262144, bandwidthBps: 1.25e9 };
const warmPlan: MovePlan = { mode: 'warm', memoryBytes: 4 * GiB, bandwidthBps: 1.25e9, sourceDiskBps: 1000 * MiB, targetDiskBps: 1000 * MiB };
const hotPlan = (over: Partial<Extract<MovePlan, { mode: 'hot' }>> = {}): MovePlan => ({
  mode: 'hot',
  memoryBytes: 4 * GiB,
  workingSetBytes: 256 * MiB,
  dirtyRateBps: 200 * MiB,
  bandwidthBps: 1.25e9,
  downtimeLimitMs: 300,
  maxRounds: 30,
  maxDataBytes: 12 * GiB,
  policy: 'throttle',
  resumeMs: 20,
  ...over,
});
const placed: VmEvent = {
  type: 'VmPlaced',
  data: { vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', site: 'dc1', hypervisor: 'dc1-hv1', memoryMb: 4096, locationVersion: 1 },
};
const accepted = (plan: MovePlan = coldPlan, cause: 'operator' | 'ha-restart' = 'operator'): VmEvent => ({
  type: 'MoveAccepted',
  data: { moveId: MOVE, vm: 'web-01', mode: plan.mode, from: dc1, to: dc2, requestId: 'r1', locationVersion: 1, cause, plan, warnings: [], planes: ['location'] },
});
const started: VmEvent = { type: 'MoveStarted', data: { moveId: MOVE, hypervisor: 'dc1-hv1' } };
const stopped: VmEvent = { type: 'VmStoppedAtSource', data: { moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 } };
const transferred: VmEvent = { type: 'VmConfigTransferred', data: { moveId: MOVE, from: 'dc1-hv1', to: 'dc2-hv1', bytes: 65536, durationMs: 5 } };
const relocated: VmEvent = {
  type: 'VmRelocated',
  data: { moveId: MOVE, vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', from: dc1, to: dc2, locationVersion: 2, mode: 'cold' },
};

describe('VM decider: placing a VM', () => {
  it('given nothing, when placed, then VmPlaced at location version 1', () => {
    given().when({ type: 'PlaceVm', vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', memoryMb: 4096, location: dc1 }).then(placed);
  });
  it('given a placed VM, when placed again, then nothing (idempotent seeding)', () => {
    given(placed).when({ type: 'PlaceVm', vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', l2Domain: 'web', memoryMb: 4096, location: dc1 }).thenNothing();
  });
});

describe('VM decider: requesting a move', () => {
  it('given a placed VM, when a cold move is requested, then MoveAccepted from its current location with its plan', () => {
    given(placed)
      .when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc2, requestId: 'r1', plan: coldPlan, planes: ['location'] })
      .then(accepted());
  });
  it('given no VM, when a move is requested, then UNKNOWN_VM', () => {
    given().when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc2 }).thenRefused('UNKNOWN_VM');
  });
  it('given a placed VM, when moved to its own hypervisor, then SAME_LOCATION', () => {
    given(placed).when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc1 }).thenRefused('SAME_LOCATION');
  });
  it('given a move in progress, when another is requested, then MOVE_IN_PROGRESS', () => {
    given(placed, accepted()).when({ type: 'RequestMove', moveId: MOVE, mode: 'cold', to: dc2 }).thenRefused('MOVE_IN_PROGRESS');
  });
  it('given a queued move, when admitted, then MoveStarted; admitted again, nothing', () => {
    given(placed, accepted()).when({ type: 'StartMove', moveId: MOVE }).then(started);
    given(placed, accepted(), started).when({ type: 'StartMove', moveId: MOVE }).thenNothing();
  });
});

describe('VM decider: the cold move steps', () => {
  it('given started, when the source reports the stop, then VmStoppedAtSource', () => {
    given(placed, accepted(), started).when({ type: 'RecordSourceStopped', moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 }).then(stopped);
  });
  it('given already stopped, when the stop is reported again (redelivery), then nothing', () => {
    given(placed, accepted(), started, stopped).when({ type: 'RecordSourceStopped', moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000 }).thenNothing();
  });
  it('given the config transferred, when the location is committed, then VmRelocated with the next location version', () => {
    given(placed, accepted(), started, stopped, transferred).when({ type: 'CommitLocation', moveId: MOVE }).then(relocated);
  });
  it('given relocated, when the target reports the boot, then started and completed with downtime = stop + transfer + boot', () => {
    given(placed, accepted(), started, stopped, transferred, relocated)
      .when({ type: 'RecordTargetStarted', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000 })
      .then(
        { type: 'VmStartedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000 } },
        { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 28005, modelDowntimeMs: 28005, totalMs: 28005, rounds: 0, dataSentBytes: 65536 } },
      );
  });
  it('given the source saw the VM stop at T, when the target saw it running again 3.5 s later at scale 10, then the downtime is the 35 s the agents measured, the model beside it', () => {
    const T = 1_700_000_000_000;
    const stoppedAt: VmEvent = { type: 'VmStoppedAtSource', data: { moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000, downAt: T } };
    given(placed, accepted(), started, stoppedAt, transferred, relocated)
      .when({ type: 'RecordTargetStarted', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000, upAt: T + 3500, timeScale: 10 })
      .then(
        { type: 'VmStartedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000, upAt: T + 3500, observedDowntimeMs: 35_000 } },
        { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 35_000, modelDowntimeMs: 28005, totalMs: 28005, rounds: 0, dataSentBytes: 65536 } },
      );
  });
  it('given the source stop is recorded with its moment, when the stop is recorded, then VmStoppedAtSource carries downAt', () => {
    given(placed, accepted(), started)
      .when({ type: 'RecordSourceStopped', moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000, downAt: 1234.5 })
      .then({ type: 'VmStoppedAtSource', data: { moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 8000, downAt: 1234.5 } });
  });
  it('given relocated, when a start for an older location version is reported, then FENCED', () => {
    given(placed, accepted(), started, stopped, transferred, relocated)
      .when({ type: 'RecordTargetStarted', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 1, durationMs: 1 })
      .thenRefused('FENCED');
  });
  it('given a step for another move id, when reported, then nothing', () => {
    given(placed, accepted(), started).when({ type: 'RecordSourceStopped', moveId: '7f3a0000-0000-4000-8000-000000000002', hypervisor: 'dc1-hv1', durationMs: 1 }).thenNothing();
  });
  it('driven by the saga, reports exactly the predicted phases and downtime', () => {
    const events = drive([placed, accepted(coldPlan)]);
    const done = events.find((e) => e.type === 'MoveCompleted')!;
    expect(done.data).toMatchObject({ downtimeMs: predictMove(coldPlan).downtimeMs, totalMs: predictMove(coldPlan).totalMs });
  });
});

describe('VM decider: warm and hot moves, driven by the saga, match the prediction', () => {
  it('warm: suspend, state transfer, resume; downtime is the whole move', () => {
    const events = drive([placed, accepted(warmPlan)]);
    expect(events.map((e) => e.type).slice(2)).toEqual(['MoveStarted', 'VmSuspendedAtSource', 'VmStateTransferred', 'VmRelocated', 'VmResumedAtTarget', 'MoveCompleted']);
    const done = events[events.length - 1];
    const predicted = predictMove(warmPlan);
    expect(done.data).toMatchObject({ downtimeMs: predicted.downtimeMs, totalMs: predicted.totalMs });
  });
  it('hot: rounds while running, switchover, pause-and-copy, commit, resume, RARP announce; downtime is stop-and-copy + resume', () => {
    const plan = hotPlan();
    const events = drive([placed, accepted(plan)]);
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'PreCopyRoundCompleted').length).toBe(predictMove(plan).rounds.length);
    expect(types.slice(-6)).toEqual(['SwitchoverStarted', 'VmPausedAndCopied', 'VmRelocated', 'VmResumedAtTarget', 'RarpAnnounced', 'MoveCompleted']);
    const done = events[events.length - 1];
    const predicted = predictMove(plan);
    expect(done.data).toMatchObject({ rounds: predicted.rounds.length });
    expect((done.data as { downtimeMs: number }).downtimeMs).toBeCloseTo(predicted.downtimeMs!, 2);
    expect((done.data as { totalMs: number }).totalMs).toBeCloseTo(predicted.totalMs, 2);
    expect((done.data as { downtimeMs: number }).downtimeMs).toBeLessThanOrEqual(320);
  });
  it('hot postcopy: switches at once, device state only as downtime, then pulls the rest', () => {
    const plan = hotPlan({ memoryBytes: 64 * GiB, workingSetBytes: 12 * GiB, dirtyRateBps: 2 * GiB, maxDataBytes: 192 * GiB, policy: 'postcopy' });
    const events = drive([placed, accepted(plan)]);
    expect(events.map((e) => e.type).slice(-4)).toEqual(['VmResumedAtTarget', 'RarpAnnounced', 'PostcopyCompleted', 'MoveCompleted']);
    const done = events[events.length - 1].data as { downtimeMs: number; totalMs: number };
    expect(done.downtimeMs).toBeCloseTo(20, 3);
    expect(done.totalMs).toBeCloseTo(predictMove(plan).totalMs, 2);
  });
  it('hot: the downtime measured from the pause to the resume is kept through the announce', () => {
    const T = 1_700_000_000_000;
    const history: VmEvent[] = [
      placed,
      accepted(hotPlan()),
      started,
      { type: 'SwitchoverStarted', data: { moveId: MOVE, reason: 'converged', remainingBytes: 1, expectedDowntimeMs: 21 } },
      { type: 'VmPausedAndCopied', data: { moveId: MOVE, hypervisor: 'dc1-hv1', bytes: 1, durationMs: 1, reason: 'converged', downAt: T } },
      { ...relocated, data: { ...relocated.data, mode: 'hot' } } as VmEvent,
    ];
    const resumed = given(...history)
      .when({ type: 'RecordResumed', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20, upAt: T + 0.5, timeScale: 100 })
      .events();
    expect(resumed).toEqual([{ type: 'VmResumedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20, upAt: T + 0.5, observedDowntimeMs: 50 } }]);
    const done = given(...history, ...resumed)
      .when({ type: 'RecordAnnounced', moveId: MOVE, hypervisor: 'dc2-hv1', offsetsMs: [50] })
      .events()[1];
    expect(done).toMatchObject({ type: 'MoveCompleted', data: { downtimeMs: 50, modelDowntimeMs: 21 } });
  });
  it('hot abort: NOT_CONVERGING, the VM keeps running at the source', () => {
    const plan = hotPlan({ memoryBytes: 64 * GiB, workingSetBytes: 12 * GiB, dirtyRateBps: 2 * GiB, maxDataBytes: 192 * GiB, policy: 'abort' });
    const events = drive([placed, accepted(plan)]);
    const failed = events[events.length - 1];
    expect(failed).toMatchObject({ type: 'MoveFailed', data: { code: 'NOT_CONVERGING', restartAtSource: false } });
    const state = fold(events);
    expect(state).toMatchObject({ run: 'running', location: dc1, locationVersion: 1 });
  });
  it('HA restart: no stop and no transfer at the dead source: commit, then boot at the target', () => {
    const events = drive([placed, accepted(coldPlan, 'ha-restart')]);
    expect(events.map((e) => e.type).slice(2)).toEqual(['MoveStarted', 'VmRelocated', 'VmStartedAtTarget', 'MoveCompleted']);
  });
});

describe('VM decider: cancel', () => {
  it('given a hot move in pre-copy, when cancelled, then cancelled and the VM keeps running at the source', () => {
    const plan = hotPlan();
    const round0: VmEvent = { type: 'PreCopyRoundCompleted', data: { moveId: MOVE, ...runRound(precopyParamsOf(plan as never), 0, 4 * GiB, 0) } };
    given(placed, accepted(plan), started, round0)
      .when({ type: 'CancelMove', moveId: MOVE })
      .then({ type: 'MoveCancelled', data: { moveId: MOVE, phase: 'precopy', restartAtSource: false } });
  });
  it('given a hot move past its switchover, when cancelled, then TOO_LATE', () => {
    const switching: VmEvent = { type: 'SwitchoverStarted', data: { moveId: MOVE, reason: 'converged', remainingBytes: 1, expectedDowntimeMs: 21 } };
    const plan = hotPlan();
    const round0: VmEvent = { type: 'PreCopyRoundCompleted', data: { moveId: MOVE, ...runRound(precopyParamsOf(plan as never), 0, 4 * GiB, 0) } };
    given(placed, accepted(plan), started, round0, switching).when({ type: 'CancelMove', moveId: MOVE }).thenRefused('TOO_LATE');
  });
  it('given a cold move stopped at the source, when cancelled, then cancelled with a restart at the source, which the saga runs', () => {
    const g = given(placed, accepted(), started, stopped);
    g.when({ type: 'CancelMove', moveId: MOVE }).then({ type: 'MoveCancelled', data: { moveId: MOVE, phase: 'source-stopped', restartAtSource: true } });
    const events = drive([placed, accepted(), started, stopped, { type: 'MoveCancelled', data: { moveId: MOVE, phase: 'source-stopped', restartAtSource: true } }]);
    expect(events[events.length - 1].type).toBe('VmRestartedAtSource');
    expect(fold(events)).toMatchObject({ run: 'running', location: dc1, move: undefined });
  });
  it('given relocated, when cancelled, then TOO_LATE', () => {
    given(placed, accepted(), started, stopped, transferred, relocated).when({ type: 'CancelMove', moveId: MOVE }).thenRefused('TOO_LATE');
  });
  it('given a queued move, when cancelled, then cancelled without any restart', () => {
    given(placed, accepted())
      .when({ type: 'CancelMove', moveId: MOVE })
      .then({ type: 'MoveCancelled', data: { moveId: MOVE, phase: 'queued', restartAtSource: false } });
  });
});

describe('VM decider: failures', () => {
  it('given stopped at the source, when the transfer fails, then MoveFailed asking for a restart at the source', () => {
    given(placed, accepted(), started, stopped)
      .when({ type: 'FailMove', moveId: MOVE, code: 'AGENT_FAILED', message: 'disk full' })
      .then({ type: 'MoveFailed', data: { moveId: MOVE, code: 'AGENT_FAILED', message: 'disk full', phase: 'source-stopped', restartAtSource: true } });
  });
  it('given a queued move, when it fails, then MoveFailed and the VM stays running', () => {
    given(placed, accepted())
      .when({ type: 'FailMove', moveId: MOVE, code: 'UNAVAILABLE', message: 'agent unreachable' })
      .then({ type: 'MoveFailed', data: { moveId: MOVE, code: 'UNAVAILABLE', message: 'agent unreachable', phase: 'queued', restartAtSource: false } });
  });
  it('given the location committed, when a failure is reported, then refused: the move only goes forward', () => {
    given(placed, accepted(), started, stopped, transferred, relocated).when({ type: 'FailMove', moveId: MOVE, code: 'AGENT_FAILED', message: 'x' }).thenRefused('TOO_LATE');
  });
  it('after a failure past the stop, the saga restarts at the source with the unchanged location version', () => {
    const failed: VmEvent = { type: 'MoveFailed', data: { moveId: MOVE, code: 'AGENT_FAILED', message: 'x', phase: 'source-stopped', restartAtSource: true } };
    expect(nextSagaStep(fold([placed, accepted(), started, stopped, failed]))).toMatchObject({ kind: 'agent', action: 'start', purpose: 'restart', hypervisor: 'dc1-hv1', locationVersion: 1 });
  });
});

describe('VM decider: drift repair (the location DB asserted again)', () => {
  const REPAIR = '5e1f0000-0000-4000-8000-000000000009';
  const findings = [{ kind: 'missing' as const, hosts: ['dc1-hv1'], detail: 'dc1-hv1 does not hold web-01' }];
  const reassert = (over: Partial<Extract<VmCommand, { type: 'ReassertLocation' }>> = {}): VmCommand => ({
    type: 'ReassertLocation',
    repairId: REPAIR,
    expectedLocationVersion: 1,
    hypervisor: 'dc1-hv1',
    locationVersion: 3,
    findings,
    evict: ['dc2-hv1'],
    start: true,
    ...over,
  });
  const reasserted: VmEvent = {
    type: 'VmLocationReasserted',
    data: {
      repairId: REPAIR,
      vm: 'web-01',
      ip: '10.1.0.10',
      mac: '52:54:00:01:00:10',
      site: 'dc1',
      hypervisor: 'dc1-hv1',
      locationVersion: 3,
      previousVersion: 1,
      findings,
      evict: ['dc2-hv1'],
      start: true,
    },
  };

  it('given web-01 on dc1-hv1 v1, when the repair reasserts it at v3, then VmLocationReasserted at the DB location, and the VM is at v3', () => {
    given(placed).when(reassert()).then(reasserted);
    expect(fold([placed, reasserted])).toMatchObject({ location: dc1, locationVersion: 3, repair: { repairId: REPAIR, restarted: false, stuck: false } });
  });
  it('given the same repair recorded, when asked again, then nothing', () => {
    given(placed, reasserted).when(reassert()).thenNothing();
  });
  it('given the VM changed since the check (another version), when the repair comes, then refused: it is decided again on the new facts', () => {
    given(placed, accepted(), started, stopped, transferred, relocated).when(reassert()).thenRefused('VERSION_CONFLICT');
  });
  it('given a move under way, then refused; given a move stuck restarting at its source, then accepted (the new version unfences the restart)', () => {
    given(placed, accepted(), started)
      .when(reassert({ evict: [], start: false }))
      .thenRefused('MOVE_IN_PROGRESS');
    const failed: VmEvent = { type: 'MoveFailed', data: { moveId: MOVE, code: 'FENCED', message: 'seen v2', phase: 'started', restartAtSource: true } };
    const events = given(placed, accepted(), started, failed)
      .when(reassert({ evict: [], start: false }))
      .events();
    expect(events.map((e) => e.type)).toEqual(['VmLocationReasserted']);
    expect(nextSagaStep(fold([placed, accepted(), started, failed, ...events]))).toMatchObject({ action: 'start', purpose: 'restart', hypervisor: 'dc1-hv1', locationVersion: 3 });
  });
  it('refuses another host than the DB’s, and a version that does not rise', () => {
    given(placed)
      .when(reassert({ hypervisor: 'dc2-hv1' }))
      .thenRefused('BAD_REQUEST');
    given(placed)
      .when(reassert({ locationVersion: 1 }))
      .thenRefused('BAD_REQUEST');
  });
  it('given the reassert, when the DB host booted it for v3, then VmRestartedByRepair once; a boot for another version is fenced', () => {
    const restarted: VmEvent = { type: 'VmRestartedByRepair', data: { repairId: REPAIR, hypervisor: 'dc1-hv1', locationVersion: 3, durationMs: 20000 } };
    given(placed, reasserted).when({ type: 'RecordRepairRestarted', repairId: REPAIR, hypervisor: 'dc1-hv1', locationVersion: 3, durationMs: 20000 }).then(restarted);
    given(placed, reasserted, restarted).when({ type: 'RecordRepairRestarted', repairId: REPAIR, hypervisor: 'dc1-hv1', locationVersion: 3, durationMs: 20000 }).thenNothing();
    given(placed, reasserted).when({ type: 'RecordRepairRestarted', repairId: REPAIR, hypervisor: 'dc1-hv1', locationVersion: 2, durationMs: 1 }).thenRefused('FENCED');
  });
  it('given a boot that cannot be done, when declared stuck, then VmRepairStuck with what a human must do, once', () => {
    const stuck = { type: 'DeclareRepairStuck', repairId: REPAIR, hypervisor: 'dc1-hv1', locationVersion: 3, findings, reason: 'AGENT_FAILED: disk gone', action: 'fix dc1-hv1' } as const;
    const events = given(placed, reasserted).when(stuck).events();
    expect(events).toEqual([{ type: 'VmRepairStuck', data: { repairId: REPAIR, hypervisor: 'dc1-hv1', locationVersion: 3, findings, reason: 'AGENT_FAILED: disk gone', action: 'fix dc1-hv1' } }]);
    given(placed, reasserted, ...events)
      .when(stuck)
      .thenNothing();
  });
});

describe('cold-move saga: next step from state', () => {
  it('walks admit -> stop -> transfer -> commit -> start -> nothing', () => {
    expect(nextSagaStep(fold([placed, accepted()]))).toMatchObject({ kind: 'admit', hypervisor: 'dc1-hv1' });
    expect(nextSagaStep(fold([placed, accepted(), started]))).toMatchObject({ kind: 'agent', action: 'stop', hypervisor: 'dc1-hv1' });
    expect(nextSagaStep(fold([placed, accepted(), started, stopped]))).toMatchObject({ kind: 'agent', action: 'transfer', hypervisor: 'dc2-hv1', peer: 'dc1-hv1' });
    expect(nextSagaStep(fold([placed, accepted(), started, stopped, transferred]))).toEqual({ kind: 'commit', moveId: MOVE });
    expect(nextSagaStep(fold([placed, accepted(), started, stopped, transferred, relocated]))).toMatchObject({ kind: 'agent', action: 'start', hypervisor: 'dc2-hv1', locationVersion: 2 });
  });
});

describe('VM decider: network convergence of a committed move', () => {
  const booted: VmEvent = { type: 'VmStartedAtTarget', data: { moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000 } };
  const done: VmEvent = { type: 'MoveCompleted', data: { moveId: MOVE, locationVersion: 2, downtimeMs: 28005, modelDowntimeMs: 28005, totalMs: 28005, rounds: 0, dataSentBytes: 65536 } };
  const moved = [placed, accepted(), started, stopped, transferred, relocated, booted, done];
  const planes = { location: { ms: 0 }, 'host-routes': { ms: 2.7, advertised: 'dc2', withdrawn: 'dc1' } };
  const record = { type: 'RecordConverged', moveId: MOVE, locationVersion: 2, convergenceMs: 2.7, planes } as const;
  const stale = [{ plane: 'host-routes', component: 'route-injector:dc2', detail: '10.1.0.10/32 v2 not advertised' }];
  const late = { type: 'RecordConvergenceLate', moveId: MOVE, locationVersion: 2, afterMs: 30000, stale, planes: { location: { ms: 0 } } } as const;
  const converged: VmEvent = { type: 'MoveConverged', data: { moveId: MOVE, locationVersion: 2, convergenceMs: 2.7, planes } };
  const lateEvent: VmEvent = { type: 'MoveConvergenceLate', data: { moveId: MOVE, locationVersion: 2, afterMs: 30000, stale, planes: { location: { ms: 0 } } } };

  it('given a completed move, when its convergence is recorded, then MoveConverged; recorded again, nothing', () => {
    given(...moved)
      .when(record)
      .then(converged);
    given(...moved, converged)
      .when(record)
      .thenNothing();
  });
  it('given a move not completed yet (VM still booting), when converged, then nothing: it is recorded after the completion', () => {
    given(placed, accepted(), started, stopped, transferred, relocated).when(record).thenNothing();
  });
  it('given a move that never committed, or another move id or version, when converged, then nothing', () => {
    given(placed, accepted(), started).when(record).thenNothing();
    given(...moved)
      .when({ ...record, moveId: '7f3a0000-0000-4000-8000-000000000002' })
      .thenNothing();
    given(...moved)
      .when({ ...record, locationVersion: 3 })
      .thenNothing();
  });
  it('given a committed move, when late, then MoveConvergenceLate even before it completes; once; and a convergence may follow', () => {
    given(placed, accepted(), started, stopped, transferred, relocated).when(late).then(lateEvent);
    given(...moved, lateEvent)
      .when(late)
      .thenNothing();
    given(...moved, lateEvent)
      .when(record)
      .then(converged);
    given(...moved, converged)
      .when(late)
      .thenNothing();
  });
  it('given a late convergence naming nothing, then refused', () => {
    given(...moved)
      .when({ ...late, stale: [] })
      .thenRefused('BAD_REQUEST');
  });
  it('given the next move committed, when the previous one converges, then nothing (superseded)', () => {
    const next = '7f3a0000-0000-4000-8000-000000000002';
    const back: VmEvent[] = [
      { type: 'MoveAccepted', data: { moveId: next, vm: 'web-01', mode: 'cold', from: dc2, to: dc1, locationVersion: 2, cause: 'operator', plan: coldPlan, warnings: [], planes: ['location'] } },
      { type: 'MoveStarted', data: { moveId: next, hypervisor: 'dc2-hv1' } },
      { type: 'VmStoppedAtSource', data: { moveId: next, hypervisor: 'dc2-hv1', durationMs: 1 } },
      { type: 'VmConfigTransferred', data: { moveId: next, from: 'dc2-hv1', to: 'dc1-hv1', bytes: 1, durationMs: 1 } },
      { type: 'VmRelocated', data: { moveId: next, vm: 'web-01', ip: '10.1.0.10', mac: '52:54:00:01:00:10', from: dc2, to: dc1, locationVersion: 3 } },
    ];
    given(...moved, ...back)
      .when(record)
      .thenNothing();
    given(...moved, back[0])
      .when(record)
      .then(converged); // accepted but not committed: the previous one may still converge
  });
  it('given late while the VM still boots, when the boot is reported, then it completes as usual', () => {
    given(placed, accepted(), started, stopped, transferred, relocated, lateEvent)
      .when({ type: 'RecordTargetStarted', moveId: MOVE, hypervisor: 'dc2-hv1', locationVersion: 2, durationMs: 20000 })
      .then(booted, done);
    expect(nextSagaStep(fold([placed, accepted(), started, stopped, transferred, relocated, lateEvent]))).toMatchObject({ kind: 'agent', action: 'start', hypervisor: 'dc2-hv1' });
  });
  it('the saga has nothing to do after a convergence fact', () => {
    expect(nextSagaStep(fold([...moved, lateEvent, converged]))).toBeNull();
  });
});

describe('saga: the decisions recorded in the append of the answer before them (decisionsAfter)', () => {
  const postcopyPlan = hotPlan({ memoryBytes: 64 * GiB, workingSetBytes: 12 * GiB, dirtyRateBps: 2 * GiB, maxDataBytes: 192 * GiB, policy: 'postcopy' });
  const abortPlan = hotPlan({ memoryBytes: 64 * GiB, workingSetBytes: 12 * GiB, dirtyRateBps: 2 * GiB, maxDataBytes: 192 * GiB, policy: 'abort' });

  it('given a cold move whose config was just transferred, then the location commit, decided at once', () => {
    const after = decisionsAfter(fold([placed, accepted(), started, stopped, transferred]));
    expect(after.map((d) => d.step.kind)).toEqual(['commit']);
    expect(after.flatMap((d) => d.events)).toEqual([relocated]);
  });
  it('given a step that asks an agent next (the transfer after the stop, the boot after the commit), then nothing', () => {
    expect(decisionsAfter(fold([placed, accepted(), started, stopped]))).toEqual([]);
    expect(decisionsAfter(fold([placed, accepted(), started, stopped, transferred, relocated]))).toEqual([]);
  });
  it('given a queued move, then nothing: admission reads its host’s queue first', () => {
    expect(decisionsAfter(fold([placed, accepted()]))).toEqual([]);
  });
  it('given no move, then nothing', () => {
    expect(decisionsAfter(fold([placed]))).toEqual([]);
    expect(decisionsAfter(fold([]))).toEqual([]);
  });
  it('given a hot move whose last round converged, then the switchover; given one that cannot converge under abort, then the failure verdict', () => {
    // The history up to the last round, as one step at a time records it.
    const hot = drive([placed, accepted(hotPlan())]);
    const switchover = hot.findIndex((e) => e.type === 'SwitchoverStarted');
    expect(hot[switchover - 1].type).toBe('PreCopyRoundCompleted');
    expect(decisionsAfter(fold(hot.slice(0, switchover))).map((d) => d.step.kind)).toEqual(['switchover']);
    expect(decisionsAfter(fold(hot.slice(0, switchover))).flatMap((d) => d.events)).toEqual([hot[switchover]]);
    const aborted = drive([placed, accepted(abortPlan)]);
    const verdict = aborted.findIndex((e) => e.type === 'MoveFailed');
    expect(aborted[verdict - 1].type).toBe('PreCopyRoundCompleted');
    expect(decisionsAfter(fold(aborted.slice(0, verdict))).map((d) => d.step.kind)).toEqual(['fail']);
    expect(decisionsAfter(fold(aborted.slice(0, verdict))).flatMap((d) => d.events)).toEqual([
      expect.objectContaining({ type: 'MoveFailed', data: expect.objectContaining({ code: 'NOT_CONVERGING' }) }),
    ]);
  });
  it('when every kind of move is driven with the decisions chained, then the same events in the same order as one step at a time, in fewer appends', () => {
    const histories: [string, VmEvent[], number][] = [
      // [label, history, appends saved: the commit (cold, warm, hot), the switchover (hot), the verdict (abort)]
      ['cold', [placed, accepted()], 1],
      ['warm', [placed, accepted(warmPlan)], 1],
      ['hot', [placed, accepted(hotPlan())], 2],
      ['hot postcopy', [placed, accepted(postcopyPlan)], 2],
      ['hot abort', [placed, accepted(abortPlan)], 1],
      ['HA restart', [placed, accepted(coldPlan, 'ha-restart')], 0],
    ];
    for (const [label, history, saved] of histories) {
      const oneByOne = drive(history);
      const chained = driveChained(history);
      expect({ label, events: chained.events }).toEqual({ label, events: oneByOne });
      expect({ label, appends: chained.appends }).toEqual({ label, appends: oneByOne.length - history.length - countMultiEventAppends(oneByOne.slice(history.length)) - saved });
    }
  });
});

/** Appends of one step that record two events (the boot and the completion, the announce and the completion). */
function countMultiEventAppends(events: VmEvent[]): number {
  return events.filter(
    (e) => e.type === 'MoveCompleted' && events.indexOf(e) > 0 && ['VmStartedAtTarget', 'VmResumedAtTarget', 'RarpAnnounced', 'PostcopyCompleted'].includes(events[events.indexOf(e) - 1].type),
  ).length;
}
