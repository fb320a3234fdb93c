#!/usr/bin/env bash
# Sets everything up (compiler and bpftool included) and runs every test with node's test runner.
# Kernel tests need root; under CI=true a kernel test that cannot run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec node --test dist/test/
