"""How the core splits work across threads, in plain Python (the twins of the chunk rules).

The chunk counts decide which partial sums the core adds, so the twins that repeat its sums
(:mod:`gdcore.reference.train`, :func:`gdcore.reference.hardware.row_sum`) need the same counts.
The rules come from the C++ sources named beside each function; the constants are the C++ ones
(tests/test_mirror_names.py checks the exposed one, ``_core.PARALLEL_BATCH_WORK``).

The one input that is not arithmetic is how many threads a call gets when it names none: a
process-wide setting (:func:`gdcore.set_num_threads`, else OpenMP's count), read here through
:func:`gdcore.get_num_threads` like any other setting.

The core computes in ``std::size_t``; Python's integers do not wrap, so the two agree as long as
rows × d × heads stays below 2⁶⁴.
"""

from __future__ import annotations

from gdcore._config import get_num_threads

__all__ = [
    "PARALLEL_BATCH_WORK",
    "MIN_ELEMENTS_PER_THREAD",
    "resolve_threads",
    "batch_chunks",
    "row_sum_chunks",
]

# cpp/include/gdcore/train.hpp, kParallelBatchWork: batches with fewer multiply-adds
# (rows × features × heads) stay on one thread.
PARALLEL_BATCH_WORK = 1 << 14

# cpp/include/gdcore/parallel.hpp, kMinElementsPerThread: values per thread before a streaming
# loop splits.
MIN_ELEMENTS_PER_THREAD = 1 << 15


def resolve_threads(requested: int) -> int:
    """The thread count a call uses (parallel.hpp, resolve_threads): its own request if
    positive, else gdcore's default (set_num_threads, else OpenMP's, at least 1)."""
    if requested > 0:
        return requested
    return get_num_threads()


def batch_chunks(rows: int, d: int, heads: int, num_threads: int) -> int:
    """How many row chunks the training loop splits a batch into (train.hpp, batch_chunks).

    One below PARALLEL_BATCH_WORK multiply-adds; else one per thread, but no more chunks than
    rows, and none with less than half of PARALLEL_BATCH_WORK.
    """
    want = resolve_threads(num_threads)
    work = rows * d * heads
    if want <= 1 or work < PARALLEL_BATCH_WORK:
        return 1
    return min(want, rows, work // (PARALLEL_BATCH_WORK // 2))


def row_sum_chunks(rows: int, d: int, num_threads: int) -> int:
    """How many chunks row_sum splits ``rows`` rows of ``d`` values into (hardware.hpp,
    row_sum_chunks): one per thread once each holds MIN_ELEMENTS_PER_THREAD values, at most
    one per row, and at least one."""
    want = resolve_threads(num_threads)
    useful = rows * d // MIN_ELEMENTS_PER_THREAD
    return max(1, min(want, useful, rows))
