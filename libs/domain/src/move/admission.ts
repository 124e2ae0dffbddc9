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
