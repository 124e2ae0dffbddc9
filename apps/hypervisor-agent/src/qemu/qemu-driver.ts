import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { TopologyIndex } from '@locus/topology';
import type { GuestHealth, HotLimits, HotPass, HypervisorDriver } from '../host/hypervisor-driver';
import { LiveMigration } from './live-migration';
import { QemuGuest, type GuestImage, type GuestSpec } from './qemu-guest';

/** What the QEMU driver needs of the dataplane: the guests' taps on the hypervisors' bridges, and a place to ping them from. */
export interface GuestNetwork {
  plugTap(vm: string, hypervisor: string, from?: string): Promise<string>;
  unplugTap(vm: string, hypervisor: string): Promise<void>;
  /** The network namespace a hypervisor's QEMU runs in. */
  namespaceOf(hypervisor: string): string;
  /** One ping to the guest from a neighbour of its domain near `hypervisor`: true when it answered. */
  ping(vm: string, hypervisor: string): Promise<boolean>;
}

export interface QemuDriverOptions {
  /** The VMs played by real QEMU guests. */
  vms: ReadonlySet<string>;
  image: GuestImage;
  /** Sockets, serial logs and saved states, one directory per VM. */
  runDir: string;
  /** Guests larger than this in the topology run with `guestMemoryMb` (192 MiB fits a 32 MiB working set). */
  maxMemoryMb?: number;
  guestMemoryMb?: number;
  bootTimeoutMs?: number;
  /** How long a pass may take before the step fails (a wedged migration is a failed step, not a hang). */
  passTimeoutMs?: number;
}

interface Running {
  guest: QemuGuest;
  hypervisor: string;
}

interface Hot {
  moveId: string;
  to: string;
  target: QemuGuest;
  migration: LiveMigration;
}

/**
 * The QEMU hypervisor driver: each chosen VM is a QEMU guest (accel=tcg) whose tap sits on its
 * hypervisor namespace's bridge for the VM's L2 domain. Cold: ACPI powerdown, a fresh boot at the
 * target with the same MAC and IP, the boot measured. Warm: `stop`, migrate to a file, a target
 * started from it. Hot: the target QEMU listens with `-incoming unix:` (QEMU processes in different
 * namespaces meet on a socket file), the source gets the move's limits and `migrate`; its passes are
 * what the saga records. One driver serves every agent of a process: the source's agent starts the
 * target's QEMU, as libvirt's peer-to-peer migration has the source daemon drive the target's.
 */
export class QemuDriver implements HypervisorDriver {
  readonly kind = 'qemu' as const;
  private readonly running = new Map<string, Running>();
  private readonly hot = new Map<string, Hot>();
  private readonly starting = new Map<string, Promise<Hot>>();
  private readonly saved = new Map<string, { file: string; hypervisor: string; bytes: number }>();
  private readonly log: Logger;

