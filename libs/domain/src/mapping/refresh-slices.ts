/**
 * An ETR's periodic refresh, spread over its period (RFC 9301 has an ETR send Map-Registers every
 * minute or so; nothing asks for all of its EIDs in the same instant). The period is cut into
 * `slices` ticks and each EID belongs to one slice (a hash of its text), so every claim is
 * registered again once per period while a tick sends about 1/slices of them; and the ETRs of a
 * lab, which start together, each begin at their own point of a tick (`phaseMs`, from the site's
 * name). All at once, 50 ETRs re-registering 10,000 EIDs held the map-server, and every move's
 * mapping convergence behind it, for seconds once a minute.
 */
export interface RefreshPlan {
  /** Real ms between two ticks. */
  tickMs: number;
  /** Ticks per refresh period: each EID is registered on one of them. */
  slices: number;
  /** Real ms before the first tick. */
  phaseMs: number;
}

/** Ticks per refresh period at most (a minute's period: one tick every 5 s). */
export const REFRESH_SLICES = 12;

export function refreshPlan(refreshRealMs: number, site: string, minTickMs: number): RefreshPlan {
  const slices = Math.max(1, Math.min(REFRESH_SLICES, Math.floor(refreshRealMs / minTickMs)));
  const tickMs = refreshRealMs / slices;
  return { tickMs, slices, phaseMs: slices === 1 ? 0 : fnv1a(site) % Math.floor(tickMs) };
}

/** The tick of the period (0 … slices - 1) on which `eid` is registered again. */
export function refreshSliceOf(eid: string, slices: number): number {
  return slices <= 1 ? 0 : fnv1a(eid) % slices;
}

/** 32-bit FNV-1a: a cheap, stable spread of short names. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
