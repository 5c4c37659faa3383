"""The linear training loop: core == NumPy twin, known optima, stopping rules, divergence,
Ctrl-C, threads and memory layout."""

import time

import warnings

import numpy as np
import pytest
from conftest import assert_mirrors, interrupt_after

import gdcore
from gdcore import _core, train
from gdcore.reference import rng as ref_rng
from gdcore.reference import train as ref_train

# -- the shuffle ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
@pytest.mark.parametrize("seed,epoch", [(0, 0), (0, 1), (12345, 7), (2**64 - 1, 3)])
def test_shuffle_mirrors_twin(n, seed, epoch):
    rows = np.arange(n, dtype=np.int64) * 3
    core = _core.shuffled_order(rows, seed, epoch)
    twin = ref_rng.shuffled_order(rows, seed, epoch)
    assert np.array_equal(core, twin)
    assert sorted(core.tolist()) == rows.tolist()


def test_splitmix64_known_values():
    # SplitMix64 from state 0: the reference sequence of Steele, Lea and Flood's generator.
    gen = ref_rng.SplitMix64(0)
    assert [gen.next() for _ in range(3)] == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]


def test_shuffles_differ_between_epochs_and_look_uniform():
    counts = np.zeros((5, 5))
    for epoch in range(2000):
        order = _core.shuffled_order(np.arange(5), 42, epoch)
        counts[np.arange(5), order] += 1
    # each value lands in each position about 400 times (binomial sd ≈ 18)
    assert np.all(np.abs(counts - 400) < 100)


# -- core == twin over losses, optimizers, batch sizes and dtypes --------------------------------


