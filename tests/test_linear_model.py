"""SGDClassifier / SGDRegressor: scikit-learn's estimator checks, drop-in behaviour, accuracy
against LogisticRegression, convergence to least squares, parity with scikit-learn's update on
one pass, bad input, divergence, dtypes, and the fallback base without scikit-learn."""

import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gdcore
from gdcore.linear_model import SGDClassifier, SGDRegressor

GDCORE_EXTRAS = {"optimizer", "batch_size", "multi_class", "num_threads"}


def loss_available(loss):
    """False while the build's losses.hpp lacks this loss (the placeholder has three)."""
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 1, 0, 1])
    try:
        gdcore.fit_linear(X, y, loss=loss, max_epochs=1)
    except ValueError as err:
        if str(err) in ("loss", f"unknown loss {loss!r}") or "loss" == str(err).strip():
            return False
        raise
    return True


def needs(loss):
    return pytest.mark.skipif(
        not loss_available(loss), reason=f"this build's losses.hpp has no {loss} yet"
    )


needs_log_loss = needs("log_loss")


# ---------------------------------------------------------------------------------------------
# scikit-learn's own estimator checks


def _expected_failures(estimator):
    failures = {
        # The same entries scikit-learn lists for its own SGD estimators: a shuffled stochastic
        # pass over repeated rows is not the same sequence of updates as one pass with weights.
        "check_sample_weight_equivalence_on_dense_data": (
            "sample_weight is not equivalent to removing/repeating samples (stochastic updates)."
        ),
        "check_sample_weight_equivalence_on_sparse_data": (
            "sample_weight is not equivalent to removing/repeating samples (stochastic updates)."
        ),
    }
    if isinstance(estimator, SGDClassifier) and estimator.loss in gdcore.train.REGRESSION_LOSSES:
        # The heads fit ±1 targets by least squares / Huber: with class_weight={0: 1000} on
        # this check's data they still predict class 0 for fewer than 87% of the rows, and so
        # does scikit-learn's own SGDClassifier(loss="huber").
        failures["check_class_weight_classifiers"] = (
            "a regression loss's heads miss the check's accuracy bar, as scikit-learn's do."
        )
    return failures


try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:  # the rest of the file still runs without scikit-learn
    parametrize_with_checks = None

if parametrize_with_checks is not None:
    from sklearn.exceptions import ConvergenceWarning

    @parametrize_with_checks(
        [
            SGDClassifier(),
            SGDRegressor(),
            SGDClassifier(optimizer="adam", batch_size=16, learning_rate="constant", eta0=0.01),
            SGDRegressor(optimizer="adam", batch_size=16, learning_rate="constant", eta0=0.01),
            SGDClassifier(average=10),
            SGDClassifier(loss="squared_hinge"),
            SGDClassifier(loss="huber"),  # a regression loss: ±1 targets
        ],
        expected_failed_checks=_expected_failures,
    )
    def test_sklearn_estimator_checks(estimator, check):
        # Some checks set max_iter=1000 on data where scikit-learn's own SGD estimators do not
        # meet tol=1e-3 either (check_class_weight_classifiers, multi-output regression): the
        # ConvergenceWarning both raise is not a failure.
        # A few checks fit X ~ N(100, 1) unscaled, where plain SGD with eta0=0.01 diverges
        # (eta·|x|² ≈ 200): scikit-learn clips dloss at ±1e12 and returns coefficients of ~1e11;
        # gdcore keeps the last finite ones and warns (DivergenceWarning).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", gdcore.DivergenceWarning)
            check(estimator)


# ---------------------------------------------------------------------------------------------
# Drop-in behaviour


@pytest.mark.parametrize("name", ["SGDClassifier", "SGDRegressor"])
def test_parameters_and_defaults_equal_sklearns(name):
    import inspect

    sk = pytest.importorskip("sklearn.linear_model")
    theirs = inspect.signature(getattr(sk, name)).parameters
    ours = inspect.signature(getattr(gdcore.linear_model, name)).parameters
    for param, p in theirs.items():
        assert param in ours, param
        assert ours[param].kind == p.kind, param
        assert ours[param].default == p.default, (param, ours[param].default, p.default)
    extras = set(ours) - set(theirs)
    assert extras == GDCORE_EXTRAS - ({"multi_class"} if name == "SGDRegressor" else set())
    assert list(ours)[: len(theirs)] == list(theirs)  # same order, extras at the end


