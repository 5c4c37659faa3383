"""No leaks: thousands of calls into the core keep the process's memory flat.

Two measures, taken after a warm-up (first calls fill caches, pybind11's type tables, malloc's
arenas and NumPy's small-array cache) and after ``gc.collect()``:

* ``sys.getallocatedblocks()``, the blocks held by Python's allocator: a reference the core
  forgets to drop (an array, a float, a tuple of results) keeps one or more blocks alive per
  call, so N calls would add >= N blocks. Allowed: ``BLOCK_SLACK`` blocks in all, far below N.
  The slack is for caches that settle slowly: NumPy keeps small blocks per array shape it has
  seen (``np.unique`` in the target encoding adds ~0.1 block per fit for the first few
  thousand fits, decaying to 0; tracemalloc shows them in NumPy, none in gdcore), hence the
  long warm-up of the fit tests.
* the resident set size from ``/proc/self/statm``, for memory the core allocates itself (C++
  ``new``, vectors, copies of arrays). The arrays here are 32 KiB or more, so leaking one per
  call would add hundreds of MiB; ``RSS_SLACK`` (4 MiB) leaves room for malloc keeping freed
  pages and for page granularity, while catching a leak of ~400 bytes per call or more over
  10,000 calls.
"""

import gc
import os
import sys
import warnings

import numpy as np
import pytest

import gdcore
from gdcore import losses, optim, schedules

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux) for RSS"
)

BLOCK_SLACK = 200
RSS_SLACK = 4 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def assert_flat(call, calls, warmup=200, what=""):
    """Warm up, then `calls` calls must leave Python's blocks and the RSS (nearly) unchanged."""
    for _ in range(warmup):
        call()
    gc.collect()
    blocks, rss = sys.getallocatedblocks(), rss_bytes()
    for _ in range(calls):
        call()
    gc.collect()
    grown_blocks = sys.getallocatedblocks() - blocks
    grown_rss = rss_bytes() - rss
    assert grown_blocks < BLOCK_SLACK, f"{what}: {grown_blocks} Python blocks after {calls} calls"
    assert grown_rss < RSS_SLACK, f"{what}: RSS grew {grown_rss / 2**20:.1f} MiB in {calls} calls"


N = 4096  # parameters per array: 32 KiB in float64


@pytest.mark.parametrize(
    "build",
    [
        lambda p: optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True),
        lambda p: optim.Adagrad(p),
        lambda p: optim.RMSprop(p, centered=True, momentum=0.1),
        lambda p: optim.Adam(p, amsgrad=True),
        lambda p: optim.Adamax(p),
        lambda p: optim.NAdam(p),
    ],
    ids=["sgd", "adagrad", "rmsprop", "adam", "adamax", "nadam"],
)
def test_ten_thousand_steps(build):
    rng = np.random.default_rng(0)
    # float64 and float32, and one array past the size where the step releases the GIL
    params = [rng.normal(size=N), rng.normal(size=N).astype(np.float32),
              rng.normal(size=20_000)]  # fmt: skip
    grads = [np.full_like(p, 1e-3) for p in params]
    opt = build(params)
    assert_flat(lambda: opt.step(grads), 10_000, what=type(opt).__name__)


def test_functional_steps_and_losses():
    rng = np.random.default_rng(1)
    p, g = rng.normal(size=N), np.full(N, 1e-3)
    m, v = np.zeros(N), np.zeros(N)
    y = np.ones(256)
    logits, labels = rng.normal(size=(64, 8)), rng.integers(0, 8, 64)
    step = [0]

    def call():
        step[0] += 1
        optim.adam_step(p, g, m, v, step=step[0])
        losses.loss_values("log_loss", p[:256], y)  # a new array pair per call
        losses.softmax_cross_entropy(logits, labels)

    assert_flat(call, 10_000, what="adam_step + losses")


def test_failing_steps_release_what_they_held():
    """The error paths: a NaN gradient, a wrong shape, a wrong dtype (each raises)."""
    params = [np.zeros(N)]
    opt = optim.Adam(params)
    bad = [[np.full(N, np.nan)], [np.zeros(N + 1)], [np.zeros(N, np.float32)]]

    def call():
        for grads in bad:
            try:
                opt.step(grads)
            except (ValueError, TypeError):
                pass
            else:
                raise AssertionError("a bad gradient was accepted")

    assert_flat(call, 3_000, what="failing steps")


def test_thousands_of_small_fits():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(64, 6))
    y_class = (X[:, 0] > 0).astype(int)
    y_multi = np.digitize(X[:, 1], [-0.5, 0.5])
    y_reg = X @ np.arange(6.0)
    schedule = schedules.StepLR(0.01, step_size=10)

    def call():
        gdcore.fit_linear(X, y_class, loss="log_loss", max_epochs=2, tol=None, record_every=5)
        gdcore.fit_linear(X, y_multi, loss="log_loss", multiclass="softmax", optimizer="adam",
                          schedule=schedule, max_epochs=2, validation_fraction=0.2,
                          penalty="elasticnet", average=True)  # fmt: skip
        gdcore.fit_linear(X.astype(np.float32), y_reg, optimizer="nadam", max_epochs=2)
        with warnings.catch_warnings():  # diverges at once: the error path of the loop
            warnings.simplefilter("ignore")
            gdcore.fit_linear(X * 1e200, y_reg, lr=1e10, max_epochs=2, on_divergence="warn")

    assert_flat(call, 2_000, warmup=1_000, what="fit_linear")


def test_thousands_of_minimize_calls():
    x0 = np.array([-1.0, 1.5])

    def call():
        gdcore.minimize("rosenbrock", x0, max_iter=50, record=True)
        gdcore.minimize(lambda x: float(x @ x), x0, grad=lambda x: 2 * x, max_iter=20)
        gdcore.minimize("quadratic", x0, lr=1e3, max_iter=50)  # diverges

    assert_flat(call, 2_000, warmup=50, what="minimize")


def test_estimator_partial_fits():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(32, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = gdcore.SGDClassifier(loss="log_loss", optimizer="adam", random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    assert_flat(lambda: clf.partial_fit(X, y), 2_000, warmup=50, what="partial_fit")
