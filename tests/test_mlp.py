"""Multilayer perceptrons: kernels against finite differences and the NumPy twin, whole fits
against the twin's trajectory, PyTorch as an outside oracle, and the loop's behaviour."""

import signal

import numpy as np
import pytest
from conftest import assert_mirrors, interrupt_after

import gdcore
from gdcore import _core
from gdcore.mlp import fit_mlp, layer_layout
from gdcore.reference import mlp as ref

ACTIVATIONS = ["identity", "relu", "leaky_relu", "logistic", "tanh"]
TASKS = ["regression", "binary", "softmax"]


def problem(task, n=40, d=5, outputs=None, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    if task == "regression":
        k = outputs or 2
        Y = rng.normal(size=(n, k)).astype(dtype)
    elif task == "binary":
        k = 1
        Y = np.where(rng.random(n) < 0.5, 1.0, -1.0).astype(dtype).reshape(n, 1)
    else:
        k = outputs or 4
        Y = rng.integers(0, k, size=n).astype(dtype).reshape(n, 1)
    return X, Y, k


def init_params(sizes, activation, dtype, seed=3):
    _, size = layer_layout(sizes)
    params = np.zeros(size, dtype=dtype)
    _core.mlp_init(params, list(sizes), activation, "glorot", seed)
    return params


def objective(X, Y, rows, params, sizes, activation, task, alpha):
    """Mean loss + alpha ||W||^2 / (2B), evaluated by the twin in float64."""
    grad = np.zeros_like(params)
    loss = ref.mlp_gradient(X, Y, rows, params, grad, sizes, activation, task, alpha)
    penalty = 0.5 * alpha * ref._weight_norm2(params, sizes)
    return (loss + penalty) / len(rows)


# ---- initialization ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scheme", ["glorot", "he"])
@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_init_equals_twin_bitwise(dtype, scheme, activation):
    sizes = [7, 11, 5, 3]
    _, size = layer_layout(sizes)
    core = np.zeros(size, dtype=dtype)
    _core.mlp_init(core, sizes, activation, scheme, 12345)
    twin = ref.mlp_init(np.zeros(size, dtype=dtype), sizes, activation, scheme, 12345)
    assert np.array_equal(core, twin)


def test_init_bounds_follow_scikit_learn():
    sizes = [64, 128, 10]
    for activation, factor in (("relu", 6.0), ("logistic", 2.0)):
        params = init_params(sizes, activation, np.float64)
        for (w_off, b_off, fan_in, fan_out) in layer_layout(sizes)[0]:
            bound = np.sqrt(factor / (fan_in + fan_out))
            block = params[w_off : b_off + fan_out]
            assert np.abs(block).max() <= bound
            assert np.abs(block).max() > 0.95 * bound  # uses the whole range
            assert abs(block.mean()) < 0.1 * bound


# ---- gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_equals_finite_differences(task, activation):
    X, Y, k = problem(task)
    sizes = [5, 6, 4, k]
    params = init_params(sizes, activation, np.float64)
    rows = np.arange(3, 20, dtype=np.int64)
    alpha = 0.3
    grad = np.zeros_like(params)
    _core.mlp_gradient(X, Y, rows, params, grad, sizes, activation, task, alpha)
    h = 1e-6
    numeric = np.empty_like(params)
    for j in range(params.size):
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        numeric[j] = (
            objective(X, Y, rows, up, sizes, activation, task, alpha)
            - objective(X, Y, rows, down, sizes, activation, task, alpha)
        ) / (2 * h)
    # relu's kink: no unit sits within h of 0 for these data (checked by the agreement itself).
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_and_forward_mirror_twin(dtype, task, activation):
    X, Y, k = problem(task, n=70, d=9, dtype=dtype)
    sizes = [9, 33, 17, k]
    params = init_params(sizes, activation, dtype)
    rows = np.random.default_rng(1).permutation(70)[:50].astype(np.int64)
    core_grad = np.zeros_like(params)
    twin_grad = np.zeros_like(params)
    core_loss = _core.mlp_gradient(X, Y, rows, params, core_grad, sizes, activation, task, 0.01)
    twin_loss = ref.mlp_gradient(X, Y, rows, params, twin_grad, sizes, activation, task, 0.01)
    assert_mirrors(core_grad, twin_grad, "gradient")
    assert core_loss == pytest.approx(twin_loss, rel=10 * float(np.finfo(dtype).eps) * 50)
    assert_mirrors(
        _core.mlp_forward(X, params, sizes, activation), ref.mlp_forward(X, params, sizes, activation),
        "forward",
    )  # fmt: skip


def test_gradient_threads_give_same_bits():
    X, Y, k = problem("softmax", n=600, d=120, dtype=np.float32)
    sizes = [120, 300, 200, k]
    params = init_params(sizes, "relu", np.float32)
    rows = np.arange(600, dtype=np.int64)
    grads = []
    for threads in (1, 2, 3):
        g = np.zeros_like(params)
        _core.mlp_gradient(X, Y, rows, params, g, sizes, "relu", "softmax", 1e-3, threads)
        grads.append(g)
    assert np.array_equal(grads[0], grads[1]) and np.array_equal(grads[0], grads[2])


def test_gradient_rejects_bad_input():
    X, Y, k = problem("softmax")
    sizes = [5, 4, k]
    params = init_params(sizes, "relu", np.float64)
    grad = np.zeros_like(params)
    rows = np.arange(10)
    with pytest.raises(ValueError, match="activation"):
        _core.mlp_gradient(X, Y, rows, params, grad, sizes, "swish", "softmax", 0.0)
    with pytest.raises(ValueError, match="params"):
        _core.mlp_gradient(X, Y, rows, params[:-1], grad[:-1], sizes, "relu", "softmax", 0.0)
    with pytest.raises(ValueError, match="class index"):
        _core.mlp_gradient(X, Y + 10, rows, params, grad, sizes, "relu", "softmax", 0.0)
    with pytest.raises(ValueError, match="rows"):
        _core.mlp_gradient(X, Y, np.array([0, 99]), params, grad, sizes, "relu", "softmax", 0.0)
    with pytest.raises(ValueError, match="columns"):
        _core.mlp_gradient(X[:, :3], Y, rows, params, grad, sizes, "relu", "softmax", 0.0)


# ---- whole fits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype,optimizer,task,activation",
    [
        (np.float64, "adam", "softmax", "relu"),
        (np.float64, "sgd", "regression", "tanh"),
        (np.float64, "nesterov", "binary", "logistic"),
        (np.float64, "rmsprop", "regression", "leaky_relu"),
        (np.float32, "adam", "softmax", "tanh"),
        (np.float32, "momentum", "binary", "relu"),
        # the step runs inside the backward pass, block by block: NAdam's momentum product must
        # still advance once per step, and every optimizer's state must follow
        (np.float64, "nadam", "softmax", "relu"),
        (np.float64, "adagrad", "regression", "tanh"),
        (np.float64, "adamax", "binary", "relu"),
    ],
)
def test_fit_follows_twin_trajectory(dtype, optimizer, task, activation):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 6)).astype(dtype)
    if task == "regression":
        y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2]).astype(dtype)
    elif task == "binary":
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    else:
        y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    options = dict(hidden_layer_sizes=(12, 7), activation=activation, optimizer=optimizer,
                   lr=0.01, batch_size=16, max_epochs=4, tol=None, random_state=7, alpha=1e-3,
                   validation_fraction=0.2, record_every=3)  # fmt: skip
    core = fit_mlp(X, y, **options)
    twin = ref.fit_mlp(X, y, **options)
    assert core.history.epochs == twin.history.epochs == 4
    # Products are rounded differently (FMA vs the BLAS), so the trajectories drift apart by
    # rounding only: a looser bound than one kernel's, still far below any real difference.
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    for a, b in zip(core.history.path, twin.history.path):
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * np.abs(b).max())
    np.testing.assert_allclose(core.history.loss, twin.history.loss, rtol=rtol)
    np.testing.assert_allclose(core.history.val_loss, twin.history.val_loss, rtol=rtol)
    # the loss went down
    assert core.history.loss[-1] < core.history.loss[0]


