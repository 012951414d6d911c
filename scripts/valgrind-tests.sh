#!/usr/bin/env bash
# Runs every doctest executable of a build under Valgrind's memcheck (gev registers each fiber
# stack with VALGRIND_STACK_REGISTER, so switches are not reported as stack errors).
#   scripts/valgrind-tests.sh [BUILD_DIR]      (make test-valgrind)
# Scale tests (100k greenlets) are skipped with doctest's --test-case-exclude: they are about
# volume, not memory errors, and take minutes under Valgrind. Two executables are left to ASan:
# hub_allocation replaces the global operator new, as Valgrind itself does, and
# hub_thread_stop_race is a timed stress test that Valgrind's serialized threads cannot finish.
set -uo pipefail
build=${1:-build}
status=0
for t in "$build"/tests/hub_* "$build"/tests/runtime_* "$build"/tests/examples_*; do
  [[ -x $t ]] || continue
  name=$(basename "$t")
  case $name in hub_allocation | hub_thread_stop_race) echo "valgrind: $name skipped"; continue ;; esac
  log=$build/valgrind-$name.log
  if valgrind -q --error-exitcode=99 --leak-check=no "$t" \
       --test-case-exclude='*100k*,*100,000*,*1M*,*scale*' >"$log" 2>&1; then
    echo "valgrind: $name clean"
  else
    echo "valgrind: $name FAILED (see $log)"
    status=1
  fi
done
exit $status
