#!/usr/bin/env bash
# Install what the QEMU hypervisor driver's tests need, from Debian only, when missing:
# qemu-system-x86 (software emulation: accel=tcg, KVM is never relied on), busybox-static and cpio
# (the guest's initramfs), and Debian's cloud kernel image (linux-image-<ver>-cloud-amd64), whose
# vmlinuz is the guest's kernel and whose virtio/ACPI modules go into the guest's initramfs. The
# kernel package is fetched with `apt-get download` and unpacked into /var/cache/locus-qemu/<version>/
# with dpkg-deb, so the host's /boot and bootloader are left alone.
# Idempotent; runs apt-get update at most once.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
updated=0
update_once() { if ((updated == 0)); then apt-get update -qq; updated=1; fi; }

missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
installed busybox-static || missing+=(busybox-static) # the static one: the initramfs has no libc
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
if ((${#missing[@]} > 0)); then
  echo "install-qemu: installing Debian's ${missing[*]}"
  update_once
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The guest kernel: the package the metapackage linux-image-cloud-amd64 depends on.
kdir=/var/cache/locus-qemu
mkdir -p "$kdir"
if ! compgen -G "$kdir/*-cloud-amd64/vmlinuz" >/dev/null; then
  update_once
  dep=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [[ -z $dep ]]; then echo "install-qemu: no kernel package behind linux-image-cloud-amd64" >&2; exit 1; fi
  ver=${dep#linux-image-}
  echo "install-qemu: unpacking $dep into $kdir/$ver"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$dep" 2>/dev/null >/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  mkdir -p "$kdir/$ver.partial"
  cp "$tmp/root/boot/vmlinuz-$ver" "$kdir/$ver.partial/vmlinuz"
  cp -r "$tmp/root/lib/modules/$ver" "$kdir/$ver.partial/modules"
  rm -rf "$tmp" "$kdir/$ver"
  mv "$kdir/$ver.partial" "$kdir/$ver"
fi
echo "install-qemu: $(qemu-system-x86_64 --version | head -n 1), $(/bin/busybox | head -n 1 | cut -d' ' -f1-2), kernel $(basename "$(dirname "$(ls "$kdir"/*-cloud-amd64/vmlinuz | tail -n 1)")")"