@pytest.mark.parametrize("optimizer", ["adam", "nadam"])
@pytest.mark.parametrize("hidden", [(300, 200), (4100,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_threads_same_bits_and_resume_exact(optimizer, hidden, dtype):
    # The optimizer steps inside the weight-gradient products, block by block on the thread that
    # computed each block (with the l2 term first): the bits must not depend on the thread count.
    # NAdam also carries a momentum product that must advance once per step. At batch 50 one
    # thread computes each weight gradient in blocks of rows of its own (144 rows for 300 columns,
    # the last block 12; with 4100 columns gemm hands the blocks over in column pieces), two
    # threads in whole products: the two paths must give the same bits.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 40)).astype(dtype)
    y = rng.integers(0, 5, size=300)
    options = dict(hidden_layer_sizes=hidden, batch_size=50, tol=None, random_state=4,
                   alpha=1e-3, optimizer=optimizer)  # fmt: skip
    one = fit_mlp(X, y, max_epochs=4, num_threads=1, **options)
    two = fit_mlp(X, y, max_epochs=4, num_threads=2, **options)
    assert np.array_equal(one.state["params"], two.state["params"])
    first = fit_mlp(X, y, max_epochs=2, num_threads=1, **options)
    rest = fit_mlp(X, y, max_epochs=2, num_threads=1, init=first.state, **options)
    assert np.array_equal(rest.state["params"], one.state["params"])
    assert rest.history.loss == one.history.loss[2:]


def test_fit_divergence_keeps_finite_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)) * 100
    y = X @ np.array([1.0, 2.0, 3.0]) * 1e3
    with pytest.raises(gdcore.DivergenceError) as info:
        fit_mlp(X, y, hidden_layer_sizes=(8,), optimizer="sgd", lr=10.0, max_epochs=50,
                activation="identity")  # fmt: skip
    assert np.isfinite(info.value.fit.state["params"]).all()
    with pytest.warns(gdcore.DivergenceWarning):
        fit = fit_mlp(X, y, hidden_layer_sizes=(8,), optimizer="sgd", lr=10.0, max_epochs=50,
                      activation="identity", on_divergence="warn")  # fmt: skip
    assert fit.history.status == "diverged"


def test_ctrl_c_stops_promptly_and_keeps_the_model():
    import time

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=20_000)
    sent = interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt) as err:
        fit_mlp(X, y, hidden_layer_sizes=(128,), batch_size=32, max_epochs=10_000, tol=None)
    waited = time.perf_counter() - sent["at"]
    assert waited < 0.5
    fit = err.value.fit
    assert fit.history.status == "interrupted"
    assert np.isfinite(fit.state["params"]).all() and fit.state["counters"][1] > 0
    # the model of the last completed update predicts
    assert fit.predict(X[:5]).shape == (5,)


