"""Python threads: the core releases the GIL, so several fits and optimizers run at once; each
must give exactly (bitwise) what it gives alone, and nothing may crash.

Each workload below builds its own data, model and optimizer from a seed and returns its final
parameters. The test runs them one after another, then all at once on four threads (started
together by a barrier, several rounds with the workloads rotated between threads), and compares.
"""

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gdcore
from gdcore import optim, schedules


def _classification(seed, n=20_000, d=32, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ rng.normal(size=(d, k)) + 0.5 * rng.normal(size=(n, k)), axis=1)
    return X, y


def fit_softmax(seed):
    """fit_linear: softmax log loss, Adam, a schedule, two OpenMP threads inside."""
    X, y = _classification(seed)
    fit = gdcore.fit_linear(X, y, loss="log_loss", multiclass="softmax", optimizer="adam",
                            lr=0.01, batch_size=64, max_epochs=8, tol=None, num_threads=2,
                            schedule=schedules.CosineAnnealingLR(0.01, T_max=100),
                            random_state=seed)  # fmt: skip
    return [fit.coef, fit.intercept]


def fit_estimators(seed):
    """An SGDClassifier (one-vs-rest hinge) and an SGDRegressor (float32, momentum)."""
    X, y = _classification(seed, n=6_000)
    clf = gdcore.SGDClassifier(max_iter=6, tol=None, random_state=seed, batch_size=8).fit(X, y)
    target = (X @ np.linspace(-1, 1, X.shape[1])).astype(np.float32)
    reg = gdcore.SGDRegressor(optimizer="momentum", eta0=1e-3, learning_rate="constant",
                              max_iter=6, tol=None, random_state=seed, num_threads=1)
    reg.fit(X.astype(np.float32), target)  # fmt: skip
    return [clf.coef_, clf.intercept_, reg.coef_, reg.intercept_]


def step_large_optimizers(seed):
    """Adam and NAdam on arrays large enough (> 16k elements) that the step releases the GIL."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=40_000), rng.normal(size=(150, 200)).astype(np.float32)
    adam, nadam = optim.Adam([a], lr=1e-2, amsgrad=True), optim.NAdam([b], lr=1e-2)
    for t in range(300):
        adam.step([np.tanh(a) + 1e-3 * t])
        nadam.step([b - np.float32(0.5)])
    return [a, b]


def step_small_optimizers(seed):
    """Many small steps (the GIL stays held for those): SGD with momentum and RMSprop."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=9), rng.normal(size=(4, 4))]
    sgd = optim.SGD([params[0]], lr=0.05, momentum=0.9, nesterov=True)
    rms = optim.RMSprop([params[1]], lr=0.01, centered=True)
    for _ in range(6000):
        sgd.step([2 * params[0]])
        rms.step([np.sin(params[1])])
    return params


def minimize_both_ways(seed):
    """minimize on a built-in surface (all in C++) and on a Python function (callbacks)."""
    x0 = np.array([-1.5, 2.0]) + 0.1 * seed
    built_in = gdcore.minimize("rosenbrock", x0, optimizer="adam", lr=1e-2, max_iter=60_000,
                               tol=None, record=False)  # fmt: skip
    python = gdcore.minimize(lambda x: float(np.sum((x - 1.0) ** 4)), x0,
                             grad=lambda x: 4 * (x - 1.0) ** 3, optimizer="nadam", lr=1e-2,
                             max_iter=2000, tol=None, record=False)  # fmt: skip
    return [built_in.x, python.x]


WORKLOADS = [fit_softmax, fit_estimators, step_large_optimizers, step_small_optimizers,
             minimize_both_ways]  # fmt: skip
THREADS = 4
ROUNDS = 2


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_four_threads_give_the_serial_results_bitwise():
    jobs = [(work, seed) for seed in range(2) for work in WORKLOADS]  # 10 jobs, 4 threads
    serial = {(work.__name__, seed): work(seed) for work, seed in jobs}
    for round_ in range(ROUNDS):
        order = jobs[round_:] + jobs[:round_]  # other pairs of workloads overlap each round
        barrier = threading.Barrier(THREADS)

        def run(job, first):
            if first:
                barrier.wait(timeout=30)  # the first wave starts together
            work, seed = job
            return work(seed)

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(run, job, i < THREADS) for i, job in enumerate(order)]
            results = [f.result(timeout=120) for f in futures]
        for (work, seed), got in zip(order, results):
            want = serial[(work.__name__, seed)]
            assert len(got) == len(want)
            for k, (a, b) in enumerate(zip(got, want)):
                assert _same_bits(a, b), f"round {round_}: {work.__name__}({seed}) output {k}"


def test_one_optimizer_class_many_instances_at_once():
    """Four threads stepping four instances of the same optimizer class (shared code paths,
    separate state) equal four serial runs."""

    def run(seed):
        w = np.random.default_rng(seed).normal(size=20_000)
        opt = optim.Adam([w], lr=1e-3, num_threads=1)
        for _ in range(100):
            opt.step([w * w - 1.0])
        return w

    serial = [run(seed) for seed in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        threaded = list(pool.map(run, range(THREADS)))
    for seed, (a, b) in enumerate(zip(threaded, serial)):
        assert _same_bits(a, b), f"seed {seed}"


@pytest.mark.parametrize(
    "call",
    [
        lambda: gdcore.minimize("rosenbrock", [-1.5, 2.0], max_iter=1_500_000, tol=None,
                                record=False),  # fmt: skip
        functools.partial(gdcore.fit_linear, *_classification(0), loss="hinge", max_epochs=60,
                          tol=None, batch_size=16, num_threads=1),
    ],
    ids=["minimize", "fit_linear"],
)
def test_the_core_releases_the_gil(call):
    """While a long core call runs in a thread, this thread keeps running Python. (Were the
    GIL held, the loop below could not run at all until the call returns.)"""
    worker = threading.Thread(target=call)
    started = time.perf_counter()
    worker.start()
    time.sleep(0.01)  # let the worker enter the core
    spins = 0
    while worker.is_alive():
        spins += 1
        time.sleep(0)
    worker.join()
    busy = time.perf_counter() - started
    assert busy > 0.05, "the call was too short to tell; make it longer"
    assert spins > 100, f"only {spins} iterations of Python ran during {busy:.2f} s in the core"
