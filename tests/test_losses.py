"""Losses: exact tables, scikit-learn as outside oracle, finite differences, core == NumPy twin,
numeric extremes, bad input."""

import decimal
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import assert_mirrors

import gdcore
from gdcore import _core, losses
from gdcore.reference import losses as ref

DTYPES = [np.float32, np.float64]
# The core and the twin agree bit for bit on every loss: the log loss and the softmax compute
# exp/log1p/log with vmath.hpp's arithmetic, which the twin repeats (reference/vmath.py).


def values(name, p, y, dtype=np.float64, epsilon=0.1):
    """Core loss and dloss for scalars or lists, in the given dtype."""
    p = np.asarray(p, dtype=dtype)
    y = np.asarray(y, dtype=dtype)
    return losses.loss_values(name, p, y, epsilon=epsilon)


# -- names --------------------------------------------------------------------------------------


def test_names_are_scikit_learns_and_partitioned():
    assert losses.LOSSES == (
        "squared_error",
        "huber",
        "epsilon_insensitive",
        "squared_epsilon_insensitive",
        "log_loss",
        "hinge",
        "squared_hinge",
        "modified_huber",
        "perceptron",
    )
    assert losses.CLASSIFICATION_LOSSES == (
        "log_loss",
        "hinge",
        "squared_hinge",
        "modified_huber",
        "perceptron",
    )
    assert losses.REGRESSION_LOSSES == (
        "squared_error",
        "huber",
        "epsilon_insensitive",
        "squared_epsilon_insensitive",
    )
    assert (ref.LOSSES, ref.CLASSIFICATION_LOSSES, ref.REGRESSION_LOSSES) == (
        losses.LOSSES,
        losses.CLASSIFICATION_LOSSES,
        losses.REGRESSION_LOSSES,
    )


def test_names_match_scikit_learns_estimators():
    linear_model = pytest.importorskip("sklearn.linear_model")
    classifier = set(linear_model.SGDClassifier.loss_functions)
    regressor = set(linear_model.SGDRegressor.loss_functions)
    assert set(losses.CLASSIFICATION_LOSSES) | set(losses.REGRESSION_LOSSES) == classifier
    assert set(losses.REGRESSION_LOSSES) == regressor


# -- tier 1: exact tables (p, y, loss, dloss), worked by hand ----------------------------------
# Every value is a dyadic rational, so float32 and float64 must give it exactly.

