"""NumPy twin of gdcore/gemm.hpp: the matrix multiply the core is held to."""

from __future__ import annotations

import numpy as np


def gemm(A, B, C, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, num_threads=0):
    """C = alpha * op(A) @ op(B) + beta * C, in place (op(X) = X.T if trans_x); returns C.

    beta == 0 overwrites C without reading it, so NaN in the old C does not propagate (BLAS).
    """
    op_a = A.T if trans_a else A
    op_b = B.T if trans_b else B
    dtype = C.dtype.type
    # NaN and inf propagate as IEEE arithmetic says; some BLAS builds also raise the invalid flag
    # for them (OpenBLAS on Sapphire Rapids-class CPUs), which is not an error of the inputs.
    with np.errstate(invalid="ignore", over="ignore"):
        product = dtype(alpha) * (op_a @ op_b)
    if beta == 0:
        C[...] = product
    else:
        C[...] = product + dtype(beta) * C
    return C


def matmul(A, B, *, num_threads=0):
    """A @ B for 2-D arrays; float32 stays float32, anything else float64."""
    A = np.asarray(A)
    B = np.asarray(B)
    both_f32 = A.dtype == np.float32 and B.dtype == np.float32
    dtype = np.float32 if both_f32 else np.float64
    return A.astype(dtype, copy=False) @ B.astype(dtype, copy=False)
