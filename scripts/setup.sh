#!/usr/bin/env bash
# Sets up tsbpf on a fresh Debian/Ubuntu machine; safe to run again (it only does what
# is missing). Node >= 20 and npm must already be there.
#   bash scripts/setup.sh            npm dependencies + TypeScript build (enough to run tools:
#                                    their BPF objects are committed, no compiler needed)
#   bash scripts/setup.sh --compiler also Debian's clang, llvm and libbpf-dev, to compile BPF C
#                                    (tsbpf build)
#   bash scripts/setup.sh --test     the compiler, and what the tests use: bpftool (a reference
#                                    for BTF and maps), qemu (the kernel matrix), prometheus
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
if [ "$mode" = "--compiler" ] || [ "$mode" = "--test" ]; then
  missing=()
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  command -v llvm-strip >/dev/null 2>&1 || missing+=(llvm)
  [ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
  if [ "$mode" = "--test" ]; then
    command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || missing+=(bpftool)
    # <sys/sdt.h>: the USDT test builds a binary with DTRACE_PROBE probes.
    [ -f /usr/include/sys/sdt.h ] || [ -f "/usr/include/$(gcc -print-multiarch 2>/dev/null)/sys/sdt.h" ] || missing+=(systemtap-sdt-dev)
    # The kernel matrix (scripts/vm.sh): qemu, a static busybox for the initramfs, depmod, .ko.xz.
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    [ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
    command -v depmod >/dev/null 2>&1 || [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ] || missing+=(kmod)
    command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
    command -v zstd >/dev/null 2>&1 || missing+=(zstd)
    # A real Prometheus scrapes `exitsnoop --metrics` in test/metrics.test.ts.
    command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: need root to install ${missing[*]}: sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
    echo "setup: installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# npm ci only when node_modules was not installed from this exact lock file.
stamp=node_modules/.tsbpf-lock.sha256
if [ "$(sha256sum package-lock.json)" != "$(cat "$stamp" 2>/dev/null)" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  sha256sum package-lock.json > "$stamp"
fi
npm run build --silent
