import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestImage, LiveMigration, QemuGuest, qemuUnavailable, QmpError, type GuestImage, type GuestSpec } from '../apps/hypervisor-agent/src';

/**
 * The QMP client and the live migration against real QEMU processes (accel=tcg, no NIC): capabilities,
 * commands with timeouts, events, passes read from query-migrate, cancel, and a target that exits
 * mid-migration failing the migration instead of hanging it. Run under `flock /tmp/locus-heavy.lock`.
 */
const reason = qemuUnavailable();
const describeQemu = reason ? describe.skip : describe;
if (reason) console.warn(`qemu-qmp: skipped, ${reason}`);

const spec = (name: string, dirtyMiBps: number, workingSetMiB = 32): GuestSpec => ({ name, mac: '52:54:00:12:34:56', ipCidr: '10.77.0.2/24', memoryMb: 192, dirtyMiBps, workingSetMiB });

describeQemu('QEMU over QMP (real guests, accel=tcg)', () => {
  jest.setTimeout(120_000);
  let image: GuestImage;
  let dir: string;
  const guests: QemuGuest[] = [];
  const start = async (name: string, instance: string, dirty: number, incoming?: string) => {
    const g = await QemuGuest.start({ spec: spec(name, dirty), image, dir, instance, ...(incoming ? { incoming } : {}) });
    guests.push(g);
    return g;
  };

  beforeAll(() => {
    image = guestImage();
    dir = mkdtempSync(join(tmpdir(), 'locus-qmp-'));
  });
  afterAll(async () => {
    await Promise.all(guests.map((g) => g.quit(1000)));
    rmSync(dir, { recursive: true, force: true });
  });

  it("negotiates capabilities, answers commands, refuses unknown ones with QEMU's error, and times a call out", async () => {
    const g = await start('qmp1', 'a', 0);
    expect(g.qmp.version).toMatch(/^\d+\.\d+\.\d+$/);
    await g.waitForConsole('LOCUS-READY qmp1', 60_000);
    expect(await g.status()).toBe('running');
    await expect(g.qmp.execute('no-such-command')).rejects.toMatchObject({ qmpClass: 'CommandNotFound' });
    // A QEMU that does not answer (frozen with SIGSTOP): the call fails with TIMEOUT, and the client works again after.
    process.kill(g.pid!, 'SIGSTOP');
    await expect(g.qmp.execute('query-status', undefined, 300)).rejects.toMatchObject({ qmpClass: 'TIMEOUT' });
    process.kill(g.pid!, 'SIGCONT');
    expect(await g.status()).toBe('running');
    // A dirty rate sampled with page-sampling (dirty-bitmap mode crashed QEMU 7.2).
    await g.qmp.execute('calc-dirty-rate', { 'calc-time': 1, mode: 'page-sampling' });
    let rate: { status: string; mode?: string; 'dirty-rate'?: number } = { status: 'measuring' };
    for (let i = 0; i < 40 && rate.status !== 'measured'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rate = await g.qmp.execute('query-dirty-rate');
    }
    expect(rate).toMatchObject({ status: 'measured', mode: 'page-sampling' });
    expect(rate['dirty-rate']).toBeGreaterThanOrEqual(0);
    const stop = g.qmp.waitForEvent('STOP', 5000);
    await g.qmp.execute('stop');
    expect((await stop).timestampMs).toBeGreaterThan(Date.now() - 10_000);
    await g.qmp.execute('cont');
    await g.quit();
    expect(g.exitInfo).toBeDefined();
    await expect(g.qmp.execute('query-status')).rejects.toMatchObject({ qmpClass: 'CLOSED' });
  });

  it('migrates a quiet guest live: passes from query-migrate, then downtime and total time, the guest alive at the target', async () => {
    const src = await start('mig1', 'src', 0);
    await src.waitForConsole('LOCUS-READY mig1', 60_000);
    const uri = `unix:${join(dir, 'mig1.migrate')}`;
    const dst = await start('mig1', 'dst', 0, uri);
    const m = await LiveMigration.start(src, dst, uri, { downtimeLimitMs: 300, bandwidthBps: 256 * 1024 * 1024, policy: 'abort' });
    const result = await m.done;
    expect(m.passes.length).toBeGreaterThanOrEqual(1);
    expect(m.passes[m.passes.length - 1].completed).toBe(true);
    expect(m.passes[0].sentBytes).toBeGreaterThan(1024 * 1024);
    expect(result.downtimeMs).toBeGreaterThan(0);
    expect(result.totalMs).toBeGreaterThanOrEqual(result.downtimeMs);
    expect(result.resumedAt).toBeGreaterThanOrEqual(result.stoppedAt);
    expect(await dst.status()).toBe('running');
    expect(await src.status()).toBe('postmigrate');
    // The guest goes on at the target: its heartbeat counts on in the target's serial log.
    await dst.waitForConsole(/LOCUS-ALIVE mig1 \d+/, 10_000);
    console.log(`quiet guest: ${m.passes.length} passes, downtime ${result.downtimeMs} ms, total ${result.totalMs} ms, ${(result.transferredBytes / 1048576).toFixed(1)} MiB`);
  });

  it('a guest dirtying faster than the bandwidth does not converge: passes do not shrink; migrate_cancel leaves it running at the source', async () => {
    const src = await start('busy1', 'src', 80);
    await src.waitForConsole('LOCUS-DIRTY busy1', 60_000);
    const uri = `unix:${join(dir, 'busy1.migrate')}`;
    const dst = await start('busy1', 'dst', 0, uri);
    const m = await LiveMigration.start(src, dst, uri, { downtimeLimitMs: 50, bandwidthBps: 16 * 1024 * 1024, policy: 'abort' });
    const passes = [await m.pass(0, 60_000), await m.pass(1, 60_000), await m.pass(2, 60_000)];
    expect(passes.every((p) => !p.completed)).toBe(true);
    // What is left after each pass stays above what 50 ms at 16 MiB/s can send.
    for (const p of passes.slice(1)) expect(p.dirtyBytes).toBeGreaterThan(0.05 * 16 * 1024 * 1024);
    await m.cancel();
    await expect(m.done).rejects.toMatchObject({ qmpClass: 'CANCELLED' });
    expect(await src.status()).toBe('running');
    await dst.exited; // a cancelled migration makes the target exit
    const size = src.consoleSize();
    await src.waitForConsole(/LOCUS-ALIVE busy1 \d+/, 10_000, size);
  });

  it('a target that exits mid-migration fails the migration (no hang) and the source keeps running', async () => {
    const src = await start('fail1', 'src', 80);
    await src.waitForConsole('LOCUS-READY fail1', 60_000);
    const uri = `unix:${join(dir, 'fail1.migrate')}`;
    const dst = await start('fail1', 'dst', 0, uri);
    const m = await LiveMigration.start(src, dst, uri, { downtimeLimitMs: 10, bandwidthBps: 32 * 1024 * 1024, policy: 'abort' });
    await m.pass(0, 60_000);
    dst.kill();
    const error = await m.done.then(
      () => undefined,
      (e: QmpError) => e,
    );
    expect(error).toBeInstanceOf(QmpError);
    expect(['MIGRATION_FAILED', 'TARGET_EXITED']).toContain(error!.qmpClass);
    await expect(m.pass(50, 1000)).rejects.toBeInstanceOf(QmpError);
    expect(await src.status()).toBe('running');
  });
});
