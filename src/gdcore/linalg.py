"""Dense matrix multiply by the compiled core (the multilayer perceptron's workhorse).

``gemm`` is BLAS's general matrix multiply on row-major NumPy arrays, updating C in place::

    C <- alpha * op(A) @ op(B) + beta * C,      op(X) = X.T if trans_x else X

``beta == 0`` ignores C's old values, NaN included, as BLAS does. The core is cache-blocked and
register-tiled with run-time SIMD dispatch (see ``cpp/include/gdcore/gemm.hpp``); threads split
C, never the sum over k, so the result has the same bits for every thread count.
"""

from __future__ import annotations

import time

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = ["gemm", "matmul", "peak_flops"]


def gemm(A, B, C, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, num_threads=None):
    """C = alpha * op(A) @ op(B) + beta * C, in place; returns C.

    A, B and C are 2-D float32 or float64 arrays of one dtype; C must be C-contiguous and
    writeable. Fortran-ordered A or B (such as ``x.T``) are read without a copy. C must not share
    memory with A or B (``gemm(A, A, A)``): the core writes C while it still reads them, so that
    is a ValueError rather than a wrong product.
    """
    _core.gemm(
        A,
        B,
        C,
        alpha=check.real("alpha", alpha),
        beta=check.real("beta", beta),
        trans_a=check.flag("trans_a", trans_a),
        trans_b=check.flag("trans_b", trans_b),
        num_threads=check.num_threads(num_threads),
    )
    return C


def matmul(A, B, *, num_threads=None):
    """A @ B for 2-D arrays, computed by the core; float32 stays float32, anything else float64."""
    A = np.asarray(A)
    B = np.asarray(B)
    for name, x in (("A", A), ("B", B)):
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {x.shape}")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"A has shape {A.shape} but B has shape {B.shape}: inner dimensions differ")
    both_f32 = A.dtype == np.float32 and B.dtype == np.float32
    dtype = np.dtype(np.float32 if both_f32 else np.float64)
    A = A.astype(dtype, copy=False)
    B = B.astype(dtype, copy=False)
    C = np.empty((A.shape[0], B.shape[1]), dtype)
    return gemm(A, B, C, num_threads=num_threads)


def peak_flops(dtype="float32", *, seconds=0.05, repeats=5) -> float:
    """Single-thread fused multiply-add throughput (flop/s) of the active SIMD path, measured now.

    The probe keeps enough independent FMA chains in registers to fill both FMA pipes and loads
    nothing, so it is the ceiling a GEMM micro-kernel can approach; benchmarks report GEMM rates
    as a fraction of it. Best of ``repeats`` runs of about ``seconds`` each.
    """
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {name}")
    seconds = check.real("seconds", seconds, low=0.0, low_open=True)
    repeats = check.integer("repeats", repeats, low=1)
    iterations = 1 << 14
    while True:  # calibrate the round count to the requested duration
        start = time.perf_counter()
        _core.fma_peak_probe(name, iterations)
        if time.perf_counter() - start >= seconds / 4 or iterations >= 1 << 34:
            break
        iterations *= 4
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        flops = _core.fma_peak_probe(name, iterations)
        best = max(best, flops / (time.perf_counter() - start))
    return best