  constructor(
    private readonly topology: TopologyIndex,
    private readonly network: GuestNetwork,
    private readonly options: QemuDriverOptions,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'qemu' });
    mkdirSync(options.runDir, { recursive: true });
  }

  runs(vm: string): boolean {
    return this.options.vms.has(vm);
  }

  /** Where the guest runs now (undefined: not running). */
  hypervisorOf(vm: string): string | undefined {
    return this.running.get(vm)?.hypervisor;
  }

  guestOf(vm: string): QemuGuest | undefined {
    return this.running.get(vm)?.guest;
  }

  /** Live migration of a VM in flight (its passes so far). */
  migrationOf(vm: string): LiveMigration | undefined {
    return this.hot.get(vm)?.migration;
  }

  spec(vm: string): GuestSpec {
    const v = this.topology.vm(vm);
    if (!v) throw new Error(`${vm} is not in the topology`);
    const domain = this.topology.l2Domain(v.l2Domain)!;
    const profile = this.topology.profileOf(vm);
    const prefixLength = domain.subnet.split('/')[1] ?? '24';
    const memoryMb = v.memoryMb <= (this.options.maxMemoryMb ?? 512) && v.memoryMb >= 160 ? v.memoryMb : (this.options.guestMemoryMb ?? 192);
    return {
      name: vm,
      mac: v.mac,
      ipCidr: `${v.ip}/${prefixLength}`,
      gateway: domain.gateway,
      memoryMb,
      dirtyMiBps: profile?.dirtyRateMBps ?? 0,
      workingSetMiB: Math.max(1, Math.min(profile?.workingSetMb ?? 32, Math.floor(memoryMb / 6))),
    };
  }

  private dir(vm: string): string {
    return join(this.options.runDir, vm);
  }

  async boot(vm: string, hypervisor: string, from?: string): Promise<{ ms: number; upAt: number }> {
    const started = Date.now();
    const previous = this.running.get(vm);
    if (previous?.hypervisor === hypervisor && !previous.guest.exitInfo) return { ms: 0, upAt: started };
    const tap = await this.network.plugTap(vm, hypervisor, from);
    const guest = await QemuGuest.start({ spec: this.spec(vm), image: this.options.image, dir: this.dir(vm), instance: `${hypervisor}-boot`, netns: this.network.namespaceOf(hypervisor), tap });
    this.running.set(vm, { guest, hypervisor });
    try {
      await guest.waitForConsole(`LOCUS-READY ${vm}`, this.options.bootTimeoutMs ?? 60_000);
    } catch (err) {
      guest.kill();
      this.running.delete(vm);
      await this.network.unplugTap(vm, hypervisor);
      throw err;
    }
    const upAt = Date.now();
    this.log.info({ vm, hypervisor, pid: guest.pid, bootMs: upAt - started }, `QEMU guest ${vm} booted on ${hypervisor} in ${upAt - started} ms`);
    return { ms: upAt - started, upAt };
  }

  async shutdown(vm: string): Promise<{ ms: number; downAt: number }> {
    const r = this.running.get(vm);
    const downAt = Date.now();
    if (!r) return { ms: 0, downAt };
    const { guest, hypervisor } = r;
    if (!guest.exitInfo) {
      await guest.qmp.execute('system_powerdown').catch(() => undefined);
      const off = await guest.exitsWithin(15_000);
      const poweredOff = off && guest.console().includes(`LOCUS-POWEROFF ${vm}`);
      if (!off) await guest.quit();
      this.log.info({ vm, hypervisor, ms: Date.now() - downAt, acpi: poweredOff }, poweredOff ? `QEMU guest ${vm} powered off (ACPI)` : `QEMU guest ${vm} did not power off: quit`);
    }
    guest.qmp.close();
    this.running.delete(vm);
    await this.network.unplugTap(vm, hypervisor);
    return { ms: Date.now() - downAt, downAt };
  }

  async save(vm: string): Promise<{ ms: number; bytes: number; downAt: number }> {
    const r = this.running.get(vm);
    if (!r) throw new Error(`${vm} runs nowhere under QEMU`);
    const downAt = Date.now();
    const file = join(this.dir(vm), `${r.hypervisor}.state`);
    rmSync(file, { force: true });
    await r.guest.qmp.execute('stop');
    await r.guest.qmp.execute('migrate', { uri: `exec:cat > ${file}` });
    for (;;) {
      const q = await r.guest.qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
      if (q.status === 'completed') break;
      if (q.status === 'failed' || q.status === 'cancelled') throw new Error(`saving ${vm} failed: ${q['error-desc'] ?? q.status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    await r.guest.quit();
    this.running.delete(vm);
    await this.network.unplugTap(vm, r.hypervisor);
    const bytes = statSync(file).size;
    this.saved.set(vm, { file, hypervisor: r.hypervisor, bytes });
    this.log.info({ vm, hypervisor: r.hypervisor, bytes, ms: Date.now() - downAt }, `QEMU guest ${vm} saved to ${file}`);
    return { ms: Date.now() - downAt, bytes, downAt };
  }

  async transferState(vm: string, hypervisor: string): Promise<{ ms: number; bytes: number }> {
    const s = this.saved.get(vm);
    if (!s) throw new Error(`${vm} has no saved state`);
    const started = Date.now();
    if (s.hypervisor !== hypervisor) {
      const file = join(this.dir(vm), `${hypervisor}.state`);
      copyFileSync(s.file, file);
      rmSync(s.file, { force: true });
      this.saved.set(vm, { file, hypervisor, bytes: s.bytes });
    }
    return { ms: Date.now() - started, bytes: s.bytes };
  }

  async restore(vm: string, hypervisor: string, from?: string): Promise<{ ms: number; upAt: number }> {
    const s = this.saved.get(vm);
    if (!s || !existsSync(s.file)) throw new Error(`${vm} has no saved state to restore`);
    if (s.hypervisor !== hypervisor) await this.transferState(vm, hypervisor);
    const file = this.saved.get(vm)!.file;
    const started = Date.now();
    const tap = await this.network.plugTap(vm, hypervisor, from);
    const guest = await QemuGuest.start({
      spec: this.spec(vm),
      image: this.options.image,
      dir: this.dir(vm),
      instance: `${hypervisor}-restore`,
      netns: this.network.namespaceOf(hypervisor),
      tap,
      incoming: `exec:cat ${file}`,
    });
    this.running.set(vm, { guest, hypervisor });
    // The state was saved from a stopped guest: the target waits paused until `cont`.
    for (;;) {
      const status = await guest.status();
      if (status === 'paused' || status === 'postmigrate' || status === 'running') break;
      await new Promise((res) => setTimeout(res, 50));
      if (Date.now() - started > 60_000) throw new Error(`${vm}: restoring from ${file} took over 60 s (${status})`);
    }
    const resumed = guest.qmp.waitForEvent('RESUME', 10_000);
    await guest.qmp.execute('cont');
    const upAt = (await resumed).timestampMs;
    // RARP from the restored guest at its new port (QEMU's self-announce, as after a live migration).
    await guest.qmp.execute('announce-self', { initial: 50, max: 550, rounds: 5, step: 100 }).catch((err: Error) => this.log.warn({ vm, err: err.message }, 'announce-self failed'));
    rmSync(file, { force: true });
    this.saved.delete(vm);
    this.log.info({ vm, hypervisor, ms: upAt - started }, `QEMU guest ${vm} restored on ${hypervisor}`);
    return { ms: upAt - started, upAt };
  }

  async migratePass(vm: string, moveId: string, to: string, round: number, limits: HotLimits): Promise<HotPass> {
    if (limits.policy === 'postcopy') throw new Error('the QEMU driver does not run postcopy yet: use the throttle or abort policy');
    const hot = await this.startMigration(vm, moveId, to, limits);
    const pass = await hot.migration.pass(round, this.options.passTimeoutMs ?? 120_000);
    this.log.info(
      {
        vm,
        moveId,
        round,
        sentBytes: pass.sentBytes,
        dirtyBytes: pass.dirtyBytes,
        dirtyRateBps: pass.dirtyRateBps,
        throttlePct: pass.throttlePct,
        expectedDowntimeMs: pass.expectedDowntimeMs,
        completed: pass.completed,
        ms: pass.durationMs,
      },
      `QEMU pass ${round} of ${vm}: sent ${mib(pass.sentBytes)}, ${mib(pass.dirtyBytes)} dirty${pass.completed ? ', switched over' : ''}`,
    );
    return pass;
  }

  private startMigration(vm: string, moveId: string, to: string, limits: HotLimits): Promise<Hot> {
    const current = this.hot.get(vm);
    if (current?.moveId === moveId) return Promise.resolve(current);
    const pending = this.starting.get(`${vm}:${moveId}`);
    if (pending) return pending;
    const work = (async () => {
      const r = this.running.get(vm);
      if (!r) throw new Error(`${vm} runs nowhere under QEMU`);
      if (current) await this.cancel(vm, current.moveId);
      const from = r.hypervisor;
      const tap = await this.network.plugTap(vm, to, from);
      const socket = join(this.dir(vm), `${moveId.slice(0, 8)}.migrate`);
      rmSync(socket, { force: true });
      const uri = `unix:${socket}`;
      const target = await QemuGuest.start({ spec: this.spec(vm), image: this.options.image, dir: this.dir(vm), instance: `${to}-incoming`, netns: this.network.namespaceOf(to), tap, incoming: uri });
      try {
        const migration = await LiveMigration.start(r.guest, target, uri, {
          downtimeLimitMs: limits.downtimeLimitMs,
          bandwidthBps: limits.bandwidthBps,
          policy: limits.policy === 'throttle' ? 'throttle' : 'abort',
        });
        const hot: Hot = { moveId, to, target, migration };
        this.hot.set(vm, hot);
        this.log.info(
          { vm, moveId, from, to, downtimeLimitMs: limits.downtimeLimitMs, bandwidthBps: limits.bandwidthBps, policy: limits.policy },
          `QEMU live migration of ${vm} ${from} -> ${to} started`,
        );
        void migration.done.then(
          (res) => this.log.info({ vm, moveId, ...res }, `QEMU migration of ${vm} completed: downtime ${res.downtimeMs} ms, total ${res.totalMs} ms, ${res.passes} passes`),
          (err: Error) => this.log.warn({ vm, moveId, err: err.message }, `QEMU migration of ${vm} ended without switchover: ${err.message}`),
        );
        return hot;
      } catch (err) {
        target.kill();
        throw err;
      }
    })();
    this.starting.set(`${vm}:${moveId}`, work);
    return work.finally(() => this.starting.delete(`${vm}:${moveId}`));
  }

  async switchover(vm: string, moveId: string): Promise<{ downAt: number; downtimeMs: number; bytes: number; totalMs: number }> {
    const hot = this.hot.get(vm);
    if (!hot || hot.moveId !== moveId) throw new Error(`${vm} has no live migration for move ${moveId}`);
    if (!hot.migration.finished) {
      this.log.info({ vm, moveId, passes: hot.migration.passes.length }, `switchover of ${vm} decided by the saga: QEMU told to switch over now`);
      await hot.migration.forceSwitchover();
    }
    const res = await hot.migration.done;
    const last = hot.migration.passes[hot.migration.passes.length - 1];
    return { downAt: res.stoppedAt, downtimeMs: res.downtimeMs, bytes: last?.dirtyBytes ?? 0, totalMs: res.totalMs };
  }

  async resumed(vm: string, moveId: string, hypervisor: string): Promise<{ upAt: number; ms: number }> {
    const hot = this.hot.get(vm);
    if (!hot || hot.moveId !== moveId) {
      const r = this.running.get(vm);
      if (r?.hypervisor === hypervisor) return { upAt: Date.now(), ms: 0 }; // already done (a repeat)
      throw new Error(`${vm} has no live migration for move ${moveId}`);
    }
    const res = await hot.migration.done;
    const source = this.running.get(vm);
    this.running.set(vm, { guest: hot.target, hypervisor: hot.to });
    this.hot.delete(vm);
    if (source) {
      await source.guest.quit();
      if (source.hypervisor !== hot.to) await this.network.unplugTap(vm, source.hypervisor);
    }
    return { upAt: res.resumedAt, ms: Math.max(0, res.resumedAt - res.stoppedAt) };
  }

  async cancel(vm: string, moveId: string): Promise<boolean> {
    const hot = this.hot.get(vm);
    if (!hot || hot.moveId !== moveId) return false;
    if (hot.migration.finished) {
      // Completed: the guest runs at the target and the move goes on; failed: the target is gone already.
      const ok = await hot.migration.done.then(
        () => true,
        () => false,
      );
      if (ok) return false;
    } else await hot.migration.cancel();
    this.hot.delete(vm);
    hot.target.kill();
    await this.network.unplugTap(vm, hot.to);
    const source = this.running.get(vm);
    if (source && !source.guest.exitInfo) {
      const status = await source.guest.status().catch(() => 'unknown');
      if (status !== 'running') await source.guest.qmp.execute('cont').catch(() => undefined);
    }
    this.log.info({ vm, moveId }, `QEMU migration of ${vm} cancelled: the guest goes on at ${source?.hypervisor}`);
    return true;
  }

  /**
   * The guest where it runs now: QEMU running it, a whole heartbeat line on its console after the check
   * began, a ping answered. The check starts right at a boot, restore or switchover, when an incoming
   * QEMU may still be loading and the network still learning the guest's new port, and a busy host
   * slows all three: each is waited for until `timeoutMs` from the start, and only then reported failed.
   */
  async health(vm: string, timeoutMs = 30_000): Promise<GuestHealth> {
    const r = this.running.get(vm);
    if (!r) return { vm, ok: false, reason: `${vm} runs nowhere under QEMU` };
    const { guest, hypervisor } = r;
    const started = Date.now();
    const deadline = started + timeoutMs;
    const from = guest.consoleSize();
    let pings = 0;
    const took = () => ({ ms: Date.now() - started, pings });
    try {
      for (let status = await guest.status(); status !== 'running'; status = await guest.status()) {
        if (Date.now() > deadline) return { vm, hypervisor, ok: false, reason: `QEMU says ${status}`, ...took() };
        await new Promise((res) => setTimeout(res, 50));
      }
      // A whole line: the serial console is written a byte at a time, so `LOCUS-ALIVE web-01 1` may still become `… 12`.
      const at = await guest.waitForConsole(new RegExp(`LOCUS-ALIVE ${vm} \\d+\\r?\\n`), Math.max(1, deadline - Date.now()), from);
      const heartbeat = guest.console().slice(at).split('\n')[0].trim();
      const stillHere = () => !guest.exitInfo && this.running.get(vm)?.guest === guest;
      let pingOk = false;
      for (;;) {
        const tried = Date.now();
        pings++;
        pingOk = await this.network.ping(vm, hypervisor);
        if (pingOk || !stillHere() || Date.now() > deadline) break;
        // An unanswered ping waits its second; one refused at once (no route yet) is not retried in a busy loop.
        await new Promise((res) => setTimeout(res, Math.max(0, 250 - (Date.now() - tried))));
      }
      return { vm, hypervisor, ok: pingOk, heartbeat, pingOk, ...(pingOk ? {} : { reason: 'no ping reply' }), ...took() };
    } catch (err) {
      return { vm, hypervisor, ok: false, reason: (err as Error).message, ...took() };
    }
  }

  async stopAll(): Promise<void> {
    for (const [vm, hot] of this.hot) {
      // Gone before the stop returns, as the running guests below: a lab stopped mid-migration leaves no incoming QEMU behind.
      hot.target.kill();
      await hot.target.exited;
      await this.network.unplugTap(vm, hot.to).catch(() => undefined);
    }
    this.hot.clear();
    await Promise.all(
      [...this.running].map(async ([vm, r]) => {
        r.guest.kill();
        await r.guest.exited;
        await this.network.unplugTap(vm, r.hypervisor).catch(() => undefined);
      }),
    );
    this.running.clear();
    rmSync(this.options.runDir, { recursive: true, force: true });
  }
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
