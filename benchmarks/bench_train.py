"""The linear training loop: gdcore vs scikit-learn's SGDClassifier vs a PyTorch loop.

Logistic regression on the same synthetic data (n=200,000, d=100, float32), plain SGD, in one
session. Throughput is samples per second over whole epochs; "% of bound" is the time to read X
once per epoch at the streaming bandwidth measured in the same run, divided by the time taken.
Before timing, the compiled loop must give its NumPy twin's bits on a small slice.

    python -m pytest benchmarks/bench_train.py --benchmark-json=train.json
    python benchmarks/table.py train.json
"""

import numpy as np
import pytest
from conftest import THREADS, record

from gdcore import _core, hardware, train
from gdcore.reference import train as ref_train

N, D, EPOCHS = 200_000, 100, 5


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)).astype(np.float32)
    w = rng.standard_normal(D).astype(np.float32)
    y = (X @ w + 0.5 * rng.standard_normal(N) > 0).astype(np.int64)
    return X, y


def gdcore_fit(X, y, batch_size, threads, epochs=EPOCHS, shuffle=True):
    return train.fit_linear(
        X, y, loss="log_loss", optimizer="sgd", lr=0.01, batch_size=batch_size,
        max_epochs=epochs, tol=None, penalty=None, num_threads=threads, shuffle=shuffle,
    )  # fmt: skip


def test_twin_agrees(data):
    X, y = data
    kw = dict(loss="log_loss", lr=0.01, batch_size=256, max_epochs=1, tol=None, penalty=None,
              num_threads=THREADS)  # fmt: skip
    core = train.fit_linear(X[:5000], y[:5000], **kw)
    twin = ref_train.fit_linear(X[:5000], y[:5000], **kw)
    np.testing.assert_array_equal(core.coef, twin.coef)  # the same operations, the same bits


@pytest.mark.parametrize("batch_size", [1, 32, 256, None])
def test_gdcore(benchmark, data, bandwidth, batch_size):
    X, y = data
    benchmark.group = "logreg-epochs"
    benchmark.pedantic(gdcore_fit, args=(X, y, batch_size, THREADS), rounds=3, warmup_rounds=1)
    record(benchmark, peer=f"gdcore b={batch_size or 'n'}", bytes_moved=X.nbytes * EPOCHS,
           bandwidth=bandwidth, items=N * EPOCHS, base=batch_size == 256)  # fmt: skip


# Unshuffled epochs read X in order (as the PyTorch loop below does): the hardware prefetcher
# streams the rows, where a shuffled order waits on memory latency for every row.
@pytest.mark.parametrize("batch_size", [1, 256])
def test_gdcore_unshuffled(benchmark, data, bandwidth, batch_size):
    X, y = data
    benchmark.group = "logreg-epochs"
    benchmark.pedantic(gdcore_fit, args=(X, y, batch_size, THREADS), kwargs=dict(shuffle=False),
                       rounds=3, warmup_rounds=1)  # fmt: skip
    record(benchmark, peer=f"gdcore b={batch_size} unshuffled", bytes_moved=X.nbytes * EPOCHS,
           bandwidth=bandwidth, items=N * EPOCHS)  # fmt: skip


def test_shuffled_read_bound(benchmark, data, bandwidth):
    # The rows of X in the epochs' shuffled orders, only summed, with the prefetching that reads
    # them fastest alone (each row 24 rows ahead straight into L1): the memory-latency bound of
    # a shuffled epoch (no training loop reads rows faster).
    X, _ = data
    benchmark.group = "logreg-epochs"
    orders = [_core.shuffled_order(np.arange(N, dtype=np.int64), 0, e) for e in range(EPOCHS)]
    out = np.zeros(D, X.dtype)

    def read():
        for order in orders:
            hardware.row_sum(out, X, order, num_threads=THREADS)

    benchmark.pedantic(read, rounds=3, warmup_rounds=1)
    record(benchmark, peer="bound: shuffled row reads", bytes_moved=X.nbytes * EPOCHS,
           bandwidth=bandwidth, items=N * EPOCHS)  # fmt: skip


@pytest.mark.parametrize("batch_size", [1024, 4096])
@pytest.mark.parametrize("threads", [1, 2])
def test_gdcore_threads(benchmark, data, bandwidth, batch_size, threads):
    X, y = data
    benchmark.group = f"logreg-threads-batch-{batch_size}"
    benchmark.pedantic(gdcore_fit, args=(X, y, batch_size, threads), rounds=3, warmup_rounds=1)
    record(benchmark, peer=f"gdcore {threads} thread(s)", bytes_moved=X.nbytes * EPOCHS,
           bandwidth=bandwidth, items=N * EPOCHS, base=threads == 1)  # fmt: skip


@pytest.mark.parametrize("peer", ["1 thread", "2 threads", "2 threads, team forced"])
def test_gdcore_beside_a_busy_process(benchmark, data, bandwidth, busy_neighbour, peer):
    # Two threads pick their team or one thread by measured speed (TeamChooser); "team forced"
    # always forks and joins, as before, and waits on the busy core at every join.
    X, y = data
    benchmark.group = "logreg-busy-neighbour-batch-1024"
    threads = 1 if peer == "1 thread" else 2
    _core.set_team_policy("team" if "forced" in peer else "adaptive")
    try:
        benchmark.pedantic(gdcore_fit, args=(X, y, 1024, threads), rounds=3, warmup_rounds=1)
    finally:
        _core.set_team_policy("adaptive")
    record(benchmark, peer=f"gdcore {peer}", bytes_moved=X.nbytes * EPOCHS, bandwidth=bandwidth,
           items=N * EPOCHS, base=threads == 1)  # fmt: skip


@pytest.mark.parametrize("shuffle", [True, False])
def test_sklearn_sgdclassifier(benchmark, data, shuffle):
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, y = data
    benchmark.group = "logreg-epochs"

    def fit():
        return sklearn.SGDClassifier(loss="log_loss", penalty=None, learning_rate="constant",
                                     eta0=0.01, max_iter=EPOCHS, tol=None,
                                     shuffle=shuffle).fit(X, y)  # fmt: skip

    benchmark.pedantic(fit, rounds=3, warmup_rounds=0)
    record(benchmark, peer="scikit-learn b=1" + ("" if shuffle else " unshuffled"), items=N * EPOCHS)


@pytest.mark.parametrize("batch_size", [32, 256])
def test_torch_loop(benchmark, data, torch_cpu, batch_size):
    torch = torch_cpu
    X, y = data
    benchmark.group = "logreg-epochs"
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(np.float32))

    def fit():
        model = torch.nn.Linear(D, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(EPOCHS):  # rows in order (a shuffled order would cost it more)
            for start in range(0, N, batch_size):
                xb, yb = Xt[start : start + batch_size], yt[start : start + batch_size]
                opt.zero_grad()
                loss_fn(model(xb).squeeze(1), yb).backward()
                opt.step()
        return model

    benchmark.pedantic(fit, rounds=2, warmup_rounds=0)
    record(benchmark, peer=f"torch loop b={batch_size}", items=N * EPOCHS)