TABLES = {
    ("squared_error", 0.1): [
        (1.0, 0.0, 0.5, 1.0),  # ½·1² = 0.5; p - y = 1
        (3.0, 1.0, 2.0, 2.0),  # r = 2: ½·4 = 2
        (-0.5, 1.5, 2.0, -2.0),  # r = -2: ½·4 = 2, slope -2
        (2.5, 2.5, 0.0, 0.0),
    ],
    ("huber", 1.0): [
        (0.5, 0.0, 0.125, 0.5),  # |r| = 0.5 <= 1: ½·0.25; slope r
        (1.0, 0.0, 0.5, 1.0),  # kink |r| = ε: ½·1 = 1·(1 - ½); slope r = ε on both sides
        (-1.0, 0.0, 0.5, -1.0),
        (3.0, 0.0, 2.5, 1.0),  # |r| = 3 > 1: 1·(3 - ½) = 2.5; slope ε
        (-3.0, 1.0, 3.5, -1.0),  # |r| = 4: 1·(4 - ½) = 3.5; slope -ε
        (2.0, 2.0, 0.0, 0.0),
    ],
    ("huber", 0.5): [
        (2.0, 0.0, 0.875, 0.5),  # 0.5·(2 - 0.25) = 0.875
        (0.25, 0.0, 0.03125, 0.25),  # ½·(1/16) = 1/32
    ],
    ("epsilon_insensitive", 0.5): [
        (2.0, 0.0, 1.5, 1.0),  # |r| - ε = 1.5; p - y = 2 > ε: +1
        (0.0, 2.0, 1.5, -1.0),  # y - p = 2 > ε: -1
        (0.75, 0.0, 0.25, 1.0),
        (0.5, 0.0, 0.0, 0.0),  # kink |r| = ε: loss 0, flat side taken (strict >)
        (-0.5, 0.0, 0.0, 0.0),
        (0.25, 0.0, 0.0, 0.0),
    ],
    ("squared_epsilon_insensitive", 0.5): [
        (2.0, 0.0, 2.25, 3.0),  # (2 - 0.5)² = 2.25; d = y - p = -2 < -ε: 2(2 - 0.5) = 3
        (0.0, 2.0, 2.25, -3.0),  # d = 2 > ε: -2(2 - 0.5) = -3
        (1.0, 0.0, 0.25, 1.0),  # 0.5² = 0.25; 2(1 - 0.5) = 1
        (0.5, 0.0, 0.0, 0.0),  # kink: 0 from both sides
        (-0.5, 0.0, 0.0, 0.0),
    ],
    ("hinge", 0.1): [
        (2.0, 1.0, 0.0, 0.0),  # z = 2 > 1
        (1.0, 1.0, 0.0, -1.0),  # kink z = 1 counts (z <= 1): loss 1 - 1 = 0, slope -y
        (-1.0, -1.0, 0.0, 1.0),  # kink with y = -1: slope -y = +1
        (0.5, 1.0, 0.5, -1.0),  # 1 - 0.5
        (0.5, -1.0, 1.5, 1.0),  # z = -0.5: 1.5; slope -y = 1
        (0.0, 1.0, 1.0, -1.0),
        (-2.0, -1.0, 0.0, 0.0),
    ],
    ("squared_hinge", 0.1): [
        (2.0, 1.0, 0.0, 0.0),
        (1.0, 1.0, 0.0, 0.0),  # kink m = 1 - z = 0 is not > 0: 0, 0 (0 from both sides)
        (0.5, 1.0, 0.25, -1.0),  # m = 0.5: 0.25; -2·1·0.5 = -1
        (-1.0, 1.0, 4.0, -4.0),  # m = 2: 4; -2·1·2 = -4
        (0.5, -1.0, 2.25, 3.0),  # z = -0.5, m = 1.5: 2.25; -2·(-1)·1.5 = 3
    ],
    ("modified_huber", 0.1): [
        (2.0, 1.0, 0.0, 0.0),
        (1.0, 1.0, 0.0, 0.0),  # z = 1 is on the flat side (z >= 1)
        (0.5, 1.0, 0.25, -1.0),  # (1 - 0.5)² = 0.25; 2·0.5·(-1) = -1
        (0.0, -1.0, 1.0, 2.0),  # z = 0: 1; 2·1·(+1) = 2
        (-1.0, 1.0, 4.0, -4.0),  # z = -1 quadratic side: 2² = 4 = -4z; 2·2·(-1) = -4 = -4y
        (-2.0, 1.0, 8.0, -4.0),  # z = -2: -4·(-2) = 8; -4y = -4
        (2.0, -1.0, 8.0, 4.0),  # z = -2 with y = -1: 8; -4y = 4
    ],
    ("perceptron", 0.1): [
        (1.0, 1.0, 0.0, 0.0),
        (0.0, 1.0, 0.0, -1.0),  # z = 0 counts as a mistake: 0 - 0 = 0, slope -y
        (0.0, -1.0, 0.0, 1.0),
        (-0.5, 1.0, 0.5, -1.0),
        (0.5, -1.0, 0.5, 1.0),
        (-2.0, -1.0, 0.0, 0.0),
    ],
    ("log_loss", 0.1): [
        # z = ±1e4: exp(-|z|) underflows to 0, so the loss is log1p(0) + max(-z, 0) exactly and
        # the slope is -y·0/1 or -y·1/1.
        (1e4, 1.0, 0.0, 0.0),
        (-1e4, 1.0, 1e4, -1.0),
        (1e4, -1.0, 1e4, 1.0),
        (0.0, 1.0, None, -0.5),  # z = 0: log 2 (below); slope -1·1/(1 + 1) = -0.5
    ],
}

