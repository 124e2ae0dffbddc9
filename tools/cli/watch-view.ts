import { summarize } from '@locus/platform';
import { bar, formatBytes, formatMs, renderTable, shortId, truncate, type Column } from './format';
import type { MoveBoard, MoveTrack, PlaneName } from '@locus/domain';

/** One screen of `locus watch`: a header with counts and recent convergence, then the newest moves. */
export function renderBoard(board: MoveBoard, opts: { width: number; height: number; now: number; title: string }): string {
  const all = [...board.moves.values()];
  const count = (s: string) => all.filter((m) => m.state === s).length;
  const conv = all.map((m) => board.convergence(m)?.ms).filter((x): x is number => x !== undefined);
  const c = summarize(conv);
  const sources = new Set(all.map((m) => board.convergence(m)?.source).filter(Boolean));
  const header = [
    `${opts.title}  ${new Date(opts.now).toISOString().slice(11, 19)} UTC`,
    `moves ${all.length}: ${['accepted', 'in-progress', 'completed', 'converged', 'failed', 'cancelled']
      .filter((s) => count(s) > 0)
      .map((s) => `${s} ${count(s)}`)
      .join(', ')}`,
    c.count
      ? `convergence (${[...sources].join(' + ')}, ${c.count} moves): p50 ${formatMs(c.p50)}  p99 ${formatMs(c.p99)}  max ${formatMs(c.max)}`
      : 'convergence: none yet (timed from the location commit to the last plane agreeing)',
    '',
  ];
  const rows = board.recent(Math.max(1, opts.height - header.length - 4));
  const legend = "ms after the location commit; * not recorded by the manager's convergence tracker yet (same definition, from the events seen here); ok = plane done, .. = waiting, - = not touched";
  return [...header.map((h) => truncate(h, opts.width)), renderTable(rows, moveColumns(board, opts.now), { maxWidth: opts.width }), '', truncate(legend, opts.width)].join('\n');
}

export function moveColumns(board: MoveBoard, now: number): Column<MoveTrack>[] {
  const planeCell = (m: MoveTrack, p: PlaneName) => {
    const v = board.plane(m, p);
    if (v.status === 'n/a') return '-';
    if (v.status === 'pending') return m.relocatedAt === undefined ? '.' : `.. ${v.detail ?? ''}`.trim();
    return `ok ${compactMs(v.ms)}`;
  };
  return [
    { header: 'AGE', value: (m) => formatAge(now - (m.acceptedAt ?? m.firstSeenAt)), align: 'right', dropRank: 2 },
    { header: 'MOVE', value: (m) => shortId(m.moveId), dropRank: 1 },
    { header: 'VM', value: (m) => m.vm, minWidth: 6 },
    { header: 'MODE', value: (m) => m.mode, dropRank: 3 },
    { header: 'FROM>TO', value: (m) => `${m.from?.hypervisor ?? '?'}>${m.to?.hypervisor ?? '?'}`, minWidth: 12 },
    { header: 'STATE', value: (m) => (m.state === 'in-progress' && m.step ? stepName(m.step) : m.state), minWidth: 9 },
    { header: 'PROGRESS', value: (m) => progress(m), minWidth: 14 },
    { header: 'MAP', value: (m) => planeCell(m, 'map') },
    { header: 'ROUTES', value: (m) => planeCell(m, 'routes') },
    { header: 'ARP', value: (m) => planeCell(m, 'arp') },
    {
      header: 'CONVERGED',
      value: (m) => {
        const c = board.convergence(m);
        return c ? `${compactMs(c.ms)}${c.source === 'tracker' ? '' : '*'}` : m.late ? `LATE ${compactMs(m.late.afterMs)}` : m.error ? m.error : '';
      },
    },
  ];
}

/** Pre-copy: `r3/30 [####------] 1.20 GiB, 420 ms -> 300 ms` (expected downtime against the limit); otherwise the step. */
export function progress(m: MoveTrack): string {
  const p = m.precopy;
  if (p && p.round >= 0 && (m.state === 'in-progress' || m.state === 'accepted')) {
    const f = p.downtimeLimitMs && p.expectedDowntimeMs > 0 ? Math.min(1, p.downtimeLimitMs / p.expectedDowntimeMs) : 0;
    return `r${p.round + 1}${p.maxRounds ? `/${p.maxRounds}` : ''} ${bar(f, 10)} ${formatBytes(p.sentBytes)} ${compactMs(p.expectedDowntimeMs)}${p.downtimeLimitMs ? `>${compactMs(p.downtimeLimitMs)}` : ''}${p.throttlePct ? ` thr ${p.throttlePct}%` : ''}`;
  }
  if (m.state === 'completed' || m.state === 'converged') return m.downtimeMs !== undefined ? `down ${compactMs(m.downtimeMs)}` : '';
  return '';
}

const STEPS: Record<string, string> = {
  MoveStarted: 'started',
  VmStoppedAtSource: 'stopped',
  VmConfigTransferred: 'config-sent',
  VmSuspendedAtSource: 'suspended',
  VmStateTransferred: 'state-sent',
  PreCopyRoundCompleted: 'pre-copy',
  SwitchoverStarted: 'switchover',
  VmPausedAndCopied: 'paused',
  VmRelocated: 'relocated',
  VmStartedAtTarget: 'booted',
  VmResumedAtTarget: 'resumed',
  RarpAnnounced: 'rarp',
  PostcopyCompleted: 'postcopy',
  VmRestartedAtSource: 'restarted',
};

function stepName(step: string): string {
  return (
    STEPS[step] ??
    step
      .replace(/^Vm/, '')
      .replace(/([a-z])([A-Z])/g, '$1-$2')
      .toLowerCase()
  );
}

/** `0.4ms`, `12ms`, `1.2s`: narrow cells. */
export function compactMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 100_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 1000)}s`;
}

function formatAge(ms: number): string {
  if (ms < 1000) return '0s';
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h`;
}
