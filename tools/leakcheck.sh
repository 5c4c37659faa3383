#!/usr/bin/env bash
# Leak check of gdcore's core under valgrind (memcheck): a small run of every entry point, error
# paths included (tools/leak_workload.py, 3 rounds), in the normal (not sanitized) build.
#
#   tools/leakcheck.sh                       # the python3 on PATH (an activated venv)
#   GDCORE_LEAKCHECK_PYTHON=/path/to/python tools/leakcheck.sh
#
# CPython and NumPy keep objects alive until exit on purpose, and valgrind lists those too. So
# the verdict reads only "definitely lost" records (no pointer left anywhere) and, among them,
# those with a frame in gdcore's extension (_core.*.so): a block the core allocated and lost.
# Those must be zero; the others (the interpreter's own) are counted and printed, not judged.
# PYTHONMALLOC=malloc sends Python's small objects to malloc so that valgrind sees them.
# Exit status: 1 if any definitely-lost record has a _core frame, 2 if valgrind did not run.
set -uo pipefail
cd "$(dirname "$0")/.."
python="${GDCORE_LEAKCHECK_PYTHON:-python3}"
command -v valgrind >/dev/null || { echo "leakcheck: valgrind is not installed" >&2; exit 2; }
core=$("$python" -c "import gdcore._core as c; print(c.__file__)") || exit 2
echo "leakcheck: $core" >&2
log=$(mktemp)
started=$(date +%s)
PYTHONMALLOC=malloc OMP_NUM_THREADS=2 valgrind --tool=memcheck --leak-check=full \
  --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=50 \
  --log-file="$log" "$python" tools/leak_workload.py
rc=$?
echo "leakcheck: valgrind run took $(($(date +%s) - started)) s (workload exit status $rc)" >&2
[ "$rc" -eq 0 ] || { tail -30 "$log" >&2; rm -f "$log"; exit 2; }
# Split the log into loss records (each starts with "... are definitely lost in loss record") and
# count those whose stack names the core: its full path (other packages have a _core.*.so too,
# SciPy's HiGHS binding for one) or a gdcore:: symbol. The core's records are printed (12 lines).
awk -v core="$core" '
  function flush(   bytes) {
    total++
    match(rec, /== +[0-9,]+/); bytes = substr(rec, RSTART, RLENGTH)  # direct + indirect
    gsub(/[^0-9]/, "", bytes); all_bytes += bytes
    if (index(rec, core) || index(rec, "gdcore::")) {
      mine++; mine_bytes += bytes
      n = split(rec, lines, "\n"); for (i = 1; i <= n && i <= 12; i++) print lines[i] > "/dev/stderr"
    }
    rec = ""
  }
  /are definitely lost in loss record/ { if (rec != "") flush(); rec = $0 "\n"; next }
  rec != "" && /^==[0-9]+== *$/ { flush(); next }
  rec != "" { rec = rec $0 "\n" }
  END { if (rec != "") flush()
        printf "leakcheck: definitely lost: %d record(s), %d bytes in all; with a frame in the core: %d record(s), %d bytes\n", total, all_bytes, mine, mine_bytes
        exit (mine > 0) }' "$log"
status=$?
grep -E "definitely lost:|indirectly lost:|possibly lost:|ERROR SUMMARY" "$log" | sed 's/^==[0-9]*== */leakcheck: valgrind: /' >&2
rm -f "$log"
exit "$status"
