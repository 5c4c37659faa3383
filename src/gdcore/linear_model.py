"""scikit-learn-compatible estimators on gdcore's compiled training loop.

:class:`SGDClassifier` and :class:`SGDRegressor` take the constructor parameters of scikit-learn's
classes of the same names (same names, same defaults), plus gdcore's own keywords:

* ``optimizer="sgd"``: any optimizer name :func:`gdcore.fit_linear` accepts ("momentum", "adam",
  ...) or a :mod:`gdcore.optim` optimizer object;
* ``batch_size=1``: rows per update (1: stochastic, k: mini-batch, None: full batch);
* ``multi_class="ovr"`` (classifier): one-vs-rest heads, or ``"softmax"`` (log_loss only);
* ``num_threads=None``: threads of the loop (``n_jobs`` is used when this is None).

``learning_rate`` takes scikit-learn's "constant", "optimal", "invscaling" and "adaptive", any
other name of :func:`gdcore.schedules.make_schedule` (built with ``eta0`` as its base), or a
:mod:`gdcore.schedules` object. Every epoch of a fit runs in C++ without the GIL; "adaptive" is
driven one epoch at a time from Python (each call continues the previous one exactly).

Pickling: fitted or not, an estimator pickles with its parameters (an optimizer or schedule
object given as ``optimizer`` / ``learning_rate`` included) and, once fitted, ``coef_``,
``intercept_``, ``classes_``, ``history_``, ``t_``, the training state of
:attr:`gdcore.LinearFit.state` and the seed drawn at the first fit. Loaded in a new process,
further ``partial_fit`` calls continue bit-identically (same ``random_state`` and threads).

``verbose > 0`` prints scikit-learn's progress lines, but when the fit returns, not live (the
epochs run in C++ with no per-epoch callback), from what ``history_`` holds: "-- Epoch k" and
the epoch's objective (mean loss + penalty, scikit-learn's "Objective"; with early stopping also
"Validation score") for each epoch; for the last epoch also "Norm", "NNZs", "Bias" and "T" (the
updates of this call) of the final coefficients, which are all there is of them; then "Total
training time" and, for a fit that met ``tol``, "Convergence after k epochs". With several heads
(fitted together) Norm and NNZs cover all of coef_ and Bias lists the intercepts.

scikit-learn is optional: when it is importable the estimators inherit its ``BaseEstimator`` and
mixins (``clone``, tags, HTML repr), otherwise a small base class gives ``get_params``,
``set_params`` and ``score``.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import time
import warnings

import numpy as np

from gdcore import _core
from gdcore import _validate as check
from gdcore import losses as _losses
from gdcore.train import (
    CLASSIFICATION_LOSSES,
    OPTIMIZERS,
    REGRESSION_LOSSES,
    DivergenceError,
    DivergenceWarning,
    fit_linear,
)

__all__ = ["SGDClassifier", "SGDRegressor"]

try:  # scikit-learn is a test extra, not a dependency
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _ClassifierMixin
    from sklearn.base import RegressorMixin as _RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised in environments without scikit-learn
    HAVE_SKLEARN = False

    class ConvergenceWarning(UserWarning):
        """The fit stopped at max_iter before meeting its tolerance."""

    class DataConversionWarning(UserWarning):
        """The input was converted (e.g. a column vector y raveled)."""

    class NotFittedError(ValueError, AttributeError):
        """The estimator was used before fit."""

    class _Base:
        """get_params / set_params / repr from the constructor signature (as scikit-learn's)."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self")

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                        f"Valid parameters are: {valid!r}."
                    )
                setattr(self, key, value)
            return self

        def __repr__(self):
            sig = inspect.signature(type(self).__init__)
            changed = [
                f"{name}={getattr(self, name)!r}"
                for name, p in sig.parameters.items()
                if name != "self" and not _same(getattr(self, name), p.default)
            ]
            return f"{type(self).__name__}({', '.join(changed)})"

    class _ClassifierMixin:
        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            """Mean accuracy of predict(X) against y (weighted by sample_weight)."""
            return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    class _RegressorMixin:
        _estimator_type = "regressor"

        def score(self, X, y, sample_weight=None):
            """R² of predict(X) against y (uniform average over outputs)."""
            y = np.asarray(y, dtype=np.float64)
            pred = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
            w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
            y2, p2 = y.reshape(len(y), -1), pred.reshape(len(y), -1)
            res = np.average((y2 - p2) ** 2, axis=0, weights=w)
            tot = np.average((y2 - np.average(y2, axis=0, weights=w)) ** 2, axis=0, weights=w)
            r2 = np.where(tot > 0, 1 - res / np.where(tot > 0, tot, 1), np.where(res == 0, 1.0, 0.0))
            return float(np.mean(r2))


def _same(a, b) -> bool:
    try:
        return bool(a is b or a == b)
    except Exception:
        return False


