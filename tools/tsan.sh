#!/usr/bin/env bash
# ThreadSanitizer over gdcore's core: build it with -fsanitize=thread (tools/sanitize.sh, own venv
# and build directory) and run the Python-threads tests (tests/test_threads.py: four Python
# threads fitting models and stepping optimizers at once, compared bit for bit with serial runs).
#
#   tools/tsan.sh                 # both runs below
#   tools/tsan.sh -k optimizers   # extra pytest arguments for both
#
# Run 1, OMP_NUM_THREADS=1: the core's OpenMP regions run on the calling thread, so every thread
#   is a Python thread calling the core with the GIL released, and TSan sees all of their
#   synchronization (pthread calls are intercepted). A report here is a real race in the core
#   (global settings, caches, the SIMD dispatch, shared state).
# Run 2, OMP_NUM_THREADS=2: OpenMP workers inside the core as well. GCC's OpenMP runtime
#   (libgomp) is not built with TSan and no instrumented runtime is at hand (LLVM's libomp with
#   Archer needs clang; an instrumented libgomp needs a GCC build), so TSan does not see
#   libgomp's barriers: a report between two OpenMP threads of one region may be false. Such a
#   report is read by hand, not trusted nor dismissed; libgomp is not suppressed.
#
# tools/tsan.supp silences NumPy's bundled OpenBLAS only (its own threads, not instrumented, run
# the tests' NumPy products). Exit status: non-zero if either run fails or reports anything.
set -uo pipefail
cd "$(dirname "$0")/.."

export GDCORE_SANITIZE=thread
export GDCORE_SANITIZE_VENV="${GDCORE_SANITIZE_VENV:-/tmp/gdcore-tsan-venv}"
options="halt_on_error=0:second_deadlock_stack=1:history_size=4:suppressions=$PWD/tools/tsan.supp"
status=0
for threads in 1 2; do
  echo "tsan: OMP_NUM_THREADS=$threads, four Python threads" >&2
  OMP_NUM_THREADS=$threads TSAN_OPTIONS="$options" \
    tools/sanitize.sh -q -p no:cacheprovider tests/test_threads.py "$@" || status=1
done
echo "tsan: exit status $status" >&2
exit "$status"
