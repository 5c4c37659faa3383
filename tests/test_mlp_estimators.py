"""MLPClassifier / MLPRegressor: scikit-learn's estimator checks, drop-in behaviour, accuracy."""

import time
import warnings

import numpy as np
import pytest

import gdcore
from gdcore import MLPClassifier, MLPRegressor

try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:  # the rest of the file still runs without scikit-learn
    parametrize_with_checks = None


def _expected_failures(estimator):
    return {}


if parametrize_with_checks is not None:
    from sklearn.exceptions import ConvergenceWarning

    @parametrize_with_checks(
        [
            MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
            MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
            MLPClassifier(hidden_layer_sizes=(6, 5), solver="sgd", learning_rate="adaptive",
                          learning_rate_init=0.05, max_iter=100, random_state=0),  # fmt: skip
        ],
        expected_failed_checks=_expected_failures,
    )
    def test_sklearn_estimator_checks(estimator, check):
        # scikit-learn's own MLPs warn that max_iter was reached on these small problems too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            check(estimator)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_parameters_and_defaults_equal_sklearns(name):
    import inspect

    sk = pytest.importorskip("sklearn.neural_network")
    theirs = inspect.signature(getattr(sk, name)).parameters
    ours = inspect.signature(getattr(gdcore.neural_network, name)).parameters
    for param, p in theirs.items():
        assert param in ours, param
        assert ours[param].kind == p.kind, param
        assert ours[param].default == p.default, (param, ours[param].default, p.default)
    assert set(ours) - set(theirs) == {"num_threads"}
    assert list(ours)[: len(theirs)] == list(theirs)


def test_digits_accuracy_and_speed():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    # Default settings: like scikit-learn's own MLPClassifier here, the training loss still
    # improves by more than tol at max_iter=200, and both warn (ConvergenceWarning).
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(128,), random_state=0).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    assert accuracy >= 0.97, accuracy
    assert seconds < 10, seconds  # "a few seconds" on the 2-vCPU machine, with a wide margin
    assert [W.shape for W in clf.coefs_] == [(64, 128), (128, 10)]
    assert clf.n_iter_ == len(clf.loss_curve_) and clf.loss_curve_[-1] < clf.loss_curve_[0]
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X_test))


def test_loss_curve_matches_sklearn_definition():
    """One epoch of full-batch plain SGD from the same weights: the same loss_curve_ entry and
    the same updated weights as scikit-learn's MLPClassifier (its alpha, its l2 term, its
    log-loss)."""
    sk = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    options = dict(hidden_layer_sizes=(5,), activation="tanh", solver="sgd", momentum=0.0,
                   batch_size=60, learning_rate_init=0.1, alpha=0.5, max_iter=1, shuffle=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk.MLPClassifier(random_state=0, **options).fit(X, y)
        ours = MLPClassifier(random_state=0, **options)
        ours.fit(X, y)  # to build the network, then restart from scikit-learn's initial weights
        first = sk.MLPClassifier(random_state=0, **dict(options, learning_rate_init=1e-300)).fit(X, y)
    # scikit-learn's weights after a zero step are its initial weights
    from gdcore.mlp import pack

    init = pack(first.coefs_, first.intercepts_, np.float64)
    fit = gdcore.fit_mlp(X, y, hidden_layer_sizes=(5,), activation="tanh", optimizer="sgd",
                         lr=0.1, batch_size=60, alpha=0.5, max_epochs=1, tol=None, shuffle=False,
                         init=init)  # fmt: skip
    assert fit.history.loss[0] == pytest.approx(theirs.loss_curve_[0], rel=1e-10)
    for a, b in zip(fit.coefs, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert ours.n_iter_ == 1


def test_partial_fit_and_warm_start_continue():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] > 0).astype(int)
    a = MLPClassifier(hidden_layer_sizes=(7,), random_state=3, max_iter=3, tol=0)
    with pytest.warns(Warning):
        a.fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(7,), random_state=3)
    for _ in range(3):
        b.partial_fit(X, y, classes=[0, 1])
    for Wa, Wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(Wa, Wb)
    assert a.loss_curve_ == b.loss_curve_
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier().partial_fit(X, y)


