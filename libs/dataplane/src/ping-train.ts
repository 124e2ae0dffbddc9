import type { ChildProcess } from 'node:child_process';
import { spawnIn } from './iproute2';

/**
 * `ping -D -O -i 0.02` from a namespace, read back: when each probe was sent and whether (and
 * when) it was answered. Probes sent in the last second before stop() are not judged.
 */
export class PingTrain {
  readonly intervalMs: number;
  private readonly child: ChildProcess;
  private readonly replies = new Map<number, { at: number; rttMs: number }>();
  private readonly unanswered = new Map<number, number>(); // seq -> reported at
  private buffer = '';
  private readonly startedAt = Date.now();
  private stoppedAt?: number;

  constructor(
    readonly ns: string,
    readonly to: string,
    intervalMs = 20,
  ) {
    this.intervalMs = intervalMs;
    this.child = spawnIn(ns, ['ping', '-D', '-O', '-n', '-i', String(intervalMs / 1000), '-W', '1', to]);
    this.child.stdout!.on('data', (chunk) => {
      this.buffer += String(chunk);
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      for (const line of lines) this.parse(line);
    });
  }

  private parse(line: string): void {
    const reply = /^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) .*time=([\d.]+) ms/.exec(line);
    if (reply) this.replies.set(Number(reply[2]), { at: Number(reply[1]) * 1000, rttMs: Number(reply[3]) });
    const none = /^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)/.exec(line);
    if (none) this.unanswered.set(Number(none[2]), Number(none[1]) * 1000);
  }

  /** The first reply to a probe sent after `t` (epoch ms): when the destination answered again. */
  firstReplyToProbeAfter(t: number): number | undefined {
    let first: number | undefined;
    for (const r of this.replies.values()) if (r.at - r.rttMs > t && (first === undefined || r.at < first)) first = r.at;
    return first;
  }

  /** Replies received after `t` (epoch ms). */
  repliesAfter(t: number): number {
    return [...this.replies.values()].filter((r) => r.at > t).length;
  }

  async stop(): Promise<void> {
    this.stoppedAt = Date.now();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const closed = new Promise((r) => this.child.once('close', r));
      this.child.kill('SIGINT');
      await closed;
    }
  }

  /** Every probe judged: its send time (from the reply's timestamp and RTT, else interpolated) and whether it was answered. */
  probes(): { seq: number; sentAt: number; answered: boolean }[] {
    const last = Math.max(0, ...this.replies.keys(), ...this.unanswered.keys());
    const anchors = [...this.replies].map(([seq, r]) => [seq, r.at - r.rttMs] as const).sort((a, b) => a[0] - b[0]);
    const sentAt = (seq: number) => {
      const before = [...anchors].reverse().find(([s]) => s <= seq);
      const after = anchors.find(([s]) => s >= seq);
      if (before && after && after[0] !== before[0]) return before[1] + ((after[1] - before[1]) * (seq - before[0])) / (after[0] - before[0]);
      if (before) return before[1] + (seq - before[0]) * this.intervalMs;
      if (after) return after[1] - (after[0] - seq) * this.intervalMs;
      return this.startedAt + (seq - 1) * this.intervalMs;
    };
    const judgedUntil = (this.stoppedAt ?? Date.now()) - 1100;
    const out: { seq: number; sentAt: number; answered: boolean }[] = [];
    for (let seq = 1; seq <= last; seq++) {
      const at = sentAt(seq);
      if (at <= judgedUntil) out.push({ seq, sentAt: at, answered: this.replies.has(seq) });
    }
    return out;
  }

  /** Unanswered probes sent after `t`. */
  lostAfter(t: number): number {
    return this.probes().filter((p) => p.sentAt > t && !p.answered).length;
  }

  /**
   * The longest wait between two replies arriving, or from the last reply to the end (a probe held in
   * a router's ARP queue and answered late is not lost, but the destination was unreachable
   * meanwhile), and the probes sent in it that were never answered. `to` is absent when no reply came back.
   */
  longestOutage(): { ms: number; lost: number; from?: number; to?: number } {
    const arrivals = [...this.replies.values()].map((r) => r.at).sort((a, b) => a - b);
    let best: { ms: number; lost: number; from?: number; to?: number } = { ms: 0, lost: 0 };
    for (let i = 1; i < arrivals.length; i++) {
      const ms = arrivals[i] - arrivals[i - 1];
      if (ms > best.ms) best = { ms: Math.round(ms), lost: 0, from: arrivals[i - 1], to: arrivals[i] };
    }
    // Silence up to the end of the judged probes counts too (the destination never answered again).
    const judgedUntil = (this.stoppedAt ?? Date.now()) - 1100;
    const last = arrivals[arrivals.length - 1];
    if (last !== undefined && judgedUntil - last > best.ms) best = { ms: Math.round(judgedUntil - last), lost: 0, from: last };
    if (best.from !== undefined) best.lost = this.probes().filter((p) => !p.answered && p.sentAt >= best.from! && p.sentAt <= (best.to ?? Infinity)).length;
    return best;
  }
}
