import { ExpiryQueue } from './expiry-queue';
import { isNewerVersion } from './serial';

/** A change of a mapping the map-server accepted. */
export interface MappingChangeRef {
  eid: string;
  vm?: string;
  version: number;
  site: string;
  previousSite?: string;
  kind: 'created' | 'updated' | 'moved';
  moveId?: string;
}

export interface ConvergenceReport extends MappingChangeRef {
  /** `converged`: every ITR that held the EID holds the new version; `superseded`: a newer change came first. */
  outcome: 'converged' | 'timed-out' | 'superseded';
  /** ITRs that held the EID when it changed and now hold the new version. */
  itrs: string[];
  /** ITRs still on an older version (timed-out or superseded). */
  missing: string[];
  /** ITRs that turned out not to cache the EID any more (restarted or expired); they do not count. */
  dropped: string[];
  /** From the change to the last ITR holding the new version, in the tracker's clock (wall ms). */
  ms: number;
  /** When the change began (the registration), in the tracker's clock. */
  startedAt: number;
  /** When each ITR of `itrs` held the new version, in the tracker's clock. */
  itrAt: Record<string, number>;
}

interface Pending {
  change: MappingChangeRef;
  startedAt: number;
  deadline: number;
  waiting: Set<string>;
  done: string[];
  doneAt: Record<string, number>;
  dropped: string[];
}

/**
 * Follows each mapping change until every ITR that held the EID holds the new version, so the
 * mapping system can say, once per move, that it converged and how long it took.
 */
export class ConvergenceTracker {
  private readonly pending = new Map<string, Pending>();
  private readonly deadlines = new ExpiryQueue<string>();

  constructor(readonly timeoutMs: number) {}

  get size(): number {
    return this.pending.size;
  }

  /** Starts tracking a change; returns the report of a change it supersedes and, with no ITR to wait for, its own. */
  begin(change: MappingChangeRef, itrs: readonly string[], now: number): ConvergenceReport[] {
    const out: ConvergenceReport[] = [];
    const previous = this.pending.get(change.eid);
    if (previous) {
      this.pending.delete(change.eid);
      out.push(report(previous, 'superseded', now));
    }
    const p: Pending = { change, startedAt: now, deadline: now + this.timeoutMs, waiting: new Set(itrs), done: [], doneAt: {}, dropped: [] };
    if (p.waiting.size === 0) {
      out.push(report(p, 'converged', now));
      return out;
    }
    this.pending.set(change.eid, p);
    this.deadlines.schedule(change.eid, p.deadline);
    return out;
  }

  /** `itr` now holds `version` of `eid` (a publication ack, or the reply to its SMR-invoked request). */
  holds(itr: string, eid: string, version: number, now: number): ConvergenceReport | undefined {
    const p = this.pending.get(eid);
    if (!p || isNewerVersion(p.change.version, version) || !p.waiting.delete(itr)) return undefined;
    p.done.push(itr);
    p.doneAt[itr] = now;
    return this.finishIfDone(p, now);
  }

  /** `itr` does not cache `eid` any more: nothing to wait for. */
  drop(itr: string, eid: string, now: number): ConvergenceReport | undefined {
    const p = this.pending.get(eid);
    if (!p || !p.waiting.delete(itr)) return undefined;
    p.dropped.push(itr);
    return this.finishIfDone(p, now);
  }

  /** Whether the change of `eid` to `version` is still followed (some ITR has not answered yet). */
  isFollowing(eid: string, version: number): boolean {
    return this.pending.get(eid)?.change.version === version;
  }

  isWaitingFor(itr: string, eid: string): boolean {
    return this.pending.get(eid)?.waiting.has(itr) ?? false;
  }

  timeouts(now: number): ConvergenceReport[] {
    return this.deadlines
      .due(now, (eid) => this.pending.get(eid)?.deadline)
      .map((eid) => {
        const p = this.pending.get(eid)!;
        this.pending.delete(eid);
        return report(p, 'timed-out', now);
      });
  }

  private finishIfDone(p: Pending, now: number): ConvergenceReport | undefined {
    if (p.waiting.size > 0) return undefined;
    this.pending.delete(p.change.eid);
    return report(p, 'converged', now);
  }
}

function report(p: Pending, outcome: ConvergenceReport['outcome'], now: number): ConvergenceReport {
  const itrs = [...p.done].sort();
  return {
    ...p.change,
    outcome,
    itrs,
    missing: [...p.waiting].sort(),
    dropped: [...p.dropped].sort(),
    ms: now - p.startedAt,
    startedAt: p.startedAt,
    itrAt: Object.fromEntries(itrs.map((i) => [i, p.doneAt[i]])),
  };
}