def _problem(loss, n=60, d=19, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    if loss in train.CLASSIFICATION_LOSSES:
        score = X @ w
        cuts = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
        y = np.digitize(score, cuts)
    else:
        y = X @ w + 0.1 * rng.standard_normal(n)
    return X, y


LOSSES = train.REGRESSION_LOSSES + train.CLASSIFICATION_LOSSES
OPTIMIZERS = ["sgd", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adamax", "nadam"]


@pytest.mark.filterwarnings("ignore::gdcore.train.DivergenceWarning")  # nesterov, squared eps.
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
def test_loop_mirrors_twin(loss, optimizer, batch_size, dtype):
    X, y = _problem(loss)
    kw = dict(loss=loss, optimizer=optimizer, lr=0.01, batch_size=batch_size, max_epochs=3,
              tol=None, random_state=3, penalty="l2", alpha=1e-3,
              on_divergence="warn")  # fmt: skip
    core = train.fit_linear(X.astype(dtype), y, **kw)
    twin = ref_train.fit_linear(X.astype(dtype), y, **kw)
    assert core.coef.dtype == dtype
    # the same operations in the same order, exp and log included (reference/vmath.py): the
    # same bits, even where Adam's normalisation would magnify a last-bit difference
    np.testing.assert_array_equal(core.state["params"], twin.state["params"])
    assert core.history.loss == twin.history.loss


@pytest.mark.parametrize(
    "case",
    [
        dict(loss="hinge", classes=3),  # one-vs-rest heads
        dict(loss="log_loss", classes=4, multiclass="softmax"),
        dict(loss="squared_error", penalty="l1", alpha=0.01),
        dict(loss="huber", penalty="elasticnet", alpha=0.01, l1_ratio=0.5),
        dict(loss="hinge", sample_weight=True, validation_fraction=0.25, early_stopping=True,
             tol=1e-4),  # fmt: skip
        dict(loss="squared_error", schedule="invscaling", fit_intercept=False),
        dict(loss="log_loss", schedule="plateau", validation_fraction=0.2),
        dict(loss="modified_huber", optimizer="momentum", record_every=5, shuffle=False),
        dict(loss="squared_error", average=True, penalty="l1", alpha=0.001),
        dict(loss="hinge", classes=3, average=40, optimizer="adam"),
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_loop_options_mirror_twin(case):
    case = dict(case)
    classes = case.pop("classes", 2)
    X, y = _problem(case["loss"], n=80, d=21, classes=classes)
    if case.pop("sample_weight", False):
        case["sample_weight"] = np.random.default_rng(1).uniform(0.1, 2.0, len(y))
    kw = dict(lr=0.02, batch_size=5, max_epochs=6, random_state=1)
    kw.update(case)
    kw.setdefault("tol", None)
    core = train.fit_linear(X, y, **kw)
    twin = ref_train.fit_linear(X, y, **kw)
    np.testing.assert_array_equal(core.state["params"], twin.state["params"])
    assert core.history.epochs == twin.history.epochs
    assert core.history.status == twin.history.status
    assert core.history.loss == twin.history.loss
    assert core.history.val_score == twin.history.val_score
    if kw.get("record_every"):
        assert core.history.path.shape == twin.history.path.shape
        np.testing.assert_array_equal(core.history.path, twin.history.path)


@pytest.mark.parametrize(
    "case",
    [
        dict(loss="squared_error", optimizer_options={"weight_decay": 0.05}),
        dict(loss="squared_error", optimizer_options={"maximize": True}, penalty=None),
        dict(loss="hinge", classes=3),
        dict(loss="huber", fit_intercept=False, sample_weight=True, penalty=None),
        dict(loss="epsilon_insensitive", shuffle=False, alpha=0.01),
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stochastic_sgd_matches_twin_bitwise(case, dtype):
    # Stochastic steps of plain SGD take a path without a gradient buffer in the core; the twin
    # computes the gradient, the l2 term and the SGD update apart, as for any batch. The same
    # operations give the same bits.
    case = dict(case)
    classes = case.pop("classes", 2)
    X, y = _problem(case["loss"], n=70, d=37, classes=classes)
    if case.pop("sample_weight", False):
        case["sample_weight"] = np.random.default_rng(1).uniform(0.1, 2.0, len(y))
    kw = dict(optimizer="sgd", lr=0.01, batch_size=1, max_epochs=3, tol=None, random_state=2,
              penalty="l2", alpha=1e-3)  # fmt: skip
    kw.update(case)
    core = train.fit_linear(X.astype(dtype), y, **kw)
    twin = ref_train.fit_linear(X.astype(dtype), y, **kw)
    assert np.array_equal(core.state["params"], twin.state["params"])
    assert core.history.loss == twin.history.loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stochastic_log_loss_defers_its_values_exactly(dtype):
    # Stochastic log-loss steps check that z is finite and leave the loss value for later, 16
    # rows at a time (StochasticSgdStep::deferred): the epoch's loss must still count every row
    # once, with its weight, including the rows after the last full block of 16 (83 = 5 x 16 + 3).
    X, y = _problem("log_loss", n=83, d=13, classes=2)
    w = np.random.default_rng(4).uniform(0.1, 2.0, len(y))
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, batch_size=1, max_epochs=4, tol=None,
              random_state=5, penalty="l2", alpha=1e-3, sample_weight=w)  # fmt: skip
    core = train.fit_linear(X.astype(dtype), y, **kw)
    twin = ref_train.fit_linear(X.astype(dtype), y, **kw)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(core.history.loss, twin.history.loss, rtol=rtol)
    # the tolerance would notice a dropped row: the twin without the last row's weight differs
    dropped = ref_train.fit_linear(X.astype(dtype), y, **{**kw, "sample_weight": np.r_[w[:-1], 0]})
    assert not np.allclose(dropped.history.loss[:1], twin.history.loss[:1], rtol=rtol, atol=0)


def test_batch_chunks_keep_half_the_threshold_each():
    work = _core.PARALLEL_BATCH_WORK
    assert _core.batch_chunks(100, 100, 1, 16) == 1  # 10,000 multiply-adds: below the threshold
    assert _core.batch_chunks(256, 100, 1, 1) == 1
    assert _core.batch_chunks(256, 100, 1, 2) == 2  # two threads split from the threshold on
    # 25,600 multiply-adds hold three chunks of at least half the threshold, not sixteen
    assert _core.batch_chunks(256, 100, 1, 16) == 3
    assert _core.batch_chunks(4096, 100, 1, 16) == 16
    assert _core.batch_chunks(40, 1000, 1, 64) == 40 * 1000 // (work // 2)
    for rows, d, heads, threads in [(300, 55, 3, 8), (9, 5000, 1, 12), (1000, 17, 2, 5)]:
        chunks = _core.batch_chunks(rows, d, heads, threads)
        assert 1 <= chunks <= min(threads, rows)
        assert chunks == 1 or rows * d * heads // chunks >= work // 2


def test_threads_split_batches_deterministically():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 70))
    y = X @ rng.standard_normal(70)
    kw = dict(batch_size=2000, max_epochs=2, tol=None, optimizer="adam", lr=0.01)
    assert _core.batch_chunks(2000, 70, 1, 2) == 2  # really split across two threads
    two = train.fit_linear(X, y, num_threads=2, **kw)
    again = train.fit_linear(X, y, num_threads=2, **kw)
    twin = ref_train.fit_linear(X, y, num_threads=2, **kw)
    one = train.fit_linear(X, y, num_threads=1, **kw)
    assert np.array_equal(two.coef, again.coef)  # same threads, same bits
    assert np.array_equal(two.coef, twin.coef)  # and the twin splits the same way
    np.testing.assert_allclose(one.coef, two.coef, rtol=1e-12)  # other threads: rounding only


@pytest.fixture
def team_policy():
    before = _core.team_policy()
    yield _core.set_team_policy
    _core.set_team_policy(before)


def test_team_policy_never_changes_the_bits(team_policy):
    # Split mini-batches run on their threads or all on the calling thread (TeamChooser, which
    # picks by speed): the chunks and their order of addition are the same, so are the bits.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 70)).astype(np.float32)
    y = (X @ rng.standard_normal(70) > 0).astype(int)
    kw = dict(loss="log_loss", batch_size=1000, max_epochs=20, tol=None, num_threads=2)
    assert _core.batch_chunks(1000, 70, 1, 2) == 2
    fits = {}
    for policy in ("team", "serial", "adaptive"):
        team_policy(policy)
        assert _core.team_policy() == policy
        fits[policy] = train.fit_linear(X, y, **kw)
    for policy in ("serial", "adaptive"):
        assert np.array_equal(fits[policy].coef, fits["team"].coef), policy
        assert fits[policy].history.loss == fits["team"].history.loss, policy
    with pytest.raises(ValueError, match="team policy must be"):
        team_policy("fast")


# -- known optima ---------------------------------------------------------------------------------


def test_batch_gradient_descent_reaches_least_squares():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((500, 4))
    y = X @ np.array([1.0, -2.0, 3.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(500)
    fit = train.fit_linear(X, y, batch_size=None, max_epochs=3000, lr=0.5, tol=None,
                           penalty=None)  # fmt: skip
    solution = np.linalg.lstsq(np.column_stack([X, np.ones(500)]), y, rcond=None)[0]
    got = np.r_[fit.coef, fit.intercept]
    assert np.max(np.abs(got - solution)) <= 1e-6 * np.max(np.abs(solution))


def test_tolerance_stops_and_says_converged():
    X, y = _problem("squared_error", n=200)
    fit = train.fit_linear(X, y, lr=0.01, max_epochs=1000, tol=1e-3, n_iter_no_change=3)
    assert fit.history.status == "converged" and fit.history.converged
    assert fit.history.epochs < 1000
    # the last three epochs each failed to beat the best loss before them by tol
    losses = fit.history.loss
    best = min(losses[:-3])
    for loss in losses[-3:]:
        assert loss > best - 1e-3
        best = min(best, loss)


def test_target_loss_stops_early():
    X, y = _problem("squared_error", n=200)
    fit = train.fit_linear(X, y, lr=0.01, max_epochs=500, tol=None, target_loss=0.05)
    assert fit.history.status == "target_reached"
    assert fit.history.loss[-1] <= 0.05 < fit.history.loss[-2]


def test_history_records_lr_and_path():
    X, y = _problem("squared_error", n=50, d=2)
    fit = train.fit_linear(X, y, lr=0.1, batch_size=10, max_epochs=4, tol=None,
                           schedule=gdcore.schedules.StepLR(0.1, step_size=5, gamma=0.5),
                           record_every=1)  # fmt: skip
    # 5 updates per epoch; StepLR halves every 5: the last update of epoch e runs at 0.1 / 2^e
    assert fit.history.lr == [0.1, 0.05, 0.025, 0.0125]
    assert fit.history.path.shape == (4 * 5 + 1, 3)  # start + one row per update
    np.testing.assert_array_equal(fit.history.path[0], 0.0)
    np.testing.assert_array_equal(fit.history.path[-1], np.r_[fit.coef, fit.intercept])


@pytest.mark.parametrize("average", [False, True])
def test_continuing_from_state_equals_one_long_fit(average):
    X, y = _problem("log_loss", n=90)
    kw = dict(loss="log_loss", optimizer="adam", lr=0.01, batch_size=4, tol=None, random_state=9,
              average=average)  # fmt: skip
    whole = train.fit_linear(X, y, max_epochs=6, **kw)
    first = train.fit_linear(X, y, max_epochs=2, **kw)
    rest = train.fit_linear(X, y, max_epochs=4, init=first.state, **kw)
    assert np.array_equal(whole.coef, rest.coef)
    assert whole.intercept == rest.intercept


# -- divergence, Ctrl-C, bad input ---------------------------------------------------------------


def test_averaged_sgd_is_the_mean_of_the_iterates():
    X, y = _problem("squared_error", n=30, d=3)
    kw = dict(lr=0.05, batch_size=1, max_epochs=2, tol=None, shuffle=False, record_every=1)
    fit = train.fit_linear(X, y, average=11, **kw)
    path = fit.history.path  # row u = parameters after update u (row 0: the start)
    expected = path[11:].mean(axis=0)  # updates 11..60 averaged
    np.testing.assert_allclose(np.r_[fit.coef, fit.intercept], expected, rtol=1e-12)
    np.testing.assert_array_equal(fit.state["params"], path[-1])  # the last iterate is kept


def test_divergence_raises_names_step_and_rate_and_keeps_finite_params():
    X, y = _problem("squared_error", n=100)
    with pytest.raises(gdcore.DivergenceError, match=r"update \d+ \(learning rate 10\).*smaller") as err:
        train.fit_linear(X, y * 1e3, lr=10.0, batch_size=1, max_epochs=5)
    fit = err.value.fit
    assert fit.history.status == "diverged"
    assert np.all(np.isfinite(fit.coef)) and np.isfinite(fit.intercept)
    with pytest.warns(gdcore.DivergenceWarning):
        fit = train.fit_linear(X, y * 1e3, lr=10.0, batch_size=1, max_epochs=5,
                               on_divergence="warn")  # fmt: skip
    assert np.all(np.isfinite(fit.coef))


def test_ctrl_c_interrupts_promptly_and_keeps_the_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100_000, 50)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    sent = interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt) as err:
        train.fit_linear(X, y, loss="hinge", batch_size=1, max_epochs=10_000, tol=None)
    waited = time.perf_counter() - sent["at"]
    assert waited < 0.5
    fit = err.value.fit
    assert fit.history.status == "interrupted"
    assert np.all(np.isfinite(fit.coef)) and fit.state["counters"][1] > 0


@pytest.mark.parametrize(
    "X,y,kw,error,match",
    [
        ([[0.0, np.nan], [1.0, 2.0]], [0.0, 1.0], {}, ValueError, r"X contains NaN or infinity \(first in row 0\)"),
        ([[0.0, 1.0], [1.0, np.inf]], [0.0, 1.0], {}, ValueError, r"first in row 1"),
        ([[0.0], [1.0]], [0.0, np.nan], {}, ValueError, r"y contains NaN or infinity \(first in row 1\)"),
        ([[0.0], [1.0]], [0.0], {}, ValueError, "y has 1 values but X has 2 rows"),
        ([0.0, 1.0], [0.0, 1.0], {}, ValueError, "X must be 2-D"),
        (np.zeros((0, 2)), [], {}, ValueError, "X has no rows"),
        ([[0.0], [1.0]], ["a", "a"], dict(loss="hinge"), ValueError, "single class"),
        ([[0.0], [1.0]], [0.0, 1.0], dict(loss="cubic"), ValueError, "loss must be one of"),
        ([[0.0], [1.0]], [0.0, 1.0], dict(optimizer="lbfgs"), ValueError, "unknown optimizer 'lbfgs'"),
        ([[0.0], [1.0]], [0.0, 1.0], dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        ([[0.0], [1.0]], [0.0, 1.0], dict(lr=-1.0), ValueError, "lr must be >= 0"),
        ([[0.0], [1.0]], [0.0, 1.0], dict(sample_weight=[1.0]), ValueError, r"sample_weight must have shape \(2,\)"),
        ([["a"], ["b"]], [0.0, 1.0], {}, TypeError, "X must hold real numbers"),
        ([[0.0], [1.0]], [0.5j, 1.0], dict(loss="hinge"), TypeError, "got complex dtype complex128"),
        ([[0.0], [1.0]], [0.5j, 1.0], {}, TypeError, "y must hold real numbers for regression"),
        ([[0.0], [1.0]], [0, 1], dict(loss="hinge", multiclass="softmax"), None, None),
    ],
)  # fmt: skip
def test_bad_input_is_named(X, y, kw, error, match):
    if error is None:  # two classes with softmax requested: a binary head, no error
        train.fit_linear(np.array(X), y, max_epochs=1, **kw)
        return
    with pytest.raises(error, match=match):
        train.fit_linear(X, y, max_epochs=1, **kw)


def test_remembered_optimizer_options_still_validate_each_call():
    # Validated options are remembered per (kind, options); a rejected value must be rejected on
    # every call, and values that hash alike (1, 1.0, True) must not share an entry.
    X, y = np.array([[0.0], [1.0]]), np.array([0.0, 1.0])
    for _ in range(2):
        with pytest.raises(ValueError, match="eps must be > 0"):
            train.fit_linear(X, y, optimizer="adam", optimizer_options={"eps": -1.0}, max_epochs=1)
    kind, options = train._optimizer("sgd", 1, {"momentum": 1})
    assert (kind, options["lr"], options["momentum"]) == ("sgd", 1.0, 1.0)
    for _ in range(2):
        with pytest.raises(TypeError, match="lr must be a real number"):
            train._optimizer("sgd", True, {"momentum": 1})
        with pytest.raises(TypeError, match="momentum must be a real number"):
            train._optimizer("sgd", 1, {"momentum": True})
    # The caller gets its own dict: changing it does not change the next call's options.
    options["momentum"] = 0.5
    assert train._optimizer("sgd", 1, {"momentum": 1})[1]["momentum"] == 1.0
    # A list of betas is keyed with its type (list, not tuple) and validated like a tuple.
    assert train._optimizer("adam", 1e-3, {"betas": [0.8, 0.9]})[1]["betas"] == (0.8, 0.9)


ALL_LOSSES = train.REGRESSION_LOSSES + train.CLASSIFICATION_LOSSES


def _data_with_bad_rows(bad, dtype=np.float64, n=2000, d=10):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d)).astype(dtype)
    X[1200, 9] = bad
    X[1500, 0] = bad
    return X


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("loss", ALL_LOSSES)
def test_first_epoch_finds_nonfinite_rows(loss, bad):
    # X is checked by the loop's first epoch, not by a pass of its own: a NaN or infinity in any
    # row stops the fit, whatever the loss (hinge-type losses map a NaN margin to a zero
    # derivative, so the loss alone would not show it), batch size, thread count or row order,
    # and the error names the first bad row of X (not the first one the shuffle visited).
    for dtype in (np.float64, np.float32):
        X = _data_with_bad_rows(bad, dtype)
        y = np.arange(len(X)) % 3 if loss in train.CLASSIFICATION_LOSSES else X[:, 1] * 0
        for batch in (1, 7, None):  # None: 20k multiply-adds, split across 2 threads
            for threads in (1, 2):
                raw = {}
                with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first in row 1200\)"):
                    train.fit_linear(X, y, loss=loss, batch_size=batch, num_threads=threads,
                                     max_epochs=2, tol=None, _kernel=_spy(_core.train_linear, raw))  # fmt: skip
                assert raw["status"] == "bad_input", (batch, threads, dtype)  # found by the loop
                assert raw["epochs"] == 0


def _spy(kernel, raw):
    """A training kernel that also keeps its result dict in `raw`."""

    def run(*args, **kwargs):
        raw.update(kernel(*args, **kwargs))
        return raw

    return run


@pytest.mark.parametrize("batch", [7, None])
def test_twin_finds_nonfinite_rows_too(batch):
    X = _data_with_bad_rows(np.nan)
    raw_core, raw_twin = {}, {}
    for kernel, raw in ((_core.train_linear, raw_core), (ref_train.train_linear, raw_twin)):
        with pytest.raises(ValueError, match=r"first in row 1200"):
            train.fit_linear(X, X[:, 1] > 0, loss="hinge", batch_size=batch, max_epochs=2,
                             _kernel=_spy(kernel, raw))  # fmt: skip
    assert raw_core["status"] == raw_twin["status"] == "bad_input"
    assert raw_core["bad_step"] == raw_twin["bad_step"]


def test_nonfinite_validation_row_is_named():
    X = _data_with_bad_rows(0.0)
    valid = train._split_rows(len(X), 0.1, 0)[1]
    X[valid[3], 2] = np.inf  # a row only the validation score reads
    for kernel in (_core.train_linear, ref_train.train_linear):
        raw = {}
        with pytest.raises(ValueError, match=rf"first in row {valid[3]}\)"):
            train.fit_linear(X, X[:, 1] > 0, loss="log_loss", batch_size=32, max_epochs=3,
                             validation_fraction=0.1, early_stopping=True,
                             _kernel=_spy(kernel, raw))  # fmt: skip
        assert raw["status"] == "bad_input" and raw["epochs"] == 0 and raw["loss"] == []


def test_nonfinite_row_after_a_divergence_is_still_named():
    # The fit diverges at its first steps, before it reaches the bad last row; a warning about
    # divergence would hide the bad input, so the first epoch's divergence checks X as well.
    X = _data_with_bad_rows(0.0)
    X[-1, 3] = np.nan
    with pytest.raises(ValueError, match=f"first in row {len(X) - 1}"):
        train.fit_linear(X, X[:, 0] * 1e3, lr=1e6, batch_size=8, shuffle=False, max_epochs=2,
                         on_divergence="warn")  # fmt: skip


def test_overflowing_finite_inputs_are_divergence_not_bad_input():
    X = np.full((50, 3), 3e38, dtype=np.float32)  # finite, but x·w overflows once w ≠ 0
    with pytest.warns(gdcore.DivergenceWarning, match="diverged"):
        fit = train.fit_linear(X, np.ones(50), batch_size=5, max_epochs=2, on_divergence="warn")
    assert fit.history.status == "diverged"
    assert np.isfinite(fit.coef).all()


def test_decision_function_refuses_bad_X_and_overflow_naming_the_row():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 2))
    fit = train.fit_linear(X, X[:, 0] - X[:, 1], max_epochs=2)
    fit.coef[...] = 1.0  # so that x = (1e308, 1e308) scores 2e308, past float64's range
    huge = np.array([[1.0, 2.0], [-3.0, 0.5], [1e308, 1e308], [1e308, -1e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning either
        with pytest.raises(ValueError, match=r"overflows float64 in 1 row\(s\) of X \(the first: row 2\)"):
            fit.decision_function(huge)
        np.testing.assert_array_equal(fit.decision_function(huge[[0, 1, 3]]),
                                      huge[[0, 1, 3]].sum(axis=1) + fit.intercept)  # fmt: skip
    huge[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first in row 1\)"):
        fit.decision_function(huge)


def test_inputs_are_not_copied_and_memmaps_work(tmp_path):
    X = np.random.default_rng(0).standard_normal((40, 3))
    assert train._as_matrix(X) is X
    X32 = X.astype(np.float32)
    assert train._as_matrix(X32) is X32
    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    assert np.shares_memory(train._as_matrix(ro), ro)
    y = X @ np.array([1.0, 2.0, 3.0])
    a = train.fit_linear(ro, y, max_epochs=3, tol=None)
    b = train.fit_linear(X, y, max_epochs=3, tol=None)
    assert np.array_equal(a.coef, b.coef)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_simd_paths_train_the_same_bits(dtype):
    # Each path holds the 16 dot-product lanes in its own register width (and four-row blocks
    # reduce together on AVX-512); the lanes and the order of every addition are the same, so a
    # fit is the same bits on every path. d covers below 16, a multiple of 16 and a vector tail.
    paths = ["baseline", "avx2", "avx512"]
    usable = paths[: paths.index(_core.detected_simd_path()) + 1]
    before = _core.simd_path()
    rng = np.random.default_rng(5)
    try:
        for d in (5, 16, 37, 100):
            X = rng.standard_normal((523, d)).astype(dtype)
            y = (X @ rng.standard_normal(d) > 0).astype(int)
            yk = rng.integers(0, 3, 523)
            fits = {}
            for path in usable:
                _core.set_simd_path(path)
                out = []
                for batch, target, opt in [(256, y, "sgd"), (1, y, "sgd"), (7, yk, "adam")]:
                    # the held-out rows' loss and score go through the prediction kernel
                    fit = train.fit_linear(X, target, loss="log_loss", optimizer=opt, lr=0.01,
                                           batch_size=batch, max_epochs=2, tol=None,
                                           validation_fraction=0.2, num_threads=1)  # fmt: skip
                    out += [fit.coef, fit.intercept, np.asarray(fit.history.loss),
                            np.asarray(fit.history.val_loss)]  # fmt: skip
                fits[path] = out
            for path in usable[1:]:
                for a, b in zip(fits[path], fits["baseline"]):
                    assert np.array_equal(a, b), (path, d)
    finally:
        _core.set_simd_path(before)


# -- scikit-learn's guards: the clipped loss derivative and the floored l2 shrink ------------------


def _one_step(X, y, **kw):
    """One stochastic (or batch) update from the given start; returns the parameters."""
    return train.fit_linear(X, y, max_epochs=1, shuffle=False, tol=None, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_max_dloss_clips_each_rows_derivative_before_weighting(dtype, batch_size):
    # Squared error from w = 0, b = 0: each row's derivative is p - y = -y; clipped to
    # [-c, c] and weighted, the first update is w = -lr * mean(w_i * clip(-y_i) * x_i).
    X = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]], dtype=dtype)
    y = np.array([10.0, -0.2, 3.0], dtype=dtype)
    sw = np.array([2.0, 1.0, 0.5], dtype=dtype)
    c, lr = 1.0, 0.1
    fit = train.fit_linear(X[:batch_size], y[:batch_size], sample_weight=sw[:batch_size],
                           loss="squared_error", lr=lr, batch_size=batch_size, max_epochs=1,
                           shuffle=False, tol=None, penalty=None, max_dloss=c)  # fmt: skip
    d = np.clip(-y[:batch_size].astype(np.float64), -c, c) * sw[:batch_size]
    want_w = -lr * (d[:, None] * X[:batch_size]).sum(axis=0) / batch_size
    want_b = -lr * d.sum() / batch_size
    np.testing.assert_allclose(fit.coef, want_w, rtol=1e-6)
    np.testing.assert_allclose(fit.intercept, want_b, rtol=1e-6)
    unclipped = train.fit_linear(X[:batch_size], y[:batch_size], sample_weight=sw[:batch_size],
                                 loss="squared_error", lr=lr, batch_size=batch_size,
                                 max_epochs=1, shuffle=False, tol=None, penalty=None)  # fmt: skip
    assert not np.allclose(unclipped.coef, fit.coef)  # y = 10 and 3 are past the cap


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("loss", ["squared_hinge", "squared_error", "log_loss"])
def test_guards_mirror_twin(dtype, batch_size, loss):
    # Large rates and a large alpha, so both guards act: the core and the twin agree bitwise.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 5)).astype(dtype) * 3
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(dtype)
    if loss == "squared_error":
        y = X @ rng.normal(size=5).astype(dtype) * 50
    kw = dict(loss=loss, lr=0.5, alpha=3.0, batch_size=batch_size, max_epochs=4, tol=None,
              max_dloss=2.0, floor_l2_shrink=True, random_state=2, on_divergence="warn")  # fmt: skip
    core = train.fit_linear(X, y, **kw)
    twin = ref_train.fit_linear(X, y, **kw)
    assert core.history.status == twin.history.status == "max_epochs"
    np.testing.assert_array_equal(core.state["params"], twin.state["params"])


def test_max_dloss_keeps_squared_hinge_from_diverging_at_the_optimal_rate():
    # scikit-learn's default squared_hinge fit: the "optimal" rate starts near 10, the first
    # derivatives then grow with w and, unclipped, overflow within the first epoch.
    from gdcore.schedules import OptimalLR

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    y = (X @ rng.normal(size=8) > 0).astype(int)
    kw = dict(loss="squared_hinge", schedule=OptimalLR(None, alpha=1e-4), batch_size=1,
              max_epochs=10, tol=None, on_divergence="warn")  # fmt: skip
    with pytest.warns(train.DivergenceWarning):
        train.fit_linear(X, y, **kw)
    fit = train.fit_linear(X, y, max_dloss=1e12, **kw)
    assert fit.history.status == "max_epochs"
    assert ((fit.decision_function(X) > 0) == (y == 1)).mean() > 0.9


@pytest.mark.parametrize("batch_size", [1, 4])
def test_floor_l2_shrink_zeroes_instead_of_flipping(batch_size):
    # From w0 with lr * alpha = 3: the plain step is w0 (1 - 3) - lr g (the sign flips, |w|
    # doubles); the floored one drops w0's part: -lr g, up to the rounding of lr * (1 / lr).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(batch_size, 3))
    y = rng.normal(size=batch_size)
    w0 = np.array([5.0, -4.0, 3.0])
    init = {"params": np.concatenate([w0, [0.0]])}
    kw = dict(loss="squared_error", lr=0.3, alpha=10.0, batch_size=batch_size, max_epochs=1,
              shuffle=False, tol=None)  # fmt: skip
    g = ((X @ w0 - y)[:, None] * X).mean(axis=0)  # the data part of the gradient at w0
    plain = train.fit_linear(X, y, init=init, **kw)
    np.testing.assert_allclose(plain.coef, w0 * (1 - 3.0) - 0.3 * g, rtol=1e-12)
    floored = train.fit_linear(X, y, init=init, floor_l2_shrink=True, **kw)
    np.testing.assert_allclose(floored.coef, -0.3 * g, rtol=1e-9, atol=1e-12)
    # Below the cap, and with momentum, the flag changes nothing.
    calm = dict(kw, lr=0.05)
    np.testing.assert_array_equal(train.fit_linear(X, y, init=init, **calm).coef,
                                  train.fit_linear(X, y, init=init, floor_l2_shrink=True,
                                                   **calm).coef)  # fmt: skip
    mom = dict(kw, optimizer="momentum")
    np.testing.assert_array_equal(train.fit_linear(X, y, init=init, **mom).coef,
                                  train.fit_linear(X, y, init=init, floor_l2_shrink=True,
                                                   **mom).coef)  # fmt: skip


def test_validation_rows_of_zero_weight_score_zero_in_core_and_twin():
    X = np.arange(16.0).reshape(8, 2)
    y = np.arange(8.0)
    sw = np.ones(8)
    _, valid = train._split_rows(8, 0.5, 3)
    sw[valid] = 0.0
    kw = dict(sample_weight=sw, validation_fraction=0.5, random_state=3, max_epochs=2, lr=0.001)
    core = train.fit_linear(X, y, **kw)
    twin = ref_train.fit_linear(X, y, **kw)
    assert core.history.val_score == twin.history.val_score == [0.0, 0.0]
    assert core.history.val_loss == twin.history.val_loss == [0.0, 0.0]


def test_classification_task_with_a_regression_loss():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    labels = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    fit = train.fit_linear(X, labels, loss="squared_error", task="classification", lr=0.01,
                           max_epochs=20)  # fmt: skip
    assert fit.task == "ovr" and list(fit.classes) == ["a", "b", "c"]
    assert (fit.classes[np.argmax(fit.decision_function(X), axis=1)] == labels).mean() > 0.85
    twin = ref_train.fit_linear(X, labels, loss="squared_error", task="classification",
                                lr=0.01, max_epochs=20)  # fmt: skip
    np.testing.assert_array_equal(fit.coef, twin.coef)
    binary = train.fit_linear(X, labels == "a", loss="huber", task="classification")
    assert binary.task == "binary" and binary.coef.shape == (4,)
    with pytest.raises(ValueError, match="task='regression' needs a regression loss"):
        train.fit_linear(X, X[:, 0], loss="hinge", task="regression")


def test_lr_comes_once_either_way():
    X = np.random.default_rng(0).normal(size=(50, 3))
    y = X[:, 0]
    a = train.fit_linear(X, y, lr=0.05, max_epochs=2)
    b = train.fit_linear(X, y, optimizer_options={"lr": 0.05}, max_epochs=2)
    np.testing.assert_array_equal(a.coef, b.coef)
    with pytest.raises(ValueError, match="lr is given twice"):
        train.fit_linear(X, y, lr=0.1, optimizer_options={"lr": 0.05})
    with pytest.raises(ValueError, match="lr"):
        train.fit_linear(X, y, optimizer_options={"lr": -1.0})


def test_targets_with_no_columns_are_refused():
    with pytest.raises(ValueError, match="y must have at least one target column"):
        train.fit_linear(np.ones((4, 2)), np.zeros((4, 0)))


def test_raw_loop_refuses_heads_and_labels_it_cannot_index():
    X = np.ones((4, 2))
    base = dict(
        task="softmax", heads=3, loss="log_loss", epsilon=0.1, optimizer="sgd",
        optimizer_options={"lr": 0.1}, schedule=None, batch_size=1, max_epochs=1, tol=-np.inf,
        n_iter_no_change=5, early_stopping=False, shuffle=False, seed=0, penalty="none",
        alpha=0.0, l1_ratio=0.0, fit_intercept=True, target_loss=-np.inf, record_every=0,
        average=0, num_threads=1,
    )  # fmt: skip

    def call(Y, **kw):
        opts = dict(base, **kw)
        params = np.zeros(opts["heads"] * 2 + opts["heads"])
        return _core.train_linear(X, Y, None, np.arange(4), np.arange(0), params,
                                  [None, None, None], None, None, np.zeros(3, np.int64),
                                  np.array([1.0, 0.0]), **opts)  # fmt: skip

    call(np.array([0.0, 1.0, 2.0, 1.0]))  # valid labels run
    for bad in (1e6, -1.0, 0.5, np.nan):
        with pytest.raises(ValueError, match="class indices"):
            call(np.array([0.0, 1.0, bad, 1.0]))
    with pytest.raises(ValueError, match="heads must be >= 1"):
        call(np.zeros((4, 0)), task="regression", heads=0)
    with pytest.raises(ValueError, match="one column per head"):
        call(np.zeros((4, 1)), task="regression", heads=2)


def test_a_finite_blow_up_is_divergence_not_convergence():
    # lr 10 on features of scale 100: the loss grows by ~1e20 an epoch but stays finite, so the
    # tol rule (no improvement) would have stopped the fit and called it converged.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3)) * 100
    y = X[:, 0]
    with pytest.raises(train.DivergenceError, match="x that of the all-zero model") as info:
        train.fit_linear(X, y, lr=10.0, batch_size=100, max_epochs=8)
    assert info.value.fit.history.status == "diverged"
    with pytest.warns(train.DivergenceWarning, match="all-zero model"):
        ref_train.fit_linear(X, y, lr=10.0, batch_size=100, max_epochs=8, on_divergence="warn")
    # From a given start (not zero), only the rising rule applies: a classifier here.
    labels = (y > 0).astype(int)
    with pytest.raises(train.DivergenceError, match="the first epoch's"):
        train.fit_linear(X, labels, loss="squared_hinge", lr=10.0, batch_size=100, max_epochs=8)
    # A fit that wanders near its minimum (loss above its best, below its start) is not flagged.
    assert train.diverging_message([5.0, 1.0, 1.2, 1.5, 1.3, 1.9]) is None
    assert train.diverging_message([5.0, 0.1, 0.5, 1.2]) is None  # rising, 12x best, below start
    assert train.diverging_message([0.19, 0.018, 0.22, 0.95]) is None  # hinge, "optimal" rate
    assert train.diverging_message([1.0, 0.5, 20.0, 400.0]) is not None
    assert train.diverging_message([5e73, 1e94, 4e114]) is not None
    assert "first epoch's" in train.diverging_message([74.5, 1.5e43, 4.2e42, 1.8e42])
    assert train.diverging_message([2.98e26, 4.33e23, 5.18e23]) is None  # clipped, settled


@pytest.mark.parametrize(
    "init, match",
    [
        ({"params": np.array([np.nan, 0.0, 0.0])}, r"init\['params'\] holds NaN"),
        ({"params": np.zeros(3), "opt_kind": "sgd", "opt_state": [None, None, None],
          "counters": [0, -9, 0], "floats": [1.0, 0.0]}, r"init\['counters'\]"),  # fmt: skip
    ],
)
def test_init_that_no_fit_could_leave_is_refused(init, match):
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=match):
        train.fit_linear(X, np.arange(4.0), init=init)