def _expit(z):
    """1 / (1 + exp(-z)) without overflow for large |z|."""
    return np.exp(-np.logaddexp(0.0, -z))


class _available_if:
    """A method that exists only when ``check(self)`` is true (hasattr is False otherwise)."""

    def __init__(self, check_fn, fn):
        self.check_fn, self.fn = check_fn, fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.fn
        self.check_fn(obj)  # raises AttributeError
        return self.fn.__get__(obj, owner)


_LEARNING_RATES = ("constant", "optimal", "invscaling", "adaptive", "pa1", "pa2")

# scikit-learn's SGD clips each row's loss derivative to [-1e12, 1e12] (``MAX_DLOSS`` in
# _sgd_fast.pyx.tp), so that one huge early step (squared_hinge under "optimal", or unscaled X)
# stays finite and the fit recovers; the estimators do the same. They also floor the l2 shrink
# factor at 0 as scikit-learn's ``max(0, 1 - eta * alpha)`` (fit_linear's floor_l2_shrink).
_MAX_DLOSS = 1e12


def _loss_functions(names):
    """scikit-learn's ``loss_functions`` table: each accepted loss name, here mapped to a function
    ``(p, y, epsilon=0.1) -> (loss, dloss)`` on arrays (:func:`gdcore.losses.loss_values`)."""
    return {name: functools.partial(_losses.loss_values, name) for name in names}


# ---------------------------------------------------------------------------------------------
# Input checks. Each error names the argument and what was wrong; the wording also satisfies
# scikit-learn's estimator checks (which match on "NaN", "inf", "class", "Reshape your data"...).


def _feature_names(X):
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "iloc"):
        return None
    names = np.asarray(list(columns), dtype=object)
    kinds = {type(c) is str for c in names}
    if kinds == {True}:
        return names
    if len(kinds) > 1:
        raise TypeError(
            "Feature names are only supported if all input features have string names, but "
            "your input has a mix of str and non-str names; convert them all to str."
        )
    return None


def _as_2d(X, name="X", num_threads=1):
    """X as a float32/float64 2-D array (sparse input is densified)."""
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        X = X.toarray()
    if X is None:
        raise ValueError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype.kind in "OUS":
        arr = arr.astype(np.float64)  # raises TypeError/ValueError naming the bad element
    elif arr.dtype.kind == "b" or arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim == 1:
        raise ValueError(
            f"Expected a 2-D {name}, got a 1-D array of shape {arr.shape}. Reshape your data "
            "either using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required: "
            f"{name} is empty."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.flags.c_contiguous and arr.dtype.isnative:  # the core's scan: no n x d mask
        first = _core.first_nonfinite(arr.reshape(-1), num_threads=num_threads)
        row = first // arr.shape[1] if first < arr.size else -1
    else:
        bad = ~np.isfinite(arr).all(axis=1)
        row = int(np.argmax(bad)) if bad.any() else -1
    if row >= 0:
        what = "NaN" if np.isnan(arr[row]).any() else "infinity"
        raise ValueError(f"Input {name} contains {what} (first in row {row}); remove or impute it")
    return arr


def _check_y_finite(y, name="y"):
    if y.dtype.kind in "fc":
        bad = ~np.isfinite(y.reshape(len(y), -1)).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            what = "NaN" if np.isnan(y[row]).any() else "infinity"
            raise ValueError(f"Input {name} contains {what} (first in row {row})")


def _column_or_1d(y, estimator):
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y.ravel()
    return y


def _sample_weight(sample_weight, n, dtype):
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        return np.full(n, float(sample_weight), dtype=dtype)
    sw = np.asarray(sample_weight)
    if sw.ndim != 1 or sw.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},) to match X, got {sw.shape}")
    sw = sw.astype(dtype)
    if not np.isfinite(sw).all():
        raise ValueError(f"sample_weight contains NaN or inf (first at {np.argmax(~np.isfinite(sw))})")
    if (sw < 0).any():
        raise ValueError(f"sample_weight must be >= 0 (first negative at {np.argmax(sw < 0)})")
    if not sw.any():
        raise ValueError("sample_weight must contain at least one non-zero weight; all are zero")
    return sw