TABLE_ROWS = [
    pytest.param(name, eps, row, id=f"{name}-{eps}-{i}")
    for (name, eps), rows in TABLES.items()
    for i, row in enumerate(rows)
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, epsilon, row", TABLE_ROWS)
def test_exact_table(name, epsilon, row, dtype):
    p, y, want_loss, want_dloss = row
    for fn in (losses.loss_values, ref.loss_values_api):
        loss, dloss = fn(name, np.array([p], dtype), np.array([y], dtype), epsilon=epsilon)
        if want_loss is not None:
            assert loss[0] == want_loss, (fn.__module__, loss[0])
        assert dloss[0] == want_dloss, (fn.__module__, dloss[0])


LOG_TABLE = [
    # (p, y, loss, dloss) from the definitions log(1 + exp(-z)) and -y / (1 + exp(z))
    (0.0, 1.0, math.log(2.0), -0.5),
    (0.0, -1.0, math.log(2.0), 0.5),
    (1.0, 1.0, math.log1p(math.exp(-1.0)), -1.0 / (1.0 + math.e)),
    (-1.0, 1.0, 1.0 + math.log1p(math.exp(-1.0)), -math.e / (1.0 + math.e)),
    (2.0, -1.0, 2.0 + math.log1p(math.exp(-2.0)), math.exp(2.0) / (1.0 + math.exp(2.0))),
    (30.0, 1.0, math.log1p(math.exp(-30.0)), -1.0 / (1.0 + math.exp(30.0))),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 4e-7), (np.float64, 4e-16)])
@pytest.mark.parametrize("p, y, want_loss, want_dloss", LOG_TABLE)
def test_log_loss_table(p, y, want_loss, want_dloss, dtype, rtol):
    loss, dloss = values("log_loss", [p], [y], dtype)
    np.testing.assert_allclose(loss[0], want_loss, rtol=rtol)
    np.testing.assert_allclose(dloss[0], want_dloss, rtol=rtol)


def test_softmax_table():
    logits = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],  # uniform over 4: loss log 4, softmax 1/4
            [1e4, 1e4, 0.0, -1e4],  # two tied maxima: log 2; the others' exp underflow to 0
            [1e4, 0.0, 0.0, 0.0],  # label 0 holds all the mass: loss 0, gradient 0
            [1e4, 0.0, 0.0, 0.0],  # label 3 gets none: loss 1e4, gradient e_0 - e_3
        ]
    )
    labels = np.array([3, 1, 0, 3])
    want_d = np.array(
        [
            [0.25, 0.25, 0.25, -0.75],
            [0.5, -0.5, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, -1.0],
        ]
    )
    for dtype in DTYPES:
        x = logits.astype(dtype)
        for fn in (losses.softmax_cross_entropy, ref.softmax_cross_entropy):
            loss, d = fn(x, labels)
            assert loss.dtype == dtype and d.dtype == dtype
            np.testing.assert_array_equal(d, want_d.astype(dtype))
            rtol = 1e-6 if dtype == np.float32 else 1e-15
            np.testing.assert_allclose(loss, [math.log(4), math.log(2), 0.0, 1e4], rtol=rtol)


def test_multi_squared_table():
    p = np.array([[1.0, 2.0, 3.0], [0.5, -0.5, 0.0]])
    y = np.array([[0.0, 0.0, 0.0], [1.5, 0.5, 0.0]])
    for dtype in DTYPES:
        for fn in (losses.multi_squared_error, ref.multi_squared_error):
            loss, d = fn(p.astype(dtype), y.astype(dtype))
            # ½(1 + 4 + 9) = 7; ½(1 + 1 + 0) = 1
            np.testing.assert_array_equal(loss, np.array([7.0, 1.0], dtype))
            np.testing.assert_array_equal(d, np.array([[1, 2, 3], [-1, -1, 0]], dtype))


# -- tier 2: scikit-learn's own loss objects as outside oracle ----------------------------------


def _pointwise(obj):
    """sklearn.linear_model._sgd_fast loss object -> vectorised (loss, dloss) of (p, y)."""
    def f(p, y):
        return (
            np.array([obj.py_loss(float(a), float(b)) for a, b in zip(p, y)]),
            np.array([obj.py_dloss(float(a), float(b)) for a, b in zip(p, y)]),
        )
    return f


def _arraywise(obj, binomial=False):
    """sklearn._loss._loss Cy* object (labels 0/1 for the binomial) -> (loss, dloss) of (p, y)."""
    def f(p, y):
        y_true = (y + 1.0) / 2.0 if binomial else y.copy()
        loss, grad = np.empty_like(p), np.empty_like(p)
        obj.loss(y_true, p, None, loss, 1)
        obj.gradient(y_true, p, None, grad, 1)
        return loss, grad
    return f


