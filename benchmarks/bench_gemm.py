"""Matrix multiply: gdcore vs NumPy's BLAS vs torch.mm vs scipy-openblas32, one thread, one session.

Groups: 2048 x 2048 float32 and the products of a 784-256-256-10 perceptron at batch 32, 128 and
512 (issue 5): forward X @ W, weight gradient X.T @ G and input gradient G @ W.T (not for the
first layer, whose input needs no gradient). Every peer multiplies the same arrays and must agree
with gdcore within the rounding bound of tests/test_gemm.py before it is timed.

Each row records GFLOP/s (2 m n k / best time) and its fraction of this machine's single-core
float32 FMA peak, measured in the same run by gdcore.linalg.peak_flops (register-resident FMA
chains on the active SIMD path). At the end a table of GFLOP/s and ratios is printed.

NumPy's OpenBLAS reads OPENBLAS_CORETYPE at import: run without it (and OPENBLAS_L2_SIZE) to let it
pick its best kernel, as a user's machine would:

    (unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; python -m pytest benchmarks/bench_gemm.py)
"""

import ctypes
import os

import numpy as np
import pytest
from conftest import THREADS, record

from gdcore import linalg

LAYERS = [(784, 256), (256, 256), (256, 10)]
BATCHES = [32, 128, 512]


def cases():
    """(label, m, n, k, trans_a, trans_b) with A stored k x m when trans_a, B stored n x k when trans_b."""
    out = [("2048^3", 2048, 2048, 2048, False, False)]
    for batch in BATCHES:
        for first, (fan_in, fan_out) in enumerate(LAYERS):
            layer = f"b{batch} {fan_in}x{fan_out}"
            out.append((f"{layer} X@W", batch, fan_out, fan_in, False, False))
            out.append((f"{layer} X.T@G", fan_in, fan_out, batch, True, False))
            if first:
                out.append((f"{layer} G@W.T", batch, fan_in, fan_out, False, True))
    return out


CASES = cases()
PEERS = ["gdcore", "numpy", "torch", "openblas32"]
RESULTS = {}  # (label, peer) -> GFLOP/s, printed at the end