def _script(SGDClassifier, SGDRegressor, clone):
    """A short scikit-learn user script; only the import changes."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    clf = SGDClassifier(loss="modified_huber", random_state=0)
    clf.fit(X, y)
    out = {"classes": list(clf.classes_), "score": clf.score(X, y)}
    proba = clf.predict_proba(X[:5])
    out["proba_rows"] = np.allclose(proba.sum(axis=1), 1.0)
    out["proba_argmax"] = bool((clf.classes_[proba.argmax(axis=1)] == clf.predict(X[:5])).all())
    params = clf.get_params()
    clf.set_params(alpha=1e-3)
    out["alpha"] = clf.get_params()["alpha"]
    twin = clone(clf)
    out["clone_params"] = twin.get_params() == {**params, "alpha": 1e-3}
    stream = SGDClassifier(random_state=0)
    for start in range(0, 300, 50):
        stream.partial_fit(X[start : start + 50], y[start : start + 50], classes=["no", "yes"])
    out["stream_score"] = stream.score(X, y)
    out["hinge_has_proba"] = hasattr(stream, "predict_proba")
    restored = pickle.loads(pickle.dumps(clf))
    out["pickle_same"] = bool((restored.decision_function(X) == clf.decision_function(X)).all())
    target = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0
    reg = SGDRegressor(random_state=0).fit(X, target)
    out["r2"] = reg.score(X, target)
    out["shapes"] = (clf.coef_.shape, clf.intercept_.shape, reg.coef_.shape, reg.intercept_.shape)
    out["n_features_in"] = reg.n_features_in_
    out["n_iter_positive"] = reg.n_iter_ > 0 and clf.n_iter_ > 0
    out["t_"] = clf.t_ == clf.n_iter_ * 300 + 1
    return out


@needs("modified_huber")
def test_drop_in_script_runs_unchanged():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.linear_model import SGDClassifier as SkC
    from sklearn.linear_model import SGDRegressor as SkR

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        theirs = _script(SkC, SkR, clone)
        ours = _script(SGDClassifier, SGDRegressor, clone)
    for key in theirs:
        if key in ("score", "r2"):
            assert ours[key] > theirs[key] - 0.03, (key, ours[key], theirs[key])
            assert ours[key] > 0.9, key
        elif key == "stream_score":
            # One hinge pass with the large early "optimal" steps: over 20 seeds both average
            # about 0.92-0.93 with minima near 0.88, so one seed is compared loosely.
            assert ours[key] > min(0.85, theirs[key] - 0.06), (key, ours[key], theirs[key])
        else:
            assert ours[key] == theirs[key], (key, ours[key], theirs[key])


# ---------------------------------------------------------------------------------------------
# Accuracy against LogisticRegression


def _split_standardized(loader):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@needs_log_loss
@pytest.mark.parametrize("dataset", ["breast_cancer", "digits"])
def test_log_loss_accuracy_within_one_point_of_logistic_regression(dataset):
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.linear_model import LogisticRegression

    X_train, X_test, y_train, y_test = _split_standardized(getattr(datasets, f"load_{dataset}"))
    reference = LogisticRegression(max_iter=5000).fit(X_train, y_train).score(X_test, y_test)
    # Mini-batches of 32 with Adam at a constant 0.01 (the settings under test). For the ten
    # digits, a softmax model like LogisticRegression's (multinomial), with a finer tol.
    extra = dict(multi_class="softmax", tol=1e-4) if dataset == "digits" else {}
    clf = SGDClassifier(
        loss="log_loss", optimizer="adam", batch_size=32, learning_rate="constant", eta0=0.01,
        alpha=1e-4, max_iter=200, random_state=0, **extra,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.linear_model.ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= reference - 0.01


# ---------------------------------------------------------------------------------------------
# Regression: least squares


@pytest.mark.parametrize("dtype", [np.float64])
def test_full_batch_reaches_least_squares(dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 5)).astype(dtype)
    y = X @ np.array([1.5, -2.0, 0.3, 0.0, 4.0]) + 0.7 + 0.1 * rng.normal(size=200)
    reg = SGDRegressor(
        batch_size=None, penalty=None, learning_rate="constant", eta0=0.5, tol=1e-15,
        n_iter_no_change=5, max_iter=5000, shuffle=False,
    )  # fmt: skip
    reg.fit(X, y)
    A = np.column_stack([X, np.ones(len(X))])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    got = np.append(reg.coef_, reg.intercept_)
    assert reg.history_.status == "converged"
    np.testing.assert_allclose(got, solution, rtol=1e-6, atol=1e-6 * np.abs(solution).max())


def test_multi_output_regression_matches_per_output_least_squares():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 3))
    Y = X @ rng.normal(size=(3, 2)) + np.array([1.0, -1.0])
    reg = SGDRegressor(batch_size=None, penalty=None, learning_rate="constant", eta0=0.5,
                       tol=None, max_iter=400).fit(X, Y)  # fmt: skip
    assert reg.coef_.shape == (2, 3) and reg.intercept_.shape == (2,)
    assert reg.predict(X).shape == Y.shape
    np.testing.assert_allclose(reg.predict(X), Y, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Parity with scikit-learn's update on one pass (batch_size=1, plain SGD, no shuffle)


@pytest.mark.parametrize("learning_rate", ["invscaling", "constant"])
def test_one_pass_matches_sklearn_regressor(learning_rate):
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.5 + 0.1 * rng.normal(size=50)
    params = dict(learning_rate=learning_rate, eta0=0.05, alpha=0.01, max_iter=1, tol=None,
                  shuffle=False, penalty="l2")  # fmt: skip
    theirs = sk.SGDRegressor(**params).fit(X, y)
    ours = SGDRegressor(**params).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10)
    assert ours.t_ == theirs.t_ == 51.0
    assert ours.n_iter_ == theirs.n_iter_ == 1


@pytest.mark.parametrize("average", [True, 20])
def test_one_pass_averaged_sgd_matches_sklearn(average):
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.5 + 0.1 * rng.normal(size=50)
    params = dict(learning_rate="constant", eta0=0.05, alpha=0.01, max_iter=1, tol=None,
                  shuffle=False, penalty="l2", average=average)  # fmt: skip
    theirs = sk.SGDRegressor(**params).fit(X, y)
    ours = SGDRegressor(**params).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10)
    # the average differs from the last iterate
    last = SGDRegressor(**dict(params, average=False)).fit(X, y)
    assert np.max(np.abs(ours.coef_ - last.coef_)) > 1e-3


def test_one_pass_matches_sklearn_hinge_classifier():
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] - X[:, 2] + 0.3 * rng.normal(size=60) > 0).astype(int)
    params = dict(loss="hinge", learning_rate="optimal", alpha=0.01, max_iter=1, tol=None,
                  shuffle=False)  # fmt: skip
    theirs = sk.SGDClassifier(**params).fit(X, y)
    ours = SGDClassifier(**params).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10, atol=1e-14)


REGRESSION_LOSSES = ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]


@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
def test_one_pass_regression_loss_classifier_matches_sklearn(loss):
    # scikit-learn's SGDClassifier fits the labels as ±1 regression targets (one-vs-rest for
    # three classes); epsilon=0.3, the class and sample weights must all reach the loop.
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(12)
    X = rng.normal(size=(60, 3))
    y2 = (X[:, 0] - X[:, 2] + 0.3 * rng.normal(size=60) > 0).astype(int)
    y3 = np.digitize(X[:, 0] + 0.3 * rng.normal(size=60), [-0.5, 0.5])
    sw = rng.uniform(0.5, 2.0, size=60)
    params = dict(loss=loss, learning_rate="constant", eta0=0.05, alpha=0.01, epsilon=0.3,
                  max_iter=1, tol=None, shuffle=False)  # fmt: skip
    cases = [(y2, {}, {}), (y2, {"class_weight": {0: 2.0, 1: 0.5}}, {"sample_weight": sw}),
             (y3, {}, {"sample_weight": sw}),
             # one-vs-rest: head h weighs class h's rows by its weight, the others by 1
             (y3, {"class_weight": {0: 2.0, 1: 0.5, 2: 1.5}}, {"sample_weight": sw}),
             (y3, {"class_weight": "balanced"}, {})]  # fmt: skip
    for y, extra, fit_kw in cases:
        theirs = sk.SGDClassifier(**params, **extra).fit(X, y, **fit_kw)
        ours = SGDClassifier(**params, **extra).fit(X, y, **fit_kw)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert not hasattr(ours, "predict_proba")
    assert ours.decision_function(X).shape == (60, 3)
    if loss != "squared_error":  # epsilon is read
        other = SGDClassifier(**dict(params, epsilon=0.05)).fit(X, y2)
        assert np.abs(other.coef_ - SGDClassifier(**params).fit(X, y2).coef_).max() > 1e-6


@pytest.mark.parametrize(
    "params",
    [
        # eta0 · alpha = 3: scikit-learn floors the l2 shrink factor max(0, 1 - eta0 · alpha)
        dict(loss="hinge", learning_rate="constant", eta0=0.1, alpha=30.0),
        # squared_hinge's first "optimal" steps are huge: scikit-learn clips dloss at ±1e12
        dict(loss="squared_hinge", learning_rate="optimal", alpha=1e-4),
    ],
)
def test_one_pass_matches_sklearn_where_it_clips_and_floors(params):
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] - X[:, 2] + 0.3 * rng.normal(size=60) > 0).astype(int)
    params = dict(params, max_iter=1, tol=None, shuffle=False)
    theirs = sk.SGDClassifier(**params).fit(X, y)
    ours = SGDClassifier(**params).fit(X, y)  # no DivergenceWarning (filterwarnings=error)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10)


def test_squared_hinge_on_breast_cancer_as_accurate_as_sklearns():
    datasets = pytest.importorskip("sklearn.datasets")
    sk = pytest.importorskip("sklearn.linear_model")
    X_train, X_test, y_train, y_test = _split_standardized(datasets.load_breast_cancer)
    ours, theirs = [], []
    for seed in range(5):  # one seed's test accuracy varies by ±2 points in both
        ours.append(SGDClassifier(loss="squared_hinge", random_state=seed).fit(X_train, y_train)
                    .score(X_test, y_test))  # fmt: skip
        theirs.append(sk.SGDClassifier(loss="squared_hinge", random_state=seed)
                      .fit(X_train, y_train).score(X_test, y_test))  # fmt: skip
    assert np.mean(ours) >= np.mean(theirs) - 0.02, (ours, theirs)
    assert min(ours) > 0.9


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_strong_l2_with_a_large_rate_shrinks_to_small_coefficients(Estimator):
    # eta0 · alpha = 3 > 1: without the floor each step multiplies w by 1 - 3 = -2 (|coef| 1e300
    # and a DivergenceWarning); with it the l2 part sets w to 0 before each gradient step, as in
    # scikit-learn, whose coefficients on such data stay below 0.2.
    rng = np.random.default_rng(13)
    X = rng.normal(size=(500, 5))
    y = (X @ np.array([1.0, -1.0, 0.5, 0.0, 2.0]) > 0).astype(int)
    est = Estimator(learning_rate="constant", eta0=0.1, alpha=30.0, random_state=0).fit(X, y)
    assert est.history_.status == "converged"
    assert np.isfinite(est.coef_).all() and np.abs(est.coef_).max() < 0.5


# ---------------------------------------------------------------------------------------------
# Continuation, warm start, class weights, adaptive


def test_partial_fit_continues_fit_exactly():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] > 0).astype(int)
    two = SGDClassifier(max_iter=2, tol=None, random_state=5, optimizer="adam",
                        learning_rate="constant", batch_size=8).fit(X, y)  # fmt: skip
    step = SGDClassifier(random_state=5, optimizer="adam", learning_rate="constant", batch_size=8)
    step.partial_fit(X, y, classes=[0, 1]).partial_fit(X, y)
    np.testing.assert_array_equal(step.coef_, two.coef_)
    np.testing.assert_array_equal(step.intercept_, two.intercept_)
    assert step.t_ == two.t_ == 2 * 10 + 1


def test_partial_fit_batch_missing_classes():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5])  # 0, 1, 2
    clf = SGDClassifier(random_state=0)
    for start in range(0, 90, 3):
        rows = slice(start, start + 3)
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    clf.partial_fit(X[:1], y[:1])
    assert clf.coef_.shape == (3, 2)
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X[:2], [0, 7])


def test_warm_start_starts_from_previous_coefficients():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    first = SGDRegressor(max_iter=3, tol=None, random_state=0, warm_start=True)
    first.fit(X, y)
    coef = first.coef_.copy()
    direct = SGDRegressor(max_iter=3, tol=None, random_state=0).fit(
        X, y, coef_init=coef, intercept_init=first.intercept_
    )
    first.fit(X, y)
    np.testing.assert_array_equal(first.coef_, direct.coef_)


def test_balanced_class_weight_is_sample_weight_for_two_classes():
    # (with three or more, head h weighs class h's rows only: compared with scikit-learn in
    # test_one_pass_one_vs_rest_class_weight_matches_sklearn)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(70, 3))
    y = np.array([0] * 55 + [1] * 15)
    weights = 70 / (2 * np.bincount(y))
    a = SGDClassifier(class_weight="balanced", random_state=0, max_iter=5, tol=None).fit(X, y)
    b = SGDClassifier(random_state=0, max_iter=5, tol=None).fit(X, y, sample_weight=weights[y])
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = SGDClassifier(class_weight={0: 1.0, 1: 2.0}, random_state=0, max_iter=5, tol=None)
    d = SGDClassifier(random_state=0, max_iter=5, tol=None)
    c.fit(X, y)
    d.fit(X, y, sample_weight=np.array([1.0, 2.0, 1.0])[y])
    np.testing.assert_array_equal(c.coef_, d.coef_)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_class_weight_is_named(bad, method):
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    clf = SGDClassifier(class_weight={0: 1.0, 2: bad})
    kwargs = {"classes": [0, 1, 2]} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=r"class_weight must hold finite weights >= 0; got .* for class 2"):
        getattr(clf, method)(X, y, **kwargs)


def test_adaptive_divides_eta_by_five_on_plateaus_and_stops():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, -1.0, 0.5]) + 0.5 * rng.normal(size=100)
    reg = SGDRegressor(learning_rate="adaptive", eta0=0.05, tol=1e-3, max_iter=1000,
                       random_state=0).fit(X, y)  # fmt: skip
    lrs = np.array(reg.history_.lr)
    assert reg.history_.status == "converged" and reg.n_iter_ == len(lrs) < 1000
    ratios = lrs[:-1] / lrs[1:]
    assert np.all(np.isclose(ratios, 1.0) | np.isclose(ratios, 5.0))
    assert lrs[0] == 0.05 and lrs[-1] <= 1e-6 and lrs[-1] * 5 > 1e-6


def test_softmax_probabilities():
    if not loss_available("log_loss"):
        pytest.skip("this build's losses.hpp has no log_loss yet")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 2))
    y = np.digitize(X[:, 0] + X[:, 1], [-0.7, 0.7])
    clf = SGDClassifier(loss="log_loss", multi_class="softmax", learning_rate="constant",
                        eta0=0.1, batch_size=16, random_state=0, max_iter=50, tol=None).fit(X, y)  # fmt: skip
    d = clf.decision_function(X)
    p = clf.predict_proba(X)
    expected = np.exp(d - d.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, expected / expected.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p))
    assert clf.score(X, y) > 0.9


# ---------------------------------------------------------------------------------------------
# verbose: scikit-learn's progress lines, printed from history_ once the fit has returned


def test_verbose_prints_sklearns_lines_from_the_history(capsys):
    rng = np.random.default_rng(17)
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    SGDClassifier(random_state=0, max_iter=3, tol=None).fit(X, y)
    assert capsys.readouterr().out == ""  # verbose=0: silent
    clf = SGDClassifier(random_state=0, max_iter=3, tol=None, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    h, w, b = clf.history_.loss, clf.coef_, clf.intercept_[0]
    assert lines[:5] == ["-- Epoch 1", f"Objective: {h[0]:f}", "-- Epoch 2", f"Objective: {h[1]:f}",
                         "-- Epoch 3"]  # fmt: skip
    assert lines[5] == (f"Norm: {np.linalg.norm(w):.2f}, NNZs: 3, Bias: {b:.6f}, T: 150, "
                        f"Objective: {h[2]:f}")  # fmt: skip
    assert re.fullmatch(r"Total training time: \d+\.\d\d seconds\.", lines[6])
    assert len(lines) == 7  # max_iter reached: no convergence line


def test_verbose_convergence_validation_heads_and_partial_fit(capsys):
    rng = np.random.default_rng(18)
    X = rng.normal(size=(60, 3))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = SGDClassifier(random_state=0, early_stopping=True, verbose=2).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    epochs = clf.n_iter_
    assert clf.history_.status == "converged" and lines.count("-- Epoch 1") == 1
    assert lines[1] == f"Objective: {clf.history_.loss[0]:f}, Validation score: {clf.history_.val_score[0]:f}"
    bias = ", ".join(f"{v:.6f}" for v in clf.intercept_)
    assert lines[2 * epochs - 1].startswith(f"Norm: {np.linalg.norm(clf.coef_):.2f}, NNZs: 9, Bias: [{bias}], T: {54 * epochs}, ")  # fmt: skip
    assert re.fullmatch(rf"Convergence after {epochs} epochs took \d+\.\d\d seconds", lines[-1])
    # partial_fit: one epoch, numbered 1 again, T the updates of this call
    clf.set_params(early_stopping=False).partial_fit(X[:20], y[:20])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "-- Epoch 1" and ", T: 20, " in lines[1] and len(lines) == 3


@pytest.mark.parametrize("verbose", [-1, 1.5, "yes"])
def test_verbose_must_be_a_nonnegative_int(verbose):
    with pytest.raises((TypeError, ValueError), match="verbose"):
        SGDRegressor(verbose=verbose).fit(np.ones((4, 1)), np.arange(4.0))


# ---------------------------------------------------------------------------------------------
# sparsify / densify, loss_functions (scikit-learn's SparseCoefMixin and class table)


def _sparse_cases():
    rng = np.random.default_rng(16)
    X = rng.normal(size=(80, 6))
    score = X[:, 0] - 2 * X[:, 1]
    params = dict(penalty="l1", alpha=0.05, random_state=0, max_iter=5, tol=None)
    return X, [
        (SGDClassifier(loss="log_loss", **params), (score > 0).astype(int)),
        (SGDClassifier(loss="log_loss", **params), np.digitize(score, [-1.0, 1.0])),
        (SGDRegressor(**params), score),
        (SGDRegressor(**params), np.column_stack([score, -score])),
    ]


def test_sparsify_keeps_predictions_and_fits_working():
    sparse = pytest.importorskip("scipy.sparse")
    X, cases = _sparse_cases()
    for est, y in cases:
        dense = pickle.loads(pickle.dumps(est.fit(X, y)))
        coef = est.coef_.copy()
        assert (coef == 0).any()  # l1 zeroed some: what sparsify is for
        assert est.sparsify() is est and sparse.issparse(est.coef_) and est.coef_.format == "csr"
        classifier = isinstance(est, SGDClassifier)
        methods = ["predict", "decision_function", "predict_proba"][: 3 if classifier else 1]
        for method in methods:
            np.testing.assert_array_equal(getattr(est, method)(X), getattr(dense, method)(X))
        assert est.score(X, y) == dense.score(X, y)
        restored = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(restored.predict(X), dense.predict(X))
        assert est.densify() is est and type(est.coef_) is np.ndarray
        np.testing.assert_array_equal(est.coef_, coef)  # same values, same shape
        # partial_fit and a warm-start fit go on as from the dense model, and store it dense
        est.sparsify().partial_fit(X, y)
        dense.partial_fit(X, y)
        assert type(est.coef_) is np.ndarray
        np.testing.assert_array_equal(est.coef_, dense.coef_)
        est.sparsify().set_params(warm_start=True).fit(X, y)
        dense.set_params(warm_start=True).fit(X, y)
        np.testing.assert_array_equal(est.coef_, dense.coef_)
        np.testing.assert_array_equal(est.intercept_, dense.intercept_)


def test_regressor_partial_fit_checks_outputs_with_a_sparse_coef():
    X = np.arange(20.0).reshape(10, 2)
    one = SGDRegressor(max_iter=2, tol=None).fit(X, X[:, 0])
    two = SGDRegressor(max_iter=2, tol=None).fit(X, X)
    for est in (one, two):
        est.sparsify()  # older scipy makes a 1-D coef_ a (1, n_features) CSR matrix
        est.partial_fit(X, X[:, 0] if est is one else X)
        est.sparsify()
    with pytest.raises(ValueError, match=r"y has shape \(10, 2\) but the model was fitted with a 1-D y"):
        one.partial_fit(X, X)
    with pytest.raises(ValueError, match=r"y has shape \(10,\) but the model was fitted with 2 outputs"):
        two.partial_fit(X, X[:, 0])


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_sparsify_and_densify_need_a_fitted_model(Estimator):
    for method, doing in (("sparsify", "sparsifying"), ("densify", "densifying")):
        with pytest.raises(gdcore.linear_model.NotFittedError, match=f"fitted before {doing}"):
            getattr(Estimator(), method)()


def test_sparsify_without_scipy_names_scipy():
    code = """
