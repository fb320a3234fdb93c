#!/bin/bash
# Run one command in a Debian kernel under qemu, with the host's files visible.
#
#   scripts/vm.sh KERNEL_SERIES -- COMMAND...      e.g. scripts/vm.sh 5.10 -- node bin/tsbpf.js check x.bpf.o
#
# KERNEL_SERIES: 5.10 (bullseye), 6.1 (bookworm), 6.12 (bookworm security/backports); the newest
# linux-image-*-amd64-unsigned of that series apt knows is fetched (not installed: the host's boot
# setup stays untouched) and cached under $TSBPF_VM_CACHE (default /var/cache/tsbpf-vm).
# The guest sees the host's / read-only through 9p, under a tmpfs overlay so it can write; the
# command runs as root in the same directory as here. Its stdout/stderr come out here, and this
# script exits with its status (124 when the VM timed out, 125 for a setup failure).
# Env: VM_TIMEOUT (seconds, default 1800), VM_MEM (default 4G), VM_APPEND (more kernel arguments),
# VM_REFRESH=1 (re-run apt-get update). Needs root, qemu-system-x86, busybox-static, kmod, xz-utils.
# Method and measurements: ../shared/reference/kernel-matrix.md (TCG, not the PVM "KVM"; an
# uncompressed vmlinux booted by PVH; 9p; virtio-serial for output).
set -euo pipefail

die() { echo "vm.sh: $*" >&2; exit 125; }

[ $# -ge 3 ] && [ "$2" = "--" ] || die "usage: scripts/vm.sh KERNEL_SERIES -- COMMAND..."
series=$1; shift 2
[[ $series =~ ^[0-9]+\.[0-9]+$ ]] || die "kernel series must look like 5.10, not '$series'"
[ "$(id -u)" = 0 ] || die "must run as root (apt, and a root guest over 9p)"
for t in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static depmod:kmod modprobe:kmod xz:xz-utils zstd:zstd; do
  command -v "${t%%:*}" >/dev/null || die "${t%%:*} missing: apt-get install ${t#*:}"
done

cache=${TSBPF_VM_CACHE:-/var/cache/tsbpf-vm}
mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs"

# --- a private apt configuration: the host's Debian archive plus bullseye (5.10) and backports ---
apt_opts=(-o Dir::Etc::SourceList="$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists="$cache/apt/lists" -o Dir::Cache="$cache/apt/cache" -o Debug::NoLocking=1)
cat >"$cache/apt/sources.list.new" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm bookworm-updates bookworm-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
if ! cmp -s "$cache/apt/sources.list.new" "$cache/apt/sources.list" 2>/dev/null; then
  mv "$cache/apt/sources.list.new" "$cache/apt/sources.list"; VM_REFRESH=1
fi
# update once, then only when asked or a day old (package names change with security updates)
if [ "${VM_REFRESH:-}" = 1 ] || [ -z "$(find "$cache/apt/lists" -maxdepth 1 -name '*Packages*' -mtime -1 -print -quit)" ]; then
  apt-get "${apt_opts[@]}" -qq update >"$cache/apt/update.log" 2>&1 \
    || die "apt-get update failed (private config $cache/apt/sources.list): $(tail -1 "$cache/apt/update.log")"
fi

# --- the newest package of the series (sort -V on the name: ABI number or upstream patch level) ---
re="^linux-image-${series//./\\.}\.[0-9]+(-[0-9]+)?(\+[a-z0-9]+)?-amd64-unsigned\$"
pkg=$(apt-cache "${apt_opts[@]}" pkgnames linux-image- | grep -E "$re" | sort -V | tail -1) || true
[ -n "$pkg" ] || die "no linux-image-$series.*-amd64-unsigned package in bullseye/bookworm(-security,-backports)"
kdir=$cache/$pkg
if [ ! -e "$kdir/.done" ]; then
  echo "vm.sh: fetching $pkg into $kdir" >&2
  rm -rf "$kdir" "$kdir.tmp"; mkdir -p "$kdir.tmp/root"
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg") >"$kdir.tmp/download.log" 2>&1 \
    || die "apt-get download $pkg failed: $(tail -1 "$kdir.tmp/download.log")"
  deb=$(ls -t "$cache/debs/${pkg}_"*.deb | head -1)
  dpkg-deb -x "$deb" "$kdir.tmp/root"
  kver=$(ls "$kdir.tmp/root/lib/modules")
  depmod -b "$kdir.tmp/root" "$kver"
  # Uncompressed vmlinux from the bzImage (saves ~7 s of decompression under TCG; PVH boots the ELF):
  # the payload's offset/length are in the setup header (boot protocol >= 2.08).
  bz=$kdir.tmp/root/boot/vmlinuz-$kver
  setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
  read -r poff plen < <(od -An -tu4 -j $((0x248)) -N8 "$bz")
  start=$(( (setup_sects + 1) * 512 + poff ))
  # The payload goes to a file first: a decompressor that refuses a stream has read part of a pipe.
  # Debian's 5.10/6.1 payloads are xz, 6.12's zstd (with a size trailer zstd complains about).
  (set +o pipefail; tail -c +$((start + 1)) "$bz" | head -c "$plen") >"$kdir.tmp/payload"
  case $(od -An -tx1 -N4 "$kdir.tmp/payload" | tr -d ' ') in
    fd377a58) xz -dcq --single-stream <"$kdir.tmp/payload" >"$kdir.tmp/vmlinux" 2>/dev/null || true ;;
    28b52ffd) zstd -dcq <"$kdir.tmp/payload" >"$kdir.tmp/vmlinux" 2>/dev/null || true ;;
  esac
  rm -f "$kdir.tmp/payload"
  [ "$(head -c 4 "$kdir.tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] \
    || die "cannot extract an ELF vmlinux from $bz (payload neither xz nor zstd?)"
  echo "$kver" >"$kdir.tmp/kver"
  touch "$kdir.tmp/.done"; mv "$kdir.tmp" "$kdir"
