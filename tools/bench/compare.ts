import { ratio } from '@locus/platform';
import { usedSummary, type CompareFigures } from './report';
import type { LabRun } from './run';

/** The compare run's figures next to the main run's: both convergence p50s (each run's used source) and main / compare. */
export function compareFigures(main: LabRun, cmp: LabRun, vms: number): CompareFigures {
  const mainP50 = usedSummary(main)?.p50;
  const compareP50 = usedSummary(cmp)?.p50;
  const c = cmp.config;
  return {
    command:
      `npm run bench -- --vms ${vms} --itrs ${c.itrs} --rate ${c.rate} --duration ${c.durationS}` + (c.bootMs ? ` --boot-ms ${c.bootMs}` : '') + (c.shutdownMs ? ` --shutdown-ms ${c.shutdownMs}` : ''),
    vms,
    itrs: c.itrs,
    rate: c.rate,
    durationS: c.durationS,
    labReadyS: cmp.startup.labReadyS,
    placeS: cmp.startup.placeS,
    sent: cmp.moves.sent,
    completed: cmp.moves.completed,
    timeouts: cmp.moves.timeouts,
    sustainedPerS: cmp.moves.sustainedPerS,
    used: cmp.convergence.used,
    convergence: usedSummary(cmp),
    totalPeakMiB: cmp.rss.totalPeakMiB,
    mainP50,
    compareP50,
    ratioP50: ratio(mainP50, compareP50),
    notes: cmp.notes,
  };
}