def problem(m, n, k, trans_a, trans_b):
    rng = np.random.default_rng(m * 7919 + n * 104729 + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


def agree(actual, expected, a, b, trans_a, trans_b):
    """Within twice the worst-case rounding bound gamma_(k+3) |A||B| (see tests/test_gemm.py)."""
    op_a = np.abs(a.T if trans_a else a).astype(np.float64)
    op_b = np.abs(b.T if trans_b else b).astype(np.float64)
    u = np.finfo(np.float32).eps / 2
    k = op_a.shape[1]
    bound = 2 * (k + 3) * u / (1 - (k + 3) * u) * (op_a @ op_b)
    assert np.all(np.abs(actual.astype(np.float64) - expected) <= bound)


@pytest.fixture(scope="module")
def fma_peak():
    """Single-core float32 FMA peak (flop/s) of gdcore's active SIMD path, measured now."""
    return linalg.peak_flops("float32", seconds=0.1, repeats=7)


@pytest.fixture(scope="module")
def blas_threads():
    """NumPy's BLAS (and OpenMP) limited to THREADS for the module, as for the other peers."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=THREADS):
        yield


@pytest.fixture(scope="module")
def openblas32():
    """cblas_sgemm from the scipy-openblas32 wheel (pip install scipy-openblas32), THREADS threads."""
    scipy_openblas32 = pytest.importorskip("scipy_openblas32")
    path = os.path.join(scipy_openblas32.get_lib_dir(), f"lib{scipy_openblas32.get_library()}.so")
    lib = ctypes.CDLL(path)
    lib.scipy_openblas_set_num_threads(ctypes.c_int(THREADS))
    sgemm = lib.scipy_cblas_sgemm
    ptr = ctypes.POINTER(ctypes.c_float)
    c_int, c_float = ctypes.c_int, ctypes.c_float
    sgemm.argtypes = [c_int, c_int, c_int, c_int, c_int, c_int, c_float, ptr, c_int, ptr, c_int,
                      c_float, ptr, c_int]
    sgemm.restype = None
    config = lib.scipy_openblas_get_config
    config.restype = ctypes.c_char_p
    row_major, no_trans, trans = 101, 111, 112

    def gemm(a, b, c, trans_a, trans_b):
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        sgemm(row_major, trans if trans_a else no_trans, trans if trans_b else no_trans, m, n, k,
              1.0, a.ctypes.data_as(ptr), a.shape[1], b.ctypes.data_as(ptr), b.shape[1], 0.0,
              c.ctypes.data_as(ptr), n)

    gemm.config = config().decode()
    return gemm


def runner(peer, a, b, c, trans_a, trans_b, request):
    """A no-argument call computing c = op(a) @ op(b) with the peer, and its output array."""
    if peer == "gdcore":
        return lambda: linalg.gemm(a, b, c, trans_a=trans_a, trans_b=trans_b, num_threads=THREADS), c
    op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
    if peer == "numpy":
        return lambda: np.matmul(op_a, op_b, out=c), c
    if peer == "torch":
        torch = request.getfixturevalue("torch_cpu")
        ta, tb, tc = torch.from_numpy(op_a), torch.from_numpy(op_b), torch.from_numpy(c)
        return lambda: torch.mm(ta, tb, out=tc), c
    blas = request.getfixturevalue("openblas32")
    return lambda: blas(a, b, c, trans_a, trans_b), c


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("case", CASES, ids=[c[0].replace(" ", "-") for c in CASES])
def test_gemm(benchmark, case, peer, fma_peak, blas_threads, request):
    label, m, n, k, trans_a, trans_b = case
    benchmark.group = f"gemm {label} (m={m} n={n} k={k})"
    a, b = problem(m, n, k, trans_a, trans_b)
    expected = linalg.gemm(a, b, np.empty((m, n), np.float32), trans_a=trans_a, trans_b=trans_b)
    run, out = runner(peer, a, b, np.full((m, n), np.nan, np.float32), trans_a, trans_b, request)
    run()
    agree(out, expected.astype(np.float64), a, b, trans_a, trans_b)
    benchmark(run)
    flops = 2.0 * m * n * k
    record(benchmark, peer=peer, items=flops)
    best = benchmark.stats.stats.min
    benchmark.extra_info["GFLOP_per_s"] = flops / best / 1e9
    benchmark.extra_info["fma_peak_GFLOP_per_s"] = fma_peak / 1e9
    benchmark.extra_info["pct_of_fma_peak"] = 100.0 * flops / best / fma_peak
    if peer == "openblas32":
        benchmark.extra_info["openblas_config"] = request.getfixturevalue("openblas32").config
    RESULTS[(label, peer)] = flops / best / 1e9


@pytest.fixture(scope="module", autouse=True)
def summary(request, fma_peak):
    """Print GFLOP/s per peer, % of the FMA peak and gdcore's speed relative to each peer."""
    yield
    if not RESULTS:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    lines = [f"\nsingle-core float32 FMA peak (gdcore probe): {fma_peak / 1e9:.1f} GFLOP/s, "
             f"threads={THREADS}",
             f"{'product':<24}" + "".join(f"{p:>12}" for p in PEERS) + "  gdcore % peak"
             + "".join(f"  /{p}" for p in PEERS[1:])]
    for label, *_ in CASES:
        row = [RESULTS.get((label, p)) for p in PEERS]
        ours = row[0]
        line = f"{label:<24}" + "".join(f"{x:12.1f}" if x else f"{'-':>12}" for x in row)
        line += f"{100 * ours * 1e9 / fma_peak:14.0f}" if ours else f"{'-':>14}"
        for other in row[1:]:
            line += f"  {ours / other:5.2f}x" if ours and other else "      -"
        lines.append(line)
    with capture.global_and_fixture_disabled():
        print("\n".join(lines))