def test_label_and_target_errors_name_the_problem():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="classes contains NaN"):
        train.fit_linear(X, np.array([0.0, 1.0, 0.0]), loss="hinge", classes=[0.0, 1.0, np.nan])
    with pytest.raises(TypeError, match="labels of one comparable type"):
        train.fit_linear(X, np.array([1, "a", 2], dtype=object), loss="hinge")
    with pytest.raises(ValueError, match="beyond float32's range"):
        train.fit_linear(X.astype(np.float32), np.array([1.0, 1e39, 0.0]))


def test_init_states_no_fit_could_leave_are_refused_by_name():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = X[:, 0]
    fit = train.fit_linear(X, y, optimizer="adam", lr=0.01, max_epochs=2)
    opt_state = [a if a is None else a.copy() for a in fit.state["opt_state"]]
    state = dict(fit.state, opt_state=opt_state)
    state["opt_state"][1][0] = -1.0  # exp_avg_sq, a running mean of squares
    with pytest.raises(ValueError, match="'exp_avg_sq' holds negative values"):
        train.fit_linear(X, y, optimizer="adam", lr=0.01, init=state)
    with pytest.raises(ValueError, match=r"init\['opt_state'\] must list 3 entries"):
        train.fit_linear(X, y, optimizer="adam", init=dict(fit.state, opt_state=[None]))
    with pytest.raises(ValueError, match=r"init\['counters'\]"):
        train.fit_linear(X, y, optimizer="adam", init=dict(fit.state, counters=[0, 2**63 - 1, 0]))
    with pytest.raises(TypeError, match=r"init\['schedule'\]"):
        train.fit_linear(X, y, optimizer="adam", init=dict(fit.state, schedule="cosine"))
    # a random_state of any size is reduced to 64 bits, as before
    train.fit_linear(X, y, random_state=2**70, max_epochs=1)


