"""What this machine allows: the memory-bandwidth bound, measured by the core itself.

Benchmarks divide the bytes a kernel must move by the bandwidth measured here, in the same
process and with the same threads, to report how close a kernel comes to the hardware.
"""

from __future__ import annotations

import time

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = ["memory_bandwidth", "triad", "axpy"]


def triad(a, b, c, scalar, *, num_threads=None):
    """a = b + scalar * c, in place, by the core (STREAM's triad)."""
    _core.triad(a, b, c, check.real("scalar", scalar), num_threads=check.num_threads(num_threads))


def axpy(a, b, scalar, *, num_threads=None):
    """a = a + scalar * b, in place, by the core."""
    _core.axpy(a, b, check.real("scalar", scalar), num_threads=check.num_threads(num_threads))


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
