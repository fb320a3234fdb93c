#!/bin/bash
# `tsbpf check` on every shipped object, one line of verdict each, the errors in full; exit 1 if
# any fails. Made for kernel-matrix runs in one guest boot: scripts/vm.sh 5.10 -- scripts/check-objects.sh
cd "$(dirname "$0")/.." || exit 2
fail=0
for o in testdata/*.bpf.o testdata/corpus/*.bpf.o tools/exitsnoop/exitsnoop.bpf.o; do
  if r=$(node bin/tsbpf.js check "$o" 2>&1); then echo "PASS $o"; else fail=1; echo "FAIL $o"; fi
  printf '%s\n' "$r" | sed 's/^/    /'
done
exit $fail