def test_fit_rejects_bad_options():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = X[:, 0]
    with pytest.raises(ValueError, match="activation"):
        fit_mlp(X, y, activation="gelu")
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        fit_mlp(X, y, hidden_layer_sizes=(4, 0))
    with pytest.raises(ValueError, match="alpha"):
        fit_mlp(X, y, alpha=-1.0)
    with pytest.raises(ValueError, match="init"):
        fit_mlp(X, y, hidden_layer_sizes=(4,), init=np.zeros(3))
    bad_init = np.zeros(3 * 4 + 4 + 4 + 1)
    bad_init[7] = np.inf
    with pytest.raises(ValueError, match="init contains NaN or infinity"):
        fit_mlp(X, y, hidden_layer_sizes=(4,), init=bad_init)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_mlp(X, y)


def _spy(kernel, raw):
    def run(*args, **kwargs):
        raw.update(kernel(*args, **kwargs))
        return raw

    return run


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_first_epoch_finds_nonfinite_rows(bad):
    # The loop's first epoch checks the first layer's products x·W_1[:, 0] instead of a pass
    # over X of its own. A -inf input can vanish behind relu (relu(-inf) = 0), so the check must
    # come before the activation; the error names X's first bad row, not the first one visited.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 6))
    X[170, 5] = bad
    X[250, 0] = bad
    y = np.arange(300) % 3
    for kernel in (_core.train_mlp, ref.train_mlp):
        for batch in (1, 32, None):
            for threads in (1, 2):
                if kernel is ref.train_mlp and (batch == 1 or threads == 2):
                    continue  # the twin's answer does not depend on them; keep the test quick
                raw = {}
                with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first in row 170\)"):
                    fit_mlp(X, y, hidden_layer_sizes=(8,), batch_size=batch, max_epochs=2,
                            num_threads=threads, _kernel=_spy(kernel, raw))  # fmt: skip
                assert raw["status"] == "bad_input" and raw["epochs"] == 0


