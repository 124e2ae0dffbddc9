import type { MovePlan, MovePrediction } from '@locus/contracts';
import { predictPrecopy, precopyParamsOf, transferMs } from '../precopy/precopy.model';

/**
 * What a move will take, phase by phase, in simulated ms: the same arithmetic the agents
 * run, so `locus.move.plan` predicts what `locus.move.get` then reports.
 */
export function predictMove(plan: MovePlan): MovePrediction {
  switch (plan.mode) {
    case 'cold': {
      const phases = { shutdown: plan.shutdownMs, transfer: r3(transferMs(plan.configBytes, plan.bandwidthBps)), boot: plan.bootMs };
      const total = sum(phases);
      return { phases, rounds: [], outcome: 'stop-and-restart', dataSentBytes: plan.configBytes, totalMs: total, downtimeMs: total };
    }
    case 'warm': {
      const phases = {
        suspend: r3(transferMs(plan.memoryBytes, plan.sourceDiskBps)),
        'state-transfer': r3(transferMs(plan.memoryBytes, plan.bandwidthBps)),
        resume: r3(transferMs(plan.memoryBytes, plan.targetDiskBps)),
      };
      const total = sum(phases);
      return { phases, rounds: [], outcome: 'stop-and-restart', dataSentBytes: plan.memoryBytes, totalMs: total, downtimeMs: total };
    }
    case 'hot': {
      const p = precopyParamsOf(plan);
      const prediction = predictPrecopy(p);
      const precopy = prediction.rounds.reduce((s, r) => s + r.durationMs, 0);
      const rounds = prediction.rounds.map((r) => ({ ...r, durationMs: r3(r.durationMs), dirtyBytes: Math.round(r.dirtyBytes), expectedDowntimeMs: r3(r.expectedDowntimeMs) }));
      const o = prediction.outcome;
      if (o.kind === 'abort')
        return { phases: { precopy: r3(precopy) }, rounds, outcome: 'abort', reason: o.reason, dataSentBytes: Math.round(prediction.dataSentBytes), totalMs: r3(prediction.totalMs) };
      const phases: Record<string, number> =
        o.kind === 'switchover'
          ? { precopy: r3(precopy), 'stop-and-copy': r3(o.stopCopyMs), resume: plan.resumeMs }
          : { precopy: r3(precopy), 'stop-and-copy': 0, resume: plan.resumeMs, postcopy: r3(o.pullMs) };
      return {
        phases,
        rounds,
        outcome: o.kind,
        ...(o.kind === 'switchover' ? { reason: o.reason } : {}),
        dataSentBytes: Math.round(prediction.dataSentBytes),
        totalMs: r3(prediction.totalMs),
        downtimeMs: r3(prediction.downtimeMs!),
      };
    }
    default: {
      const never: never = plan;
      throw new Error(`unknown plan ${JSON.stringify(never)}`);
    }
  }
}

const sum = (phases: Record<string, number>) => r3(Object.values(phases).reduce((s, v) => s + v, 0));
const r3 = (ms: number) => Math.round(ms * 1000) / 1000;
