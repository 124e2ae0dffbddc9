import type { ChildProcess } from 'node:child_process';
import { execIn, namespacesUnavailable, spawnIn } from '@locus/dataplane';

export { PingTrain } from '@locus/dataplane';

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
    private readonly server: ChildProcess | undefined,
    private readonly client: ChildProcess,
  ) {}

  static async open(serverNs: string, clientNs: string, address: string, port = 7000, everyMs = 10): Promise<TcpSession> {
    const server = spawnIn(serverNs, [process.execPath, '-e', ECHO_SERVER, String(port)]);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
    });
    return TcpSession.connect(clientNs, address, port, everyMs, server);
  }

  /** Only the client, to an echo service already there (a real guest's own, on port 7). */
  static connect(clientNs: string, address: string, port: number, everyMs = 10, server?: ChildProcess): TcpSession {
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
      if (child && child.exitCode === null && child.signalCode === null) {
        const closed = new Promise((r) => child.once('close', r));
        child.kill('SIGKILL');
        await closed;
      }
  }
}