def test_early_stopping_keeps_best_validation_model():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 6))
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=300)
    reg = MLPRegressor(hidden_layer_sizes=(16,), early_stopping=True, random_state=0,
                       max_iter=500, learning_rate_init=0.01).fit(X, y)  # fmt: skip
    assert len(reg.validation_scores_) == reg.n_iter_ < 500
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.9
    assert reg.score(X, y) > 0.9


def test_adaptive_learning_rate_divides_by_five():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    y = X[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                       learning_rate_init=0.01, tol=10.0, n_iter_no_change=2, max_iter=100,
                       random_state=0).fit(X, y)  # fmt: skip
    # tol=10: the first epoch improves on best_loss_ = inf, no later one does. scikit-learn's
    # rule (count > n_iter_no_change) divides the rate by 5 after every 3 such epochs while it
    # is above 1e-6 (six times: 0.01 / 5^6 = 6.4e-7) and stops at the seventh: 1 + 3 * 7.
    assert reg.n_iter_ == 22
    assert reg._lr == pytest.approx(0.01 / 5**6)


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_complex_targets_are_refused(cls):
    # As scikit-learn: a ValueError, not a ComplexWarning and a fit on the real parts.
    X = np.zeros((4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="Complex data not supported in y"):
            cls(max_iter=1).fit(X, np.array([0, 1, 0, 1]) + 0.5j)


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_forward_overflow_is_refused_naming_the_row(cls):
    # Finite X whose forward pass overflows float64: a ValueError naming the first such row, not
    # a silent inf/NaN output (or, for the classifier, a class picked from NaN scores).
    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int) if cls is MLPClassifier else X[:, 0] - X[:, 1]
    est = cls(hidden_layer_sizes=(3,), activation="identity", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 5 epochs
        est.fit(X, y)
    est.coefs_[0][...] = 2.0  # each hidden unit: 2 (x_0 + x_1), past 1.8e308 for the rows below
    huge = np.array([[1.0, 1.0], [0.5, -1.0], [1e308, 1e308], [-1e308, -1e308]])
    calls = [est.predict] + ([est.predict_proba] if cls is MLPClassifier else [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in calls:
            with pytest.raises(ValueError, match=r"overflows float64 in 2 row\(s\) of X \(the first: row 2\)"):
                call(huge)
            assert np.isfinite(np.asarray(call(huge[:2]), dtype=float)).all()


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_partial_fit_is_absent_for_any_other_solver(cls):
    # hasattr answers False (an AttributeError inside), whatever the solver's type: a list
    # once raised TypeError out of hasattr, as it cannot be looked up in the optimizer table.
    assert hasattr(cls(solver="adam"), "partial_fit")
    for solver in ("lbfgs", [1.0], None, 3):
        assert not hasattr(cls(solver=solver), "partial_fit")


def test_bad_parameters_name_themselves():
    X = np.zeros((10, 2))
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        MLPRegressor(activation="swish").fit(X, y.astype(float))
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="poisson").fit(X, y.astype(float))


def test_a_finite_blow_up_warns_as_divergence():
    # learning_rate_init 1e10: the loss jumps from ~75 to ~1e43 in the second epoch and stays
    # there, finite; the no-improvement rule would end the fit in silence.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)) * 10
    y = X @ [0.1, 0.2, 0.3]
    net = MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=1e10, max_iter=30,
                       random_state=0)  # fmt: skip
    with pytest.warns(gdcore.DivergenceWarning, match="the first epoch's"):
        net.fit(X, y)
    with warnings.catch_warnings():  # a sound rate: no such warning
        warnings.simplefilter("error", gdcore.DivergenceWarning)
        warnings.simplefilter("ignore", gdcore.linear_model.ConvergenceWarning)
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
