import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';

/** The services of a lab, each a `node dist/apps/<app>/src/main.js` process of its own. */
export const SERVICES = ['mobility-manager', 'hypervisor-agent', 'mapping-system', 'route-injector', 'arp-proxy'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ProcSample {
  /** Resident set now, bytes (VmRSS). */
  rss: number;
  /** Peak resident set since the process started, bytes (VmHWM). */
  hwm: number;
  /** CPU seconds used so far (user + system). */
  cpuS: number;
}

/** /proc/<pid>/status and /proc/<pid>/stat of a live process; undefined when it is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpuS: ticks / 100 };
  } catch {
    return undefined;
  }
}

/** Peak and last samples of a lab's processes (sampled about once a second), summed per service. */
export class ProcessSampler {
  private readonly samples = new Map<string, { max: ProcSample; last: ProcSample }>();

  sample(processes: readonly Child[]): void {
    for (const c of processes) {
      const p = c.process.pid ? sampleProc(c.process.pid) : undefined;
      if (!p) continue;
      const prev = this.samples.get(c.name);
      this.samples.set(c.name, { max: { rss: Math.max(prev?.max.rss ?? 0, p.rss), hwm: Math.max(prev?.max.hwm ?? 0, p.hwm), cpuS: p.cpuS }, last: p });
    }
  }

  /** Per service (processes `name#2` etc. summed): peak RSS (VmHWM), largest sampled VmRSS, CPU seconds. */
  byService(processes: readonly Child[]): { name: string; pid?: number; processes: number; peakMiB: number; maxRssMiB: number; cpuS: number }[] {
    const by = new Map<string, { name: string; pid?: number; processes: number; peakMiB: number; maxRssMiB: number; cpuS: number }>();
    for (const c of processes.filter((x) => x.name !== 'nats-server')) {
      const p = this.samples.get(c.name);
      const name = c.name.replace(/#\d+$/, '');
      const acc = by.get(name) ?? { name, pid: c.process.pid, processes: 0, peakMiB: 0, maxRssMiB: 0, cpuS: 0 };
      acc.processes++;
      acc.peakMiB += (p?.max.hwm ?? 0) / 1048576;
      acc.maxRssMiB += (p?.max.rss ?? 0) / 1048576;
      acc.cpuS += p?.last.cpuS ?? 0;
      by.set(name, acc);
    }
    return [...by.values()].map((x) => ({ ...x, name: x.processes > 1 ? `${x.name} (${x.processes} processes)` : x.name }));
  }
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat), all cores together. */
export function machineCpu(): { busyS: number; totalS: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = v[3] + (v[4] ?? 0);
  return { busyS: (total - idle) / 100, totalS: total / 100 };
}

/** CPU seconds so far of every process on the machine, by pid, with its short name (/proc/<pid>/comm). */
export function allProcessCpu(): Map<number, { comm: string; cpuS: number }> {
  const out = new Map<number, { comm: string; cpuS: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { comm, cpuS: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The processes that used the most CPU between two snapshots, as a share of all cores (100% = every core busy). */
export function topCpu(
  before: Map<number, { comm: string; cpuS: number }>,
  after: Map<number, { comm: string; cpuS: number }>,
  totalS: number,
  label: (pid: number, comm: string) => string,
  n = 6,
): { who: string; pct: number }[] {
  const by = new Map<string, number>();
  for (const [pid, a] of after) {
    const d = a.cpuS - (before.get(pid)?.cpuS ?? 0);
    if (d <= 0) continue;
    const who = label(pid, a.comm);
    by.set(who, (by.get(who) ?? 0) + d);
  }
  return [...by]
    .map(([who, s]) => ({ who, pct: (100 * s) / totalS }))
    .sort((a, b) => b.pct - a.pct)
    .slice(0, n);
}

/**
 * `n` distinct free ports: every listener stays open until all are taken, so that the kernel cannot
 * hand out one port twice (one port asked after another, closed in between, can come back).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((srv) => (srv.address() as { port: number }).port);
  await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
  return ports;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  name: string;
  process: ChildProcess;
  logFile: string;
}

/** Children the bench started, so that Ctrl-C or a crash never leaves one behind. */
export class ChildSet {
  readonly children: Child[] = [];

  /** `as` runs the child as another user (root only), e.g. a postmaster, which refuses root. */
  spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, dir: string, as?: { uid: number; gid: number }): Child {
    mkdirSync(dir, { recursive: true });
    const logFile = join(dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(command, args, { env, stdio: ['ignore', fd, fd], detached: false, ...as });
    const c = { name, process: child, logFile };
    this.children.push(c);
    return c;
  }

  alive(c: Child): boolean {
    return c.process.exitCode === null && c.process.signalCode === null;
  }

  /** SIGTERM, then SIGKILL whatever is still there after `graceMs`. */
  async stopAll(graceMs = 3000): Promise<void> {
    await this.stop(this.children, graceMs);
  }

  /** Stops some of the children (e.g. one lab's services), SIGTERM then SIGKILL after `graceMs`. */
  async stop(which: readonly Child[], graceMs = 3000): Promise<void> {
    const live = which.filter((c) => this.children.includes(c) && this.alive(c));
    await Promise.all(
      live.map(
        (c) =>
          new Promise<void>((resolve) => {
            const force = setTimeout(() => c.process.kill('SIGKILL'), graceMs);
            c.process.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            c.process.kill('SIGTERM');
          }),
      ),
    );
  }

  killAllNow(): void {
    for (const c of this.children) if (this.alive(c)) c.process.kill('SIGKILL');
  }
}

/**
 * A nats-server of the bench's own (JetStream, loopback, random port), for labs whose replies
 * outgrow the shared server's max_payload: `vm.list` answers every VM in one message.
 */
export async function startPrivateNats(children: ChildSet, dir: string, maxPayload = 64 * 1024 * 1024): Promise<{ url: string; child: Child }> {
  const binary = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p));
  if (!binary) throw new Error('a private nats-server is needed (max_payload) but nats-server is not installed');
  const port = await freePort();
  mkdirSync(join(dir, 'nats'), { recursive: true });
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [`listen: 127.0.0.1:${port}`, `max_payload: ${maxPayload}`, `max_pending: ${Math.max(maxPayload * 2, 128 * 1024 * 1024)}`, `jetstream {`, `  store_dir: "${join(dir, 'nats')}"`, `}`].join('\n') +
      '\n',
  );
  const child = children.spawn('nats-server', binary, ['-c', conf], process.env, dir);
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const nc = await connect({ servers: url, maxReconnectAttempts: 0, timeout: 500 });
      await nc.close();
      return { url, child };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`private nats-server did not answer at ${url} (log: ${child.logFile})`);
}

/** Polls `probe` until it returns a value, failing with the child's last log lines when the child died. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, watch: Child[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (;;) {
    for (const c of watch)
      if (c.process.exitCode !== null || c.process.signalCode !== null)
        throw new Error(`${c.name} exited (${c.process.exitCode ?? c.process.signalCode}) while waiting for ${what}; last log lines:\n${tail(c.logFile, 15)}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function requestJson<T = any>(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 10_000): Promise<T> {
  const msg = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  return JSON.parse(new TextDecoder().decode(msg.data)) as T;
}
