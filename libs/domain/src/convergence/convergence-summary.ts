import type { PlaneTiming, StaleComponent } from '@locus/contracts';
import type { MoveSummaryFacts } from './move-convergence';

/**
 * The one line people read per move, e.g.
 * `move 7f3a0c1d web-01 cold dc1-hv1 -> dc2-hv1: converged in 3.2 ms after commit (downtime 28.00 s, 0 rounds) | map 1.1 ms, itr 3/3 2.9 ms | routes +dc2 -dc1 2.7 ms | arp 0 proxied`.
 * Times after `converged in` are real ms after the location commit (`VmRelocated`; a hot move commits
 * its location after the switchover), for every mode; downtime is the move's own (simulated) figure.
 */
export function convergedLine(move: MoveSummaryFacts, convergenceMs: number, planes: Record<string, PlaneTiming>, wasLate = false): string {
  const head = `${moveLabel(move)}: converged in ${fmtMs(convergenceMs)} after commit`;
  const rounds = move.rounds ?? 0;
  const figures = move.downtimeMs !== undefined ? ` (downtime ${fmtMs(move.downtimeMs)}, ${rounds} round${rounds === 1 ? '' : 's'})` : '';
  return `${head}${figures}${wasLate ? ', after being late' : ''} | ${planeSegments(move, planes).join(' | ')}`;
}

/** The warning when the deadline ran out: what is still stale, by component. */
export function lateLine(move: MoveSummaryFacts, afterMs: number, stale: readonly StaleComponent[], planes: Record<string, PlaneTiming>): string {
  const what = stale.map((s) => `${s.component}: ${s.detail}`).join('; ');
  const ok = planeSegments(move, planes, true);
  return `${moveLabel(move)}: NOT converged ${fmtMs(afterMs)} after commit, still stale: ${what}${ok.length ? ` | done: ${ok.join(' | ')}` : ''}`;
}

export function moveLabel(move: Pick<MoveSummaryFacts, 'moveId' | 'vm' | 'mode' | 'from' | 'to'>): string {
  return `move ${move.moveId.slice(0, 8)} ${move.vm} ${move.mode} ${move.from.hypervisor} -> ${move.to.hypervisor}`;
}

function planeSegments(move: MoveSummaryFacts, planes: Record<string, PlaneTiming>, onlyDone = false): string[] {
  const out: string[] = [];
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const announce = planes['l2-announce'];
  if (announce) out.push(`rarp ${fmtMs(announce.ms)}`);
  const map = planes.mapping;
  if (map) {
    const registered = num(map.registeredMs);
    // `reconciled`: the new site's ETR registered the VM from its start-up snapshot (it started after the commit)
    if (map.reconciled) out.push(`map ${String(map.reconciled)} registered at start ${fmtMs(map.ms)}`);
    else out.push(`map ${registered !== undefined ? fmtMs(registered) : '?'}, itr ${num(map.itrs) ?? 0}/${num(map.of) ?? 0} ${fmtMs(map.ms)}`);
  } else if (!onlyDone && !move.planes.includes('mapping')) out.push('map -');
  const routes = planes['host-routes'];
  if (routes) {
    // `reconciled`: the site the VM left never originated its route (it started after the commit)
    const changes = [routes.advertised ? `+${routes.advertised}` : '', routes.withdrawn ? `-${routes.withdrawn}` : '', routes.reconciled ? `${routes.reconciled} had none` : '']
      .filter(Boolean)
      .join(' ');
    out.push(`routes ${changes ? `${changes} ` : ''}${fmtMs(routes.ms)}${routes.breakBeforeMake ? ' (break before make)' : ''}`);
  } else if (!onlyDone && !move.planes.includes('host-routes')) out.push('routes -');
  const arp = planes['arp-proxy'];
  if (arp) out.push(`arp ${num(arp.proxied) ?? 0} proxied, ${num(arp.repaired) ?? 0}/${num(arp.stale) ?? 0} neighbours repaired ${fmtMs(arp.ms)}`);
  else if (!onlyDone && !move.planes.includes('arp-proxy')) out.push('arp 0 proxied');
  return out;
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}