fi
kver=$(cat "$kdir/kver")
root=$kdir/root

# --- the initramfs: static busybox as /init's shell, the modules virtio/9p/overlay need ---
if [ ! -e "$kdir/initramfs.cpio" ] || [ "$0" -nt "$kdir/initramfs.cpio" ]; then
  ird=$(mktemp -d); trap 'rm -rf "$ird"' EXIT
  mkdir -p "$ird"/{bin,dev,proc,sys,host,rw,newroot,out,mods}
  cp "$(command -v busybox)" "$ird/bin/busybox"
  ldd "$ird/bin/busybox" >/dev/null 2>&1 && die "busybox is dynamically linked: apt-get install busybox-static"
  # modprobe resolves the load order (dependencies first); builtin ones print "builtin NAME".
  for m in virtio_pci virtio_console 9pnet_virtio 9p overlay; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" || die "module $m not found for $kver"
  done | awk '$1=="insmod" && !seen[$2]++ {print $2}' >"$ird/mods.list"
  i=0; : >"$ird/mods/order"
  while read -r ko; do
    i=$((i + 1)); name=$(printf '%02d' $i)-$(basename "${ko%.xz}")
    case $ko in *.xz) xz -dc "$ko" >"$ird/mods/$name" ;; *) cp "$ko" "$ird/mods/$name" ;; esac
    echo "$name" >>"$ird/mods/order"
  done <"$ird/mods.list"
  cat >"$ird/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m || echo "init: insmod $m failed"; done