def test_wrongly_typed_hyperparameters_are_value_and_type_errors():
    # as scikit-learn's InvalidParameterError: scripts catching ValueError keep working
    for kw in ({"max_epochs": 5.0}, {"shuffle": 1}, {"alpha": "0.1"}):
        with pytest.raises(ValueError):
            train.fit_linear(np.ones((4, 2)), np.arange(4.0), **kw)
        with pytest.raises(TypeError):
            train.fit_linear(np.ones((4, 2)), np.arange(4.0), **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [1, 6])
def test_one_vs_rest_class_weight_mirrors_twin_and_weighs_by_head(dtype, batch_size):
    X, y = _problem("hinge", n=60, d=7, classes=3)
    X = X.astype(dtype)
    kw = dict(loss="hinge", lr=0.05, batch_size=batch_size, max_epochs=3, tol=None,
              random_state=4, validation_fraction=0.2)  # fmt: skip
    weights = {0: 2.0, 2: 0.5}
    core = train.fit_linear(X, y, class_weight=weights, **kw)
    twin = ref_train.fit_linear(X, y, class_weight=weights, **kw)
    np.testing.assert_array_equal(core.state["params"], twin.state["params"])
    assert core.history.loss == twin.history.loss
    assert core.history.val_loss == twin.history.val_loss
    # Head h weighs only class h's rows: weights of 1 change nothing, and a weight on class 0
    # is not a row weight (folding it into sample_weight gives another model).
    plain = train.fit_linear(X, y, **kw)
    ones = train.fit_linear(X, y, class_weight={0: 1.0, 1: 1.0, 2: 1.0}, **kw)
    np.testing.assert_array_equal(plain.state["params"], ones.state["params"])
    classes = np.unique(y)
    row_weight = np.array([weights.get(c, 1.0) for c in classes])[np.searchsorted(classes, y)]
    folded = train.fit_linear(X, y, sample_weight=row_weight, **kw)
    assert not np.allclose(folded.state["params"], core.state["params"])
    # two classes: the class weight is the row's weight
    labels = (y == classes[0]).astype(int)
    a = train.fit_linear(X, labels, class_weight={1: 3.0}, **kw)
    b = train.fit_linear(X, labels, sample_weight=np.where(labels == 1, 3.0, 1.0), **kw)
    np.testing.assert_array_equal(a.state["params"], b.state["params"])
    with pytest.raises(ValueError, match="not classes"):
        train.fit_linear(X, y, class_weight={7: 1.0}, **kw)
    with pytest.raises(ValueError, match="class_weight is for classification"):
        train.fit_linear(X, X[:, 0], class_weight={0: 1.0})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["pa1", "pa2"])
