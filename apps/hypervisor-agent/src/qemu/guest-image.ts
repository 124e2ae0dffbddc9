import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GuestImage } from './qemu-guest';

/** The repository root (this file is at apps/hypervisor-agent/src/qemu/ in the sources and under dist/ when built). */
function repoRoot(): string {
  let dir = resolve(__dirname);
  while (!existsSync(join(dir, 'tools', 'qemu', 'build-guest-image.sh'))) {
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('tools/qemu/build-guest-image.sh not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

/**
 * The guest image, built by tools/qemu/build-guest-image.sh when its inputs changed (otherwise the
 * cached one): Debian's cloud kernel and a busybox initramfs.
 */
export function guestImage(): GuestImage {
  const out = execFileSync('bash', [join(repoRoot(), 'tools', 'qemu', 'build-guest-image.sh')], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
  return { kernel: join(out, 'vmlinuz'), initrd: join(out, 'initrd.gz') };
}

/** Why QEMU guests cannot run here (no qemu-system-x86_64, or no kernel unpacked by .ci/install-qemu.sh), or undefined. */
export function qemuUnavailable(): string | undefined {
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return 'qemu-system-x86_64 is not installed (bash .ci/install-qemu.sh)';
  try {
    guestImage();
  } catch (err) {
    return `the guest image cannot be built: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}
