"""Numeric extremes: the losses stay finite and correct for huge margins and logits, and training
that overflows says so (DivergenceError / DivergenceWarning) and keeps a finite model.

References are closed forms evaluated in float64 by NumPy functions the core does not use
(``np.logaddexp``), so they check the core rather than restate it. Results must be right to a
few units in the last place; below the smallest normal number of the dtype (subnormal
results), to within that number.
"""

import math
import warnings

import numpy as np
import pytest

import gdcore
from gdcore import losses
from gdcore.reference import losses as ref_losses

DTYPES = [np.float32, np.float64]
ULPS = 4


def assert_close(actual, expected, dtype, what):
    actual = np.asarray(actual)
    assert actual.dtype == dtype, what
    assert np.isfinite(actual).all(), f"{what}: not finite: {actual}"
    info = np.finfo(dtype)
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=ULPS * info.eps,
                               atol=info.tiny, err_msg=what)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Logistic loss over margins z = p·y up to ±1e4.

MARGINS = [-1e4, -1e3, -800.0, -710.0, -100.0, -89.0, -40.0, -20.0, -1.0, 0.0, 1.0, 20.0, 40.0,
           89.0, 100.0, 104.0, 710.0, 745.0, 800.0, 1e3, 1e4]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_loss_matches_its_closed_form_for_huge_margins(dtype):
    z = np.array(MARGINS, dtype=dtype)
    for y in (1.0, -1.0):
        p = (z * dtype(y)).astype(dtype)  # margin p·y = z exactly
        labels = np.full_like(p, y)
        loss, dloss = losses.loss_values("log_loss", p, labels)
        z64 = z.astype(np.float64)
        assert_close(loss, np.logaddexp(0.0, -z64), dtype, f"log_loss, y={y}")
        # dL/dp = -y σ(-z) = -y / (1 + e^z), written as exp(-log(1 + e^z))
        assert_close(dloss, -y * np.exp(-np.logaddexp(0.0, z64)), dtype, f"dloss, y={y}")
        # the asymptotes exactly: |z| for a large negative margin, 0 for a large positive one
        assert loss[0] == dtype(1e4) and dloss[0] == dtype(-y)
        assert loss[-1] == 0.0 and dloss[-1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_loss_is_finite_and_monotone_across_the_whole_range(dtype):
    z = np.linspace(-1e4, 1e4, 200_001).astype(dtype)
    loss, dloss = losses.loss_values("log_loss", z, np.ones_like(z))
    assert np.isfinite(loss).all() and np.isfinite(dloss).all()
    assert (loss >= 0).all() and (np.diff(loss) <= 0).all()
    assert ((dloss >= -1) & (dloss <= 0)).all() and (np.diff(dloss) >= 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_loss_core_equals_twin_at_the_extremes(dtype):
    z = np.array(MARGINS, dtype=dtype)
    core = losses.loss_values("log_loss", z, np.ones_like(z))
    twin = ref_losses.loss_values_api("log_loss", z, np.ones_like(z))
    for a, b, what in zip(core, twin, ("loss", "dloss")):
        assert np.isfinite(b).all(), f"twin {what} not finite"
        assert_close(a, b.astype(np.float64), dtype, f"core vs twin {what}")


# ---------------------------------------------------------------------------------------------
# Softmax cross-entropy with logits of 1e4.

E = math.e
# (logits, label, loss, gradient): exact values, worked out by hand
SOFTMAX_TABLE = [
    ([1e4, 0.0], 0, 0.0, [0.0, 0.0]),
    ([1e4, 0.0], 1, 1e4, [1.0, -1.0]),
    ([0.0, 1e4], 1, 0.0, [0.0, 0.0]),
    ([1e4, 1e4], 0, math.log(2), [-0.5, 0.5]),
    ([-1e4, 1e4, 0.0], 0, 2e4, [-1.0, 1.0, 0.0]),
    ([1e4, 1e4 - 1, -1e4], 1, 1 + math.log1p(1 / E), [E / (1 + E), 1 / (1 + E) - 1, 0.0]),
    ([-1e4, -1e4, -1e4, -1e4], 2, math.log(4), [0.25, 0.25, -0.75, 0.25]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", range(len(SOFTMAX_TABLE)))
def test_softmax_cross_entropy_with_huge_logits(dtype, row):
    logits, label, want_loss, want_grad = SOFTMAX_TABLE[row]
    x = np.array([logits], dtype=dtype)
    loss, grad = losses.softmax_cross_entropy(x, [label])
    assert_close(loss, [want_loss], dtype, f"loss of {logits}")
    assert_close(grad, [want_grad], dtype, f"gradient of {logits}")
    twin_loss, twin_grad = ref_losses.softmax_cross_entropy(x, np.array([label]))
    assert_close(loss, twin_loss.astype(np.float64), dtype, "core vs twin loss")
    assert_close(grad, twin_grad.astype(np.float64), dtype, "core vs twin gradient")


def test_softmax_cross_entropy_beyond_float32_range_in_float64():
    loss, grad = losses.softmax_cross_entropy(np.array([[1e300, -1e300]]), [1])
    assert loss[0] == 2e300 and (grad == [[1.0, -1.0]]).all()


# ---------------------------------------------------------------------------------------------
# Training: huge margins are fine; overflow is reported, never silent.


def _data(n=120, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=d)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multiclass", ["binary", "softmax"])
def test_log_loss_training_with_margins_of_1e4_stays_finite(dtype, multiclass):
    X, score = _data()
    X = (X * 1e4).astype(dtype)
    y = (score > 0).astype(int) if multiclass == "binary" else np.digitize(score, [-1.0, 1.0])
    # lr 1 on features of 1e4 is far too large: the fit may end far worse than the all-zero
    # model, which fit_linear reports as divergence (a warning here); what this test asks is
    # that every loss and parameter stays finite on the way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.DivergenceWarning)
        fit = gdcore.fit_linear(X, y, loss="log_loss", multiclass="softmax", lr=1.0,
                                batch_size=8, max_epochs=5, tol=None,
                                on_divergence="warn")  # fmt: skip
    margins = np.abs(fit.decision_function(X))
    assert margins.max() > 1e3, "the test should reach huge margins"
    assert fit.history.epochs == 5 and fit.history.status in ("max_epochs", "diverged")
    assert np.isfinite(fit.history.loss).all() and np.isfinite(fit.coef).all()
    assert np.isfinite(fit.intercept).all()


@pytest.mark.parametrize("batch_size", [1, 8, None])
@pytest.mark.parametrize("dtype", DTYPES)
def test_squared_loss_on_huge_residuals_reports_divergence(dtype, batch_size):
    X, _ = _data()
    X = X.astype(dtype)
    big = 1e200 if dtype == np.float64 else 1e30  # ½ r² overflows the dtype
    y = np.full(len(X), big)
    with pytest.raises(gdcore.DivergenceError, match="diverged") as caught:
        gdcore.fit_linear(X, y, lr=0.01, batch_size=batch_size, max_epochs=5)
    fit = caught.value.fit
    assert fit.history.status == "diverged"
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.intercept).all()
    with pytest.warns(gdcore.DivergenceWarning):
        fit = gdcore.fit_linear(X, y, lr=0.01, batch_size=batch_size, max_epochs=5,
                                on_divergence="warn")  # fmt: skip
    assert fit.history.status == "diverged" and np.isfinite(fit.coef).all()


def test_a_learning_rate_too_large_reports_divergence_and_keeps_a_finite_model():
    X, y = _data()
    with pytest.raises(gdcore.DivergenceError) as caught:
        gdcore.fit_linear(X, y, lr=5.0, batch_size=8, max_epochs=500, tol=None)
    fit = caught.value.fit
    assert fit.history.epochs < 500 and fit.history.status == "diverged"
    assert np.isfinite(fit.history.loss).all()  # the epochs that were kept ended finite
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.decision_function(X)).all()


def test_estimators_warn_on_divergence_and_stay_finite():
    X, _ = _data()
    reg = gdcore.SGDRegressor(random_state=0)
    with pytest.warns(gdcore.DivergenceWarning):
        reg.fit(X, np.full(len(X), 1e200))
    assert np.isfinite(reg.coef_).all() and np.isfinite(reg.predict(X)).all()


def test_minimize_reports_divergence_with_a_finite_point():
    result = gdcore.minimize("quadratic", [1.0, 1.0], optimizer="sgd", lr=1e3, max_iter=10_000)
    assert result.status == "diverged" and not result.converged
    assert np.isfinite(result.x).all() and np.isfinite(result.fun)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_no_loss_overflows_silently(dtype, optimizer):
    """Every loss on features from 1 to 1e30 (float32: up to 1e30 of its 3.4e38): the fit
    either ends finite, or reports divergence, and its model is finite either way."""
    X0, score = _data(n=60)
    y_class = (score > 0).astype(int)
    for scale in (1.0, 1e10, 1e20, 1e30):
        X = (X0 * scale).astype(dtype)
        for loss in gdcore.train.REGRESSION_LOSSES + gdcore.train.CLASSIFICATION_LOSSES:
            y = score * scale if loss in gdcore.train.REGRESSION_LOSSES else y_class
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit = gdcore.fit_linear(X, y, loss=loss, optimizer=optimizer, lr=0.1,
                                        batch_size=4, max_epochs=3, tol=None,
                                        on_divergence="warn")  # fmt: skip
            what = f"{loss}, scale {scale:g}"
            diverged = fit.history.status == "diverged"
            warned = any(issubclass(w.category, gdcore.DivergenceWarning) for w in caught)
            assert diverged == warned, what
            assert not [w for w in caught if not issubclass(w.category, gdcore.DivergenceWarning)]
            if not diverged:
                assert np.isfinite(fit.history.loss).all(), what
            assert np.isfinite(fit.coef).all() and np.isfinite(fit.intercept).all(), what