@pytest.mark.parametrize("loss, classes", [("hinge", 2), ("hinge", 3), ("epsilon_insensitive", 0)])
def test_passive_aggressive_steps_mirror_twin(dtype, mode, loss, classes):
    X, y = _problem(loss, n=50, d=9, classes=classes or 2)
    X = X.astype(dtype)
    X[3] = 0.0  # a zero row: PA-I does not step on it, PA-II moves the intercept only
    kw = dict(loss=loss, lr=0.3, batch_size=1, max_epochs=3, tol=None, random_state=5,
              penalty="l2", alpha=0.01, passive_aggressive=mode)  # fmt: skip
    core = train.fit_linear(X, y, **kw)
    twin = ref_train.fit_linear(X, y, **kw)
    np.testing.assert_array_equal(core.state["params"], twin.state["params"])
    plain = train.fit_linear(X, y, **dict(kw, passive_aggressive=None))
    assert not np.allclose(plain.state["params"], core.state["params"])


def test_passive_aggressive_needs_plain_stochastic_steps():
    X, y = _problem("hinge", n=20, d=3)
    with pytest.raises(ValueError, match="passive_aggressive steps need batch_size 1"):
        train.fit_linear(X, y, loss="hinge", batch_size=4, passive_aggressive="pa1")
    with pytest.raises(ValueError, match="passive_aggressive steps need"):
        train.fit_linear(X, y, loss="hinge", batch_size=1, optimizer="adam",
                         passive_aggressive="pa2")  # fmt: skip
    with pytest.raises(ValueError, match="works with loss 'hinge' or 'epsilon_insensitive'"):
        train.fit_linear(X, y, loss="log_loss", batch_size=1, passive_aggressive="pa1")


