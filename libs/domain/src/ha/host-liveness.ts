/**
 * Host failure detection and restart placement for HA (cold mobility after a failure), pure:
 * the monitor feeds heartbeats, its own round trips to NATS and the clock in, and acts on what
 * these functions answer.
 *
 * The rule: a host is declared failed only when the manager has watched it stay silent for the
 * timeout. The manager watches only while it can confirm it processes what it is sent: each check
 * is a round trip to NATS, answered after every message sent to the manager before it, so the
 * heartbeats that queued up while the manager was busy or stopped are counted first. A gap in
 * those confirmations (the manager stalled, or NATS did not answer) or a lost connection means
 * the manager was not watching: the silence it saw then is nobody's fault, and every host gets
 * the whole timeout again from the moment the manager watches again.
 */
export interface Liveness {
  lastSeen: Map<string, number>;
  failed: Set<string>;
  /** Since when the manager has watched without a gap; undefined while it does not (not yet, or cut off). */
  watchingSince?: number;
  /** When the manager last confirmed it had processed all it was sent. */
  lastConfirmedAt?: number;
}

export const emptyLiveness = (): Liveness => ({ lastSeen: new Map(), failed: new Set() });

/** Records a heartbeat; answers 'recovered' when a failed host speaks again. */
export function heartbeat(l: Liveness, host: string, now: number): 'alive' | 'recovered' {
  l.lastSeen.set(host, now);
  if (l.failed.delete(host)) return 'recovered';
  return 'alive';
}

/** The manager cannot see heartbeats now (its NATS connection dropped, or a round trip failed). */
export function lostSight(l: Liveness): void {
  l.watchingSince = undefined;
}

export interface CheckOptions {
  /** Silence, in the manager's own watched time, after which a host is declared failed. */
  timeoutMs: number;
  /** Longest time between two confirmed round trips that still counts as watching continuously. */
  maxGapMs: number;
}

export interface CheckResult {
  /** Hosts newly declared failed, with the silence the manager watched. */
  failed: { host: string; silentMs: number }[];
  /** Set when watching (re)starts here: the grace period restarts for every host. `gapMs` is absent at the first start. */
  resumed?: { gapMs?: number };
}

/**
 * One check, right after a confirmed round trip at `now`: every heartbeat sent before it is
 * already recorded. Starts (or restarts, after a gap or a lost connection) the watch, then
 * declares failed the hosts seen once whose silence since max(last heartbeat, watch start)
 * exceeds the timeout.
 */
export function checkHosts(l: Liveness, now: number, options: CheckOptions): CheckResult {
  const previous = l.lastConfirmedAt;
  l.lastConfirmedAt = now;
  const gapMs = previous === undefined ? undefined : now - previous;
  if (l.watchingSince === undefined || (gapMs !== undefined && gapMs > options.maxGapMs)) {
    l.watchingSince = now;
    return { failed: [], resumed: gapMs === undefined ? {} : { gapMs } };
  }
  const failed: { host: string; silentMs: number }[] = [];
  for (const [host, seen] of l.lastSeen) {
    if (l.failed.has(host)) continue;
    const silentMs = now - Math.max(seen, l.watchingSince);
    if (silentMs > options.timeoutMs) {
      l.failed.add(host);
      failed.push({ host, silentMs });
    }
  }
  return { failed };
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
