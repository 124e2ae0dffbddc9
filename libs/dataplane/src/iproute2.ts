import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Step } from './plan';

/**
 * Every command the Linux dataplane runs on this machine: iproute2 (`ip`, `bridge`), arping and
 * /proc/sys writes, each inside a namespace of the lab. Nothing else in Locus touches the kernel.
 */
export class CommandFailed extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    child.once('error', (e) => reject(new CommandFailed(argv.join(' '), null, e.message)));
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new CommandFailed(argv.slice(0, 6).join(' '), code, err || out))));
    child.stdin.on('error', () => undefined); // a command that exits without reading: its exit code says what happened
    child.stdin.end(input ?? '');
  });
}

/** `ip -n NS …` (or in this namespace without one). */
export function ip(ns: string | undefined, ...args: string[]): Promise<string> {
  return run(['ip', ...(ns ? ['-n', ns] : []), ...args]);
}

/** Several `ip` commands in one process: `ip -n NS -batch -`. */
export function ipBatch(ns: string | undefined, commands: readonly string[]): Promise<string> {
  return run(['ip', ...(ns ? ['-n', ns] : []), '-batch', '-'], commands.join('\n') + '\n');
}

/** A command inside a namespace, to its end. */
export function execIn(ns: string, argv: readonly string[]): Promise<string> {
  return run(['ip', 'netns', 'exec', ns, ...argv]);
}