def test_kept_buffers_between_fits_change_nothing():
    # A fit's training rows (0..n-1, kept read-only between fits) and its shuffled order (a
    # buffer the thread keeps for its next fit) are reused: after larger and smaller fits, a fit
    # gives the bits of the twin, which allocates its own.
    from gdcore.train import _all_rows

    X, y = _problem("log_loss", n=400, d=9)
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, batch_size=16, max_epochs=3, tol=None,
              random_state=5)  # fmt: skip
    train.fit_linear(np.vstack([X, X]), np.concatenate([y, y]), **kw)
    small = train.fit_linear(X[:250], y[:250], **kw)
    again = train.fit_linear(X[:250], y[:250], **kw)
    twin = ref_train.fit_linear(X[:250], y[:250], **kw)
    np.testing.assert_array_equal(small.state["params"], twin.state["params"])
    np.testing.assert_array_equal(again.state["params"], twin.state["params"])
    rows = _all_rows(250)
    np.testing.assert_array_equal(rows, np.arange(250))
    assert not rows.flags.writeable
    np.testing.assert_array_equal(_all_rows(800), np.arange(800))  # still 0..n-1 after the fits


@pytest.mark.parametrize("dtype,n", [(np.float32, 6000), (np.float64, 3000)])
@pytest.mark.parametrize("batch_size,threads", [(1, 1), (7, 1), (1024, 2)])
def test_prefetching_fits_mirror_twin(dtype, n, batch_size, threads):
    # X past 1 MiB, so the kernels prefetch the rows ahead (rows_ahead): up to the end of each
    # epoch's order, and with two chunks per batch into each chunk's part of the next batch. The
    # prefetching reads the order ahead but changes no value: the twin's bits.
    rng = np.random.default_rng(11)
    X = rng.standard_normal((n, 50)).astype(dtype)
    assert X.nbytes > 1 << 20
    y = (X[:, :3].sum(axis=1) > 0).astype(np.int64)
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.01, batch_size=batch_size, max_epochs=2,
              tol=None, random_state=4, num_threads=threads)  # fmt: skip
    core = train.fit_linear(X, y, **kw)
    twin = ref_train.fit_linear(X, y, **kw)
    np.testing.assert_array_equal(core.state["params"], twin.state["params"])
    assert core.history.loss == twin.history.loss
