import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { LocusConfig } from '@locus/platform';

const ROOT = join(__dirname, '..', '..');

export { freePort } from './nats-server';

/** Tests that run a Locus service as its own process run it from dist/: `npm test` has just built it; a lone `npx jest` run builds it first. */
export function ensureBuilt(script: string): void {
  if (!existsSync(join(ROOT, script))) execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'pipe' });
}

/** A private nats-server with JetStream, so a test can take the broker away and bring it back. */
export class NatsServerProcess {
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    readonly storeDir: string,
    readonly binary = '/usr/sbin/nats-server',
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Started and not exited. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the server (again, on the same port and store) and resolves once it logs that it is ready. */
  start(timeoutMs = 10_000): Promise<void> {
    const child = spawn(this.binary, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    return new Promise((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${timeoutMs} ms:\n${log}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        log += String(chunk);
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${log}`));
      });
    });
  }

  /** SIGKILL: no goodbye to clients, no flush; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

export interface ServiceChild {
  child: ChildProcess;
  output: () => string;
  /** The JSON log lines printed so far. */
  lines: () => any[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a compiled Locus entry point (e.g. `dist/apps/mobility-manager/src/main.js`) against the test's database, NATS and stream. */
export function spawnService(script: string, config: LocusConfig, env: Record<string, string> = {}): ServiceChild {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: config.natsUrl,
      DATABASE_URL: config.databaseUrl,
      LOCUS_SUBJECT_PREFIX: config.subjectPrefix,
      LOCUS_STREAM: config.streamName,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json', // read back as JSON lines, whatever the runner's LOG_FORMAT
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += String(c)));
  child.stderr!.on('data', (c) => (out += String(c)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = () =>
    out.split('\n').flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // the last line, still being written
      }
    });
  return { child, output: () => out, lines, exited };
}

/**
 * A TCP relay between one client and NATS that the test can cut: `cut()` drops every connection
 * and refuses new ones (the client sees its connection lost and its reconnects fail) until `restore()`.
 */
export class CuttableLink {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private open = true;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  static toNats(url: string): CuttableLink {
    const { hostname, port } = new URL(url.replace(/^nats:/, 'http:'));
    return new CuttableLink({ host: hostname, port: Number(port || 4222) });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((client) => {
      if (!this.open) return void client.destroy();
      const upstream = tcpConnect(this.target.port, this.target.host);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
