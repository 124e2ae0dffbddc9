import type { ChildProcess } from 'node:child_process';
import { execIn, namespacesUnavailable, spawnIn } from '@locus/dataplane';

/**
 * `describe` where network namespaces can be made (root, iproute2, arping, a kernel with veth,
 * bridge and macvlan), else `describe.skip` with the reason in the suite's name.
 */
export function describeWithNamespaces(name: string, body: () => void): void {
  const reason = namespacesUnavailable();
  if (reason) console.warn(`${name}: skipped, ${reason}`);
  if (reason) describe.skip(`${name} (skipped: ${reason})`, body);
  else describe(name, body);
}

/** One ping from a namespace: true when the reply came within a second. */
export async function pings(ns: string, to: string): Promise<boolean> {
  try {
    await execIn(ns, ['ping', '-c', '1', '-W', '1', to]);
    return true;
  } catch {
    return false;
  }
}

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

  /** The longest run of unanswered probes, from the last reply before it to the first after (ms), and how many probes it lost. */
  longestOutage(): { ms: number; lost: number; from?: number; to?: number } {
    const probes = this.probes();
    let best = { ms: 0, lost: 0 } as { ms: number; lost: number; from?: number; to?: number };
    let runStart: number | undefined;
    for (let i = 0; i < probes.length; i++) {
      if (!probes[i].answered) {
        if (runStart === undefined) runStart = i;
        continue;
      }
      if (runStart !== undefined) {
        const from = runStart > 0 ? probes[runStart - 1].sentAt : probes[runStart].sentAt;
        const to = probes[i].sentAt;
        if (to - from > best.ms) best = { ms: Math.round(to - from), lost: i - runStart, from, to };
        runStart = undefined;
      }
    }
    if (runStart !== undefined) {
      const from = probes[Math.max(0, runStart - 1)].sentAt;
      const to = probes[probes.length - 1].sentAt;
      if (to - from > best.ms) best = { ms: Math.round(to - from), lost: probes.length - runStart, from, to };
    }
    return best;
  }
}

const ECHO_SERVER = `require('net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'))`;

const ECHO_CLIENT = `
const [host, port, everyMs] = process.argv.slice(1);
const s = require('net').connect(Number(port), host);
let seq = 0, buf = '';
s.setNoDelay(true);
s.on('connect', () => { console.log(JSON.stringify({ event: 'connected', at: Date.now() })); setInterval(() => s.write(++seq + '\\n'), Number(everyMs)); });
s.on('data', (d) => { buf += d; const parts = buf.split('\\n'); buf = parts.pop(); const at = Date.now(); for (const p of parts) console.log(JSON.stringify({ echo: Number(p), at })); });
s.on('error', (e) => { console.log(JSON.stringify({ event: 'error', code: e.code, at: Date.now() })); process.exit(1); });
s.on('close', () => { console.log(JSON.stringify({ event: 'close', at: Date.now() })); process.exit(1); });
`;

/** A TCP echo server in one namespace and a client in another sending a line every `everyMs`: what a hot move must not break. */
export class TcpSession {
  readonly echoes: { echo: number; at: number }[] = [];
  readonly events: { event: string; code?: string; at: number }[] = [];
  private constructor(
    private readonly server: ChildProcess,
    private readonly client: ChildProcess,
  ) {}

  static async open(serverNs: string, clientNs: string, address: string, port = 7000, everyMs = 10): Promise<TcpSession> {
    const server = spawnIn(serverNs, [process.execPath, '-e', ECHO_SERVER, String(port)]);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
    });
    const client = spawnIn(clientNs, [process.execPath, '-e', ECHO_CLIENT, address, String(port), String(everyMs)]);
    const session = new TcpSession(server, client);
    let buffer = '';
    client.stdout!.on('data', (chunk) => {
      buffer += String(chunk);
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const row = JSON.parse(line);
        if ('echo' in row) session.echoes.push(row);
        else session.events.push(row);
      }
    });
    return session;
  }

  /** The longest wait between two echoes after `t` (ms). */
  longestGapAfter(t: number): number {
    const times = this.echoes.filter((e) => e.at >= t).map((e) => e.at);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
    return gap;
  }

  async close(): Promise<void> {
    for (const child of [this.client, this.server])
      if (child.exitCode === null && child.signalCode === null) {
        const closed = new Promise((r) => child.once('close', r));
        child.kill('SIGKILL');
        await closed;
      }
  }
}
