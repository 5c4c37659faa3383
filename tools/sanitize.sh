#!/usr/bin/env bash
# Build gdcore's core with sanitizers into its own virtual environment and run tests against it.
#
#   tools/sanitize.sh -q                   # address,undefined; the default subset of the tests
#   tools/sanitize.sh tests/test_losses.py -k softmax      # any pytest arguments
#   GDCORE_SANITIZE=undefined tools/sanitize.sh             # another -fsanitize= list
#
# Python itself is not built with the sanitizers, so the ASan runtime is preloaded into it
# (LD_PRELOAD); UBSan comes in with the core. By default the first report of either ends the run
# (ASAN_OPTIONS / UBSAN_OPTIONS override that: UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0
# lists every undefined behaviour in one run). Leak detection is off: CPython and NumPy keep
# objects alive until exit, which LeakSanitizer reports by the thousand (tests/test_leaks.py
# measures the core's leaks instead). The build goes into build/sanitize-* and the venv
# (GDCORE_SANITIZE_VENV, default /tmp/gdcore-sanitize-venv), never into the normal build.
# Exit status: non-zero when pytest fails or any sanitizer report was printed.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers="${GDCORE_SANITIZE:-address,undefined}"
venv="${GDCORE_SANITIZE_VENV:-/tmp/gdcore-sanitize-venv}"
cxx="${CXX:-g++}"
# Without a test path among the arguments (options only, or none), the default subset: the core's
# entry points (optimizers, losses, the training loop and estimators, minimize, schedules,
# functions, gemm), threads, resume and extremes, and the fuzz tests. Not test_leaks (ASan's allocator keeps freed
# memory in quarantine, so RSS grows by design) nor the browser test (LD_PRELOAD reaches Chromium).
has_path=0
for arg in "$@"; do
  case "$arg" in tests/* | *.py | *::*) has_path=1 ;; esac
done
if [ "$has_path" -eq 0 ]; then
  set -- "$@" tests/test_optimizers.py tests/test_losses.py tests/test_linear_model.py \
    tests/test_train.py tests/test_mlp.py tests/test_hardware.py \
    tests/test_minimize.py tests/test_schedules.py tests/test_functions.py \
    tests/test_threads.py tests/test_resume.py tests/test_extremes.py
  # The Ctrl-C tests time a signal's delivery; they run in the normal build only. Under ASan one
  # of them once never saw its SIGINT (1 of 4 runs on a heavily loaded machine, not reproduced):
  # a hang there would only eat the stage's time limit.
  set -- "$@" -k "not ctrl_c"
  [ -e tests/test_gemm.py ] && set -- "$@" tests/test_gemm.py
  # the fuzz tests: every entry point on hostile inputs, where a sanitizer sees what a test cannot
  [ -e tests/test_fuzz.py ] && set -- "$@" tests/test_fuzz.py
fi

# The sanitizer venv borrows its test dependencies (pytest, hypothesis, NumPy, scikit-learn, torch,
# ...) from the interpreter that runs this script (GDCORE_SANITIZE_PYTHON, default the first python3
# on PATH: inside an activated venv, that venv). `venv --system-site-packages` would not do that
# when the base is itself a venv (it exposes the base installation's packages, not the venv's), so
# a .pth file appends the base's site-packages to the sanitizer venv's path instead. Its own
# site-packages come first, so `import gdcore` finds the sanitized build (checked below).
base_python="${GDCORE_SANITIZE_PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$base_python" -m venv "$venv"
fi
base_sites=$("$base_python" -c 'import site, sysconfig; print("\n".join(dict.fromkeys(
  [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")] + site.getsitepackages())))')
venv_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
printf '%s\n' "$base_sites" > "$venv_site/gdcore_sanitize_base.pth"
# --no-build-isolation keeps the build directory (and so incremental rebuilds) between runs; the
# build backend must then be importable: from the base, or installed here once.
"$venv/bin/python" -c "import scikit_build_core, pybind11" 2>/dev/null ||
  "$venv/bin/python" -m pip install --quiet "scikit-build-core>=0.10" "pybind11>=2.13"
# ... and CMake and Ninja (a fresh CI venv got them only inside pip's isolated build env).
command -v cmake >/dev/null && command -v ninja >/dev/null ||
  "$venv/bin/python" -c "import cmake, ninja" 2>/dev/null ||
  "$venv/bin/python" -m pip install --quiet cmake ninja
echo "sanitize: building the core with -fsanitize=$sanitizers into $venv" >&2
# One build directory per sanitizer list (the default keeps its historical name), so that an
# ASan and a TSan build do not rebuild each other from scratch.
build_dir="build/sanitize-{wheel_tag}"
[ "$sanitizers" = address,undefined ] || build_dir="build/sanitize-${sanitizers//,/-}-{wheel_tag}"
"$venv/bin/python" -m pip install --quiet --no-build-isolation --no-deps \
  --config-settings=build-dir="$build_dir" \
  --config-settings=cmake.define.GDCORE_SANITIZE="$sanitizers" \
  --config-settings=cmake.build-type=RelWithDebInfo .

# libstdc++ is preloaded with ASan: Python does not link it, and ASan must find the real
# __cxa_throw when it starts, or the first C++ exception aborts ("real___cxa_throw != 0").
preload=""
case ",$sanitizers," in
  *,address,*) preload="$("$cxx" -print-file-name=libasan.so):$("$cxx" -print-file-name=libstdc++.so)" ;;
  *,thread,*) preload="$("$cxx" -print-file-name=libtsan.so):$("$cxx" -print-file-name=libstdc++.so)" ;;
esac
for lib in ${preload//:/ }; do
  if [ ! -e "$lib" ]; then
    echo "sanitize: $cxx has no $lib to preload" >&2
    exit 2
  fi
done

# pytest captures only Python's sys.stdout/sys.stderr (--capture=sys): the sanitizers write to
# file descriptor 2, which must reach the terminal even when a report ends the process. stderr is
# also kept in a file, searched for reports at the end.
logs="$(mktemp -d)"
export LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# TSan (tools/tsan.sh sets its suppressions): every report is listed, the run goes on.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1}"
echo "sanitize: LD_PRELOAD=$LD_PRELOAD" >&2
echo "sanitize: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS TSAN_OPTIONS=$TSAN_OPTIONS" >&2
# The repository root holds no importable gdcore (the package is under src/): the tests import the
# sanitized build from the venv.
"$venv/bin/python" -c "import gdcore, sys; sys.exit(not gdcore.__file__.startswith('$venv'))" ||
  { echo "sanitize: gdcore does not import from $venv" >&2; exit 2; }
status=0
"$venv/bin/python" -m pytest -p no:cacheprovider --capture=sys "$@" 2> >(tee "$logs/stderr" >&2) ||
  status=$?
wait  # for tee
reports=$(grep -cE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|WARNING: ThreadSanitizer" "$logs/stderr" || true)
if [ "$reports" -gt 0 ]; then
  echo "sanitize: FAILED: $reports sanitizer report(s); the first lines of each:" >&2
  grep -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|WARNING: ThreadSanitizer" "$logs/stderr" |
    sort | uniq -c >&2
  [ "$status" -ne 0 ] || status=1
else
  echo "sanitize: no sanitizer reports (pytest exit status $status)" >&2
fi
rm -rf "$logs"
exit "$status"