def sklearn_loss(name, epsilon):
    """scikit-learn's implementation of a loss, from whichever private API this version has."""
    sgd = pytest.importorskip("sklearn.linear_model._sgd_fast")
    in_sgd_fast = {
        "hinge": ("Hinge", (1.0,)),
        "perceptron": ("Hinge", (0.0,)),
        "squared_hinge": ("SquaredHinge", (1.0,)),
        "modified_huber": ("ModifiedHuber", ()),
        "epsilon_insensitive": ("EpsilonInsensitive", (epsilon,)),
        "squared_epsilon_insensitive": ("SquaredEpsilonInsensitive", (epsilon,)),
        # scikit-learn < 1.6 kept these here too
        "squared_error": ("SquaredLoss", ()),
        "huber": ("Huber", (epsilon,)),
        "log_loss": ("Log", ()),
    }
    cls_name, args = in_sgd_fast[name]
    if name in ("squared_error", "huber", "log_loss"):
        try:  # scikit-learn >= 1.6: the common loss module
            from sklearn._loss import _loss as common

            if name == "squared_error":
                return _arraywise(common.CyHalfSquaredError())
            if name == "huber":
                return _arraywise(common.CyHuberLoss(epsilon))
            return _arraywise(common.CyHalfBinomialLoss(), binomial=True)
        except (ImportError, AttributeError):
            pass
    cls = getattr(sgd, cls_name, None)
    if cls is None or not hasattr(cls, "py_loss"):
        pytest.skip(f"this scikit-learn has no private {cls_name} with py_loss/py_dloss")
    return _pointwise(cls(*args))


def oracle_grid(name, epsilon):
    """p over [-40, 40] (kinks included), y = ±1 for classifiers and a few targets otherwise."""
    p = np.concatenate([np.linspace(-40, 40, 641), np.linspace(-3, 3, 97)])
    if name in losses.CLASSIFICATION_LOSSES:
        targets = [-1.0, 1.0]
    else:
        targets = [-2.0, 0.0, 0.3, 1.0]
        # the kinks |p - y| = epsilon exactly
        p = np.concatenate([p, [epsilon, -epsilon, 1.0 + epsilon, 1.0 - epsilon]])
    ps = np.concatenate([p for _ in targets])
    ys = np.concatenate([np.full_like(p, t) for t in targets])
    return ps, ys


ORACLE_CASES = [(name, 0.1) for name in losses.LOSSES] + [
    (name, 0.5) for name in losses.REGRESSION_LOSSES  # classification losses ignore epsilon
]


@pytest.mark.parametrize("name, epsilon", ORACLE_CASES)
def test_scikit_learn_oracle(name, epsilon):
    oracle = sklearn_loss(name, epsilon)
    p, y = oracle_grid(name, epsilon)
    want_loss, want_dloss = oracle(p, y)
    loss, dloss = losses.loss_values(name, p, y, epsilon=epsilon)
    np.testing.assert_allclose(dloss, want_dloss, rtol=1e-12, atol=0)
    if name != "log_loss":
        np.testing.assert_allclose(loss, want_loss, rtol=1e-12, atol=0)
        return
    # scikit-learn's binomial loss is log1pexp(p) - y01·p: for y = +1 and p > 2 that subtracts
    # two nearly equal numbers (and returns exactly 0 beyond p = 33.3; older versions cut over at
    # |z| = 18), so it is only accurate in absolute terms there. Elsewhere it is accurate to a
    # few ulp. test_log_loss_against_high_precision holds gdcore to the exact value everywhere.
    cancels = (y > 0) & (p > 2)
    np.testing.assert_allclose(loss[~cancels], want_loss[~cancels], rtol=1e-12, atol=0)
    np.testing.assert_allclose(loss[cancels], want_loss[cancels], rtol=0, atol=1e-13)


def _exact_log_loss(z):
    """log(1 + exp(-z)) and sigmoid(-z) to 40 digits, rounded to float."""
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        d = decimal.Decimal(float(z))
        x = (-d).exp()
        # ln(1 + x) would lose x's digits in 1 + x when x is tiny; its series does not
        loss = x - x * x / 2 + x * x * x / 3 if x < decimal.Decimal("1e-12") else (1 + x).ln()
        s = 1 / (1 + d.exp())
    return float(loss), float(s)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 4e-7), (np.float64, 1e-15)])
