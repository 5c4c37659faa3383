"""The workloads of ``gdcore bench`` as a pytest-benchmark suite, from the same registry.

Every workload of :func:`gdcore.bench.workloads` is one benchmark group; its peers (gdcore, the
NumPy twin, scikit-learn and PyTorch where importable) run on the same data in the same session,
and each must agree with the workload's reference exactly as ``gdcore bench`` requires (the same
``Peer.tol`` and ``Peer.check``) before it is timed, so the suite and the command cannot drift.
"% of bound" is the roofline time, max(bytes ÷ bandwidth, flops ÷ FMA peak) with both measured by
the core in the same session, over the best time.

    python -m pytest benchmarks/bench_workloads.py --benchmark-json=workloads.json
    python benchmarks/table.py workloads.json

GDCORE_BENCH_SCALE=quick (or tiny) runs the smaller sizes of ``gdcore bench --quick``;
GDCORE_BENCH_THREADS sets the thread count of every peer (default 1).
"""

import os

import numpy as np
import pytest
from conftest import THREADS, record

from gdcore import bench

SCALE = os.environ.get("GDCORE_BENCH_SCALE", "full")
WORKLOADS = bench.workloads(SCALE)
CASES = [(w, p) for w in WORKLOADS for p in w.peers]
_CACHE = {}  # the current workload's data and reference result (one workload at a time)


@pytest.fixture(scope="module")
def bound():
    with bench.thread_limit(THREADS):
        return bench.measure_bound(THREADS, SCALE)


def _prepared(w):
    if _CACHE.get("name") != w.name:
        _CACHE.clear()
        data = w.make_data()
        reference = None
        if w.reference is not None:
            peer = next(p for p in w.peers if p.name == w.reference)
            with bench.thread_limit(THREADS):
                runner = peer.setup(data, THREADS)
                for _ in range(w.agree_runs):
                    runner.run()
                reference = np.array(runner.result(), dtype=np.float64, copy=True)
        _CACHE.update(name=w.name, data=data, reference=reference)
    return _CACHE["data"], _CACHE["reference"]


@pytest.mark.parametrize("case", CASES, ids=[f"{w.name}-{p.name}" for w, p in CASES])
def test_workload(benchmark, bound, case):
    w, peer = case
    reason = w.requires() if w.requires else None
    if reason:
        pytest.skip(reason)
    if peer.requires:
        pytest.importorskip(peer.requires)
    if peer.skip:
        pytest.skip(peer.skip)
    benchmark.group = w.name
    benchmark.extra_info["description"] = w.description
    data, reference = _prepared(w)
    with bench.thread_limit(THREADS):
        runner = peer.setup(data, THREADS)
        for _ in range(w.agree_runs):
            runner.run()
        got = np.array(runner.result(), dtype=np.float64, copy=True)
        if peer.check is not None:
            problem = peer.check(got)
            assert problem is None, problem
        if peer.tol is not None and reference is not None:
            ok, text = bench.agreement(got, reference, peer.tol)
            assert ok, f"{peer.name} disagrees with {w.reference}: {text}"
        if runner.fresh:  # whole fits: a few rounds
            benchmark.pedantic(runner.run, rounds=3, warmup_rounds=0)
        else:
            benchmark(runner.run)
    record(benchmark, peer=peer.name, items=w.items)
    ideal, kind = bench._ideal_time(w, bound)
    if ideal is not None:
        best = benchmark.stats.stats.min
        benchmark.extra_info["pct_of_bound"] = 100.0 * ideal / best
        benchmark.extra_info["bound"] = kind
        if w.bytes_moved:
            benchmark.extra_info["GB_per_s"] = w.bytes_moved / best / 1e9
            benchmark.extra_info["bandwidth_GB_per_s"] = bound["bandwidth"] / 1e9
        if w.flops:
            benchmark.extra_info["GFLOP_per_s"] = w.flops / best / 1e9
            benchmark.extra_info["fma_peak_GFLOP_per_s"] = bound["fma_peak"] / 1e9
