import type { ErrorCode } from '@locus/contracts';

/**
 * Admission of moves by their source host: at most `maxOutboundPerHost` operator moves run from a
 * host at once (KubeVirt's default is 2; HA restarts never wait and take no slot), and at most
 * `maxQueuedPerHost` more wait for a slot; past that a new move is refused at once (UNAVAILABLE)
 * with nothing recorded, so overload is answered instead of piling up. Written once, used by
 * `vm.move` (accept or refuse) and the saga (start a queued move now, or let it wait).
 */
export interface OutboundLimits {
  maxOutboundPerHost: number;
  maxQueuedPerHost: number;
}

/** A source host's moves: operator moves running from it, and moves waiting for one of its slots. */
export interface OutboundLoad {
  hypervisor: string;
  active: number;
  waiting: number;
}

export type RequestAdmission = { ok: true; queuePosition?: number } | { ok: false; code: Extract<ErrorCode, 'UNAVAILABLE'>; message: string };

/** `vm.move`: refused when the source host's queue is full; otherwise accepted, with its place in the queue when it will wait. */
export function admitRequest(load: OutboundLoad | undefined, limits: OutboundLimits): RequestAdmission {
  if (!load) return { ok: true };
  if (load.waiting >= limits.maxQueuedPerHost)
    return {
      ok: false,
      code: 'UNAVAILABLE',
      message: `${load.hypervisor} already has ${load.active} outbound moves running and ${load.waiting} waiting (at most ${limits.maxQueuedPerHost}); retry later`,
    };
  return load.active >= limits.maxOutboundPerHost ? { ok: true, queuePosition: load.waiting + 1 } : { ok: true };
}

/** Outbound slots of a host not taken by its running operator moves (0 or less: none). */
export function freeOutboundSlots(active: number, maxOutboundPerHost: number): number {
  return maxOutboundPerHost - active;
}

/** The saga: may a queued move start now? An HA restart always may; an operator move when its host has a free slot. */
export function mayStartNow(cause: 'operator' | 'ha-restart' | undefined, active: number, maxOutboundPerHost: number): boolean {
  return cause === 'ha-restart' || freeOutboundSlots(active, maxOutboundPerHost) > 0;
}

/** How long a read that found a host's queue full answers for it, at most (ms): other writers (replicas, cancels) may free a slot unseen. */
export const FULL_QUEUE_MEMORY_MS = 500;

/**
 * Hosts whose outbound queue a read found full, remembered so that `vm.move` refuses the next
 * requests for them from memory, with no read: under overload most requests are refusals, and
 * each one waited for a lookup that the answer did not need. A host is forgotten when this process
 * frees one of its slots (the saga starts a queued move), or `maxAgeMs` after the read. A read
 * that began before the last freeing says nothing: it may have counted a move that has since
 * left the queue. Refusing on memory is never wrong for long: UNAVAILABLE says "retry later",
 * and the queue it found full holds many moves' worth of work. Pure: every call is told the time.
 */
export class FullQueueMemory {
  private readonly full = new Map<string, { readAt: number; load: OutboundLoad; limits: OutboundLimits }>();
  private readonly freedAt = new Map<string, number>();

  constructor(private readonly maxAgeMs = FULL_QUEUE_MEMORY_MS) {}

  /** A read begun at `readAt` found this host's load: remembered when its queue is full (and no slot was freed since the read began). */
  observed(load: OutboundLoad, limits: OutboundLimits, readAt: number): void {
    if (this.maxAgeMs <= 0 || load.waiting < limits.maxQueuedPerHost) return;
    if ((this.freedAt.get(load.hypervisor) ?? -Infinity) >= readAt) return;
    const known = this.full.get(load.hypervisor);
    if (!known || known.readAt <= readAt) this.full.set(load.hypervisor, { readAt, load, limits });
  }

  /** This process freed a slot of the host at `now` (a queued move started): its queue is no longer known full. */
  freed(host: string, now: number): void {
    this.full.delete(host);
    this.freedAt.set(host, now);
  }

  /** The refusal a request from `host` gets at `now` without a read, or undefined: ask the database. */
  refusal(host: string, now: number): Extract<RequestAdmission, { ok: false }> | undefined {
    const known = this.full.get(host);
    if (!known) return undefined;
    const ageMs = now - known.readAt;
    if (ageMs >= this.maxAgeMs) {
      this.full.delete(host);
      return undefined;
    }
    const { load, limits } = known;
    return {
      ok: false,
      code: 'UNAVAILABLE',
      message: `${host} had ${load.active} outbound moves running and ${load.waiting} waiting (at most ${limits.maxQueuedPerHost}) ${Math.round(ageMs)} ms ago; retry later`,
    };
  }
}
