"""NumPy twins of the bandwidth probes in gdcore/hardware.hpp."""

from __future__ import annotations

import numpy as np

from gdcore.reference.parallel import row_sum_chunks


def triad(a, b, c, scalar, *, num_threads=0):
    """a = b + scalar * c, in place (STREAM's triad)."""
    a[...] = b + a.dtype.type(scalar) * c


def axpy(a, b, scalar, *, num_threads=0):
    """a = a + scalar * b, in place."""
    a[...] = a + a.dtype.type(scalar) * b


def row_sum(out, X, order, *, num_threads=0):
    """out = Σ_i X[order[i]], in place: the order split into the core's chunks, each summed row
    by row from zero, the chunks added in order."""
    order = np.asarray(order, dtype=np.int64)
    n, d = len(order), X.shape[1]
    chunks = row_sum_chunks(n, d, num_threads)
    per = -(-n // chunks) if n else 0
    total = np.zeros(d, dtype=X.dtype)
    for c in range(chunks):
        part = np.zeros(d, dtype=X.dtype)
        for row in order[min(n, c * per) : min(n, (c + 1) * per)]:
            part = part + X[row]
        total = total + part
    out[...] = total
