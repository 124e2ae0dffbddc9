import type { AgentStep } from './move.saga';
import { commandOfAnswer, commandOfStep, failureOf } from './step-outcome';

const MOVE = '7f3a0000-0000-4000-8000-000000000001';
const step = (over: Partial<AgentStep>): AgentStep => ({ kind: 'agent', action: 'stop', hypervisor: 'dc1-hv1', moveId: MOVE, locationVersion: 1, params: {}, ...over });

describe('step outcomes: what a saga step is recorded as', () => {
  it('given the steps the manager takes itself, then StartMove, CommitLocation, StartSwitchover and FailMove', () => {
    expect(commandOfStep({ kind: 'admit', moveId: MOVE, hypervisor: 'dc1-hv1' })).toEqual({ type: 'StartMove', moveId: MOVE });
    expect(commandOfStep({ kind: 'commit', moveId: MOVE })).toEqual({ type: 'CommitLocation', moveId: MOVE });
    expect(commandOfStep({ kind: 'switchover', moveId: MOVE, reason: 'converged', remainingBytes: 10, expectedDowntimeMs: 3 })).toEqual({
      type: 'StartSwitchover',
      moveId: MOVE,
      reason: 'converged',
      remainingBytes: 10,
      expectedDowntimeMs: 3,
    });
    expect(commandOfStep({ kind: 'fail', moveId: MOVE, code: 'NOT_CONVERGING', message: 'm' })).toEqual({ type: 'FailMove', moveId: MOVE, code: 'NOT_CONVERGING', message: 'm' });
    expect(failureOf({ moveId: MOVE }, { code: 'UNAVAILABLE', message: 'silent' })).toEqual({ type: 'FailMove', moveId: MOVE, code: 'UNAVAILABLE', message: 'silent' });
  });

  it('given a stop answered, then RecordSourceStopped with the moment the VM stopped serving', () => {
    expect(commandOfAnswer(step({}), { durationMs: 8000, startedAt: 1000.5, endedAt: 1008 }, 10)).toEqual({
      type: 'RecordSourceStopped',
      moveId: MOVE,
      hypervisor: 'dc1-hv1',
      durationMs: 8000,
      downAt: 1000.5,
    });
  });

  it('given a start at the target answered, then RecordTargetStarted fenced by the step’s location version, with the moment it served again and the time scale', () => {
    expect(commandOfAnswer(step({ action: 'start', hypervisor: 'dc2-hv1', locationVersion: 2 }), { durationMs: 20000, startedAt: 5, endedAt: 7 }, 10)).toEqual({
      type: 'RecordTargetStarted',
      moveId: MOVE,
      hypervisor: 'dc2-hv1',
      locationVersion: 2,
      durationMs: 20000,
      upAt: 7,
      timeScale: 10,
    });
  });

  it('given a start whose purpose is the restart at the source, then RecordRestartedAtSource', () => {
    expect(commandOfAnswer(step({ action: 'start', purpose: 'restart' }), { durationMs: 3 }, 1)).toEqual({ type: 'RecordRestartedAtSource', moveId: MOVE, hypervisor: 'dc1-hv1', durationMs: 3 });
  });

  it('given a pre-copy round answered, then the round with the downtime if stopped now (dirty bytes over the link, plus the resume)', () => {
    const round = step({ action: 'precopy-round', params: { bandwidthBps: 1e9, throttlePct: 20 }, meta: { round: 2, resumeMs: 20 } });
    expect(commandOfAnswer(round, { durationMs: 100, bytes: 5e8, dirtyBytes: 1e8 }, 1)).toEqual({
      type: 'RecordPrecopyRound',
      moveId: MOVE,
      round: { round: 2, sentBytes: 5e8, durationMs: 100, dirtyBytes: 1e8, throttlePct: 20, expectedDowntimeMs: 120 },
    });
  });

  it('given answers without figures, then zero bytes and no announce offsets rather than undefined', () => {
    expect(commandOfAnswer(step({ action: 'transfer' }), { durationMs: 1 }, 1)).toEqual({ type: 'RecordConfigTransferred', moveId: MOVE, bytes: 0, durationMs: 1 });
    expect(commandOfAnswer(step({ action: 'announce' }), { durationMs: 0 }, 1)).toEqual({ type: 'RecordAnnounced', moveId: MOVE, hypervisor: 'dc1-hv1', offsetsMs: [] });
  });
});