def test_log_loss_against_high_precision(dtype, rtol):
    z = np.concatenate([np.linspace(-60, 60, 241), [-1e4, -745.5, -50.0, 36.7, 50.0, 700.0, 1e4]])
    for y in (-1.0, 1.0):
        p = (z * y).astype(dtype)
        loss, dloss = values("log_loss", p, np.full_like(p, y), dtype)
        exact = [_exact_log_loss(float(zi)) for zi in p * dtype(y)]
        want_loss = np.array([e[0] for e in exact])
        want_dloss = -y * np.array([e[1] for e in exact])
        # results below float's normal range carry less relative precision
        tiny = np.finfo(dtype).tiny
        np.testing.assert_allclose(loss, want_loss.astype(dtype), rtol=rtol, atol=tiny)
        np.testing.assert_allclose(dloss, want_dloss.astype(dtype), rtol=rtol, atol=tiny)


# -- tier 3: finite differences -----------------------------------------------------------------


def _near_kink(name, p, y, epsilon, gap):
    z, r = p * y, p - y
    kinks = {
        "huber": [],  # C¹: no kink for a first difference
        "epsilon_insensitive": np.abs(np.abs(r) - epsilon) < gap,
        "squared_epsilon_insensitive": [],
        "hinge": np.abs(z - 1.0) < gap,
        "squared_hinge": [],
        "modified_huber": [],
        "perceptron": np.abs(z) < gap,
    }.get(name, [])
    return np.asarray(kinks, dtype=bool) if len(kinks) else np.zeros(p.shape, dtype=bool)


@pytest.mark.parametrize("name", losses.LOSSES)
def test_dloss_matches_finite_differences(name):
    epsilon, h = 0.3, 1e-6
    rng = np.random.default_rng(7)
    p = rng.uniform(-4, 4, 2000)
    if name in losses.CLASSIFICATION_LOSSES:
        y = rng.choice([-1.0, 1.0], p.size)
    else:
        y = rng.uniform(-2, 2, p.size)
    keep = ~_near_kink(name, p, y, epsilon, 1e-3)
    p, y = p[keep], y[keep]
    _, dloss = values(name, p, y, epsilon=epsilon)
    up, _ = values(name, p + h, y, epsilon=epsilon)
    down, _ = values(name, p - h, y, epsilon=epsilon)
    np.testing.assert_allclose(dloss, (up - down) / (2 * h), rtol=1e-6, atol=1e-7)


def test_softmax_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 5)) * 3
    labels = rng.integers(0, 5, 6)
    _, d = losses.softmax_cross_entropy(logits, labels)
    h = 1e-6
    for j in range(5):
        bump = np.zeros_like(logits)
        bump[:, j] = h
        up, _ = losses.softmax_cross_entropy(logits + bump, labels)
        down, _ = losses.softmax_cross_entropy(logits - bump, labels)
        np.testing.assert_allclose(d[:, j], (up - down) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d.sum(axis=1), 0.0, atol=1e-15)


def test_multi_squared_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    p, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    _, d = losses.multi_squared_error(p, y)
    h = 1e-6
    for j in range(4):
        bump = np.zeros_like(p)
        bump[:, j] = h
        up, _ = losses.multi_squared_error(p + bump, y)
        down, _ = losses.multi_squared_error(p - bump, y)
        np.testing.assert_allclose(d[:, j], (up - down) / (2 * h), rtol=1e-6, atol=1e-8)


# -- tier 4: core == twin -----------------------------------------------------------------------

sizes = st.one_of(st.sampled_from([0, 1, 7, 4097]), st.integers(0, 300))


@settings(max_examples=60)
@given(
    name=st.sampled_from(losses.LOSSES),
    n=sizes,
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([0.1, 1.0, 3.0, 50.0]),
    epsilon=st.one_of(st.just(0.1), st.floats(0.0, 2.0)),
    seed=st.integers(0, 2**32 - 1),
)
def test_core_mirrors_twin(name, n, dtype, scale, epsilon, seed):
    rng = np.random.default_rng(seed)
    p = (rng.standard_normal(n) * scale).astype(dtype)
    if name in losses.CLASSIFICATION_LOSSES:
        y = rng.choice([-1.0, 1.0], n).astype(dtype)
    else:
        y = (rng.standard_normal(n) * scale).astype(dtype)
    # land some samples exactly on the kinks
    if n >= 4 and name in losses.CLASSIFICATION_LOSSES:
        p[:4] = y[:4] * np.array([1.0, 0.0, -1.0, 1.0], dtype)
    elif n >= 2:
        p[:2] = y[:2] + np.array([epsilon, -epsilon], dtype)
    core = losses.loss_values(name, p, y, epsilon=epsilon)
    twin = ref.loss_values_api(name, p, y, epsilon=epsilon)
    for what, a, b in zip(("loss", "dloss"), core, twin):
        assert_mirrors(a, b, f"{name} {what}")
        assert np.array_equal(a, b, equal_nan=True), f"{name} {what}: not bitwise"


