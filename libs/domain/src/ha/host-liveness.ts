/**
 * Host failure detection and restart placement for HA (cold mobility after a failure), pure:
 * the monitor feeds heartbeats and the clock in, and acts on what these functions answer.
 */
export interface Liveness {
  lastSeen: Map<string, number>;
  failed: Set<string>;
}

export const emptyLiveness = (): Liveness => ({ lastSeen: new Map(), failed: new Set() });

/** Records a heartbeat; answers 'recovered' when a failed host speaks again. */
export function heartbeat(l: Liveness, host: string, now: number): 'alive' | 'recovered' {
  l.lastSeen.set(host, now);
  if (l.failed.delete(host)) return 'recovered';
  return 'alive';
}

/** Hosts silent for longer than the timeout, newly declared failed. Only hosts seen once can fail. */
export function detectFailures(l: Liveness, now: number, timeoutMs: number): { host: string; silentMs: number }[] {
  const out: { host: string; silentMs: number }[] = [];
  for (const [host, seen] of l.lastSeen) {
    if (l.failed.has(host)) continue;
    const silentMs = now - seen;
    if (silentMs > timeoutMs) {
      l.failed.add(host);
      out.push({ host, silentMs });
    }
  }
  return out;
}

export interface RestartCandidate {
  name: string;
  site: string;
  freeMb: number;
}

/** Where to restart a failed host's VMs: surviving hosts of the same site first, then any other; most free memory first. */
export function rankRestartTargets(failedSite: string, candidates: readonly RestartCandidate[]): RestartCandidate[] {
  return [...candidates].sort((a, b) => Number(b.site === failedSite) - Number(a.site === failedSite) || b.freeMb - a.freeMb || a.name.localeCompare(b.name));
}
