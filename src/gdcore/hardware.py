"""What this machine allows: the memory-bandwidth bound, measured by the core itself.

Benchmarks divide the bytes a kernel must move by the bandwidth measured here, in the same
process and with the same threads, to report how close a kernel comes to the hardware.
"""

from __future__ import annotations

import time

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = ["memory_bandwidth", "shuffled_read_rate", "triad", "axpy", "row_sum"]


def triad(a, b, c, scalar, *, num_threads=None):
    """a = b + scalar * c, in place, by the core (STREAM's triad)."""
    _core.triad(a, b, c, check.real("scalar", scalar), num_threads=check.num_threads(num_threads))


def axpy(a, b, scalar, *, num_threads=None):
    """a = a + scalar * b, in place, by the core."""
    _core.axpy(a, b, check.real("scalar", scalar), num_threads=check.num_threads(num_threads))


def row_sum(out, X, order, *, num_threads=None):
    """out = Σ_i X[order[i]], in place, reading the rows in that order (with the training loop's
    software prefetching): the shuffled-read probe."""
    _core.row_sum(out, X, order, num_threads=check.num_threads(num_threads))


def shuffled_read_rate(X, *, seed: int = 0, num_threads=None, repeats: int = 5) -> dict[str, float]:
    """How fast this machine reads the rows of X in a shuffled order, as a training epoch does.

    The rows are visited in the order the training loop's epoch 0 visits them for ``seed``
    (``_core.shuffled_order``) and only summed, so this is the bound a shuffled epoch cannot
    beat: shuffled rows defeat the hardware prefetcher, and the rate is then set by how many
    cache misses a core keeps in flight, not by the streaming bandwidth. Returns the best of
    ``repeats`` runs as ``rows_per_s`` and ``bytes_per_s`` (X's bytes read per second).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    seed = check.integer("seed", seed, low=0, high=2**64 - 1)
    repeats = check.integer("repeats", repeats, low=1)
    threads = check.num_threads(num_threads)
    order = _core.shuffled_order(np.arange(X.shape[0], dtype=np.int64), seed, 0)
    out = np.zeros(X.shape[1], X.dtype)
    _core.row_sum(out, X, order, num_threads=threads)  # warm-up (and any conversion error)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _core.row_sum(out, X, order, num_threads=threads)
        best = min(best, time.perf_counter() - start)
    best = max(best, 1e-9)
    return {"rows_per_s": X.shape[0] / best, "bytes_per_s": X.nbytes / best}


def memory_bandwidth(
    n_bytes: int = 256 << 20, *, num_threads=None, repeats: int = 7
) -> dict[str, float]:
    """Best sustained streaming bandwidth in bytes/s, for the triad and the in-place axpy.

    Each array is ``n_bytes / 3`` bytes of float32, far larger than the caches. Bytes are
    counted as the kernel's arrays (3 per element for both kernels, STREAM's convention), and
    the best of ``repeats`` runs is kept. ``bound`` is the larger of the two: the most this
    machine was seen to stream, hence the figure a kernel's fraction is taken of.
    """
    n_bytes = check.integer("n_bytes", n_bytes, low=3 * 4 * 1024)
    repeats = check.integer("repeats", repeats, low=1)
    threads = check.num_threads(num_threads)
    n = n_bytes // 12
    a = np.zeros(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.full(n, 2.0, np.float32)
    moved = 3 * 4 * n

    def best(run):
        run()  # first touch and warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return moved / min(times)

    result = {
        "triad": best(lambda: _core.triad(a, b, c, 0.5, num_threads=threads)),
        "axpy": best(lambda: _core.axpy(a, b, 1e-30, num_threads=threads)),
    }
    result["bound"] = max(result.values())
    return result