import sys
sys.modules['scipy'] = None  # make `import scipy` fail (scikit-learn then fails to import too)
import numpy as np
from gdcore.linear_model import SGDRegressor
X = np.arange(20.0).reshape(10, 2)
reg = SGDRegressor(max_iter=2, tol=None).fit(X, X[:, 0])
try:
    reg.sparsify()
except ImportError as err:
    print(err)
assert type(reg.densify().coef_) is np.ndarray
"""
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "sparsify() needs scipy" in out.stdout


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_loss_functions_table(Estimator):
    table = Estimator.loss_functions
    expected = set(gdcore.train.REGRESSION_LOSSES)
    if Estimator is SGDClassifier:
        expected |= set(gdcore.train.CLASSIFICATION_LOSSES)
    assert set(table) == expected
    sk = pytest.importorskip("sklearn.linear_model")
    assert set(table) == set(getattr(sk, Estimator.__name__).loss_functions)
    p, y = np.array([0.5, 2.0]), np.array([1.0, 1.0])
    loss, dloss = table["huber"](p, y, epsilon=0.3)  # r = -0.5 (linear part), r = 1 (linear)
    np.testing.assert_allclose(loss, [0.3 * (0.5 - 0.15), 0.3 * (1.0 - 0.15)])
    np.testing.assert_allclose(dloss, [-0.3, 0.3])
    if Estimator is SGDClassifier:
        np.testing.assert_array_equal(table["hinge"](p, y)[0], [0.5, 0.0])


# ---------------------------------------------------------------------------------------------
# Bad input, divergence, dtypes


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda X, y: SGDClassifier().fit(np.where(np.arange(40)[:, None] == 7, np.nan, X), y),
         r"NaN \(first in row 7\)"),
        (lambda X, y: SGDClassifier().fit(np.where(np.arange(40)[:, None] == 3, np.inf, X), y),
         r"infinity \(first in row 3\)"),
        (lambda X, y: SGDClassifier().fit(np.asfortranarray(np.where(np.arange(40)[:, None] == 9, -np.inf, X)), y),
         r"infinity \(first in row 9\)"),  # not C-contiguous: NumPy's scan instead of the core's
        (lambda X, y: SGDRegressor().fit(X, np.where(np.arange(40) == 5, np.nan, 1.0)),
         r"y contains NaN \(first in row 5\)"),
        (lambda X, y: SGDClassifier().fit(X[:, 0], y), "Reshape your data"),
        (lambda X, y: SGDClassifier().fit(X, np.zeros(40)), "1 class"),
        (lambda X, y: SGDClassifier().fit(X[:0], y[:0]), "0 sample"),
        (lambda X, y: SGDClassifier().fit(X, y[:-1]), "inconsistent numbers of samples"),
        (lambda X, y: SGDClassifier(loss="absolute_error").fit(X, y), "loss"),
        (lambda X, y: SGDRegressor(loss="hinge").fit(X, y), "loss"),
        (lambda X, y: SGDClassifier(optimizer="lbfgs").fit(X, y), "optimizer"),
        (lambda X, y: SGDClassifier(learning_rate="fast").fit(X, y), "learning_rate"),
        (lambda X, y: SGDClassifier(batch_size=0).fit(X, y), "batch_size"),
        (lambda X, y: SGDClassifier(average=-1).fit(X, y), "average"),
        (lambda X, y: SGDClassifier().fit(X, y, sample_weight=np.ones(39)), "sample_weight"),
        (lambda X, y: SGDClassifier().fit(X, y + 0.5), "Unknown label type"),
        (lambda X, y: SGDClassifier().partial_fit(X, y), "classes"),
        (lambda X, y: SGDClassifier(multi_class="softmax").fit(X, y), "log_loss"),
        (lambda X, y: SGDClassifier().fit(X, y).predict(X[:, :2]),
         "X has 2 features, but SGDClassifier is expecting 3 features as input"),
    ],
)
def test_bad_input_names_the_problem(make, match):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=match):
        make(X, y)


def test_batch_size_must_be_an_int():
    with pytest.raises(TypeError, match="batch_size"):
        SGDRegressor(batch_size=2.5).fit(np.ones((4, 1)), np.arange(4.0))


def test_unfitted_predict_raises_not_fitted():
    with pytest.raises(ValueError, match="not fitted"):
        SGDRegressor().predict(np.ones((2, 2)))


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_divergence_warns_and_keeps_a_finite_model(Estimator):
    rng = np.random.default_rng(9)
    X = 10 * rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int) if Estimator is SGDClassifier else 100 * X[:, 0]
    # As scikit-learn's, the loss derivative is clipped at ±1e12 and the l2 shrink factor
    # floored at 0, so only a rate near float64's range makes a step (1e300 · dloss · x) overflow.
    loss = "squared_hinge" if Estimator is SGDClassifier else "squared_error"
    est = Estimator(loss, learning_rate="constant", eta0=1e300, penalty=None, random_state=0)
    with pytest.warns(gdcore.DivergenceWarning, match=r"diverged in this fit \(\d+ epoch\(s\) completed\).*update \d+ \(learning rate 1e\+300\)"):
        est.fit(X, y)
    assert np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()
    assert est.history_.status == "diverged"


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_prediction_overflow_is_refused_naming_the_row(Estimator):
    # Finite X whose scores overflow float64: a ValueError that names the first such row, not
    # +-inf behind NumPy's "overflow encountered in matmul" warning; finite scores are untouched.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int) if Estimator is SGDClassifier else 3 * (X[:, 0] + X[:, 1])
    est = Estimator(random_state=0, max_iter=3, tol=None).fit(X, y)
    w = np.ravel(est.coef_)
    big = 1.7e308 * np.sign(w)  # x . w = 1.7e308 (|w_0| + |w_1|): past float64's 1.8e308
    assert np.abs(w).sum() > 1.1
    huge = np.array([[1.0, 1.0], [1.0, -1.0], big, -big])
    predict = est.decision_function if Estimator is SGDClassifier else est.predict
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning either
        with pytest.raises(ValueError, match=r"overflows float64 in 2 row\(s\) of X \(the first: row 2\)"):
            predict(huge)
        scores = predict(huge[:2])
    assert np.isfinite(scores).all()


def test_predict_proba_is_absent_for_any_other_loss():
    # hasattr answers False whatever the loss's type (an array once made `in` raise ValueError)
    assert hasattr(SGDClassifier(loss="log_loss"), "predict_proba")
    for loss in ("hinge", np.array(["log_loss", "hinge"]), ["log_loss"], None):
        est = SGDClassifier(loss=loss)
        assert not hasattr(est, "predict_proba") and not hasattr(est, "predict_log_proba")


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_float32_input_trains_in_float32(Estimator):
    rng = np.random.default_rng(10)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) if Estimator is SGDClassifier else X[:, 0]
    est = Estimator(random_state=0, max_iter=5, tol=None).fit(X, y)
    assert est.coef_.dtype == np.float32 and est._state["params"].dtype == np.float32
    est64 = Estimator(random_state=0, max_iter=5, tol=None).fit(X.astype(np.float64), y)
    assert est64.coef_.dtype == np.float64
    np.testing.assert_allclose(est.coef_, est64.coef_, rtol=1e-3, atol=1e-4)


# scikit-learn 1.9 with float32 X: coef_ is float32; a binary classifier's intercept_ is float64
# (its loop returns it as a C double), hence decision_function too, unless the averaged model is
# returned; one-vs-rest heads keep float32; a regressor's intercept_ and predict are float64.
FLOAT32_CASES = [
    ("binary", {}, np.float64),
    ("binary", {"average": True}, np.float32),
    ("binary", {"average": 10**6}, np.float64),  # averaging not started: the last iterate
    ("three classes", {}, np.float32),
    ("regression", {}, np.float64),
    ("regression", {"average": True}, np.float64),
]


def _float32_data(kind):
    rng = np.random.default_rng(14)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    if kind == "regression":
        return X, X[:, 0] - X[:, 1], (SGDRegressor, "predict")
    y = (X[:, 0] > 0).astype(int) if kind == "binary" else np.digitize(X[:, 0], [-0.5, 0.5])
    return X, y, (SGDClassifier, "decision_function")


@pytest.mark.parametrize("kind, params, intercept_dtype", FLOAT32_CASES)
def test_float32_intercept_and_score_dtypes_are_sklearns(kind, params, intercept_dtype):
    X, y, (Estimator, method) = _float32_data(kind)
    est = Estimator(random_state=0, max_iter=5, tol=None, **params).fit(X, y)
    assert est.coef_.dtype == np.float32 and est.intercept_.dtype == intercept_dtype
    assert getattr(est, method)(X).dtype == intercept_dtype
    if Estimator is SGDClassifier and "average" not in params:
        proba = SGDClassifier(loss="log_loss", random_state=0, max_iter=5, tol=None).fit(X, y)
        assert proba.predict_proba(X).dtype == intercept_dtype
    sk = pytest.importorskip("sklearn.linear_model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 5 epochs
        theirs = getattr(sk, Estimator.__name__)(random_state=0, max_iter=5, tol=None, **params)
        theirs.fit(X, y)
    assert theirs.coef_.dtype == est.coef_.dtype and theirs.intercept_.dtype == intercept_dtype
    assert getattr(theirs, method)(X).dtype == intercept_dtype


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_float64_intercept_of_float32_fits_continues_exactly(kind):
    # partial_fit continues from the float32 state, and a warm start casts the float64
    # intercept_ back to float32 exactly: each equals the fit it stands for.
    X, y, (Estimator, method) = _float32_data(kind)
    kwargs = {"classes": [0, 1]} if kind == "binary" else {}
    two = Estimator(random_state=3, max_iter=2, tol=None).fit(X, y)
    steps = Estimator(random_state=3)
    steps.partial_fit(X, y, **kwargs).partial_fit(X, y)
    assert steps.intercept_.dtype == np.float64
    np.testing.assert_array_equal(steps.coef_, two.coef_)
    np.testing.assert_array_equal(steps.intercept_, two.intercept_)
    params = dict(random_state=3, max_iter=1, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.linear_model.ConvergenceWarning)
        warm = Estimator(warm_start=True, **params).fit(X, y)
        first_coef, first_intercept = warm.coef_.copy(), warm.intercept_.copy()
        warm.fit(X, y)
        direct = Estimator(**params).fit(X, y, coef_init=first_coef.astype(np.float32),
                                         intercept_init=first_intercept.astype(np.float32))  # fmt: skip
    np.testing.assert_array_equal(warm.coef_, direct.coef_)
    np.testing.assert_array_equal(warm.intercept_, direct.intercept_)


def test_a_float32_product_that_overflows_is_named_float32():
    # with a float64 intercept_ the scores are float64, but the product overflowed in float32
    rng = np.random.default_rng(15)
    X = rng.normal(size=(40, 2)).astype(np.float32)
    clf = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(X, (X[:, 0] > 0).astype(int))
    w = clf.coef_[0]
    assert np.abs(w).sum() > 1.2  # x . w = 3e38 (|w_0| + |w_1|): past float32's 3.4e38
    huge = np.array([[1.0, 1.0], 3e38 * np.sign(w)], dtype=np.float32)
    with pytest.raises(ValueError, match=r"overflows float32 in 1 row\(s\) of X \(the first: row 1\)"):
        clf.decision_function(huge)


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(11)
    df = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    reg = SGDRegressor(max_iter=5, tol=None).fit(df, df["a"] * 2)
    assert list(reg.feature_names_in_) == ["a", "b"]
    with pytest.raises(ValueError, match="feature names should match"):
        reg.predict(df.rename(columns={"b": "c"}))


def test_works_without_scikit_learn():
    code = """