@pytest.mark.parametrize(
    "dtype, margins",
    [
        (np.float32, [80.0, 86.9, 87.0, 87.1, 87.3, 90.0, 103.0, 200.0]),
        (np.float64, [700.0, 707.9, 708.0, 708.1, 708.5, 740.0, 745.2, 1000.0]),
    ],
)
def test_log_loss_large_margins_mirror_twin(dtype, margins):
    # e^-|z| below the core exp's range is 0, never subnormal; the twin does the same (a seed of
    # the hypothesis test above once drew z = 91.5 in float32: NumPy's exp gave 1.8e-40).
    z = np.array(margins + [-m for m in margins], dtype)
    y = np.ones_like(z)
    core = losses.loss_values("log_loss", z, y)
    twin = ref.loss_values_api("log_loss", z, y)
    tiny = np.finfo(dtype).tiny
    for what, a, b in zip(("loss", "dloss"), core, twin):
        assert_mirrors(a, b, f"log_loss {what}")
        small = np.abs(a[: len(margins)])
        assert np.all((small == 0) | (small >= tiny)), f"{what}: subnormal {small}"
        assert np.array_equal(small == 0, np.abs(b[: len(margins)]) == 0), what


@settings(max_examples=30)
@given(
    n=sizes,
    k=st.integers(1, 12),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([0.1, 1.0, 30.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_multi_output_core_mirrors_twin(n, k, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
    labels = rng.integers(0, k, n)
    for a, b in zip(
        losses.softmax_cross_entropy(logits, labels), ref.softmax_cross_entropy(logits, labels)
    ):
        assert_mirrors(a, b, "softmax")
        assert np.array_equal(a, b), "softmax: not bitwise"
    y = (rng.standard_normal((n, k)) * scale).astype(dtype)
    for a, b in zip(losses.multi_squared_error(logits, y), ref.multi_squared_error(logits, y)):
        assert_mirrors(a, b, "multi squared")
        assert np.array_equal(a, b), "multi squared: not bitwise"


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_arrays_are_filled_and_returned(dtype):
    p = np.linspace(-2, 2, 9).astype(dtype)
    y = np.ones_like(p)
    out = (np.full_like(p, np.nan), np.full_like(p, np.nan))
    got = losses.loss_values("hinge", p, y, out=out)
    assert got[0] is out[0] and got[1] is out[1]
    want = ref.loss_values_api("hinge", p, y)
    assert np.array_equal(out[0], want[0]) and np.array_equal(out[1], want[1])


def test_any_shape_and_non_contiguous_input():
    rng = np.random.default_rng(5)
    p = rng.standard_normal((4, 6))
    y = rng.standard_normal((4, 6))
    loss, dloss = losses.loss_values("huber", p[:, ::2], y[:, ::2])
    want = ref.loss_values_api("huber", p[:, ::2], y[:, ::2])
    assert loss.shape == (4, 3)
    assert np.array_equal(loss, want[0]) and np.array_equal(dloss, want[1])
    logits = rng.standard_normal((5, 8))[:, ::2]
    labels = np.array([0, 1, 2, 3, 0], dtype=np.int32)[::1]
    for a, b in zip(losses.softmax_cross_entropy(logits, labels),
                    ref.softmax_cross_entropy(logits, labels)):
        assert_mirrors(a, b, "softmax, strided logits and int32 labels")


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_and_simd_path_do_not_change_bits(dtype):
    n = 300_001  # above both per-thread thresholds, so two threads really split it
    rng = np.random.default_rng(11)
    p = (rng.standard_normal(n) * 4).astype(dtype)
    y = rng.choice([-1.0, 1.0], n).astype(dtype)
    logits = (rng.standard_normal((n // 10, 10)) * 4).astype(dtype)
    labels = rng.integers(0, 10, n // 10)

    def run():
        out = [losses.loss_values(name, p, y) for name in ("log_loss", "huber", "modified_huber")]
        out.append(losses.softmax_cross_entropy(logits, labels))
        out.append(losses.multi_squared_error(logits, logits[::-1]))
        return [a for pair in out for a in pair]

    paths = ["baseline", "avx2", "avx512"]
    usable = paths[: paths.index(_core.detected_simd_path()) + 1]
    before = _core.simd_path()
    try:
        gdcore.set_num_threads(1)
        base = run()
        gdcore.set_num_threads(2)
        for path in usable:
            _core.set_simd_path(path)
            for a, b in zip(run(), base):
                assert np.array_equal(a, b), path
    finally:
        gdcore.set_num_threads(None)
        _core.set_simd_path(before)


# -- tier 5: numeric extremes -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_loss_is_finite_for_huge_margins(dtype):
    big = [1e4, 1e30, float(np.finfo(dtype).max)]
    p = np.array(big + [-b for b in big], dtype=dtype)
    for y in (-1.0, 1.0):
        ys = np.full_like(p, y)
        for fn in (losses.loss_values, ref.loss_values_api):
            loss, dloss = fn("log_loss", p, ys)
            z = p * dtype(y)
            assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dloss))
            # confident and right: loss 0, slope 0; confident and wrong: loss |z|, slope -y
            np.testing.assert_array_equal(loss, np.where(z > 0, 0, np.abs(z)).astype(dtype))
            np.testing.assert_array_equal(dloss, np.where(z > 0, 0, -y).astype(dtype))
            assert np.all(np.abs(dloss) <= 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_finite_for_huge_logits(dtype):
    logits = np.array(
        [[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4, -1e4]],
        dtype=dtype,
    )
    for label in range(3):
        labels = np.full(4, label)
        for fn in (losses.softmax_cross_entropy, ref.softmax_cross_entropy):
            loss, d = fn(logits, labels)
            assert np.all(np.isfinite(loss)) and np.all(np.isfinite(d))
            assert np.all(loss >= 0) and np.all(np.abs(d) <= 1)
            np.testing.assert_allclose(d.sum(axis=1), 0, atol=4 * np.finfo(dtype).eps)
            # loss ≈ max - logit of the label, up to log(3)
            gap = logits.max(axis=1) - logits[:, label]
            assert np.all(loss >= gap) and np.all(loss <= gap + np.log(3) * 1.0001)


# -- tier 6: bad input --------------------------------------------------------------------------


def test_unknown_loss_lists_valid_names():
    p = np.zeros(3)
    with pytest.raises(ValueError, match=r"loss must be one of squared_error, huber, .*perceptron; got 'log'"):
        losses.loss_values("log", p, p)
    with pytest.raises(TypeError, match="loss must be a str"):
        losses.loss_values(None, p, p)
    with pytest.raises(ValueError, match=r"unknown loss 'log'; valid names: squared_error, .*perceptron"):
        _core.loss_values("log", 0.1, p, p, np.empty(3), np.empty(3))


@pytest.mark.parametrize(
    "epsilon, error, message",
    [
        (float("nan"), ValueError, "epsilon must be finite, got nan"),
        (float("inf"), ValueError, "epsilon must be finite"),
        (-0.5, ValueError, r"epsilon must be >= 0.0, got -0.5"),
        ("0.1", TypeError, "epsilon must be a real number"),
    ],
)
def test_bad_epsilon(epsilon, error, message):
    p = np.zeros(3)
    with pytest.raises(error, match=message):
        losses.loss_values("huber", p, p, epsilon=epsilon)


def test_core_rejects_bad_epsilon_too():
    p = np.zeros(3)
    with pytest.raises(ValueError, match="epsilon must be a finite number >= 0, got nan"):
        _core.loss_values("huber", float("nan"), p, p, np.empty(3), np.empty(3))


def test_loss_values_bad_arrays():
    p = np.zeros(3)
    with pytest.raises(ValueError, match=r"y has shape \(4,\) but p has shape \(3,\)"):
        losses.loss_values("hinge", p, np.zeros(4))
    with pytest.raises(TypeError, match="y has dtype float32 but p has dtype float64"):
        losses.loss_values("hinge", p, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="p must have dtype float32 or float64, got int64"):
        losses.loss_values("hinge", np.zeros(3, np.int64), p)
    with pytest.raises(TypeError, match="out must be a pair"):
        losses.loss_values("hinge", p, p, out=np.zeros(3))
    with pytest.raises(ValueError, match=r"out_dloss has shape \(2,\) but p has shape \(3,\)"):
        losses.loss_values("hinge", p, p, out=(np.zeros(3), np.zeros(2)))
    with pytest.raises(TypeError, match="out_loss has dtype float32 but p has dtype float64"):
        losses.loss_values("hinge", p, p, out=(np.zeros(3, np.float32), np.zeros(3)))
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out_loss is read-only"):
        losses.loss_values("hinge", p, p, out=(frozen, np.zeros(3)))
    with pytest.raises(ValueError, match="out_loss shares memory with p"):
        losses.loss_values("hinge", p, np.ones(3), out=(p, np.zeros(3)))
    out = np.zeros(6)
    with pytest.raises(ValueError, match="out_loss shares memory with out_dloss"):
        _core.loss_values("hinge", 0.1, p, p, out[:3], out[:3])


def test_softmax_bad_input():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"labels\[1\] = 3 is out of range for 3 classes"):
        losses.softmax_cross_entropy(logits, [0, 3])
    with pytest.raises(ValueError, match=r"labels\[0\] = -1 is out of range"):
        losses.softmax_cross_entropy(logits, [-1, 0])
    with pytest.raises(ValueError, match=r"labels has shape \(3,\) but logits has shape \(2, 3\)"):
        losses.softmax_cross_entropy(logits, [0, 1, 2])
    with pytest.raises(TypeError, match="labels must be integer class indices, got dtype float64"):
        losses.softmax_cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"logits must be 2-D \(n_samples, n_classes\), got shape \(3,\)"):
        losses.softmax_cross_entropy(np.zeros(3), [0])
    with pytest.raises(TypeError, match="logits must have dtype float32 or float64, got int64"):
        losses.softmax_cross_entropy(np.zeros((2, 3), np.int64), [0, 1])
    with pytest.raises(TypeError, match="labels must have dtype int64, got int32"):
        _core.softmax_loss_grad(logits, np.zeros(2, np.int32), np.empty(2), np.empty((2, 3)))
    with pytest.raises(ValueError, match=r"out_loss has shape \(3,\) but must have shape \(2,\)"):
        _core.softmax_loss_grad(logits, np.zeros(2, np.int64), np.empty(3), np.empty((2, 3)))
    with pytest.raises(ValueError, match=r"out_dlogits has shape \(3, 2\) but logits has shape"):
        _core.softmax_loss_grad(logits, np.zeros(2, np.int64), np.empty(2), np.empty((3, 2)))
    with pytest.raises(ValueError, match=r"out of range for 0 classes"):
        losses.softmax_cross_entropy(np.zeros((1, 0)), [0])
    loss, d = losses.softmax_cross_entropy(np.zeros((0, 0)), np.zeros(0, np.int64))
    assert loss.shape == (0,) and d.shape == (0, 0)


def test_multi_squared_bad_input():
    with pytest.raises(ValueError, match=r"y has shape \(2, 4\) but p has shape \(2, 3\)"):
        losses.multi_squared_error(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"p must be 2-D \(n_samples, n_outputs\), got shape \(3,\)"):
        losses.multi_squared_error(np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="y has dtype float32 but p has dtype float64"):
        losses.multi_squared_error(np.zeros((2, 3)), np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="p must be a NumPy array, got list"):
        _core.multi_squared_loss_grad([[0.0]], np.zeros((1, 1)), np.empty(1), np.empty((1, 1)))


@pytest.mark.parametrize("name", losses.LOSSES)
def test_non_finite_input_core_and_twin_agree(name):
    # Inputs are not checked for NaN/inf (the trainer checks its data once); a NaN compares false
    # and lands on the same side of each branch in the core and the twin, as in scikit-learn
    # (hinge of a NaN margin is 0, for example).
    p = np.array([np.nan, 1.0, np.inf, -np.inf, 0.5])
    y = np.array([1.0, np.nan, 1.0, -1.0, np.inf])
    for a, b in zip(losses.loss_values(name, p, y), ref.loss_values_api(name, p, y)):
        assert np.array_equal(a, b, equal_nan=True)