def _seed(random_state) -> int:
    if random_state is None:
        return int(np.random.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    return check.integer("random_state", random_state, low=0, high=2**32 - 1)


# ---------------------------------------------------------------------------------------------


class _BaseSGD:
    """What both estimators share: parameter checks, the fit driver, prediction."""

    _LOSSES: tuple = ()

    # -- parameters -------------------------------------------------------------------------

    def _check_params(self, n_samples=None):
        check.choice("loss", self.loss, self._LOSSES)
        if self.penalty is not None:
            check.choice("penalty", self.penalty, ("l2", "l1", "elasticnet"))
        check.real("alpha", self.alpha, low=0.0)
        check.real("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        check.flag("fit_intercept", self.fit_intercept)
        check.integer("max_iter", self.max_iter, low=1)
        if self.tol is not None:
            check.real("tol", self.tol)
        check.flag("shuffle", self.shuffle)
        check.real("epsilon", self.epsilon, low=0.0)
        check.flag("early_stopping", self.early_stopping)
        check.real("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                   low_open=True, high_open=True)  # fmt: skip
        check.integer("n_iter_no_change", self.n_iter_no_change, low=1)
        check.flag("warm_start", self.warm_start)
        if not isinstance(self.verbose, (bool, np.bool_)):
            check.integer("verbose", self.verbose, low=0)
        if not isinstance(self.average, (bool, np.bool_)):
            check.integer("average", self.average, low=0)
        if self.batch_size is not None:
            check.integer("batch_size", self.batch_size, low=1)
        if not isinstance(self.optimizer, str) and not hasattr(self.optimizer, "param_groups"):
            raise TypeError(
                f"optimizer must be a name or a gdcore.optim optimizer, got {self.optimizer!r}"
            )
        if isinstance(self.optimizer, str) and self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; got {self.optimizer!r}"
            )
        lr = self.learning_rate
        if isinstance(lr, str):
            from gdcore.schedules import SCHEDULE_NAMES

            known = _LEARNING_RATES + tuple(n for n in SCHEDULE_NAMES if n not in _LEARNING_RATES)
            check.choice("learning_rate", lr, known)
            if lr == "optimal" and self.alpha == 0:
                raise ValueError("alpha must be > 0 when learning_rate='optimal' (1/alpha sets the rate)")
            if lr != "optimal":
                check.real("eta0", self.eta0, low=0.0, low_open=True)
            if lr in ("pa1", "pa2"):  # scikit-learn's rule: PA-I/II steps for these losses only
                allowed = "hinge" if isinstance(self, SGDClassifier) else "epsilon_insensitive"
                if self.loss != allowed:
                    raise ValueError(f"Learning rate {lr!r} only works with loss {allowed!r}.")
        elif not hasattr(lr, "_core"):
            raise TypeError(
                f"learning_rate must be a name or a gdcore.schedules object, got {lr!r}"
            )
        check.real("power_t", self.power_t)
        if self.num_threads is not None:
            check.num_threads(self.num_threads)
        if self.n_jobs is not None:
            check.integer("n_jobs", self.n_jobs)

    def _threads(self):
        if self.num_threads is not None:
            return self.num_threads
        if self.n_jobs is None or self.n_jobs == 0:
            return None
        if self.n_jobs < 0:
            import os

            return max(1, (os.cpu_count() or 1) + 1 + self.n_jobs)
        return self.n_jobs

    def _schedule(self):
        """(lr for the optimizer, schedule for fit_linear) from learning_rate / eta0."""
        from gdcore import schedules

        lr = self.learning_rate
        if not isinstance(lr, str):
            return None, lr
        if lr in ("constant", "adaptive", "pa1", "pa2"):  # pa: eta0 is C, the largest step
            return self.eta0, None
        if lr == "optimal":
            return None, schedules.OptimalLR(None, alpha=self.alpha)
        if lr == "invscaling":
            return self.eta0, schedules.InverseScaling(self.eta0, power_t=self.power_t)
        try:
            return self.eta0, schedules.make_schedule(lr, self.eta0)
        except TypeError as err:
            raise ValueError(
                f"learning_rate={lr!r} needs hyperparameters of its own ({err}); pass a "
                "gdcore.schedules object built with them instead of the name"
            ) from None

    # -- input ------------------------------------------------------------------------------

    def _validate_X(self, X, *, reset):
        names = _feature_names(X)
        fitted_names = getattr(self, "feature_names_in_", None)
        cls = type(self).__name__
        if reset:
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif names is None and fitted_names is not None:
            if hasattr(X, "iloc") or not hasattr(X, "columns"):
                warnings.warn(
                    f"X does not have valid feature names, but {cls} was fitted with feature names",
                    UserWarning,
                    stacklevel=3,
                )
        elif names is not None and fitted_names is None:
            warnings.warn(
                f"X has feature names, but {cls} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        elif names is not None and (
            len(names) != len(fitted_names) or (names != fitted_names).any()
        ):
            message = "The feature names should match those that were passed during fit.\n"
            unseen = sorted(set(names) - set(fitted_names))
            missing = sorted(set(fitted_names) - set(names))

            def listed(items):
                shown = "".join(f"- {n}\n" for n in items[:5])
                return shown + ("- ...\n" if len(items) > 5 else "")

            if unseen:
                message += "Feature names unseen at fit time:\n" + listed(unseen)
            if missing:
                message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
            if not unseen and not missing:
                message += "Feature names must be in the same order as they were in fit.\n"
            raise ValueError(message)
        arr = _as_2d(X, num_threads=self._threads() or 0)
        if reset:
            self.n_features_in_ = arr.shape[1]
        elif arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} features, but {cls} is expecting {self.n_features_in_} "
                "features as input."
            )
        return arr

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coef_")

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    # -- sparse coefficients (scikit-learn's SparseCoefMixin) -------------------------------

    def sparsify(self):
        """Make ``coef_`` a ``scipy.sparse`` CSR matrix (worth it when most coefficients are zero,
        e.g. with an l1 penalty); returns self. Prediction and ``score`` work with it, and so do
        ``partial_fit`` and a warm-start ``fit`` (they continue from the training state and
        store a dense ``coef_`` again). Needs scipy, which gdcore itself does not."""
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"Estimator, {type(self).__name__}, must be fitted before sparsifying.")
        try:
            from scipy import sparse
        except ImportError:
            raise ImportError(
                "sparsify() needs scipy (pip install scipy), which gdcore does not install"
            ) from None
        self.coef_ = sparse.csr_matrix(self.coef_)
        return self

    def densify(self):
        """Make ``coef_`` a dense ndarray again (after :meth:`sparsify`); returns self."""
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"Estimator, {type(self).__name__}, must be fitted before densifying.")
        self.coef_ = self._dense_coef()
        return self

    def _dense_coef(self):
        """coef_ as an ndarray, whether or not sparsify() made it sparse."""
        coef = self.coef_
        return np.asarray(coef.toarray()) if hasattr(coef, "toarray") else coef

    # -- the driver -------------------------------------------------------------------------

    def _run(self, X, y_fit, *, sample_weight, init, max_iter, tol, validation, partial,
             classes=None, class_weight=None):  # fmt: skip
        """Train with fit_linear and store coef_, intercept_, history_, n_iter_, t_, _state."""
        lr, schedule = self._schedule()
        options = dict(
            loss=self.loss,
            multiclass=getattr(self, "multi_class", "ovr"),
            optimizer=self.optimizer,
            lr=lr,
            schedule=schedule,
            batch_size=self.batch_size,
            n_iter_no_change=self.n_iter_no_change,
            shuffle=self.shuffle,
            random_state=self._seed_value,
            penalty=self.penalty,
            alpha=self.alpha,
            l1_ratio=self.l1_ratio,
            fit_intercept=self.fit_intercept,
            sample_weight=sample_weight,
            epsilon=self.epsilon,
            validation_fraction=self.validation_fraction if validation else None,
            num_threads=self._threads(),
            on_divergence="raise",
            average=self.average,
            max_dloss=_MAX_DLOSS,
            floor_l2_shrink=True,
        )
        if classes is not None:
            # a regression loss in the classifier fits the classes as ±1 targets
            options["classes"] = classes
            options["task"] = "classification"
        if class_weight is not None:
            options["class_weight"] = class_weight
        if self.learning_rate in ("pa1", "pa2"):
            options["passive_aggressive"] = self.learning_rate
        adaptive = self.learning_rate == "adaptive"
        started = time.perf_counter()
        updates_before = int(init["counters"][1]) if init is not None and "counters" in init else 0
        epochs = 0
        losses, lrs, val_losses, val_scores = [], [], [], []
        status = "max_epochs"
        if not adaptive:
            fit = self._call(X, y_fit, options, init=init, max_epochs=max_iter, tol=tol,
                             early_stopping=validation and self.early_stopping)  # fmt: skip
            history = fit.history
        else:
            # scikit-learn's rule: keep eta while the epoch loss (or validation score) improves
            # by tol; after n_iter_no_change epochs without improvement divide it by 5; stop
            # once it would fall below 1e-6.
            eta = float(self.eta0)
            best_loss, best_score, bad = np.inf, -np.inf, 0
            fit = None
            for _ in range(max_iter):
                options["lr"] = eta
                fit = self._call(X, y_fit, options, init=init, max_epochs=1, tol=None,
                                 early_stopping=False)  # fmt: skip
                init = fit.state
                h = fit.history
                epochs += h.epochs
                losses += h.loss
                lrs += h.lr
                val_losses += h.val_loss
                val_scores += h.val_score
                if h.status == "diverged":
                    break
                if tol is not None:
                    if validation and self.early_stopping:
                        bad = bad + 1 if h.val_score[-1] < best_score + tol else 0
                        best_score = max(best_score, h.val_score[-1])
                    else:
                        bad = bad + 1 if h.loss[-1] > best_loss - tol else 0
                        best_loss = min(best_loss, h.loss[-1])
                if bad >= self.n_iter_no_change:
                    if eta > 1e-6:
                        eta /= 5.0
                        bad = 0
                    else:
                        status = "converged"
                        break
            history = fit.history
            history.loss, history.lr = losses, lrs
            history.val_loss, history.val_score = val_losses, val_scores
            history.epochs = epochs
            if history.status != "diverged":
                history.status = status
        self._store(fit)
        self.history_ = history
        self.n_iter_ = int(history.epochs)
        self.t_ = float(fit.state["counters"][1] + 1)
        if self.verbose:
            updates = int(fit.state["counters"][1]) - updates_before
            self._print_progress(history, updates, time.perf_counter() - started)
        if history.status == "diverged":
            # A warning, not an error: like scikit-learn's, the fit completes (scikit-learn
            # clips the loss derivative and returns huge coefficients; gdcore keeps the last
            # finite ones and says so).
            warnings.warn(
                f"{type(self).__name__} diverged in this fit ({history.epochs} epoch(s) "
                "completed): "
                f"{self._divergence_message} coef_ and intercept_ hold those finite parameters.",
                DivergenceWarning,
                stacklevel=3,
            )
        if not partial and tol is not None and history.status == "max_epochs":
            warnings.warn(
                "Maximum number of iteration reached before convergence. Consider increasing "
                "max_iter to improve the fit.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _print_progress(self, history, updates, seconds):
        """scikit-learn's verbose lines, from the history of the fit that just returned (see the
        module docstring)."""
        coef = self._dense_coef()
        intercept = np.ravel(self.intercept_)
        if intercept.size == 1:
            bias = f"{intercept[0]:.6f}"
        else:
            bias = "[" + ", ".join(f"{b:.6f}" for b in intercept) + "]"
        for epoch, objective in enumerate(history.loss, start=1):
            print(f"-- Epoch {epoch}")
            line = f"Objective: {objective:f}"
            if len(history.val_score) >= epoch:
                line += f", Validation score: {history.val_score[epoch - 1]:f}"
            if epoch == len(history.loss):
                line = (f"Norm: {np.linalg.norm(coef):.2f}, NNZs: {np.count_nonzero(coef)}, "
                        f"Bias: {bias}, T: {updates}, {line}")  # fmt: skip
            print(line)
        print(f"Total training time: {seconds:.2f} seconds.")
        if history.status == "converged":
            print(f"Convergence after {history.epochs} epochs took {seconds:.2f} seconds")

    def _call(self, X, y, options, *, init, max_epochs, tol, early_stopping):
        """One fit_linear call; on divergence or Ctrl-C the last finite model is still stored."""
        self._divergence_message = ""
        try:
            return fit_linear(X, y, init=init, max_epochs=max_epochs, tol=tol,
                              early_stopping=early_stopping, **options)  # fmt: skip
        except DivergenceError as err:
            self._divergence_message = str(err)
            return err.fit
        except KeyboardInterrupt as err:
            if getattr(err, "fit", None) is not None:
                self._store(err.fit)
            raise

    def _init_state(self, coef, intercept, heads, d, dtype):
        for name, value in (("coef_init", coef), ("intercept_init", intercept)):
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise ValueError(f"{name} holds NaN or infinity")
        coef = np.asarray(coef, dtype=dtype).reshape(heads, d)
        intercept = np.broadcast_to(np.asarray(intercept, dtype=dtype), (heads,))
        return {"params": np.concatenate([coef.ravel(), intercept])}

    def _decision(self, X):
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        return _linear_scores(X, self._dense_coef(), self.intercept_, type(self).__name__)


def _linear_scores(X, coef, intercept, name):
    """X @ coef.T in the wider of their dtypes, + intercept in the wider of that and the
    intercept's (float32 X and coef with a float64 intercept give float64 scores, as
    scikit-learn's). X has been checked finite, so a score that is not finite overflowed
    (|x . w| beyond the dtype's range): check.finite_scores refuses it rather than return +-inf
    or NaN behind NumPy's anonymous 'overflow encountered in matmul'."""
    dtype = np.result_type(X.dtype, coef.dtype)
    what = "X @ coef_ + intercept_"
    with np.errstate(over="ignore", invalid="ignore"):
        product = X.astype(dtype, copy=False) @ coef.T.astype(dtype, copy=False)
        scores = product + intercept
    if scores.dtype != product.dtype:  # the product may have overflowed in the narrower dtype
        check.finite_scores(product, what, name)
    return check.finite_scores(scores, what, name)


class SGDClassifier(_ClassifierMixin, _BaseSGD, _Base):
    """Linear classifiers (SVM, logistic regression, ...) trained by gdcore's SGD loop.

    A drop-in replacement for ``sklearn.linear_model.SGDClassifier`` (same parameters and
    defaults, same attributes) with gdcore's keywords ``optimizer``, ``batch_size``,
    ``multi_class`` and ``num_threads``; see the module docstring. Two classes train one head
    (``classes_[1]`` is the positive class); three or more train one-vs-rest heads, or one
    softmax model with ``multi_class="softmax"`` (log_loss only). As in scikit-learn, the
    regression losses ("squared_error", "huber", "epsilon_insensitive",
    "squared_epsilon_insensitive", with ``epsilon``) are accepted too: each head fits its
    class's labels as ±1 targets; predict and decision_function work as usual, predict_proba is
    not available.

    ``average=True`` (or an int n: from the n-th update on) makes coef_ and intercept_ the
    running averages of the iterates (averaged SGD, as scikit-learn's). Sparse X is densified.
    """

    # scikit-learn's SGDClassifier takes the regression losses too: the classes become ±1
    # targets (one-vs-rest heads for three or more), with no predict_proba.
    _LOSSES = CLASSIFICATION_LOSSES + REGRESSION_LOSSES
    loss_functions = _loss_functions(_LOSSES)

    def __init__(
        self,
        loss="hinge",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=0.001,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        n_jobs=None,
        random_state=None,
        learning_rate="optimal",
        eta0=0.01,
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        class_weight=None,
        warm_start=False,
        average=False,
        optimizer="sgd",
        batch_size=1,
        multi_class="ovr",
        num_threads=None,
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.multi_class = multi_class
        self.num_threads = num_threads

    def _check_params(self, n_samples=None):
        super()._check_params(n_samples)
        check.choice("multi_class", self.multi_class, ("ovr", "softmax"))
        if self.multi_class == "softmax" and self.loss != "log_loss":
            raise ValueError(f"multi_class='softmax' needs loss='log_loss', got loss={self.loss!r}")

    # -- targets ----------------------------------------------------------------------------

    def _labels(self, y, n):
        y = _column_or_1d(y, type(self).__name__)
        if y.ndim != 1:
            raise ValueError(f"y should be a 1d array of labels, got an array of shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: X has {n} rows, "
                f"y has {y.shape[0]} labels"
            )
        if y.dtype.kind == "c":
            raise ValueError("Complex data not supported in y")
        _check_y_finite(y)
        if y.dtype.kind == "f" and (y != np.round(y)).any():
            raise ValueError(
                "Unknown label type: continuous. SGDClassifier expects discrete class labels; "
                "for a continuous target use SGDRegressor."
            )
        if y.dtype == object:
            kinds = {type(v) for v in y}
            if len(kinds) > 1 and not all(issubclass(k, numbers.Number) for k in kinds):
                raise ValueError(f"Unknown label type: mixed label types {sorted(k.__name__ for k in kinds)}")
        return y

    def _class_weights(self, classes, y_index, n):
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, str):
            if cw != "balanced":
                raise ValueError(f"class_weight must be a dict, 'balanced' or None; got {cw!r}")
            counts = np.bincount(y_index, minlength=len(classes)).astype(np.float64)
            with np.errstate(divide="ignore"):
                weights = np.where(counts > 0, n / (len(classes) * counts), 0.0)
            return weights
        if not isinstance(cw, dict):
            raise ValueError(f"class_weight must be a dict, 'balanced' or None; got {cw!r}")
        unknown = [k for k in cw if k not in set(classes.tolist())]
        if unknown:
            raise ValueError(f"class_weight has labels {unknown!r} that are not in classes {classes.tolist()!r}")
        weights = np.array([float(cw.get(c, 1.0)) for c in classes.tolist()])
        # checked here, before they multiply sample_weight, so that the error names class_weight
        bad = ~np.isfinite(weights) | (weights < 0)
        if bad.any():
            label = classes.tolist()[int(np.argmax(bad))]
            raise ValueError(
                f"class_weight must hold finite weights >= 0; got {cw[label]!r} for class {label!r}"
            )
        return weights

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model on (X, y); ``max_iter`` epochs at most (see the class docstring)."""
        self._check_params()
        previous = None
        if self.warm_start and hasattr(self, "coef_"):
            previous = (self._dense_coef(), self.intercept_)
        X = self._validate_X(X, reset=True)
        n, d = X.shape
        y = self._labels(y, n)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got 1 class ({classes[0]!r}) in y"
            )
        return self._fit_labels(X, y_index, classes, sample_weight, coef_init, intercept_init,
                                previous, partial=False, max_iter=self.max_iter, tol=self.tol)  # fmt: skip

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing the previous fit exactly (optimizer state and
        learning-rate clock included). ``classes`` (all labels) is required on the first call."""
        first = not hasattr(self, "classes_")
        self._check_params()
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: it would need the "
                "class frequencies of all the data; pass them with a dict instead"
            )
        X = self._validate_X(X, reset=first)
        n, d = X.shape
        y = self._labels(y, n)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            all_classes = np.unique(np.asarray(classes))
            if len(all_classes) < 2:
                raise ValueError(f"classes must hold at least 2 labels; got 1 class ({all_classes!r})")
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), all_classes):
                raise ValueError(
                    f"`classes={np.asarray(classes)!r}` is not the same as on the first call to "
                    f"partial_fit, which was {all_classes!r}"
                )
        y_index = np.searchsorted(all_classes, y)
        y_index = np.clip(y_index, 0, len(all_classes) - 1)
        if not (all_classes[y_index] == y).all():
            unknown = np.unique(y[all_classes[y_index] != y])
            raise ValueError(f"y has labels {unknown.tolist()!r} that are not in classes {all_classes.tolist()!r}")
        init = None if first else self._state
        return self._fit_labels(X, y_index, all_classes, sample_weight, None, None, None,
                                partial=True, max_iter=1, tol=None, init=init)  # fmt: skip

    def _fit_labels(self, X, y_index, classes, sample_weight, coef_init, intercept_init,
                    previous, *, partial, max_iter, tol, init=None):  # fmt: skip
        n, d = X.shape
        k = len(classes)
        heads = 1 if k == 2 else k
        sw = _sample_weight(sample_weight, n, X.dtype)
        cw = self._class_weights(classes, y_index, n)
        # fit_linear weighs as scikit-learn: two classes by the row's class; one-vs-rest head h
        # the rows of class h by its weight and the others by 1
        cw = None if cw is None else {i: float(w) for i, w in enumerate(cw)}
        if init is None:
            if coef_init is None and previous is not None and previous[0].shape == (heads, d):
                coef_init, intercept_init = previous
            if coef_init is not None or intercept_init is not None:
                coef = np.zeros((heads, d)) if coef_init is None else np.asarray(coef_init)
                if coef.size != heads * d:
                    raise ValueError(f"coef_init must have shape ({heads}, {d}), got {coef.shape}")
                icpt = np.zeros(heads) if intercept_init is None else np.asarray(intercept_init)
                if icpt.size not in (1, heads):
                    raise ValueError(f"intercept_init must have shape ({heads},), got {icpt.shape}")
                init = self._init_state(coef, icpt, heads, d, X.dtype)
        if not partial or init is None:
            self._seed_value = _seed(self.random_state)
        # a partial_fit batch may lack some classes: name them all
        self._run(X, y_index, sample_weight=sw, init=init, max_iter=max_iter, tol=tol,
                  validation=not partial and self.early_stopping, partial=partial,
                  classes=np.arange(k), class_weight=cw)  # fmt: skip
        self.classes_ = classes
        return self

    def _store(self, fit):
        coef = np.atleast_2d(fit.coef)
        self.coef_ = np.array(coef)
        # scikit-learn's binary classifier returns its intercept from the loop as a C double,
        # so with float32 X its intercept_ (and decision_function) are float64; its one-vs-rest
        # heads and its averaged binary intercept keep X's dtype. The same here (the training
        # state keeps X's dtype; a warm start casts intercept_ back to it, exactly).
        averaged = bool(self.average) and fit.state["counters"][1] >= int(self.average)
        wide = coef.shape[0] == 1 and not averaged
        self.intercept_ = np.array(np.atleast_1d(fit.intercept), dtype=np.float64 if wide else None)
        self._state = fit.state
        self._task = fit.task

    # -- prediction -------------------------------------------------------------------------

    def decision_function(self, X):
        """Signed distance to the hyperplane(s): (n,) for two classes, (n, n_classes) else."""
        scores = self._decision(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class of each row of X."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]

    def _check_proba(self):
        if not (isinstance(self.loss, str) and self.loss in ("log_loss", "modified_huber")):
            raise AttributeError(f"probability estimates are not available for loss={self.loss!r}")
        return True

    def _predict_proba(self, X):
        """Class probabilities: logistic (one-vs-rest rows normalized), softmax, or
        modified_huber's (clip(d, -1, 1) + 1) / 2 (rows normalized; all-zero rows uniform)."""
        scores = self.decision_function(X)
        if self.loss == "log_loss":
            if scores.ndim == 1:
                p = _expit(scores)
                return np.column_stack([1.0 - p, p])
            if getattr(self, "_task", "ovr") == "softmax":
                z = np.exp(scores - scores.max(axis=1, keepdims=True))
                return z / z.sum(axis=1, keepdims=True)
            p = _expit(scores)
            return p / p.sum(axis=1, keepdims=True)
        if scores.ndim == 1:
            p = (np.clip(scores, -1, 1) + 1) / 2
            return np.column_stack([1.0 - p, p])
        p = (np.clip(scores, -1, 1) + 1) / 2
        total = p.sum(axis=1, keepdims=True)
        zero = (total == 0).ravel()
        p[~zero] /= total[~zero]
        p[zero] = 1.0 / scores.shape[1]
        return p

    def _predict_log_proba(self, X):
        """The log of predict_proba."""
        with np.errstate(divide="ignore"):
            return np.log(self._predict_proba(X))

    predict_proba = _available_if(_check_proba, _predict_proba)
    predict_log_proba = _available_if(_check_proba, _predict_log_proba)

    if HAVE_SKLEARN:

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.sparse = True
            return tags


class SGDRegressor(_RegressorMixin, _BaseSGD, _Base):
    """Linear regression (least squares, Huber, epsilon-insensitive) trained by gdcore's loop.

    A drop-in replacement for ``sklearn.linear_model.SGDRegressor`` (same parameters and
    defaults, same attributes) with gdcore's keywords ``optimizer``, ``batch_size`` and
    ``num_threads``. y may also be 2-D with several outputs (coef_ is then (n_outputs,
    n_features)); a column vector is raveled with a DataConversionWarning, as scikit-learn does.

    ``average`` as in SGDClassifier. Sparse X is densified.
    """

    _LOSSES = REGRESSION_LOSSES
    loss_functions = _loss_functions(_LOSSES)

    def __init__(
        self,
        loss="squared_error",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=0.001,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        random_state=None,
        learning_rate="invscaling",
        eta0=0.01,
        power_t=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        warm_start=False,
        average=False,
        optimizer="sgd",
        batch_size=1,
        num_threads=None,
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.num_threads = num_threads

    n_jobs = None  # scikit-learn's SGDRegressor has no n_jobs; threads come from num_threads

    def _targets(self, y, n, dtype):
        y = _column_or_1d(y, type(self).__name__)
        if y.dtype.kind == "c":
            raise ValueError("Complex data not supported in y")
        if y.dtype.kind in "OUSb" or y.dtype.kind not in "fiu":
            y = y.astype(np.float64)
        if y.ndim not in (1, 2) or y.shape[0] != n:
            raise ValueError(
                f"y must have shape ({n},) or ({n}, n_outputs) to match X, got {y.shape}"
            )
        _check_y_finite(y)
        return np.ascontiguousarray(y, dtype=dtype)

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model on (X, y); ``max_iter`` epochs at most."""
        self._check_params()
        previous = None
        if self.warm_start and hasattr(self, "coef_"):
            previous = (self._dense_coef(), self.intercept_)
        X = self._validate_X(X, reset=True)
        y = self._targets(y, X.shape[0], X.dtype)
        return self._fit_targets(X, y, sample_weight, coef_init, intercept_init, previous,
                                 partial=False, max_iter=self.max_iter, tol=self.tol)  # fmt: skip

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the previous fit exactly."""
        first = not hasattr(self, "coef_")
        self._check_params()
        X = self._validate_X(X, reset=first)
        y = self._targets(y, X.shape[0], X.dtype)
        init = None if first else self._state
        if not first and (y.ndim == 2) != (self._n_outputs is not None):
            fitted = "a 1-D y" if self._n_outputs is None else f"{self._n_outputs} outputs"
            raise ValueError(f"y has shape {y.shape} but the model was fitted with {fitted}")
        return self._fit_targets(X, y, sample_weight, None, None, None, partial=True,
                                 max_iter=1, tol=None, init=init)  # fmt: skip

    def _fit_targets(self, X, y, sample_weight, coef_init, intercept_init, previous, *,
                     partial, max_iter, tol, init=None):  # fmt: skip
        n, d = X.shape
        heads = 1 if y.ndim == 1 else y.shape[1]
        sw = _sample_weight(sample_weight, n, X.dtype)
        if init is None:
            if coef_init is None and previous is not None and previous[0].size == heads * d:
                coef_init, intercept_init = previous
            if coef_init is not None or intercept_init is not None:
                coef = np.zeros((heads, d)) if coef_init is None else np.asarray(coef_init)
                if coef.size != heads * d:
                    raise ValueError(f"coef_init must have {heads * d} values ({heads} x {d}), got shape {coef.shape}")
                icpt = np.zeros(heads) if intercept_init is None else np.asarray(intercept_init)
                if icpt.size not in (1, heads):
                    raise ValueError(f"intercept_init must have shape ({heads},), got {icpt.shape}")
                init = self._init_state(coef, icpt, heads, d, X.dtype)
        if not partial or init is None:
            self._seed_value = _seed(self.random_state)
        self._n_outputs = heads if y.ndim == 2 else None
        self._run(X, y, sample_weight=sw, init=init, max_iter=max_iter, tol=tol,
                  validation=not partial and self.early_stopping, partial=partial)  # fmt: skip
        return self

    def _store(self, fit):
        self.coef_ = np.array(fit.coef)
        # float64 whatever X's dtype, as scikit-learn's (see SGDClassifier._store)
        self.intercept_ = np.array(np.atleast_1d(fit.intercept), dtype=np.float64)
        self._state = fit.state

    def _dense_coef(self):
        coef = super()._dense_coef()  # one output: (n_features,), however scipy shaped it
        return coef.ravel() if self._n_outputs is None else coef

    def predict(self, X):
        """X · coef_ + intercept_: (n,) for one output, (n, n_outputs) for several."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        return _linear_scores(X, self._dense_coef(), self.intercept_, type(self).__name__)

    if HAVE_SKLEARN:

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.sparse = True
            tags.target_tags.multi_output = True
            return tags
