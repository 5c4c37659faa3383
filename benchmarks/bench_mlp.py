"""A 784-256-256-10 perceptron trained with Adam, float32: gdcore vs PyTorch CPU, one session.

Issue 5's workload: synthetic data (2048 rows of N(0, 1) features, 10 classes), ReLU, softmax
cross-entropy, Adam (lr 1e-3), no penalty, the rows in order (no shuffle), at batch 32, 128 and
512 and with 1 and 2 threads. Each round trains one epoch from the same initial weights:

* gdcore: ``gdcore.fit_mlp(..., max_epochs=1)`` (the whole call, input checks included);
* torch: the same ``nn.Sequential`` (weights copied from gdcore's initialization), a fresh
  ``torch.optim.Adam``, forward / ``cross_entropy`` / ``zero_grad`` / ``backward`` / ``step`` per
  batch, with ``torch.set_num_threads`` set to the group's thread count.

Before timing, both peers train one epoch and must end at the same full-data loss (within 5e-3
relative: the same float32 computation rounded differently; Adam's normalized steps on noise
labels let rounding differences grow to ~1e-3 after 64 steps). Each row records samples/s and the
fraction of the single-core float32 FMA peak (``gdcore.linalg.peak_flops``, measured in this run)
that the step's multiply-adds reach (forward, weight gradients, and input gradients of every
layer but the first, 1.21 MFLOP per sample; the optimizer step and the element-wise work are not
counted). A table of ratios prints at the end:

    python -m pytest benchmarks/bench_mlp.py
"""

import numpy as np
import pytest

import gdcore
from gdcore import _core, linalg
from gdcore.mlp import layer_layout, unpack

SIZES = [784, 256, 256, 10]
ROWS = 2048
BATCHES = [32, 128, 512]
THREAD_COUNTS = [1, 2]
PEERS = ["gdcore", "torch"]
RESULTS = {}  # (batch, threads, peer) -> samples/s


def flops_per_sample():
    pairs = list(zip(SIZES[:-1], SIZES[1:]))
    forward = sum(2 * a * b for a, b in pairs)
    weight_grads = forward
    input_grads = sum(2 * a * b for a, b in pairs[1:])
    return forward + weight_grads + input_grads


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=ROWS)
    _, size = layer_layout(SIZES)
    params = np.zeros(size, np.float32)
    _core.mlp_init(params, SIZES, "relu", "glorot", 1)
    return X, y, params


@pytest.fixture(scope="module")
def fma_peak():
    return linalg.peak_flops("float32", seconds=0.1, repeats=7)


def gdcore_epoch(X, y, params, batch, threads):
    def run():
        return gdcore.fit_mlp(X, y, hidden_layer_sizes=SIZES[1:-1], optimizer="adam", lr=1e-3,
                              batch_size=batch, max_epochs=1, tol=None, shuffle=False, alpha=0.0,
                              init=params, num_threads=threads)  # fmt: skip

    def loss(fit):
        z = fit.forward(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    return run, loss


def torch_epoch(torch, X, y, params, batch, threads):
    coefs, intercepts = unpack(params, SIZES)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    state = {}
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        state[f"{2 * i}.weight"] = torch.from_numpy(W.T.copy())
        state[f"{2 * i}.bias"] = torch.from_numpy(b.copy())

    def run():
        torch.set_num_threads(threads)
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
            torch.nn.ReLU(), torch.nn.Linear(256, 10),
        )  # fmt: skip
        model.load_state_dict(state)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for start in range(0, ROWS, batch):
            loss = torch.nn.functional.cross_entropy(model(Xt[start : start + batch]),
                                                     yt[start : start + batch])  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model

    def loss(model):
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(Xt), yt))

    return run, loss


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize("batch", BATCHES)
def test_mlp_epoch(benchmark, batch, threads, peer, data, fma_peak):
    torch = pytest.importorskip("torch")
    X, y, params = data
    benchmark.group = f"mlp 784-256-256-10 adam float32 batch {batch} threads {threads}"
    g_run, g_loss = gdcore_epoch(X, y, params, batch, threads)
    t_run, t_loss = torch_epoch(torch, X, y, params, batch, threads)
    ours, theirs = g_loss(g_run()), t_loss(t_run())
    assert ours == pytest.approx(theirs, rel=5e-3), (ours, theirs)
    run = g_run if peer == "gdcore" else t_run
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    best = benchmark.stats.stats.min
    samples = ROWS / best
    flops = flops_per_sample() * samples
    benchmark.extra_info.update(
        peer=peer, base=peer == "gdcore", threads=threads, simd=gdcore.simd_path(),
        items_per_s=samples, samples_per_s=samples, GFLOP_per_s=flops / 1e9,
        pct_of_fma_peak=100.0 * flops / fma_peak, fma_peak_GFLOP_per_s=fma_peak / 1e9,
    )  # fmt: skip
    RESULTS[(batch, threads, peer)] = samples


@pytest.fixture(scope="module", autouse=True)
def summary(request, fma_peak):
    """Samples/s, gdcore ÷ torch, gdcore's 2-thread ÷ 1-thread, and % of the FMA peak."""
    yield
    if not RESULTS:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    per_sample = flops_per_sample()
    lines = [f"\nsingle-core float32 FMA peak: {fma_peak / 1e9:.1f} GFLOP/s; "
             f"{per_sample / 1e6:.2f} MFLOP per sample",
             f"{'batch':>6}{'threads':>8}{'gdcore/s':>11}{'torch/s':>10}{'ratio':>7}"
             f"{'gd 2T/1T':>9}{'% peak':>8}"]  # fmt: skip
    for batch in BATCHES:
        for threads in THREAD_COUNTS:
            ours = RESULTS.get((batch, threads, "gdcore"))
            theirs = RESULTS.get((batch, threads, "torch"))
            one = RESULTS.get((batch, 1, "gdcore"))
            line = f"{batch:>6}{threads:>8}"
            line += f"{ours:>11.0f}" if ours else f"{'-':>11}"
            line += f"{theirs:>10.0f}" if theirs else f"{'-':>10}"
            line += f"{ours / theirs:>7.2f}" if ours and theirs else f"{'-':>7}"
            line += f"{ours / one:>9.2f}" if ours and one else f"{'-':>9}"
            line += (f"{100 * ours * per_sample / (fma_peak * threads):>8.0f}" if ours
                     else f"{'-':>8}")  # fmt: skip
            lines.append(line)
    with capture.global_and_fixture_disabled():
        print("\n".join(lines))