def test_team_policy_never_changes_the_bits():
    # Each step on its threads or on the calling thread (TeamChooser): the products never split
    # a sum, so the bits are the same, the steps that switch between them included.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(600, 40)).astype(np.float32)
    y = rng.integers(0, 4, size=600)
    options = dict(hidden_layer_sizes=(256,), batch_size=300, max_epochs=20, tol=None,
                   random_state=1, num_threads=2)  # fmt: skip
    before = _core.team_policy()
    try:
        params = {}
        for policy in ("team", "serial", "adaptive"):
            _core.set_team_policy(policy)
            params[policy] = fit_mlp(X, y, **options).state["params"]
    finally:
        _core.set_team_policy(before)
    assert np.array_equal(params["serial"], params["team"])
    assert np.array_equal(params["adaptive"], params["team"])


def test_forward_refuses_overflow_naming_the_row():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 2))
    fit = fit_mlp(X, X[:, 0], hidden_layer_sizes=(3,), max_epochs=2)
    fit.state["params"][...] = 2.0  # x = (1e308, 1e308): hidden units of 4e308, past float64
    huge = np.array([[1.0, 2.0], [1e308, 1e308], [-1e308, -1e308]])  # relu(-inf) = 0: finite
    with pytest.raises(ValueError, match=r"overflows float64 in 1 row\(s\) of X \(the first: row 1\)"):
        fit.predict(huge)
    np.testing.assert_array_equal(fit.predict(huge[[0, 2]]), [2 + 2 * 3 * (2 * 3 + 2), 2.0])


def test_nonfinite_validation_row_is_named():
    from gdcore.train import _split_rows

    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 4))
    valid = _split_rows(200, 0.2, 0)[1]
    X[valid[2], 1] = np.nan
    for kernel in (_core.train_mlp, ref.train_mlp):
        raw = {}
        with pytest.raises(ValueError, match=rf"first in row {valid[2]}\)"):
            fit_mlp(X, X[:, 0] > 0, hidden_layer_sizes=(8,), early_stopping=True,
                    validation_fraction=0.2, max_epochs=3, _kernel=_spy(kernel, raw))  # fmt: skip
        assert raw["status"] == "bad_input" and raw["loss"] == []


def test_fit_converges_with_tol():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1]
    fit = fit_mlp(X, y, hidden_layer_sizes=(32,), max_epochs=2000, tol=1e-4, batch_size=32,
                  lr=0.01)  # fmt: skip
    assert fit.history.status == "converged"
    assert fit.history.epochs < 2000
    pred = fit.predict(X)
    assert 1 - np.mean((pred - y) ** 2) / np.var(y) > 0.9


