#!/usr/bin/env bash
# Builds the Locus QEMU guest: Debian's cloud kernel (unpacked by .ci/install-qemu.sh) and a busybox
# initramfs (busybox-static, cpio, the kernel's virtio/ACPI modules, tools/qemu/guest-init.sh as /init).
# The result goes to $LOCUS_GUEST_CACHE (default .cache/locus-guest/) under a key made of the inputs'
# versions and the init script's hash: it is rebuilt only when one of them changes. Prints the
# directory holding `vmlinuz` and `initrd.gz`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${LOCUS_GUEST_CACHE:-$root/.cache/locus-guest}
kdir=${LOCUS_KERNEL_DIR:-/var/cache/locus-qemu}
kernel=$(ls -d "$kdir"/*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z $kernel || ! -f $kernel/vmlinuz ]]; then echo "build-guest-image: no kernel in $kdir (run .ci/install-qemu.sh)" >&2; exit 1; fi
kver=$(basename "$kernel")
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
if ldd /bin/busybox >/dev/null 2>&1; then echo "build-guest-image: /bin/busybox is dynamically linked (install busybox-static)" >&2; exit 1; fi
init=$root/tools/qemu/guest-init.sh
key=$(printf '%s\n' "$kver" "$bbver" "$(sha256sum "$init" "${BASH_SOURCE[0]}" | cut -d' ' -f1)" | sha256sum | cut -c1-16)
out=$cache/$key
if [[ -f $out/initrd.gz && -f $out/vmlinuz ]]; then echo "$out"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,dev,proc,sys,etc,lib/modules}
cp /bin/busybox "$tmp/bin/busybox"
cp "$init" "$tmp/init"
chmod +x "$tmp/init"
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net button evdev; do
  f=$(find "$kernel/modules" -name "$m.ko" | head -n 1)
  [[ -n $f ]] && cp "$f" "$tmp/lib/modules/"
done
(cd "$tmp" && find . -path ./initrd.gz -prune -o -print | cpio -o -H newc --quiet | gzip -9 >"$tmp/initrd.gz")
mkdir -p "$out.partial"
cp "$kernel/vmlinuz" "$tmp/initrd.gz" "$out.partial/"
printf 'kernel=%s\nbusybox=%s\n' "$kver" "$bbver" >"$out.partial/versions"
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