o9p=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o ro,$o9p hostroot /host || { echo "init: cannot mount the host's /"; poweroff -f; }
mount -t 9p -o $o9p,cache=none vmout /out
mount -t tmpfs -o mode=755 rw /rw; mkdir -p /rw/u /rw/w
mount -t overlay -o lowerdir=/host,upperdir=/rw/u,workdir=/rw/w overlay /newroot || echo "init: overlay failed"
n=/newroot
mount -t proc proc $n/proc; mount -t sysfs sys $n/sys; mount -t devtmpfs dev $n/dev
mkdir -p $n/dev/pts $n/dev/shm; mount -t devpts devpts $n/dev/pts; mount -t tmpfs shm $n/dev/shm
# /tmp stays the host's (through the overlay, writable): a checkout under /tmp must be visible.
mount -t tmpfs run $n/run
mount -t bpf bpf $n/sys/fs/bpf; mount -t tracefs tracefs $n/sys/kernel/tracing
mount -t debugfs debugfs $n/sys/kernel/debug; mount -t cgroup2 cgroup2 $n/sys/fs/cgroup
# the guest kernel's modules and config where modprobe and .kconfig externs look for them
k=$(cat /out/kdir); r=$(uname -r)
mkdir -p $n/lib/modules/$r; mount --bind $n$k/root/lib/modules/$r $n/lib/modules/$r
touch $n/boot/config-$r; mount --bind $n$k/root/boot/config-$r $n/boot/config-$r
ip link set lo up
# stdout/stderr: the virtio-serial ports named out and err
for p in /sys/class/virtio-ports/*; do ln -sf /dev/${p##*/} /dev/port-$(cat $p/name); done
cp /out/cmd $n/run/.vm-cmd
chroot $n /bin/sh /run/.vm-cmd >/dev/port-out 2>/dev/port-err </dev/null
echo $? >/out/rc
sync; poweroff -f
EOF
  chmod +x "$ird/init"
  # The kernel's module autoload (a qdisc, veth) runs /sbin/modprobe in init's root, the
  # initramfs: hand it to the guest's own modprobe and modules.
  mkdir -p "$ird/sbin"
  printf '#!/bin/busybox sh\nexec /bin/chroot /newroot /sbin/modprobe "$@"\n' >"$ird/sbin/modprobe"
  chmod +x "$ird/sbin/modprobe"
  (cd "$ird" && find . ! -name mods.list | busybox cpio -o -H newc 2>/dev/null) >"$kdir/initramfs.cpio.tmp"
  mv "$kdir/initramfs.cpio.tmp" "$kdir/initramfs.cpio"
  rm -rf "$ird"; trap - EXIT
fi

# --- one run: the command as a script in the read-write share; output streamed via virtio-serial ---
out=$(mktemp -d /tmp/tsbpf-vm.XXXXXX); trap 'rm -rf "$out"' EXIT
echo "$kdir" >"$out/kdir"
{ echo "cd $(printf '%q' "$PWD") || exit 125"
  echo "export PATH=$(printf '%q' "$PATH") HOME=/root TERM=dumb TSBPF_VM=$(printf '%q' "$kver")"
  printf '%q ' "$@"; echo; } >"$out/cmd"
# Output: qemu appends to files that tail streams here (re-opening our stdout by path would give
# qemu its own file offset, and writes to a redirected file would overwrite each other).
: >"$out/stdout"; : >"$out/stderr"
timeout --foreground -k 10 "${VM_TIMEOUT:-1800}" qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -smp 2 -m "${VM_MEM:-4G}" -nodefaults -no-reboot -display none \
  -kernel "$kdir/vmlinux" -initrd "$kdir/initramfs.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet ${VM_APPEND:-}" \
  -serial "file:$out/console.log" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$out",mount_tag=vmout,security_model=none \
  -device virtio-serial-pci \
  -chardev file,id=cout,path="$out/stdout",append=on -device virtserialport,chardev=cout,name=out \
  -chardev file,id=cerr,path="$out/stderr",append=on -device virtserialport,chardev=cerr,name=err &
qpid=$!; trap 'kill $qpid 2>/dev/null; rm -rf "$out"' INT TERM
tail -c +1 -s 0.2 --pid=$qpid -f "$out/stdout" & t1=$!
tail -c +1 -s 0.2 --pid=$qpid -f "$out/stderr" >&2 & t2=$!
set +e
wait $qpid; qrc=$?
wait $t1 $t2
set -e
if [ $qrc = 124 ] || [ $qrc = 137 ]; then echo "vm.sh: the VM ($kver) timed out after ${VM_TIMEOUT:-1800}s" >&2; exit 124; fi
if [ ! -s "$out/rc" ]; then
  echo "vm.sh: the guest ($kver) wrote no exit status (qemu exit $qrc); its console ends:" >&2
  tail -15 "$out/console.log" >&2; exit 125
fi
exit "$(cat "$out/rc")"
