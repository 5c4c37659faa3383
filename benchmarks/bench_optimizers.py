"""Optimizer steps: gdcore vs its NumPy twin vs torch.optim, same arrays, one session.

Groups: Adam and SGD-with-momentum on 10M float32 parameters (memory-bound: reported as a
fraction of the streaming bandwidth measured in the same run) and on 1,000 parameters (one
``step()`` from Python: call overhead); Adam on 1M parameters beside a busy process (two
threads, which the engine runs on its team or on one thread by measured speed). Before timing, every peer runs a few steps from the same
start and must agree with the NumPy twin.

    python -m pytest benchmarks/bench_optimizers.py --benchmark-json=bench.json
    python benchmarks/table.py bench.json
"""

import numpy as np
import pytest
from conftest import THREADS, record

from gdcore import _core, optim
from gdcore.reference import optim as ref

SIZES = {"10M": 10_000_000, "1k": 1_000}
# Bytes each float32 element moves per step: Adam reads p, g, m, v and writes p, m, v (28);
# SGD with momentum reads p, g, b and writes p, b (20). The finite check reads g once more.
BYTES = {"adam": 28, "sgd": 20}
CHECK_BYTES = 4
AGREE_STEPS = 3


def make_data(n):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 0.1).astype(np.float32)
    return p, g


def twin_runner(kind, n):
    """NumPy twin of one optimizer over one array: returns (step function, params)."""
    p, g = make_data(n)
    if kind == "adam":
        m, v = np.zeros_like(p), np.zeros_like(p)
        count = [0]

        def step():
            count[0] += 1
            ref.adam_step(p, g, m, v, step=count[0], lr=1e-3)

    else:
        b = np.zeros_like(p)
        count = [0]

        def step():
            count[0] += 1
            ref.sgd_step(p, g, b, step=count[0], lr=1e-3, momentum=0.9)

    return step, p


def expected_after(kind, n):
    step, p = twin_runner(kind, n)
    for _ in range(AGREE_STEPS):
        step()
    return p


def gdcore_runner(kind, n, check_finite=True):
    p, g = make_data(n)
    if kind == "adam":
        opt = optim.Adam([p], lr=1e-3, num_threads=THREADS, check_finite=check_finite)
    else:
        opt = optim.SGD([p], lr=1e-3, momentum=0.9, num_threads=THREADS, check_finite=check_finite)
    grads = [g]
    return (lambda: opt.step(grads)), p


def torch_runner(torch, kind, n, impl):
    p, g = make_data(n)
    param = torch.nn.Parameter(torch.from_numpy(p))
    param.grad = torch.from_numpy(g)
    flags = {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}
    if kind == "adam":
        opt = torch.optim.Adam([param], lr=1e-3, **flags)
    else:
        opt = torch.optim.SGD([param], lr=1e-3, momentum=0.9, **flags)
    return opt.step, param.detach().numpy()


def check_agrees(make, kind, n, rtol):
    step, p = make()
    for _ in range(AGREE_STEPS):
        step()
    want = expected_after(kind, n)
    assert np.max(np.abs(p - want)) <= rtol * np.max(np.abs(want))


PEERS = ["gdcore", "gdcore-nocheck", "numpy-twin", "torch-fused", "torch-foreach", "torch-single"]


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("peer", PEERS)
def test_step(benchmark, bandwidth, request, peer, kind, size):
    n = SIZES[size]
    benchmark.group = f"{kind}-{size}-f32"
    if peer.startswith("torch"):
        torch = request.getfixturevalue("torch_cpu")
        impl = peer.split("-")[1]
        make = lambda: torch_runner(torch, kind, n, impl)  # noqa: E731
        rtol = 1e-5  # torch fuses multiply-adds; float32 agrees to rounding
    elif peer == "numpy-twin":
        make = lambda: twin_runner(kind, n)  # noqa: E731
        rtol = 0.0
    else:
        check = peer == "gdcore"
        make = lambda: gdcore_runner(kind, n, check_finite=check)  # noqa: E731
        rtol = 1e-6
    check_agrees(make, kind, n, rtol)
    step, _ = make()
    if n >= 1_000_000:
        benchmark.pedantic(step, rounds=15, warmup_rounds=2)
    else:
        benchmark(step)
    moved = BYTES[kind] * n + (CHECK_BYTES * n if peer == "gdcore" else 0)
    if n >= 1_000_000:  # a fraction of DRAM bandwidth means something only out of cache
        record(benchmark, peer=peer, bytes_moved=BYTES[kind] * n, bandwidth=bandwidth, items=n)
        benchmark.extra_info["bytes_moved_with_check"] = moved
    else:
        record(benchmark, peer=peer, items=n)


@pytest.mark.parametrize("n", [16_384, 65_536, 131_072, 1_048_576])
@pytest.mark.parametrize("threads", [1, 2])
def test_thread_split(benchmark, n, threads):
    """Where a second thread starts to pay for a streaming update (sets kMinElementsPerThread)."""
    benchmark.group = f"adam-threads-{n}-f32"
    p, g = make_data(n)
    opt = optim.Adam([p], lr=1e-3, num_threads=threads, check_finite=False)
    grads = [g]
    benchmark(opt.step, grads)
    record(benchmark, peer="gdcore" if threads == 1 else f"gdcore-{threads}-threads", items=n)


BUSY_PEERS = ["1 thread", "2 threads", "2 threads, team forced", "torch-foreach 2 threads"]


@pytest.mark.parametrize("peer", BUSY_PEERS)
def test_adam_beside_a_busy_process(benchmark, request, busy_neighbour, peer):
    """200 steps of Adam on 1M float32 parameters while another process spins on one core.
    The engine picks its team or one thread step by step (TeamChooser); "team forced" always
    forks and joins and waits on the busy core at every join. PyTorch's intra-op pool runs
    alongside, with two threads."""
    n, steps = 1_000_000, 200
    benchmark.group = "adam-1M-f32-busy-neighbour"
    if peer.startswith("torch"):
        torch = request.getfixturevalue("torch_cpu")
        step, _ = torch_runner(torch, "adam", n, "foreach")
        torch.set_num_threads(2)
    else:
        threads = 1 if peer == "1 thread" else 2
        _core.set_team_policy("team" if "forced" in peer else "adaptive")
        p, g = make_data(n)
        opt = optim.Adam([p], lr=1e-3, num_threads=threads)
        grads = [g]
        step = lambda: opt.step(grads)  # noqa: E731

    def run():
        for _ in range(steps):
            step()

    try:
        benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    finally:
        _core.set_team_policy("adaptive")
        if peer.startswith("torch"):
            torch.set_num_threads(THREADS)
    record(benchmark, peer=peer if peer.startswith("torch") else f"gdcore {peer}",
           items=n * steps, base=peer == "1 thread")  # fmt: skip