/** A long-running command inside a namespace (a test's server or client); the caller ends it. */
export function spawnIn(ns: string, argv: readonly string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * One gratuitous ARP `ip is-at <dev's MAC>` from a device (iputils arping -U). arping sends at once,
 * then lingers a second for answers nobody sends to an unsolicited ARP: it is cut short after 250 ms.
 */
export async function gratuitousArp(ns: string, dev: string, ipAddress: string): Promise<void> {
  try {
    await run(['ip', 'netns', 'exec', ns, 'timeout', '0.25', 'arping', '-q', '-U', '-c', '1', '-I', dev, '-s', ipAddress, ipAddress]);
  } catch (err) {
    if (!(err instanceof CommandFailed && err.code === 124)) throw err;
  }
}

export interface NeighbourEntry {
  ip: string;
  dev: string;
  mac?: string;
  state: string[];
}

/** Whether a device is up with a carrier (operstate UP), or only set up (`admin`: the UP flag, carrier or not). */
export async function linkUp(ns: string, dev: string, admin = false): Promise<boolean> {
  const [row] = JSON.parse(await ip(ns, '-j', 'link', 'show', dev)) as { operstate?: string; flags?: string[] }[];
  return admin ? !!row?.flags?.includes('UP') : row?.operstate === 'UP';
}

/** Polls until the device is up with a carrier (the kernel's link watch runs a moment after `link set up`). */
export async function waitForLinkUp(ns: string, dev: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await linkUp(ns, dev))) {
    if (Date.now() > deadline) throw new Error(`${dev} in ${ns} is not up after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A namespace's IPv4 neighbour table (`ip -j neigh`). */
export async function neighbours(ns: string): Promise<NeighbourEntry[]> {
  const rows = JSON.parse((await ip(ns, '-j', '-4', 'neigh', 'show')) || '[]') as { dst: string; dev: string; lladdr?: string; state?: string[] }[];
  return rows.map((r) => ({ ip: r.dst, dev: r.dev, mac: r.lladdr, state: r.state ?? [] }));
}

/** The ARP tables of several namespaces, read by one process. */
export async function neighboursOfMany(namespaces: readonly string[]): Promise<Map<string, NeighbourEntry[]>> {
  const out = new Map<string, NeighbourEntry[]>();
  if (!namespaces.length) return out;
  const text = await run(['bash', '-c', 'for ns in "$@"; do printf "#%s\\n" "$ns"; ip -n "$ns" -j -4 neigh show || echo "[]"; echo; done', 'neighbours', ...namespaces]);
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) current = line.slice(1);
    else if (current && line.trim().startsWith('[')) {
      const rows = JSON.parse(line) as { dst: string; dev: string; lladdr?: string; state?: string[] }[];
      out.set(
        current,
        rows.map((r) => ({ ip: r.dst, dev: r.dev, mac: r.lladdr, state: r.state ?? [] })),
      );
    }
  }
  return out;
}

/** The lab's namespaces: every one whose name starts with the prefix. */
export async function namespacesWith(prefix: string): Promise<string[]> {
  const out = await run(['ip', 'netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n && n.startsWith(prefix));
}

/** Ends the processes left inside the namespaces (the lab's own: they run nowhere else) and deletes the namespaces. */
export async function removeNamespaces(names: readonly string[]): Promise<void> {
  if (!names.length) return;
  const script = names.map((n) => `for p in $(ip netns pids ${shellWord(n)} 2>/dev/null); do kill -9 "$p" 2>/dev/null; done`).join('\n');
  await run(['bash', '-c', script]).catch(() => undefined);
  await run(['ip', '-force', '-batch', '-'], names.map((n) => `netns del ${n}`).join('\n') + '\n').catch(() => undefined);
}

/** The plan's steps as one bash script: `ip -batch` per namespace, /proc/sys writes through `ip netns exec`. */
export function renderScript(steps: readonly Step[]): string {
  const lines = ['set -euo pipefail'];
  const heredoc = (cmd: string, body: readonly string[]) => {
    const tag = `EOF_${randomBytes(4).toString('hex')}`;
    lines.push(`${cmd} <<'${tag}'`, ...body, tag);
  };
  for (const step of steps) {
    if (step.kind === 'netns')
      heredoc(
        'ip -batch -',
        step.names.map((n) => `netns add ${n}`),
      );
    else if (step.kind === 'ip') heredoc(`ip -n ${shellWord(step.ns)} -batch -`, step.commands);
    else if (step.kind === 'bridge') heredoc(`bridge -n ${shellWord(step.ns)} -batch -`, step.commands);
    else {
      const writes = Object.entries(step.values).map(([k, v]) => `echo ${v} > /proc/sys/${k}`);
      lines.push(`ip netns exec ${shellWord(step.ns)} sh -ec ${shellWord(writes.join('; '))}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** A bash snippet with positional arguments (a loop over namespaces or addresses: one process, not one each). */
export function execShell(script: string, args: readonly string[]): Promise<string> {
  return run(['bash', '-c', script, 'locus', ...args]);
}

export function runScript(script: string): Promise<string> {
  return run(['bash', '-s'], script);
}

function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

let availability: string | null | undefined;

/**
 * Why network namespaces cannot be made here (not root, no iproute2, no arping, a kernel or
 * container that refuses), or null when they can: a test skips with this reason.
 */
export function namespacesUnavailable(): string | null {
  if (availability !== undefined) return availability;
  const missing = ['ip', 'bridge', 'arping', 'ping'].filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
  if (process.getuid?.() !== 0) availability = 'network namespaces need root (run the tests as root, as CI does)';
  else if (missing.length) availability = `missing ${missing.join(', ')} (Debian: apt-get install iproute2 iputils-ping iputils-arping)`;
  else {
    const probe = `locusprobe${randomBytes(3).toString('hex')}`;
    const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
    if (made.status !== 0) availability = `ip netns add fails here: ${made.stderr.trim()}`;
    else {
      const veth = spawnSync('ip', ['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], { encoding: 'utf8' });
      const bridge = spawnSync('ip', ['-n', probe, 'link', 'add', 'b0', 'type', 'bridge'], { encoding: 'utf8' });
      const macvlan = spawnSync('ip', ['-n', probe, 'link', 'add', 'm0', 'link', 'b0', 'type', 'macvlan', 'mode', 'bridge'], { encoding: 'utf8' });
      spawnSync('ip', ['netns', 'del', probe]);
      const failed = [veth, bridge, macvlan].find((r) => r.status !== 0);
      availability = failed ? `this kernel cannot make veth, bridge and macvlan devices in a namespace: ${failed.stderr.trim()}` : null;
    }
  }
  return availability;
}
