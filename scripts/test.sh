#!/usr/bin/env bash
# Sets everything up (compiler and bpftool included) and runs every test with node's test runner.
# Kernel tests need root; under CI=true a kernel test that cannot run fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The seed's files (the tests compare with them) live outside the repository, in
# ../shared beside the checkout, as in CI; TSBPF_SEED names another place.
TSBPF_SEED=$(realpath -m "${TSBPF_SEED:-$root/../shared/seeds/exitsnoop}")
cd "$root"
for f in exitsnoop.bpf.c exitsnoop.h expected-output.txt; do
  if [ ! -f "$TSBPF_SEED/$f" ]; then
    echo "test: the seed's $f is not in $TSBPF_SEED: clone tsbpf beside shared/ (../shared/seeds/exitsnoop), or set TSBPF_SEED to the folder holding the seed's files" >&2
    exit 1
  fi
done
export TSBPF_SEED
bash scripts/setup.sh --test
# --test-force-exit: a file whose failed test left a child running still ends (test/kernel.ts
# kills what is left); --test-timeout: a test that hangs fails after 45 minutes instead of
# running into CI's 90 (the timeout counts a whole file too: the kernel matrix boots three guests in about 20).
# Only *.test.js files: node would also run every other .js under a folder named test
# (helpers such as callback-child.js, which is a child process and not a test).
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
exec node --test --test-force-exit --test-timeout=2700000 "${files[@]}"