# ---- PyTorch as an outside oracle --------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "leaky_relu"])
def test_matches_torch_after_100_adam_steps(torch, activation):
    torch.manual_seed(0)
    rng = np.random.default_rng(11)
    n, d, classes, batch = 1600, 20, 3, 16
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    sizes = [d, 32, 16, classes]
    params = init_params(sizes, activation, np.float32)
    alpha, lr = 1e-3, 2e-3
    fit = fit_mlp(X, y, hidden_layer_sizes=(32, 16), activation=activation, optimizer="adam",
                  lr=lr, batch_size=batch, max_epochs=1, tol=None, shuffle=False, alpha=alpha,
                  init=params.copy(), num_threads=1)  # fmt: skip
    act = {
        "relu": torch.nn.ReLU(),
        "tanh": torch.nn.Tanh(),
        "logistic": torch.nn.Sigmoid(),
        "leaky_relu": torch.nn.LeakyReLU(0.01),
    }[activation]
    coefs, intercepts = gdcore.mlp.unpack(params, sizes)
    layers = []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers += [lin] + ([act] if i < len(coefs) - 1 else [])
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    for step in range(n // batch):
        xb, yb = Xt[step * batch : (step + 1) * batch], yt[step * batch : (step + 1) * batch]
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss = loss + alpha / (2 * batch) * sum((w * w).sum() for w in weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        torch_loss = torch.nn.functional.cross_entropy(model(Xt), yt).item()
    ours = fit.forward(X).astype(np.float64)
    ours = ours - ours.max(axis=1, keepdims=True)
    our_loss = float(np.mean(np.log(np.exp(ours).sum(axis=1)) - ours[np.arange(n), y]))
    assert fit.state["counters"][0] == 100
    assert our_loss == pytest.approx(torch_loss, rel=1e-4)
    torch_params = np.concatenate(
        [np.concatenate([m.weight.detach().numpy().T.ravel(), m.bias.detach().numpy()])
         for m in model if isinstance(m, torch.nn.Linear)]
    )  # fmt: skip
    np.testing.assert_allclose(fit.state["params"], torch_params, rtol=0, atol=2e-4)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_a_fit_run_by_a_signal_handler_during_a_fit_changes_neither():
    # The loops keep their epoch-snapshot buffers per thread between fits (train.hpp,
    # EpochSnapshot). A Python signal handler runs inside a fit's Ctrl-C poll, on the same thread,
    # and may itself fit: each fit must keep buffers of its own and end exactly as alone.
    # The outer fit diverges in its 16th epoch (the learning rate jumps 1e12-fold), so its result
    # is the snapshot taken at that epoch's start, after the handler's fit has come and gone.
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(3000, 40)), rng.integers(0, 3, size=3000)
    Xs, ys = rng.normal(size=(200, 5)), rng.normal(size=200)
    steps_per_epoch = 3000 // 16 + 1
    jump = gdcore.schedules.StepLR(0.01, step_size=15 * steps_per_epoch, gamma=1e12)
    outer_kw = dict(hidden_layer_sizes=(256,), batch_size=16, max_epochs=20, tol=None,
                    num_threads=1, optimizer="sgd", schedule=jump, on_divergence="warn")  # fmt: skip
    inner_kw = dict(hidden_layer_sizes=(8,), batch_size=8, max_epochs=3, tol=None, num_threads=1)
    with pytest.warns(gdcore.DivergenceWarning):
        alone_outer = fit_mlp(X, y, **outer_kw)
    assert alone_outer.history.status == "diverged" and alone_outer.history.epochs == 15
    alone_inner = fit_mlp(Xs, ys, **inner_kw)
    inner = {}

    def handler(signum, frame):
        inner["fit"] = fit_mlp(Xs, ys, **inner_kw)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.02)  # the fit takes ~0.2 s and polls every 50 ms
    try:
        with pytest.warns(gdcore.DivergenceWarning):
            outer = fit_mlp(X, y, **outer_kw)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert "fit" in inner, "the handler did not run during the outer fit; make the fit longer"
    np.testing.assert_array_equal(outer.state["params"], alone_outer.state["params"])
    np.testing.assert_array_equal(inner["fit"].state["params"], alone_inner.state["params"])
