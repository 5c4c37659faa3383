r"""``gdcore bench``: gdcore beside the peers a user would use instead, and the hardware bound.

Every *workload* is one unit of work (an optimizer step, a training epoch, a minimize call) done by
several *peers* on the same data in the same process: gdcore, its NumPy twin (always), and
scikit-learn and PyTorch CPU when they are importable (absent ones are listed as skipped). Before
a peer is timed its result is compared with the workload's reference, the NumPy twin:

==================  ==========================================  ================================
workload            peers                                       agreement with the twin
==================  ==========================================  ================================
adam / sgd step     gdcore, gdcore-nocheck (check_finite=False), bitwise (gdcore); max|Δp| ≤
1k / 100k / 10M     numpy-twin, torch-fused, torch-foreach       1e-5·max|p| after 3 steps (torch)
logreg epoch, batch gdcore, numpy-twin, scikit-learn            ≤ 1e-5 relative (gdcore, torch;
1 / 32 / 256 / n,   SGDClassifier (batch 1: it has no other),   1e-4 for torch at batch n: one
d 10 / 100 / 1000   torch Linear + SGD loop (batch ≥ 32)        sum over all rows), ≤ 1e-4
linreg epoch, b=1   gdcore, numpy-twin, scikit-learn SGDRegressor (scikit-learn: float64)
mlp epoch, batch    gdcore.MLPClassifier, torch MLP loop,       none possible (different random
32 / 128 / 512      scikit-learn MLPClassifier                  inits): the loss must be finite
rosenbrock          gdcore.minimize, numpy-twin, torch Adam      bitwise (gdcore); ≤ 1e-9 (torch)
==================  ==========================================  ================================

Linear fits run one epoch without shuffling (``shuffle=False`` everywhere, so every peer sees the
rows in the same order), no penalty, constant learning rate 0.01, zero start. scikit-learn gets
its data as float64 (its SGD computes in float64), converted once outside the timing. The twin's
per-row Python loop is skipped above the size a run can afford (gdcore is then the reference).
The MLP workloads run once ``gdcore.MLPClassifier`` exists (issue 5) and are skipped before.

The bound is measured in the same run by the core: the streaming bandwidth of its triad/axpy
kernels (:func:`gdcore.hardware.memory_bandwidth`) and the fused-multiply-add peak of the
dispatched SIMD path (:func:`gdcore.linalg.peak_flops`; for N threads the probe runs in N threads
at once), before and after each thread count's workloads, keeping the larger figure (other work
on the machine during one probe must not make the bound look low). A workload's ideal time is
the roofline ``max(bytes ÷ bandwidth, flops ÷ peak)`` (Adam moves 28 bytes per float32
parameter, SGD-momentum 20, an epoch reads X once; a perceptron epoch does
:func:`mlp_flops_per_sample` flops per row); "% of bound" is that ideal time over the best
time. Workloads whose bytes stay under :data:`OUT_OF_CACHE` or that are latency-bound (2-D
Rosenbrock) get no bound.

Threads: each thread count runs every workload with gdcore's thread count
(``gdcore.set_num_threads`` and each call's ``num_threads``), ``torch.set_num_threads`` and
``threadpoolctl.threadpool_limits`` (NumPy's BLAS, scikit-learn's OpenMP) all set to it.

Timing: the best (and median) of repeated runs; calls under 1 ms are looped to last 1 ms. A fit
is timed from its first run on (a torch peer from its second: its first pays one-time costs);
optimizer steps after the agreement steps. Scales: "full"
(3.5-4 minutes on the loaded 2-vCPU VM; about 1.5 more with the MLP), "quick" (41 s there at
load average 8, plus about 9 s with the MLP), "tiny" (tests).

    from gdcore.bench import run_bench
    report = run_bench(scale="quick", threads=[1, 2])
    print(report.summary(), report.table(), sep="\n\n")
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import math
import os
import platform
import re
import statistics
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

import gdcore
from gdcore import _core, linalg, optim
from gdcore._progress import Progress
from gdcore.hardware import memory_bandwidth

__all__ = [
    "Peer",
    "Runner",
    "Workload",
    "Result",
    "Report",
    "SCALES",
    "workloads",
    "run_bench",
    "measure_bound",
    "fma_peak",
    "agreement",
]

SCALES = ("tiny", "quick", "full")
# A workload whose bytes per run reach this is compared with the streaming bandwidth; below it
# the data may sit in cache and a DRAM bound would be meaningless.
OUT_OF_CACHE = 64 << 20
MLP_LAYERS = (784, 256, 256, 10)


# ----------------------------------------------------------------------------------------------
# the registry


@dataclass
class Runner:
    """One peer set up on a workload's data: ``run()`` does one unit, ``result()`` reads it.

    ``fresh``: each ``run()`` starts over (a whole fit), so the first run can be timed too;
    otherwise runs continue each other (optimizer steps) and the agreement runs are warm-ups.
    """

    run: Callable[[], object]
    result: Callable[[], np.ndarray]
    fresh: bool = False


@dataclass
class Peer:
    """A way to do a workload: ``setup(data, threads) -> Runner``.

    ``tol``: how its result must agree with the workload's reference peer: 0.0 bitwise, a float
    the largest difference relative to the reference's largest magnitude, None not compared
    with the reference (``check`` alone judges it). ``check(result) -> str | None`` returns what
    is wrong with a result on its own. ``requires``: a module that must import. ``warmup``: the
    agreement run is never a timing sample, even for a fresh runner.
    """

    name: str
    setup: Callable[[dict, int], Runner]
    tol: float | None = 0.0
    requires: str | None = None
    check: Callable[[np.ndarray], str | None] | None = None
    skip: str | None = None
    warmup: bool = False  # its first run holds one-time costs (torch's first autograd pass)


@dataclass
class Workload:
    name: str
    family: str
    description: str
    make_data: Callable[[], dict]
    peers: list
    items: int
    unit: str
    reference: str | None = "numpy-twin"
    agree_runs: int = 1
    bytes_moved: float = 0.0
    flops: float = 0.0
    bound: str | None = "memory"  # "memory", "compute" or None (latency-bound / in cache)
    sweeps: dict = field(default_factory=dict)  # axis -> (series, x) for the scaling plots
    requires: Callable[[], str | None] | None = None  # -> reason to skip, or None


def _opt_data(n):
    def make():
        rng = np.random.default_rng(0)
        p = rng.standard_normal(n).astype(np.float32)
        g = (rng.standard_normal(n) * 0.1).astype(np.float32)
        return {"p": p, "g": g}

    return make


def _gdcore_step(kind, check_finite):
    def setup(data, threads):
        p, g = data["p"].copy(), data["g"]
        if kind == "adam":
            opt = optim.Adam([p], lr=1e-3, num_threads=threads, check_finite=check_finite)
        else:
            opt = optim.SGD([p], lr=1e-3, momentum=0.9, num_threads=threads,
                            check_finite=check_finite)  # fmt: skip
        grads = [g]
        return Runner(lambda: opt.step(grads), lambda: p)

    return setup


def _twin_step(kind):
    from gdcore.reference import optim as ref

    def setup(data, threads):
        p, g = data["p"].copy(), data["g"]
        state = [np.zeros_like(p), np.zeros_like(p)]
        count = [0]

        def run():
            count[0] += 1
            if kind == "adam":
                ref.adam_step(p, g, state[0], state[1], step=count[0], lr=1e-3)
            else:
                ref.sgd_step(p, g, state[0], step=count[0], lr=1e-3, momentum=0.9)

        return Runner(run, lambda: p)

    return setup


def _torch_step(kind, impl):
    def setup(data, threads):
        import torch

        param = torch.nn.Parameter(torch.from_numpy(data["p"].copy()))
        param.grad = torch.from_numpy(data["g"].copy())
        flags = {"fused": True} if impl == "fused" else {"foreach": True}
        if kind == "adam":
            opt = torch.optim.Adam([param], lr=1e-3, **flags)
        else:
            opt = torch.optim.SGD([param], lr=1e-3, momentum=0.9, **flags)
        view = param.detach().numpy()
        return Runner(opt.step, lambda: view)

    return setup


def _optimizer_workloads(sizes):
    out = []
    # Bytes per float32 parameter and step: Adam reads p, g, m, v and writes p, m, v (28);
    # SGD with momentum reads p, g, b and writes p, b (20). gdcore's finite check reads g once
    # more (4), not counted: the bound is the algorithm's, not one implementation's.
    per_param = {"adam": 28, "sgd": 20}
    for kind in ("adam", "sgd"):
        for label, n in sizes:
            peers = [
                Peer("gdcore", _gdcore_step(kind, True)),
                Peer("gdcore-nocheck", _gdcore_step(kind, False)),
                Peer("numpy-twin", _twin_step(kind)),
                Peer("torch-fused", _torch_step(kind, "fused"), tol=1e-5, requires="torch",
                     warmup=True),
                Peer("torch-foreach", _torch_step(kind, "foreach"), tol=1e-5, requires="torch",
                     warmup=True),
            ]
            moved = per_param[kind] * n
            title = "Adam" if kind == "adam" else "SGD-momentum"
            out.append(Workload(
                name=f"{kind}-{label}", family="optimizer",
                description=f"one {title} step, {n:,} float32 parameters",
                make_data=_opt_data(n), peers=peers, items=n, unit="params",
                agree_runs=3, bytes_moved=moved,
                bound="memory" if moved >= OUT_OF_CACHE else None,
                sweeps={"n": (f"{title} step (float32)", n)},
            ))  # fmt: skip
    return out


def _linear_data(n, d, task):
    def make():
        rng = np.random.default_rng(1)
        X = rng.standard_normal((n, d)).astype(np.float32)
        w = rng.standard_normal(d).astype(np.float32) / math.sqrt(d)
        z = X @ w + 0.3 * rng.standard_normal(n).astype(np.float32)
        y = (z > 0).astype(np.int64) if task == "classify" else z.astype(np.float32)
        return {"X": X, "y": y, "X64": None}

    return make


def _fit_kwargs(loss, batch, threads):
    return dict(loss=loss, optimizer="sgd", lr=0.01, batch_size=batch, max_epochs=1, tol=None,
                penalty=None, shuffle=False, num_threads=threads)  # fmt: skip


def _params(coef, intercept):
    return np.concatenate([np.ravel(coef), np.ravel(intercept)]).astype(np.float64)


def _gdcore_fit(loss, batch, twin=False):
    def setup(data, threads):
        if twin:
            from gdcore.reference.train import fit_linear
        else:
            fit_linear = gdcore.fit_linear
        X, y = data["X"], data["y"]
        box = {}

        def run():
            fit = fit_linear(X, y, **_fit_kwargs(loss, batch, threads))
            box["p"] = _params(fit.coef, fit.intercept)

        return Runner(run, lambda: box["p"], fresh=True)

    return setup


def _sklearn_fit(loss):
    def setup(data, threads):
        from sklearn import linear_model

        if data["X64"] is None:  # scikit-learn's SGD computes in float64: converted once, untimed
            data["X64"] = data["X"].astype(np.float64)
        X, y = data["X64"], data["y"]
        make = linear_model.SGDClassifier if loss == "log_loss" else linear_model.SGDRegressor
        box = {}

        def run():
            model = make(loss=loss, penalty=None, learning_rate="constant", eta0=0.01,
                         max_iter=1, tol=None, shuffle=False)  # fmt: skip
            with warnings.catch_warnings():  # one epoch is on purpose: no ConvergenceWarning
                warnings.simplefilter("ignore")
                model.fit(X, y)
            box["p"] = _params(model.coef_, model.intercept_)

        return Runner(run, lambda: box["p"], fresh=True)

    return setup


def _torch_linear_loop(batch):
    def setup(data, threads):
        import torch

        X = torch.from_numpy(data["X"])
        y = torch.from_numpy(data["y"].astype(np.float32))
        n, d = X.shape
        step = batch or n
        box = {}

        def run():
            model = torch.nn.Linear(d, 1)
            with torch.no_grad():
                model.weight.zero_()
                model.bias.zero_()
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            for start in range(0, n, step):
                opt.zero_grad()
                loss_fn(model(X[start : start + step]).squeeze(1), y[start : start + step]).backward()
                opt.step()
            box["p"] = _params(model.weight.detach().numpy(), model.bias.detach().numpy())

        return Runner(run, lambda: box["p"], fresh=True)

    return setup


def _linear_workloads(n, d, d_sweep_n, d_sweep, twin_b1_max):
    out = []
    moved = n * d * 4 + n * 8  # X once per epoch, and the labels
    flops = 4.0 * n * d  # a dot product and an axpy per row
    for batch in (1, 32, 256, None):
        label = "n" if batch is None else str(batch)
        peers = [Peer("gdcore", _gdcore_fit("log_loss", batch), tol=1e-5)]
        twin = Peer("numpy-twin", _gdcore_fit("log_loss", batch, twin=True))
        if batch == 1 and n > twin_b1_max:
            twin.skip = f"the twin's per-row Python loop: too slow above n={twin_b1_max:,}"
        peers.append(twin)
        if batch == 1:
            peers.append(Peer("scikit-learn", _sklearn_fit("log_loss"), tol=1e-4,
                              requires="sklearn"))  # fmt: skip
        else:
            # batch n: one gradient sums all n float32 rows, in another order than gdcore's;
            # that sum's rounding grows with n (measured 1.0e-5 at n = 200,000), hence 1e-4
            tol = 1e-5 if batch is not None else 1e-4
            peers.append(Peer("torch-loop", _torch_linear_loop(batch), tol=tol, requires="torch",
                              warmup=True))  # fmt: skip
        out.append(Workload(
            name=f"logreg-b{label}", family="linear",
            description=f"one epoch of logistic regression by SGD, batch {label}, "
                        f"n={n:,} d={d} float32",
            make_data=_linear_data(n, d, "classify"), peers=peers, items=n, unit="samples",
            reference="numpy-twin" if twin.skip is None else "gdcore",
            bytes_moved=moved, flops=flops, bound="memory" if moved >= OUT_OF_CACHE else None,
            sweeps={"batch": (f"logreg epoch, n={n:,} d={d}", batch or n)},
        ))  # fmt: skip
    peers = [Peer("gdcore", _gdcore_fit("squared_error", 1), tol=1e-5)]
    twin = Peer("numpy-twin", _gdcore_fit("squared_error", 1, twin=True))
    if n > twin_b1_max:
        twin.skip = f"the twin's per-row Python loop: too slow above n={twin_b1_max:,}"
    peers += [twin, Peer("scikit-learn", _sklearn_fit("squared_error"), tol=1e-4, requires="sklearn")]
    out.append(Workload(
        name="linreg-b1", family="linear",
        description=f"one epoch of least squares by plain SGD, batch 1, n={n:,} d={d} float32",
        make_data=_linear_data(n, d, "regress"), peers=peers, items=n, unit="samples",
        reference="numpy-twin" if twin.skip is None else "gdcore",
        bytes_moved=n * d * 4 + n * 4, flops=flops,
        bound="memory" if moved >= OUT_OF_CACHE else None,
    ))  # fmt: skip
    for dim in d_sweep:
        moved_d = d_sweep_n * dim * 4 + d_sweep_n * 8
        out.append(Workload(
            name=f"logreg-d{dim}", family="linear",
            description=f"one epoch of logistic regression by SGD, batch 256, n={d_sweep_n:,} "
                        f"d={dim} float32",
            make_data=_linear_data(d_sweep_n, dim, "classify"),
            peers=[Peer("gdcore", _gdcore_fit("log_loss", 256), tol=1e-5),
                   Peer("numpy-twin", _gdcore_fit("log_loss", 256, twin=True)),
                   Peer("torch-loop", _torch_linear_loop(256), tol=1e-5, requires="torch",
                        warmup=True)],
            items=d_sweep_n, unit="samples", bytes_moved=moved_d, flops=4.0 * d_sweep_n * dim,
            bound="memory" if moved_d >= OUT_OF_CACHE else None,
            sweeps={"d": (f"logreg epoch, batch 256, n={d_sweep_n:,}", dim)},
        ))  # fmt: skip
    return out


# -- the multilayer perceptron (issue 5: gdcore.MLPClassifier; runs once it exists) ------------


def _mlp_missing():
    if not hasattr(gdcore, "MLPClassifier"):
        return "gdcore.MLPClassifier does not exist yet (issue 5)"
    return None


def _mlp_data(n):
    def make():
        rng = np.random.default_rng(2)
        X = rng.standard_normal((n, MLP_LAYERS[0])).astype(np.float32)
        teacher = rng.standard_normal((MLP_LAYERS[0], MLP_LAYERS[-1])).astype(np.float32)
        y = np.argmax(X @ teacher, axis=1).astype(np.int64)
        return {"X": X, "y": y}

    return make


def _mlp_trains(result):
    """The MLP peers start from different random weights, so their results cannot agree; this
    only catches a broken run: a non-finite epoch loss or one above twice that of guessing."""
    loss = float(result[0])
    if not math.isfinite(loss):
        return f"the epoch loss is {loss}"
    if loss >= 2 * math.log(MLP_LAYERS[-1]):
        return f"the epoch loss {loss:.3g} is above 2 ln 10 (twice guessing's)"
    return None


def _mlp_estimator(make_estimator, batch):
    def setup(data, threads):
        X, y = data["X"], data["y"]
        box = {}

        def run():
            model = make_estimator()(
                hidden_layer_sizes=MLP_LAYERS[1:-1], solver="adam", batch_size=batch, max_iter=1,
                shuffle=False, learning_rate_init=1e-3, alpha=0.0, random_state=0,
            )  # fmt: skip
            with warnings.catch_warnings():  # one epoch is on purpose: no ConvergenceWarning
                warnings.simplefilter("ignore")
                model.fit(X, y)
            box["loss"] = np.array([model.loss_])

        return Runner(run, lambda: box["loss"], fresh=True)

    return setup


def _gdcore_mlp_class():
    return gdcore.MLPClassifier


def _sklearn_mlp_class():
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier


def _torch_mlp_loop(batch):
    def setup(data, threads):
        import torch

        X = torch.from_numpy(data["X"])
        y = torch.from_numpy(data["y"])
        n = X.shape[0]
        box = {}

        def run():
            torch.manual_seed(0)
            sizes = MLP_LAYERS
            layers = []
            for i in range(len(sizes) - 1):
                layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
                if i < len(sizes) - 2:
                    layers.append(torch.nn.ReLU())
            model = torch.nn.Sequential(*layers)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = torch.nn.CrossEntropyLoss()
            total = 0.0
            for start in range(0, n, batch):
                xb, yb = X[start : start + batch], y[start : start + batch]
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]
            box["loss"] = np.array([total / n])

        return Runner(run, lambda: box["loss"], fresh=True)

    return setup


def mlp_flops_per_sample(layers=MLP_LAYERS):
    """Multiply-adds x 2 of one forward and backward pass: X@W, X.T@G and G@W.T (not layer 1)."""
    weights = [a * b for a, b in zip(layers[:-1], layers[1:])]
    return 2 * sum(weights) + 2 * sum(weights) + 2 * sum(weights[1:])


def _mlp_workloads(n):
    out = []
    per_sample = mlp_flops_per_sample()
    for batch in (32, 128, 512):
        out.append(Workload(
            name=f"mlp-b{batch}", family="mlp",
            description=f"one epoch of a 784-256-256-10 perceptron, Adam, batch {batch}, "
                        f"n={n:,} float32",
            make_data=_mlp_data(n),
            peers=[Peer("gdcore", _mlp_estimator(_gdcore_mlp_class, batch), tol=None,
                        check=_mlp_trains),
                   Peer("torch-loop", _torch_mlp_loop(batch), tol=None, requires="torch",
                        warmup=True,
                        check=_mlp_trains),
                   Peer("scikit-learn", _mlp_estimator(_sklearn_mlp_class, batch), tol=None,
                        requires="sklearn", check=_mlp_trains)],
            items=n, unit="samples", reference=None, flops=per_sample * n, bound="compute",
            sweeps={"batch": (f"MLP epoch, n={n:,}", batch)}, requires=_mlp_missing,
        ))  # fmt: skip
    return out


# -- minimize ------------------------------------------------------------------------------------


def _minimize_runner(iterations, twin=False):
    def setup(data, threads):
        if twin:
            from gdcore.reference.minimize import minimize_api as minimize
        else:
            minimize = gdcore.minimize
        box = {}

        def run():
            res = minimize("rosenbrock", data["x0"], optimizer="adam", lr=0.01,
                           max_iter=iterations, tol=None, record=False)  # fmt: skip
            box["x"] = res.x

        return Runner(run, lambda: box["x"], fresh=True)

    return setup


def _torch_minimize(iterations):
    def setup(data, threads):
        import torch

        box = {}

        def run():
            x = torch.tensor(data["x0"], requires_grad=True)
            opt = torch.optim.Adam([x], lr=0.01)
            for _ in range(iterations):
                opt.zero_grad()
                f = 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2
                f.backward()
                opt.step()
            box["x"] = x.detach().numpy().copy()

        return Runner(run, lambda: box["x"], fresh=True)

    return setup


def _minimize_workloads(iterations):
    return [Workload(
        name="rosenbrock", family="minimize",
        description=f"gdcore.minimize('rosenbrock') from (-1.5, 2), Adam lr 0.01, "
                    f"{iterations:,} iterations, float64",
        make_data=lambda: {"x0": np.array([-1.5, 2.0])},
        peers=[Peer("gdcore", _minimize_runner(iterations)),
               Peer("numpy-twin", _minimize_runner(iterations, twin=True)),
               Peer("torch-loop", _torch_minimize(iterations), tol=1e-9, requires="torch",
                    warmup=True)],
        items=iterations, unit="iterations", bound=None,
    )]  # fmt: skip


_SIZES = {
    # scale: optimizer sizes, logreg (n, d), d-sweep (n, ds), twin b=1 limit, mlp n, minimize its
    "tiny": ([("1k", 1_000), ("10k", 10_000)], (2_000, 16), (500, (4, 32)), 10_000, 256, 200),
    "quick": ([("1k", 1_000), ("100k", 100_000), ("4M", 4_000_000)], (5_000, 100),
              (2_000, (10, 100, 1000)), 5_000, 512, 1_000),
    "full": ([("1k", 1_000), ("100k", 100_000), ("10M", 10_000_000)], (200_000, 100),
             (20_000, (10, 100, 1000)), 200_000, 8_192, 2_000),
}  # fmt: skip


def workloads(scale="full", only=None):
    """The registry: every workload at ``scale`` ("tiny", "quick", "full"), in run order.

    ``only``: a regular expression; keep the workloads whose name it finds.
    """
    if scale not in _SIZES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    opt_sizes, (n, d), (sweep_n, sweep_d), twin_max, mlp_n, iterations = _SIZES[scale]
    out = (_optimizer_workloads(opt_sizes) + _linear_workloads(n, d, sweep_n, sweep_d, twin_max)
           + _mlp_workloads(mlp_n) + _minimize_workloads(iterations))  # fmt: skip
    if only is not None:
        pattern = re.compile(only)
        out = [w for w in out if pattern.search(w.name)]
    return out


# ----------------------------------------------------------------------------------------------
# the bound


def fma_peak(threads=1, *, seconds=0.05, repeats=3, dtype="float32"):
    """Fused-multiply-add throughput (flop/s) of the active SIMD path with ``threads`` threads.

    One thread: :func:`gdcore.linalg.peak_flops`. More: the same core probe run in that many
    Python threads at once (it releases the GIL), total flops over the wall time, best of
    ``repeats``.
    """
    if threads == 1:
        return linalg.peak_flops(dtype, seconds=seconds, repeats=repeats)
    iterations = 1 << 14
    while True:
        start = time.perf_counter()
        _core.fma_peak_probe(dtype, iterations)
        if time.perf_counter() - start >= seconds / 4 or iterations >= 1 << 34:
            break
        iterations *= 4
    best = 0.0
    for _ in range(repeats):
        done = [0.0] * threads

        def work(i):
            done[i] = _core.fma_peak_probe(dtype, iterations)

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        best = max(best, sum(done) / (time.perf_counter() - start))
    return best


def measure_bound(threads, scale="full"):
    """{"bandwidth": bytes/s, "fma_peak": flop/s (float32)} with ``threads`` threads, now."""
    small = scale != "full"
    bandwidth = memory_bandwidth(
        (64 << 20) if scale == "tiny" else (256 << 20), num_threads=threads,
        repeats=3 if small else 7,
    )  # fmt: skip
    peak = fma_peak(threads, seconds=0.02 if small else 0.1, repeats=3 if small else 5)
    return {"bandwidth": bandwidth["bound"], "triad": bandwidth["triad"],
            "axpy": bandwidth["axpy"], "fma_peak": peak}  # fmt: skip


# ----------------------------------------------------------------------------------------------
# running


def agreement(result, reference, tol):
    """(ok, text): ``result`` against ``reference`` with ``tol`` (0.0 bitwise, else relative)."""
    result = np.asarray(result, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if result.shape != reference.shape:
        return False, f"shape {result.shape} vs {reference.shape}"
    if not np.all(np.isfinite(result)):
        return False, "not finite"
    if tol == 0.0:
        if np.array_equal(result, reference):
            return True, "bitwise"
        diff = np.max(np.abs(result - reference)) / max(np.max(np.abs(reference)), 1e-300)
        return False, f"not bitwise ({diff:.1e} rel)"
    diff = float(np.max(np.abs(result - reference)) / max(np.max(np.abs(reference)), 1e-300))
    return diff <= tol, f"{diff:.0e} rel" + ("" if diff <= tol else f" > {tol:.0e}")


@dataclass
class Result:
    workload: str
    peer: str
    threads: int
    status: str  # "ok", "skipped", "error", "disagrees"
    agree: str = ""
    best_s: float | None = None
    median_s: float | None = None
    repeats: int = 0
    items_per_s: float | None = None
    vs_gdcore: float | None = None  # this peer's time / gdcore's time
    pct_of_bound: float | None = None
    bound: str | None = None
    note: str = ""
    wall_s: float = 0.0  # the whole time spent on this peer: setup, agreement runs and timing


@dataclass
class Report:
    machine: dict
    bounds: dict  # threads -> measure_bound()
    workloads: list  # dicts describing each workload
    results: list  # Result
    seconds: float = 0.0

    @classmethod
    def from_json(cls, data):
        """The report :meth:`to_json` wrote (``json.load`` of a ``--json`` file)."""
        return cls(data["machine"], {int(k): v for k, v in data["bounds"].items()},
                   data["workloads"], [Result(**r) for r in data["results"]],
                   data.get("seconds", 0.0))  # fmt: skip

    @property
    def disagreements(self):
        return [r for r in self.results if r.status == "disagrees"]

    def to_json(self):
        return {
            "machine": self.machine,
            "bounds": {str(k): v for k, v in self.bounds.items()},
            "workloads": self.workloads,
            "results": [asdict(r) for r in self.results],
            "seconds": self.seconds,
        }

    def table(self):
        """The Markdown table: one row per workload and peer, columns per thread count.

        Per thread count: the best time, gdcore's throughput (first count only), the time over
        gdcore's and the % of the bound; then whether the peer agreed at every count.
        """
        threads = sorted(self.bounds)
        units = {w["name"]: w["unit"] for w in self.workloads}
        head = ["workload", "peer"]
        for i, t in enumerate(threads):
            head += [f"best, {t}t", *(["throughput"] if i == 0 else []), "÷ gdcore", "% of bound"]
        head.append("agrees")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        by = {(r.workload, r.peer, r.threads): r for r in self.results}
        for w in self.workloads:
            rows = [by.get((w["name"], p, t)) for p in w["peers"] for t in threads]
            if rows and all(r is not None and r.status == "skipped" and r.note == rows[0].note
                            for r in rows):  # fmt: skip
                lines.append(f"| {w['name']} | all | skipped: {rows[0].note} |"
                             + " |" * (len(head) - 3))  # fmt: skip
                continue
            for peer in w["peers"]:
                cells = [w["name"], peer]
                agrees = []
                for i, t in enumerate(threads):
                    r = by.get((w["name"], peer, t))
                    if r is None or r.best_s is None:
                        note = "" if r is None else f"{r.status}: {r.note}"
                        cells += [note, *([""] if i == 0 else []), "", ""]
                        continue
                    cells.append(_fmt_time(r.best_s))
                    if i == 0:
                        cells.append(f"{_si(r.items_per_s)} {units[w['name']]}/s")
                    cells.append(f"{r.vs_gdcore:.2f}" if r.vs_gdcore is not None else "")
                    cells.append(f"{r.pct_of_bound:.0f}% {r.bound}"
                                 if r.pct_of_bound is not None else "")  # fmt: skip
                    agrees.append(r.agree if r.status == "ok" else f"**NO: {r.agree}**")
                cells.append(" / ".join(dict.fromkeys(agrees)))
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def long_table(self):
        """The Markdown table: one row per workload, thread count and peer."""
        lines = [
            "| workload | threads | peer | best | median | throughput | time ÷ gdcore "
            "| % of bound | agrees |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        units = {w["name"]: w["unit"] for w in self.workloads}
        for r in self.results:
            if r.status == "skipped":
                lines.append(f"| {r.workload} | {r.threads} | {r.peer} | skipped: {r.note} "
                             f"| | | | | |")  # fmt: skip
                continue
            if r.status == "error":
                lines.append(f"| {r.workload} | {r.threads} | {r.peer} | error: {r.note} "
                             f"| | | | | |")  # fmt: skip
                continue
            rate = f"{_si(r.items_per_s)} {units.get(r.workload, '')}/s" if r.items_per_s else ""
            ratio = f"{r.vs_gdcore:.2f}" if r.vs_gdcore is not None else ""
            bound = f"{r.pct_of_bound:.0f}% ({r.bound})" if r.pct_of_bound is not None else ""
            agree = r.agree if r.status == "ok" else f"**NO: {r.agree}**"
            lines.append(
                f"| {r.workload} | {r.threads} | {r.peer} | {_fmt_time(r.best_s)} | "
                f"{_fmt_time(r.median_s)} | {rate} | {ratio} | {bound} | {agree} |"
            )
        return "\n".join(lines)

    def summary(self):
        lines = [f"{self.machine['cpu']}, {self.machine['cores']} cores, SIMD path "
                 f"{self.machine['simd_path']}, {self.machine['date']}"]  # fmt: skip
        for threads, b in self.bounds.items():
            lines.append(f"bound with {threads} thread(s): streaming {b['bandwidth'] / 1e9:.1f} GB/s "
                         f"(triad {b['triad'] / 1e9:.1f}, axpy {b['axpy'] / 1e9:.1f}), "
                         f"float32 FMA peak {b['fma_peak'] / 1e9:.1f} GFLOP/s")  # fmt: skip
        load = self.machine.get("load_average")
        if load and None not in load:
            busy = max(load) > 0.5 * (self.machine.get("cores") or 1)
            lines.append(f"load average (1 min) before and after: {load[0]:.2f}, {load[1]:.2f}"
                         + (" -- other work was running: timings are noisy" if busy else ""))
        return "\n".join(lines)


def _si(x):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


def _fmt_time(seconds):
    if seconds is None:
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _load_average():
    """The 1-minute load average (None where the OS has none): other work skews the timings."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def cpu_model():
    """The CPU model name from /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    versions = {"gdcore": gdcore.__version__, "numpy": np.__version__,
                "python": sys.version.split()[0]}  # fmt: skip
    for name in ("torch", "sklearn", "threadpoolctl"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            versions[name] = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "simd_path": gdcore.simd_path(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions,
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                                           "OPENBLAS_L2_SIZE") if k in os.environ},  # fmt: skip
    }


@contextlib.contextmanager
def thread_limit(threads):
    """gdcore, torch, NumPy's BLAS and scikit-learn's OpenMP all limited to ``threads``."""
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=threads)
    except ImportError:
        limits = contextlib.nullcontext()
    with limits:
        gdcore.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            gdcore.set_num_threads(None)
            if torch is not None:
                torch.set_num_threads(torch_before)


def _importable(module):
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def time_runs(runner, *, min_time, min_repeats, max_time, one_run_enough, first=None):
    """(best, median, runs) seconds of ``runner.run``; fast calls are looped to last >= 1 ms.

    Runs until ``min_repeats`` samples and ``min_time`` seconds, or past ``max_time`` with two
    samples (the first may hold one-time costs, such as torch's first autograd pass); ``first``,
    the time of a fresh runner's first run, is the first sample, and if it took
    ``one_run_enough`` seconds or more it is the only one (the twin's per-row loops).
    """
    number = 1
    samples = [] if first is None else [first]
    total = 0.0 if first is None else first
    if first is None or first < 1e-3:
        while True:  # calibrate a loop that lasts >= 1 ms (timer resolution, call overhead)
            start = time.perf_counter()
            for _ in range(number):
                runner.run()
            elapsed = time.perf_counter() - start
            total += elapsed
            if elapsed >= 1e-3 or number >= 1 << 20:
                break
            number *= 10
        samples = [elapsed / number]
    while True:
        if len(samples) >= min_repeats and total >= min_time:
            break
        if total >= max_time and (len(samples) >= 2 or samples[0] >= one_run_enough):
            break
        start = time.perf_counter()
        for _ in range(number):
            runner.run()
        elapsed = time.perf_counter() - start
        total += elapsed
        samples.append(elapsed / number)
    return min(samples), statistics.median(samples), len(samples) * number


_TIMING = {  # per peer: min_time, min_repeats, max_time, one_run_enough (all seconds but one)
    "tiny": (0.0, 1, 0.05, 0.5),
    "quick": (0.15, 3, 0.6, 0.5),
    "full": (0.6, 5, 3.0, 3.0),
}


def run_bench(scale="full", threads=(1,), only=None, progress=False, registry=None):
    """Run the workloads at ``scale`` for each thread count; returns a :class:`Report`."""
    began = time.perf_counter()
    load_before = _load_average()
    threads = [int(t) for t in threads]
    if not threads or any(t < 1 for t in threads):
        raise ValueError(f"threads must be positive integers, got {threads}")
    chosen = workloads(scale, only) if registry is None else registry
    min_time, min_repeats, max_time, one_run_enough = _TIMING[scale]
    # imported before any thread limit is set, so that the limit reaches them
    importable = {m: _importable(m) for m in ("torch", "sklearn")}
    total = len(threads) * (2 + sum(len(w.peers) for w in chosen))
    bar = Progress(total, progress, desc="gdcore bench", unit="run", stream=sys.stderr)
    bounds, results = {}, []
    try:
        for t in threads:
            with thread_limit(t):
                bounds[t] = measure_bound(t, scale)
            bar.step(f"bound, {t} thread(s)")
            done = []
            for w in chosen:
                done += _run_workload(w, t, importable, bar,
                                      min_time=min_time, min_repeats=min_repeats,
                                      max_time=max_time, one_run_enough=one_run_enough)  # fmt: skip
            # Measured again after the workloads: the bound is the most the machine was seen to
            # do, so that other work running during the first probe does not inflate "% of bound"
            with thread_limit(t):
                again = measure_bound(t, scale)
            bar.step(f"bound again, {t} thread(s)")
            for key, value in again.items():
                bounds[t][key] = max(bounds[t][key], value)
            for w in chosen:
                _apply_bound(w, [r for r in done if r.workload == w.name], bounds[t])
            results += done
    finally:
        bar.close()
    described = [
        {"name": w.name, "family": w.family, "description": w.description, "items": w.items,
         "unit": w.unit, "bytes_moved": w.bytes_moved, "flops": w.flops, "bound": w.bound,
         "reference": w.reference, "sweeps": {k: list(v) for k, v in w.sweeps.items()},
         "peers": [p.name for p in w.peers]}
        for w in chosen
    ]  # fmt: skip
    machine = machine_info()
    machine["load_average"] = [load_before, _load_average()]
    return Report(machine, bounds, described, results, time.perf_counter() - began)


def _ideal_time(w, bound):
    """The roofline: (max(bytes / bandwidth, flops / peak), which of the two binds)."""
    if w.bound is None:
        return None, None
    mem = w.bytes_moved / bound["bandwidth"]
    fma = w.flops / bound["fma_peak"]
    return max(mem, fma), ("memory" if mem >= fma else "FMA")


def _apply_bound(w, results, bound):
    """Set each timed result's % of the roofline bound."""
    ideal, kind = _ideal_time(w, bound)
    for r in results:
        if ideal is not None and r.best_s:
            r.pct_of_bound = 100.0 * ideal / r.best_s
            r.bound = kind


def _run_workload(w, threads, importable, bar, **timing):
    out = []
    reason = w.requires() if w.requires else None
    if reason:
        for p in w.peers:
            out.append(Result(w.name, p.name, threads, "skipped", note=reason))
            bar.step(f"{w.name} {p.name} (skipped)")
        return out
    data = w.make_data()
    reference = None
    order = sorted(w.peers, key=lambda p: p.name != w.reference)  # the reference first
    for p in order:
        label = f"{w.name} {p.name} {threads}t"
        if p.requires and not (importable[p.requires] if p.requires in importable
                               else _importable(p.requires)):  # fmt: skip
            out.append(Result(w.name, p.name, threads, "skipped", note=f"{p.requires} not importable"))
            bar.step(label)
            continue
        if p.skip:
            out.append(Result(w.name, p.name, threads, "skipped", note=p.skip))
            bar.step(label)
            continue
        peer_began = time.perf_counter()
        try:
            with thread_limit(threads):
                runner = p.setup(data, threads)
                first = None
                for _ in range(w.agree_runs):
                    start = time.perf_counter()
                    runner.run()
                    first = time.perf_counter() - start
                got = np.array(runner.result(), dtype=np.float64, copy=True)
                ok, text = True, ""
                if p.check is not None:
                    problem = p.check(got)
                    ok, text = problem is None, problem or "trains (finite loss)"
                if ok and p.name == w.reference:
                    reference, text = got, "reference"
                elif ok and p.tol is not None:
                    if reference is None:
                        ok, text = True, "no reference"
                    else:
                        ok, text = agreement(got, reference, p.tol)
                best, median, repeats = time_runs(
                    runner, first=first if runner.fresh and not p.warmup else None, **timing
                )  # fmt: skip
        except Exception as error:  # a peer that fails is reported, not fatal
            out.append(Result(w.name, p.name, threads, "error",
                              note=f"{type(error).__name__}: {error}"[:200]))  # fmt: skip
            bar.step(label)
            continue
        res = Result(w.name, p.name, threads, "ok" if ok else "disagrees", agree=text,
                     best_s=best, median_s=median, repeats=repeats, items_per_s=w.items / best,
                     wall_s=time.perf_counter() - peer_began)
        out.append(res)
        bar.step(label)
    base = next((r for r in out if r.peer == "gdcore" and r.best_s), None)
    for r in out:
        if base is not None and r.best_s:
            r.vs_gdcore = r.best_s / base.best_s
    # listed in the workload's own peer order
    names = [p.name for p in w.peers]
    return sorted(out, key=lambda r: names.index(r.peer))


# ----------------------------------------------------------------------------------------------
# output


def write_json(report, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report.to_json(), f, indent=1)


def plot_report(report, outdir):
    """Scaling pictures (PNG) in ``outdir``: time vs n, vs d, vs batch size; speed-up vs threads."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    os.makedirs(outdir, exist_ok=True)
    written = []
    colours = plt.get_cmap("tab20").colors
    markers = "os^vD<>p*hX"
    threads = sorted(report.bounds)
    t0 = threads[0]
    by = {(r.workload, r.peer, r.threads): r for r in report.results if r.best_s}
    axes_titles = {"n": "parameters n", "d": "features d", "batch": "batch size"}
    for axis, xlabel in axes_titles.items():
        series = {}
        for w in report.workloads:
            if axis in w["sweeps"] and any(k[0] == w["name"] and k[2] == t0 for k in by):
                name, x = w["sweeps"][axis]
                series.setdefault(name, []).append((x, w))
        if not series:
            continue
        fig, panes = plt.subplots(1, len(series), figsize=(5.5 * len(series), 4.2), squeeze=False)
        drew = False
        for pane, (name, points) in zip(panes[0], sorted(series.items())):
            peers = []
            for _, w in points:
                peers += [p for p in w["peers"] if p not in peers]
            for peer in peers:
                xy = sorted((x, by[(w["name"], peer, t0)].best_s) for x, w in points
                            if (w["name"], peer, t0) in by)  # fmt: skip
                if xy:
                    drew = True
                    pane.plot(*zip(*xy), marker="o", label=peer,
                              linewidth=2.5 if peer == "gdcore" else 1.2)  # fmt: skip
            pane.set_xscale("log")
            pane.set_yscale("log")
            pane.set_xlabel(xlabel)
            pane.set_ylabel("best time (s)")
            pane.set_title(f"{name}, {t0} thread(s)", fontsize=9)
            pane.grid(True, which="both", alpha=0.3)
            pane.legend(fontsize=7)
        if drew:
            path = os.path.join(outdir, f"time_vs_{axis}.png")
            fig.tight_layout()
            fig.savefig(path, dpi=110)
            written.append(path)
        plt.close(fig)
    if len(threads) > 1:
        fig, pane = plt.subplots(figsize=(6.5, 4.8))
        pane.plot(threads, threads, "k--", label="ideal")
        for w in report.workloads:
            base = by.get((w["name"], "gdcore", t0))
            if base is None:
                continue
            xy = [(t, base.best_s / by[(w["name"], "gdcore", t)].best_s) for t in threads
                  if (w["name"], "gdcore", t) in by]  # fmt: skip
            if len(xy) > 1:
                i = len(pane.lines) - 1
                pane.plot(*zip(*xy), marker=markers[i % len(markers)], label=w["name"],
                          linewidth=1, color=colours[i % len(colours)])  # fmt: skip
        pane.set_xlabel("threads")
        pane.set_ylabel(f"gdcore speed-up over {t0} thread(s)")
        pane.set_xticks(threads)
        pane.grid(True, alpha=0.3)
        pane.legend(fontsize=6, ncol=2)
        path = os.path.join(outdir, "speedup_vs_threads.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
