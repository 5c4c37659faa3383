"""scikit-learn-compatible multilayer perceptrons on gdcore's compiled MLP loop.

:class:`MLPClassifier` and :class:`MLPRegressor` take the constructor parameters of
``sklearn.neural_network``'s classes of the same names (same names, same defaults) and set the
same attributes (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``, ``t_``, ``loss_``,
``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``n_layers_``,
``n_outputs_``, ``out_activation_``, ``classes_``). Differences, all deliberate:

* ``solver``: "sgd" and "adam" as scikit-learn's, plus gdcore's other optimizers ("nesterov",
  "momentum", "rmsprop", "adagrad", "adamw", "adamax", "nadam"); "lbfgs" is not offered (it is
  not a gradient-descent loop) and raises ValueError. "sgd" is PyTorch's SGD with
  ``momentum`` / ``nesterovs_momentum``, which equals scikit-learn's velocity form for a fixed
  learning rate.
* ``activation`` also takes "leaky_relu" (slope 0.01) and "sigmoid" (= "logistic").
* ``num_threads`` (gdcore's keyword): threads of the loop; results are the same bits for any
  thread count.
* The data order of each epoch comes from gdcore's SplitMix64 shuffle (seeded by
  ``random_state``), the initial weights from the same generator with scikit-learn's bounds
  (uniform ±sqrt(6 / (fan_in + fan_out)), 2 instead of 6 for logistic): same distributions as
  scikit-learn, not the same numbers.
* ``fit`` takes no ``sample_weight`` (the MLP loop has none yet).
* Multi-output regression reports ½ Σ_outputs (z - y)² per sample (the loss whose gradient both
  libraries descend); scikit-learn's loss_curve_ divides that by the number of outputs.

Every epoch runs in C++ without the GIL (``gdcore._core.train_mlp``); the epochs are driven from
Python so that scikit-learn's rules between epochs (``n_iter_no_change`` counted as scikit-learn
does, "adaptive" and "invscaling" learning rates, keeping the best validation model) are followed
exactly. Each call continues the previous one's state exactly (optimizer state and shuffles).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from gdcore import _core
from gdcore import _validate as check
from gdcore.linear_model import (
    HAVE_SKLEARN,
    ConvergenceWarning,
    NotFittedError,
    _available_if,
    _Base,
    _BaseSGD,
    _check_y_finite,
    _ClassifierMixin,
    _column_or_1d,
    _expit,
    _RegressorMixin,
    _seed,
)
from gdcore.mlp import ACTIVATIONS, layer_layout, unpack
from gdcore.train import (
    OPTIMIZERS,
    DivergenceWarning,
    _initial_state,
    _optimizer,
    _signs,
    diverging_message,
)

__all__ = ["MLPClassifier", "MLPRegressor"]

_LEARNING_RATES = ("constant", "invscaling", "adaptive")


class _BaseMLP:
    """What both estimators share: checks, the epoch driver, the forward pass."""

    _validate_X = _BaseSGD._validate_X

    def _check_partial(self):
        # scikit-learn's words. Any other solver, whatever its type (a list cannot be looked up
        # in OPTIMIZERS), means no partial_fit: hasattr must answer False, not raise.
        if not (isinstance(self.solver, str) and self.solver in OPTIMIZERS):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic.")
        return True

    def _threads(self):  # for _validate_X's scan of X
        return self.num_threads

    def _check_params(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ValueError(
                f"hidden_layer_sizes must be an int or a sequence of ints, got {sizes!r}"
            ) from None
        sizes = tuple(check.integer("hidden_layer_sizes", s, low=1) for s in sizes)
        check.choice("activation", self.activation, ACTIVATIONS)
        if self.solver == "lbfgs":
            raise ValueError(
                "solver='lbfgs' is not supported by gdcore (a quasi-Newton method, not gradient "
                "descent); use scikit-learn's MLP for it, or solver='adam' / 'sgd'"
            )
        check.choice("solver", self.solver, tuple(OPTIMIZERS))
        check.real("alpha", self.alpha, low=0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check.integer("batch_size", self.batch_size)
        check.choice("learning_rate", self.learning_rate, _LEARNING_RATES)
        check.real("learning_rate_init", self.learning_rate_init, low=0.0, low_open=True)
        check.real("power_t", self.power_t)
        check.integer("max_iter", self.max_iter, low=1)
        check.flag("shuffle", self.shuffle)
        check.real("tol", self.tol, low=0.0)
        check.flag("warm_start", self.warm_start)
        check.real("momentum", self.momentum, low=0.0, high=1.0)
        check.flag("nesterovs_momentum", self.nesterovs_momentum)
        check.flag("early_stopping", self.early_stopping)
        check.real("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                   high_open=True)  # fmt: skip
        check.real("beta_1", self.beta_1, low=0.0, high=1.0, high_open=True)
        check.real("beta_2", self.beta_2, low=0.0, high=1.0, high_open=True)
        check.real("epsilon", self.epsilon, low=0.0, low_open=True)
        check.integer("n_iter_no_change", self.n_iter_no_change, low=1)
        if self.num_threads is not None:
            check.num_threads(self.num_threads)
        return sizes

    def _optimizer_options(self, lr):
        if self.solver == "sgd":
            return _optimizer("sgd", lr, {
                "momentum": self.momentum,
                "nesterov": bool(self.nesterovs_momentum and self.momentum > 0),
            })  # fmt: skip
        if self.solver == "adam":
            return _optimizer("adam", lr, {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon})
        return _optimizer(self.solver, lr, None)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    if HAVE_SKLEARN:

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.sparse = True  # densified, as scikit-learn's MLP multiplies it
            return tags

    def _check_fitted(self):
        if not hasattr(self, "coefs_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    # -- the driver -------------------------------------------------------------------------

    def _fit(self, X, Y, task, n_outputs, *, incremental):
        hidden = self._check_params()
        X = np.ascontiguousarray(X)
        n, d = X.shape
        layer_sizes = [d, *hidden, n_outputs]
        activation = "logistic" if self.activation == "sigmoid" else self.activation
        continuing = (incremental or self.warm_start) and hasattr(self, "_state")
        if continuing and list(self._layer_sizes) != layer_sizes:
            raise ValueError(
                f"the network's layer sizes changed from {list(self._layer_sizes)} to "
                f"{layer_sizes}; fit from scratch (warm_start=False)"
            )
        if not continuing:
            self._seed = _seed(self.random_state)
            self._layer_sizes = layer_sizes
            _, size = layer_layout(layer_sizes)
            params = np.zeros(size, dtype=X.dtype)
            _core.mlp_init(params, layer_sizes, activation, "glorot", self._seed)
            self._state = None
            self._init_params = params
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = math.inf
            self._lr = self.learning_rate_init
            if self.early_stopping and not incremental:
                self.validation_scores_ = []
                self.best_validation_score_ = -math.inf
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None
        kind, options = self._optimizer_options(self._lr)
        if self._state is None or self._state["params"].dtype != X.dtype:
            init = {"params": self._init_params if self._state is None else self._state["params"]}
            self._state = _initial_state(init, kind, options, layer_layout(layer_sizes)[1], 0,
                                         X.dtype, "none")  # fmt: skip
        state = self._state

        early = self.early_stopping and not incremental
        rows = np.arange(n, dtype=np.int64)
        if early:
            n_valid = max(1, int(math.ceil(self.validation_fraction * n)))
            if n_valid >= n:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves no training rows of {n}"
                )
            order = np.random.default_rng(self._seed).permutation(n).astype(np.int64)
            train_rows, valid_rows = np.sort(order[n_valid:]), np.sort(order[:n_valid])
        else:
            train_rows, valid_rows = rows, np.zeros(0, dtype=np.int64)
        n_train = len(train_rows)
        if isinstance(self.batch_size, str):
            batch = min(200, n_train)
        else:
            if self.batch_size < 1 or self.batch_size > n_train:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", UserWarning, stacklevel=3)  # fmt: skip
            batch = int(np.clip(self.batch_size, 1, n_train))
        threads = check.num_threads(self.num_threads) or _core.get_num_threads()
        best_params = None
        epochs = 1 if incremental else self.max_iter
        for _ in range(epochs):
            kind, options = self._optimizer_options(self._lr)
            raw = _core.train_mlp(
                X, Y, train_rows, valid_rows, state["params"], state["opt_state"],
                state["counters"], state["floats"], layer_sizes=layer_sizes,
                activation=activation, task=task, optimizer=kind, optimizer_options=options,
                schedule=None, batch_size=batch, max_epochs=1, tol=-math.inf,
                n_iter_no_change=1, early_stopping=False, shuffle=bool(self.shuffle),
                seed=self._seed, alpha=float(self.alpha), target_loss=-math.inf,
                record_every=0, num_threads=threads,
            )  # fmt: skip
            if raw.get("interrupt") is not None:
                self._store(best_params if early and best_params is not None else None)
                raise raw["interrupt"]
            # bad_input: X was checked finite above, so a first-layer product overflowed
            if raw["status"] in ("diverged", "bad_input"):
                self._store(best_params if early and best_params is not None else None)
                warnings.warn(
                    f"training diverged at update {raw['bad_step']} (learning rate "
                    f"{raw['bad_lr']:.4g}): the loss or the parameters stopped being finite. The "
                    "parameters of the last epoch that ended finite were kept; try a smaller "
                    "learning_rate_init (or scale the features).",
                    DivergenceWarning,
                    stacklevel=3,
                )
                return self
            self.n_iter_ += 1
            self.t_ += n_train
            self.loss_ = raw["loss"][0]
            self.loss_curve_.append(self.loss_)
            # scikit-learn's _update_no_improvement_count
            if early:
                score = raw["val_score"][0]
                self.validation_scores_.append(score)
                if score < self.best_validation_score_ + self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best_params = state["params"].copy()
            else:
                if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if self.loss_curve_[-1] < self.best_loss_:
                    self.best_loss_ = self.loss_curve_[-1]
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                self._lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                if self.solver == "sgd" and self.learning_rate == "adaptive" and self._lr > 1e-6:
                    self._lr /= 5.0
                    self._no_improvement_count = 0
                else:
                    break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        self._store(best_params if early else None)
        # A blow-up that stayed finite ends the loop as "no improvement": say it diverged.
        message = None if incremental else diverging_message(self.loss_curve_)
        if message is not None:
            warnings.warn(message, DivergenceWarning, stacklevel=3)
        return self

    def _store(self, params=None):
        source = self._state["params"] if params is None else params
        coefs, intercepts = unpack(np.array(source), self._layer_sizes)
        self.coefs_ = [np.array(W) for W in coefs]
        self.intercepts_ = [np.array(b) for b in intercepts]
        self.n_layers_ = len(self._layer_sizes)
        self.n_outputs_ = self._layer_sizes[-1]
        if params is not None:  # early stopping: the best validation model is the model
            self._state["params"][...] = params

    def _forward(self, X):
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        params = np.concatenate(
            [np.concatenate([np.asarray(W).ravel(), np.asarray(b).ravel()])
             for W, b in zip(self.coefs_, self.intercepts_)]
        )  # fmt: skip
        dtype = params.dtype if X.dtype == params.dtype else np.float64
        activation = "logistic" if self.activation == "sigmoid" else self.activation
        sizes = [self.coefs_[0].shape[0]] + [W.shape[1] for W in self.coefs_]
        out = _core.mlp_forward(
            np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(params, dtype=dtype),
            sizes, activation, check.num_threads(self.num_threads),
        )  # fmt: skip
        # X is finite and so are the parameters: an output that is not overflowed in some layer.
        return check.finite_scores(out, "the network's forward pass", type(self).__name__)


class MLPClassifier(_ClassifierMixin, _BaseMLP, _Base):
    """A multilayer perceptron classifier trained by gdcore's compiled loop.

    A drop-in replacement for ``sklearn.neural_network.MLPClassifier`` (same parameters and
    defaults, same attributes) with gdcore's keyword ``num_threads``; see the module docstring.
    Two classes use one logistic output, more a softmax output.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=0.0001,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-08,
        n_iter_no_change=10,
        max_fun=15000,
        num_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.num_threads = num_threads

    def _targets(self, y, n, dtype, classes=None):
        y = _column_or_1d(y, type(self).__name__)
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D (one label per row); got shape {y.shape}. Multilabel targets are "
                "not supported by gdcore's MLPClassifier."
            )
        if y.shape[0] != n:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n}, {y.shape[0]}]")
        if y.dtype.kind == "c":
            raise ValueError("Complex data not supported in y")
        if y.dtype.kind == "f":
            _check_y_finite(y)
            if not np.all(y == np.round(y)):
                raise ValueError("Unknown label type: continuous. The target y must hold class labels.")
        if classes is None:
            classes, index = np.unique(y, return_inverse=True)
        else:
            index = np.searchsorted(classes, y)
            unknown = (index >= len(classes)) | (classes[np.minimum(index, len(classes) - 1)] != y)
            if unknown.any():
                raise ValueError(f"y holds {y[np.argmax(unknown)]!r}, which is not among classes_ {classes}")
        if len(classes) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got 1 class ({classes[0]!r})"
            )
        if len(classes) == 2:
            return classes, _signs(index == 1, dtype).reshape(n, 1), "binary", 1
        return classes, index.astype(dtype).reshape(n, 1), "softmax", len(classes)

    def fit(self, X, y):
        """Fit the network to X, y (max_iter epochs at most; from scratch unless warm_start)."""
        self._check_params()
        X = self._validate_X(X, reset=not (self.warm_start and hasattr(self, "_state")))
        previous = getattr(self, "classes_", None) if self.warm_start else None
        classes, Y, task, k = self._targets(y, X.shape[0], X.dtype, previous)
        self.classes_ = classes
        self.out_activation_ = "logistic" if task == "binary" else "softmax"
        return self._fit(X, Y, task, k, incremental=False)

    def _partial_fit(self, X, y, classes=None):
        """One epoch over X, y, continuing the current model (classes needed on the first call)."""
        first = not hasattr(self, "_state")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = np.unique(np.asarray(classes))
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(
                f"`classes={np.unique(np.asarray(classes))!r}` is not the same as on the first call "
                f"to partial_fit, which was: classes_={self.classes_!r}"
            )
        self._check_params()
        X = self._validate_X(X, reset=first)
        _, Y, task, k = self._targets(y, X.shape[0], X.dtype, self.classes_)
        self.out_activation_ = "logistic" if task == "binary" else "softmax"
        return self._fit(X, Y, task, k, incremental=True)

    partial_fit = _available_if(_BaseMLP._check_partial, _partial_fit)

    def predict(self, X):
        """The class of each row of X."""
        out = self._forward(X)
        if out.shape[1] == 1:
            return self.classes_[(out[:, 0] > 0).astype(np.int64)]
        return self.classes_[np.argmax(out, axis=1)]

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes): logistic or softmax of the outputs."""
        out = self._forward(X)
        if out.shape[1] == 1:
            p = _expit(out[:, 0])
            return np.column_stack([1.0 - p, p])
        z = np.exp(out - out.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The log of predict_proba."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class MLPRegressor(_RegressorMixin, _BaseMLP, _Base):
    """A multilayer perceptron regressor (squared error, identity output) trained by gdcore's
    compiled loop; a drop-in replacement for ``sklearn.neural_network.MLPRegressor`` with
    gdcore's keyword ``num_threads`` (see the module docstring). ``loss`` takes only
    "squared_error" ("poisson" is not implemented)."""

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=0.0001,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-08,
        n_iter_no_change=10,
        max_fun=15000,
        num_threads=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.num_threads = num_threads

    def _check_params(self):
        check.choice("loss", self.loss, ("squared_error",))
        return super()._check_params()

    def _targets(self, y, n, dtype):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y = np.asarray(y)
        if y.dtype.kind == "c":
            raise ValueError("Complex data not supported in y")
        if y.dtype.kind in "OUS":
            y = y.astype(np.float64)
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n}, {y.shape[0]}]")
        _check_y_finite(y.astype(np.float64))
        return np.ascontiguousarray(y.reshape(n, -1), dtype=dtype)

    def fit(self, X, y):
        """Fit the network to X, y (max_iter epochs at most; from scratch unless warm_start)."""
        self._check_params()
        X = self._validate_X(X, reset=not (self.warm_start and hasattr(self, "_state")))
        Y = self._targets(y, X.shape[0], X.dtype)
        self.out_activation_ = "identity"
        return self._fit(X, Y, "regression", Y.shape[1], incremental=False)

    def _partial_fit(self, X, y):
        """One epoch over X, y, continuing the current model."""
        self._check_params()
        X = self._validate_X(X, reset=not hasattr(self, "_state"))
        Y = self._targets(y, X.shape[0], X.dtype)
        self.out_activation_ = "identity"
        return self._fit(X, Y, "regression", Y.shape[1], incremental=True)

    partial_fit = _available_if(_BaseMLP._check_partial, _partial_fit)

    def predict(self, X):
        """Predicted values: (n,) for one target, (n, n_outputs) for several."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out  # one output: (n,), as scikit-learn

    if HAVE_SKLEARN:

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.target_tags.multi_output = True
            return tags

