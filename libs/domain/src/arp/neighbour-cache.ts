/**
 * One neighbour's ARP cache entry for one IP, following Linux's neighbour state machine
 * (net.ipv4.neigh.*): an entry is REACHABLE for a random time in [base/2, 3*base/2]
 * (base_reachable_time 30 s, so 15–45 s), then, as the neighbour keeps talking, goes to
 * DELAY (delay_first_probe_time 5 s), then PROBE (ucast_solicit 3 unicast probes,
 * retrans_time 1 s each) to the MAC it holds. If that MAC does not answer, the entry FAILS
 * and the next packet broadcasts a request (mcast_solicit 3 x 1 s); whoever answers (the VM
 * on the segment, or a proxy) is learnt. A gratuitous ARP overwrites the MAC of an existing
 * entry at once (Linux leaves it STALE; in use it goes to DELAY).
 *
 * Time is injected (ms on any clock) and so is the random source: no timers here.
 */
export const LINUX_ARP = {
  baseReachableMs: 30_000,
  delayFirstProbeMs: 5_000,
  retransMs: 1_000,
  ucastSolicit: 3,
  mcastSolicit: 3,
  /** net.ipv4.neigh.default.gc_thresh3: a neighbour's ARP table holds at most this many entries. */
  gcThresh3: 1024,
} as const;

export type NudState = 'REACHABLE' | 'DELAY' | 'PROBE' | 'FAILED';

export interface ArpEntry {
  ip: string;
  /** The MAC held, or null when unresolved (FAILED). */
  mac: string | null;
  state: NudState;
  /** When the current state ends (ms on the injected clock). */
  until: number;
}

export type Random = () => number;

/** REACHABLE lasts a random 15–45 s (Linux: base_reachable_time * [0.5, 1.5)). */
export function reachableMs(random: Random, base: number = LINUX_ARP.baseReachableMs): number {
  return Math.round(base * (0.5 + Math.min(0.999999, Math.max(0, random()))));
}

/** The neighbour talked to the IP and got an answer from `mac` at `now`. */
export function learnt(ip: string, mac: string, now: number, random: Random): ArpEntry {
  return { ip, mac, state: 'REACHABLE', until: now + reachableMs(random) };
}

/** The entry holds a MAC that no longer answers for the IP on the neighbour's segment. */
export function isWrong(entry: ArpEntry, answerer: string | null): boolean {
  return entry.mac !== null && entry.mac !== answerer;
}

export interface AdvanceResult {
  entry: ArpEntry;
  /** Set when a wrong entry stopped being wrong on its own: re-probed to the right MAC, or expired. */
  fixed?: { at: number; how: 'reprobe' | 'expired'; mac: string | null };
}

/**
 * Runs the entry's timers up to `now`, with `answerer` the MAC that answers ARP for the IP on
 * the neighbour's segment meanwhile (the VM itself, a proxy, or nobody).
 */
export function advance(entry: ArpEntry, now: number, answerer: string | null, random: Random): AdvanceResult {
  let e = entry;
  let fixed: AdvanceResult['fixed'];
  const wasWrong = isWrong(e, answerer);
  const probeMs = LINUX_ARP.ucastSolicit * LINUX_ARP.retransMs;
  const bcastMs = LINUX_ARP.mcastSolicit * LINUX_ARP.retransMs;
  for (let guard = 0; e.until <= now && guard < 10_000; guard++) {
    const t = e.until;
    switch (e.state) {
      case 'REACHABLE':
        e = { ...e, state: 'DELAY', until: t + LINUX_ARP.delayFirstProbeMs };
        break;
      case 'DELAY':
        e = e.mac !== null && e.mac === answerer ? learnt(e.ip, e.mac, t, random) : { ...e, state: 'PROBE', until: t + probeMs };
        break;
      case 'PROBE':
      case 'FAILED':
        // the held MAC did not answer (or nothing was held): broadcast; learn whoever answers
        e = answerer !== null ? learnt(e.ip, answerer, t, random) : { ip: e.ip, mac: null, state: 'FAILED', until: t + bcastMs };
        break;
    }
    if (wasWrong && !fixed && !isWrong(e, answerer)) fixed = { at: t, how: e.mac === null ? 'expired' : 'reprobe', mac: e.mac };
  }
  return { entry: e, fixed };
}

/** A gratuitous ARP for the entry's IP: the neighbour overwrites the MAC it holds (entries it has; it creates none). */
export function receiveGratuitous(entry: ArpEntry, mac: string, now: number): ArpEntry {
  return { ip: entry.ip, mac, state: 'DELAY', until: now + LINUX_ARP.delayFirstProbeMs };
}

/** Latest time a wrong entry is gone by the neighbour's own timers (ignoring help such as gratuitous ARP). */
export function expiresBy(entry: ArpEntry): number {
  const probeMs = LINUX_ARP.ucastSolicit * LINUX_ARP.retransMs;
  switch (entry.state) {
    case 'REACHABLE':
      return entry.until + LINUX_ARP.delayFirstProbeMs + probeMs;
    case 'DELAY':
      return entry.until + probeMs;
    case 'PROBE':
    case 'FAILED':
      return entry.until;
  }
}