import sys
sys.modules['sklearn'] = None  # make `import sklearn` fail
import numpy as np
from gdcore.linear_model import SGDClassifier, SGDRegressor, HAVE_SKLEARN
assert not HAVE_SKLEARN
rng = np.random.default_rng(0)
X = rng.normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
clf = SGDClassifier(random_state=0).fit(X, y)
assert clf.score(X, y) > 0.9
assert clf.get_params()['alpha'] == 1e-4 and clf.set_params(alpha=1e-3).alpha == 1e-3
assert repr(clf) == 'SGDClassifier(alpha=0.001, random_state=0)', repr(clf)
assert not hasattr(clf, 'predict_proba')
reg = SGDRegressor(random_state=0).fit(X, X @ [1.0, 2.0, 3.0])
assert reg.score(X, X @ [1.0, 2.0, 3.0]) > 0.99
try:
    SGDRegressor().predict(X)
except ValueError as err:
    assert 'not fitted' in str(err)
else:
    raise AssertionError('no error')
print('ok')
"""
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("Estimator", [SGDClassifier, SGDRegressor])
def test_non_finite_coef_init_is_refused_by_name(Estimator):
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="coef_init holds NaN"):
        Estimator(max_iter=2).fit(X, y, coef_init=np.array([np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="intercept_init holds NaN"):
        Estimator(max_iter=2).fit(X, y, coef_init=np.zeros(3), intercept_init=np.inf)


def test_a_finite_blow_up_warns_instead_of_converging():
    # eta0 = 1 on features of scale 10: the clipped derivative (1e12) keeps the parameters
    # finite, and the loss levels off around 1e28, so the tol rule alone would report
    # convergence. It is 1e27x the loss of the all-zero model: divergence, and said so.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)) * 10
    y = X @ [1.0, 2, 3]
    Estimator = SGDRegressor
    est = Estimator("squared_error", learning_rate="constant", eta0=1.0, random_state=0)
    with pytest.warns(gdcore.DivergenceWarning, match="x that of the all-zero model"):
        est.fit(X, y)
    assert est.history_.status == "diverged" and np.isfinite(est.coef_).all()
    # The same data at a sound rate converges, without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", gdcore.DivergenceWarning)
        Estimator("squared_error", learning_rate="constant", eta0=1e-4, random_state=0).fit(X, y)


@pytest.mark.parametrize("loss", ["hinge", "log_loss", "modified_huber"])
def test_one_pass_one_vs_rest_class_weight_matches_sklearn(loss):
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(13)
    X = rng.normal(size=(90, 4))
    y = np.digitize(X[:, 0] + 0.3 * rng.normal(size=90), [-0.7, 0.2, 0.9])  # 4 classes, unequal
    params = dict(loss=loss, learning_rate="constant", eta0=0.05, alpha=0.01, max_iter=1,
                  tol=None, shuffle=False)  # fmt: skip
    for class_weight in ("balanced", {0: 3.0, 2: 0.25}):
        theirs = sk.SGDClassifier(**params, class_weight=class_weight).fit(X, y)
        ours = SGDClassifier(**params, class_weight=class_weight).fit(X, y)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
def test_passive_aggressive_rates_match_sklearn_on_one_pass(learning_rate):
    # scikit-learn 1.8's learning_rate="pa1"/"pa2" (what its deprecated PassiveAggressive
    # estimators became): two classes, one-vs-rest with balanced weights, and regression.
    sk = pytest.importorskip("sklearn.linear_model")
    if learning_rate not in sk.SGDClassifier._parameter_constraints["learning_rate"][0].options:
        pytest.skip("this scikit-learn has no passive-aggressive learning rates")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 4))
    y2 = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=80) > 0).astype(int)
    y3 = np.digitize(X[:, 0] + 0.3 * rng.normal(size=80), [-0.5, 0.5])
    yr = X @ np.array([1.0, 2, -1, 0.5]) + 0.1 * rng.normal(size=80)
    common = dict(learning_rate=learning_rate, eta0=0.5, max_iter=1, tol=None, shuffle=False)
    cases = [(sk.SGDClassifier, SGDClassifier, y2, dict(loss="hinge", penalty=None)),
             (sk.SGDClassifier, SGDClassifier, y3, dict(loss="hinge", penalty=None,
                                                         class_weight="balanced")),
             (sk.SGDRegressor, SGDRegressor, yr, dict(loss="epsilon_insensitive", alpha=0.01))]
    for theirs_cls, ours_cls, y, extra in cases:  # fmt: skip
        theirs = theirs_cls(**common, **extra).fit(X, y)
        ours = ours_cls(**common, **extra).fit(X, y)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match=f"Learning rate '{learning_rate}' only works with loss"):
        SGDClassifier(loss="log_loss", learning_rate=learning_rate).fit(X, y2)
