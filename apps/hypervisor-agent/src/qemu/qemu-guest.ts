import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { QmpClient, QmpError } from './qmp-client';

/** What a guest is, whichever QEMU runs it: the same MAC, address and workload at every place. */
export interface GuestSpec {
  name: string;
  mac: string;
  /** `10.1.0.5/24` */
  ipCidr: string;
  gateway?: string;
  memoryMb: number;
  /** The dirtying workload's rate (MiB/s, 0: none) and working set (MiB). */
  dirtyMiBps: number;
  workingSetMiB: number;
}

/** Where the built guest image is (tools/qemu/build-guest-image.sh). */
export interface GuestImage {
  kernel: string;
  initrd: string;
}

export interface GuestLaunch {
  spec: GuestSpec;
  image: GuestImage;
  /** A directory of this guest's sockets, serial log and saved state. */
  dir: string;
  /** The network namespace QEMU runs in (the hypervisor's) and the tap there: none, no NIC. */
  netns?: string;
  tap?: string;
  /** `unix:/path`: a target waiting for a live migration; `exec:cat FILE`: a warm restore. */
  incoming?: string;
  /** A label for the files (`src`, `dst`, …): source and target of one move share the directory. */
  instance: string;
}

/**
 * One QEMU process running one guest (software emulation, accel=tcg: KVM is never relied on), with
 * its QMP socket, its serial console in a file, and its exit watched. A process that exits closes
 * its QMP client, which fails whatever waited on it.
 */
export class QemuGuest {
  readonly startedAt: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  private stderr = '';

  private constructor(
    readonly launch: GuestLaunch,
    private readonly child: ChildProcess,
    readonly qmp: QmpClient,
    readonly serialLog: string,
  ) {
    this.startedAt = Date.now();
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    void this.exited.then((x) => (this.exitInfo = x));
    child.stderr?.on('data', (b) => (this.stderr = (this.stderr + String(b)).slice(-2000)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** What QEMU printed on stderr last (why it exited). */
  get lastError(): string {
    return this.stderr.trim();
  }

  static async start(launch: GuestLaunch, qmpTimeoutMs = 10_000): Promise<QemuGuest> {
    mkdirSync(launch.dir, { recursive: true });
    const qmpPath = join(launch.dir, `${launch.instance}.qmp`);
    const serialLog = join(launch.dir, `${launch.instance}.serial.log`);
    rmSync(qmpPath, { force: true });
    rmSync(serialLog, { force: true });
    const argv = qemuArgv(launch, qmpPath, serialLog);
    const cmd = launch.netns ? ['ip', 'netns', 'exec', launch.netns, ...argv] : argv;
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let early = '';
    child.stderr!.on('data', (b) => (early += String(b)));
    const died = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`QEMU for ${launch.spec.name} exited at start (${code ?? signal}): ${early.trim().slice(-500)}`))),
    );
    died.catch(() => undefined);
    const qmp = await Promise.race([QmpClient.connect(qmpPath, { connectTimeoutMs: qmpTimeoutMs }), died]).catch((err) => {
      child.kill('SIGKILL');
      throw err;
    });
    return new QemuGuest(launch, child, qmp, serialLog);
  }

  /** The serial console so far. */
  console(): string {
    return existsSync(this.serialLog) ? readFileSync(this.serialLog, 'utf8') : '';
  }

  /** Waits until the serial console shows `marker` (after `fromOffset` bytes), or fails when QEMU exits or time runs out. */
  async waitForConsole(marker: string | RegExp, timeoutMs: number, fromOffset = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.console().slice(fromOffset);
      const at = typeof marker === 'string' ? text.indexOf(marker) : text.search(marker);
      if (at >= 0) return fromOffset + at;
      if (this.exitInfo) throw new Error(`${this.launch.spec.name}'s QEMU exited (${this.exitInfo.code ?? this.exitInfo.signal}) before ${marker} on its console: ${this.lastError.slice(-300)}`);
      if (Date.now() > deadline) throw new Error(`${this.launch.spec.name}: no ${marker} on the serial console within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Bytes of serial console so far (a health check looks for markers after this). */
  consoleSize(): number {
    return existsSync(this.serialLog) ? statSync(this.serialLog).size : 0;
  }

  /** `quit` over QMP, then SIGKILL if it lingers; resolves when the process is gone. */
  async quit(timeoutMs = 3000): Promise<void> {
    if (this.exitInfo) return;
    await this.qmp.execute('quit', undefined, timeoutMs).catch(() => undefined);
    const gone = await this.exitsWithin(timeoutMs);
    if (!gone) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.qmp.close();
  }

  /** true once the process is gone, false if it still runs after `ms` (the timer cleared either way). */
  async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
    clearTimeout(timer);
    return gone;
  }

  kill(): void {
    if (!this.exitInfo) this.child.kill('SIGKILL');
    this.qmp.close();
  }

  /** QMP `query-status`: running, paused, inmigrate, postmigrate, shutdown, … */
  async status(): Promise<string> {
    const r = await this.qmp.execute<{ status: string }>('query-status');
    return r.status;
  }
}

/** The command line: q35, TCG, no defaults, the kernel and initramfs direct, serial to a file, QMP on a unix socket. */
export function qemuArgv(launch: GuestLaunch, qmpPath: string, serialLog: string): string[] {
  const { spec } = launch;
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    `locus.name=${spec.name}`,
    `locus.ip=${spec.ipCidr}`,
    ...(spec.gateway ? [`locus.gw=${spec.gateway}`] : []),
    `locus.dirty=${Math.round(spec.dirtyMiBps)}`,
    `locus.ws=${Math.round(spec.workingSetMiB)}`,
  ].join(' ');
  return [
    'qemu-system-x86_64',
    '-name',
    spec.name,
    '-machine',
    'q35,accel=tcg',
    '-cpu',
    'qemu64',
    '-smp',
    '1',
    '-m',
    String(spec.memoryMb),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    launch.image.kernel,
    '-initrd',
    launch.image.initrd,
    '-append',
    append,
    '-chardev',
    `file,id=ser0,path=${serialLog}`,
    '-serial',
    'chardev:ser0',
    '-qmp',
    `unix:${qmpPath},server=on,wait=off`,
    ...(launch.tap ? ['-netdev', `tap,id=n0,ifname=${launch.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${spec.mac},romfile=`] : ['-nic', 'none']),
    ...(launch.incoming ? ['-incoming', launch.incoming] : []),
  ];
}

export { QmpError };
