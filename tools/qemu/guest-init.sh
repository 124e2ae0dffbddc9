#!/bin/busybox sh
# Locus guest init (PID 1 of a busybox initramfs). Everything it needs comes from the kernel command
# line: locus.name=NAME locus.ip=ADDR/LEN [locus.gw=GW] [locus.dirty=MiB/s] [locus.ws=MiB, default 32].
# Memory: 192 MiB leaves room for a 32 MiB working set (128 MiB does not, with the kernel and rootfs).
# It prints markers on the serial console (ttyS0) that the agent's health check scans:
#   LOCUS-BOOT <name>, LOCUS-NET-UP <name> <ip> <mac>, LOCUS-READY <name>, LOCUS-ALIVE <name> <n>
#   LOCUS-DIRTY <name> <MiB/s> <MiB>, LOCUS-POWEROFF <name>
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp /www /etc/acpi/PWRF
mount -t tmpfs -o size=64m tmpfs /dev/shm
exec >/dev/ttyS0 2>&1 </dev/null

NAME=guest IP= GW= DIRTY=0 WS=32
for kv in $(cat /proc/cmdline); do
  case $kv in
    locus.name=*) NAME=${kv#*=} ;;
    locus.ip=*) IP=${kv#*=} ;;
    locus.gw=*) GW=${kv#*=} ;;
    locus.dirty=*) DIRTY=${kv#*=} ;;
    locus.ws=*) WS=${kv#*=} ;;
  esac
done
echo "LOCUS-BOOT $NAME"

# The kernel's virtio and ACPI button modules, in passes until each is in (the order of their dependencies).
left="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net button evdev"
for pass in 1 2 3 4; do
  next=
  for m in $left; do insmod "/lib/modules/$m.ko" 2>/dev/null || next="$next $m"; done
  left=$next
  [ -z "$left" ] && break
done
[ -n "$left" ] && echo "LOCUS-MODULE-FAILED$left"

# ACPI power button (system_powerdown): busybox acpid runs /etc/acpi/PWRF/00000080.
printf '#!/bin/sh\necho "LOCUS-POWEROFF %s"\nsync\npoweroff -f\n' "$NAME" >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -d -c /etc/acpi &

ip link set lo up
i=0
while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
ip link set eth0 up
[ -n "$IP" ] && ip addr add "$IP" dev eth0
[ -n "$GW" ] && ip route add default via "$GW"
echo "LOCUS-NET-UP $NAME $IP $(cat /sys/class/net/eth0/address 2>/dev/null)"
# A booting OS announces itself: switches learn its MAC behind its new port, neighbours its address.
[ -n "$IP" ] && arping -q -U -c 2 -I eth0 -s "${IP%/*}" "${IP%/*}" >/dev/null 2>&1 &

# The service: HTTP on 80 (GET / names the guest) and a TCP echo on 7.
echo "$NAME" >/www/index.html
httpd -p 80 -h /www
nc -ll -p 7 -e /bin/cat &

# The memory-dirtying workload: rewrites a working set of $WS MiB at $DIRTY MiB/s with non-zero data
# (zero pages would be skipped by the migration). /dev/shm/dirty-rate overrides the rate while it runs.
echo "$DIRTY" >/dev/shm/dirty-rate
dirty() {
  # Two sources of different content, taken in turn at each pass over the working set, so that every
  # rewrite changes the pages (calc-dirty-rate's page sampling compares their hashes).
  yes locus-dirty-page-a | dd of=/dev/shm/src0 bs=1M count=8 iflag=fullblock 2>/dev/null
  yes locus-dirty-page-b | dd of=/dev/shm/src1 bs=1M count=8 iflag=fullblock 2>/dev/null
  off=0 src=0
  while :; do
    rate=$(cat /dev/shm/dirty-rate)
    if [ "$rate" -gt 0 ] 2>/dev/null; then
      left=$(((rate + 9) / 10))
      while [ $left -gt 0 ]; do
        n=$left; [ $n -gt 8 ] && n=8
        [ $((off + n)) -gt "$WS" ] && off=0 && src=$((1 - src)) && n=$((n > WS ? WS : n))
        dd if=/dev/shm/src$src of=/dev/shm/ws bs=1M count=$n seek=$off conv=notrunc 2>/dev/null
        off=$((off + n)); left=$((left - n))
      done
    fi
    usleep 100000
  done
}
if [ "$DIRTY" -gt 0 ] 2>/dev/null; then
  echo "LOCUS-DIRTY $NAME $DIRTY $WS"
  dirty &
fi
echo "LOCUS-READY $NAME"

n=0
while :; do
  n=$((n + 1))
  echo "LOCUS-ALIVE $NAME $n"
  sleep 1
done
