"""Shared fixtures of the benchmark suite: the hardware bound, measured in the same session."""

import os
import subprocess
import sys
import time

import pytest

import gdcore
from gdcore.hardware import memory_bandwidth

# Benchmarks compare single-threaded kernels unless a test says otherwise.
THREADS = int(os.environ.get("GDCORE_BENCH_THREADS", "1"))


@pytest.fixture(scope="session")
def bandwidth():
    """Best streaming bandwidth (bytes/s) of this machine with THREADS threads, measured now."""
    return memory_bandwidth(num_threads=THREADS)["bound"]


@pytest.fixture(scope="session")
def torch_cpu():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    return torch


@pytest.fixture
def busy_neighbour():
    """Another process spinning on a core for the duration of the test, as on a shared machine."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.2)
    yield
    spinner.kill()
    spinner.wait()


def record(benchmark, *, peer, bytes_moved=None, bandwidth=None, items=None, base=None):
    """Attach throughput and the fraction of the bandwidth bound to a finished benchmark.

    ``base`` marks the row a group's ratios are taken against (default: the peer "gdcore").
    """
    best = benchmark.stats.stats.min
    benchmark.extra_info["peer"] = peer
    benchmark.extra_info["base"] = peer == "gdcore" if base is None else bool(base)
    benchmark.extra_info["threads"] = THREADS
    benchmark.extra_info["simd"] = gdcore.simd_path()
    if items is not None:
        benchmark.extra_info["items_per_s"] = items / best
    if bytes_moved is not None:
        benchmark.extra_info["bytes_moved"] = bytes_moved
        benchmark.extra_info["GB_per_s"] = bytes_moved / best / 1e9
        if bandwidth:
            benchmark.extra_info["bandwidth_GB_per_s"] = bandwidth / 1e9
            benchmark.extra_info["pct_of_bound"] = 100.0 * bytes_moved / best / bandwidth
