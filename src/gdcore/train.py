"""Train linear models by batch, stochastic or mini-batch gradient descent, in one compiled loop.

:func:`fit_linear` checks the data and options, encodes the targets, and hands everything to the
C++ loop (``gdcore._core.train_linear``), which runs every epoch without the GIL. The same
preparation drives the NumPy twin of the loop (:func:`gdcore.reference.train.fit_linear`).

``batch_size`` is the one knob: ``None`` or ``n`` gives batch gradient descent (one step per
epoch on the whole data), ``1`` stochastic gradient descent, anything between mini-batches.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = ["fit_linear", "LinearFit", "History", "DivergenceError", "DivergenceWarning"]

REGRESSION_LOSSES = (
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
)
CLASSIFICATION_LOSSES = (
    "log_loss",
    "hinge",
    "squared_hinge",
    "modified_huber",
    "perceptron",
)

# Optimizer names accepted by the trainers, with the options they imply.
OPTIMIZERS = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("adagrad", {}),
    "rmsprop": ("rmsprop", {}),
    "adam": ("adam", {}),
    "adamw": ("adam", {"decoupled_weight_decay": True, "weight_decay": 1e-2}),
    "adamax": ("adamax", {}),
    "nadam": ("nadam", {}),
}
_STATE_ORDER = {
    "sgd": ("momentum_buffer",),
    "adagrad": ("sum",),
    "rmsprop": ("square_avg", "grad_avg", "momentum_buffer"),
    "adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "adamax": ("exp_avg", "exp_inf"),
    "nadam": ("exp_avg", "exp_avg_sq"),
}


# Optimizer states that hold sums of squares or maxima of |g|: a negative value is no state a
# fit could have left (and gives a NaN model at the next step).
_NONNEGATIVE_STATES = {"sum", "square_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf"}


class DivergenceError(FloatingPointError, ValueError):
    """The loss or the parameters stopped being finite; the last finite parameters were kept."""


class DivergenceWarning(RuntimeWarning):
    """Like DivergenceError, when the trainer was asked to warn instead of raising."""


@dataclass
class History:
    """What happened during a fit, one entry per completed epoch."""

    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_score: list = field(default_factory=list)
    epochs: int = 0
    status: str = "max_epochs"
    path: np.ndarray | None = None

    @property
    def converged(self) -> bool:
        return self.status in ("converged", "target_reached")

    @classmethod
    def from_raw(cls, raw: dict, record_every: int) -> History:
        """The history in a compiled (or twin) loop's result dict."""
        return cls(
            loss=list(raw["loss"]),
            lr=list(raw["lr"]),
            val_loss=list(raw["val_loss"]),
            val_score=list(raw["val_score"]),
            epochs=int(raw["epochs"]),
            status=raw["status"],
            path=raw["path"] if record_every else None,
        )


@dataclass
class LinearFit:
    """The result of :func:`fit_linear`.

    ``coef`` is (n_features,) for one head and (n_heads, n_features) for several; ``intercept``
    likewise (a float for one head). ``state`` holds what a further call needs to continue the
    fit exactly (pass it back as ``init``).

    Pickling: a LinearFit and its ``state`` pickle as plain data. ``state`` holds the last
    iterate ``params``, the optimizer's state arrays (``opt_state``, ``opt_kind``), the
    averaged parameters and the l1 truncation sums when used, the update, epoch and step
    counters (which also fix the next shuffle), the l1 and momentum-product scalars
    (``floats``) and the schedule's core object with its state. Loaded in another process,
    ``fit_linear(..., init=state)`` with the same data and options (seed and ``num_threads``
    included) continues bit-identically. Not saved: the ``tol`` / ``n_iter_no_change``
    no-improvement count, which restarts with each call.
    """

    coef: np.ndarray
    intercept: np.ndarray | float
    history: History
    classes: np.ndarray | None
    task: str
    state: dict

    def decision_function(self, X) -> np.ndarray:
        """X·coefᵀ + intercept in coef's dtype: one column per head (a vector for a single
        head). X must be a finite matrix; a score past the dtype's range is a ValueError that
        names its row, never a silent inf."""
        X = _as_matrix(X)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = X.astype(self.coef.dtype, copy=False) @ self.coef.T + self.intercept
        return check.finite_scores(scores, "X @ coef.T + intercept", "LinearFit")


def _as_matrix(X, name="X", check_finite=True):
    """X as a C-contiguous float32/float64 matrix, copied only when it must be.

    check_finite=False leaves the NaN/infinity check to the training loops, whose first epoch
    sees every row anyway (_finish then names the first bad row)."""
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        raise TypeError(f"{name} is a sparse matrix; gdcore's linear trainer needs a dense array")
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind in "cUSV":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape})")
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    if not (arr.flags.c_contiguous and arr.dtype == dtype and arr.dtype.isnative):
        arr = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("="))
    if check_finite:
        _check_finite_rows(arr, name)
    return arr


def _check_finite_rows(arr, name="X"):
    bad = _core.first_nonfinite(arr.reshape(-1))
    if bad < arr.size:
        raise ValueError(f"{name} contains NaN or infinity (first in row {bad // arr.shape[1]})")


def _as_vector(values, n, dtype, name):
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind in "cUSV":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity (first at {int(np.argmax(~np.isfinite(arr)))})")
    return arr


def _encode_targets(y, n, dtype, task, classes=None):
    """Targets as the loop reads them: (n, heads) values, ±1 labels or class indices."""
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0] if y.ndim else 0} values but X has {n} rows")
    if task == "regression":
        if y.dtype == object or y.dtype.kind in "cUSV":
            raise TypeError(f"y must hold real numbers for regression, got dtype {y.dtype}")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        if y.ndim == 2 and y.shape[1] == 0:
            raise ValueError(f"y must have at least one target column, got shape {y.shape}")
        with np.errstate(over="ignore"):
            Y = np.ascontiguousarray(y, dtype=dtype)
        bad = ~np.isfinite(Y.reshape(n, -1)).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            if y.dtype.kind in "iuf" and np.isfinite(y[row]).all():  # finite, but not in dtype
                raise ValueError(f"y holds values beyond {np.dtype(dtype).name}'s range "
                                 f"(first in row {row}); scale the targets")  # fmt: skip
            raise ValueError(f"y contains NaN or infinity (first in row {row})")
        return Y.reshape(n, -1), None
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D for classification, got shape {y.shape}")
    if y.dtype.kind == "c":  # as scikit-learn: complex values are not labels
        raise TypeError(f"y must hold class labels, got complex dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"y contains NaN or infinity (first in row {int(np.argmax(~np.isfinite(y)))})")
    if classes is None:
        classes, index = _unique_labels(y)
    else:
        classes = np.unique(np.asarray(classes))
        if classes.dtype.kind in "fc" and not np.isfinite(classes).all():
            raise ValueError("classes contains NaN or infinity")
        index = np.searchsorted(classes, y)
        unknown = (index >= len(classes)) | (classes[np.minimum(index, len(classes) - 1)] != y)
        if unknown.any():
            raise ValueError(f"y holds {y[np.argmax(unknown)]!r}, which is not among classes")
    if len(classes) < 2:
        raise ValueError(f"y has a single class ({classes[0]!r}); classification needs two or more")
    return index, classes


def _class_weight_vector(class_weight, classes) -> np.ndarray:
    """{label: weight} as float64 weights in the order of `classes` (1 for labels left out)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{label: weight}}, got {class_weight!r}")
    known = classes.tolist()
    unknown = [label for label in class_weight if label not in known]
    if unknown:
        raise ValueError(f"class_weight names labels {unknown!r} that are not classes {known!r}")
    weights = np.array([float(class_weight.get(c, 1.0)) for c in known])
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        label = known[int(np.argmax(bad))]
        raise ValueError(f"class_weight must hold finite weights >= 0; got {weights[bad][0]!r} "
                         f"for class {label!r}")  # fmt: skip
    return weights


def _signs(positive, dtype):
    """+1 where positive, else -1, in dtype (np.where with two scalars runs ~8x slower)."""
    out = positive.astype(dtype)
    out *= 2
    out -= 1
    return out


def _unique_labels(y):
    """np.unique(y, return_inverse=True), in O(n) for integer labels of a small range (the common
    case: a sort of the labels costs about as much as a training epoch)."""
    if y.dtype.kind in "iub" and y.size:
        low, high = int(y.min()), int(y.max())
        if high - low <= max(1024, y.size):
            if y.dtype.kind == "u":  # may exceed int64: subtract in the unsigned type first
                shifted = (y.astype(np.uint64) - np.uint64(low)).astype(np.int64)
            elif low == 0:  # labels 0..K-1, the usual case: no shifted copy
                shifted = y.astype(np.int64, copy=False)
            else:
                shifted = y.astype(np.int64) - low
            present = np.bincount(shifted, minlength=high - low + 1) > 0
            offsets = np.flatnonzero(present)
            if y.dtype.kind == "u":
                classes = (offsets.astype(np.uint64) + np.uint64(low)).astype(y.dtype)
            else:
                classes = (offsets.astype(np.int64) + low).astype(y.dtype)
            if present.all():  # every value in [low, high] occurs: the index is y - low itself
                return classes, shifted
            rank = np.cumsum(present) - 1
            return classes, rank[shifted]
    try:
        return np.unique(y, return_inverse=True)
    except TypeError as err:  # labels of types that do not compare, e.g. 1 and "a"
        raise TypeError(f"y must hold labels of one comparable type (got {err})") from None


def _optimizer(optimizer, lr, options):
    """(core optimizer name, validated options dict incl. lr) from a name or an Optimizer."""
    from gdcore import optim

    options = dict(options or {})
    if "lr" in options:  # lr may come either way, not both ways with two values
        if lr is not None and options["lr"] != lr:
            raise ValueError(
                f"lr is given twice: lr={lr!r} and optimizer_options['lr']={options['lr']!r}"
            )
        lr = options.pop("lr")
    if isinstance(optimizer, optim.Optimizer):
        group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        kind = optimizer._kind
        merged = dict(group)
        if lr is not None:
            merged["lr"] = lr
        merged.update(options or {})
        return kind, {k: optimizer._check_option(k, v) for k, v in merged.items()}
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a name or a gdcore.optim optimizer, got {optimizer!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    kind, implied = OPTIMIZERS[optimizer]
    cls = {
        "sgd": optim.SGD,
        "adagrad": optim.Adagrad,
        "rmsprop": optim.RMSprop,
        "adam": optim.Adam,
        "adamax": optim.Adamax,
        "nadam": optim.NAdam,
    }[kind]
    merged = dict(implied)
    merged.update(options or {})
    merged["lr"] = 0.01 if lr is None else lr
    try:
        key = (kind, tuple(sorted((name, _typed(value)) for name, value in merged.items())))
        hash(key)
    except TypeError:  # an unhashable option value: validate without the cache
        return kind, _validated_options(cls, merged)
    return kind, dict(_cached_options(key, cls, merged))


def _typed(value):
    """A cache key part that tells 1, 1.0 and True apart (they hash alike, validate apart)."""
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_typed(v) for v in value))
    return (type(value), value)


def _validated_options(cls, merged):
    probe = cls([np.zeros(1)], **merged)  # validates every option and fills the defaults
    return {k: v for k, v in probe.param_groups[0].items() if k != "params"}


_OPTIONS_CACHE: dict = {}


def _cached_options(key, cls, merged):
    """_validated_options, remembered per key: building the probe optimizer (and its core
    engine) took ~0.05 ms of every fit. Invalid options raise and are not remembered."""
    found = _OPTIONS_CACHE.get(key)
    if found is None:
        if len(_OPTIONS_CACHE) >= 256:
            _OPTIONS_CACHE.clear()
        found = _OPTIONS_CACHE[key] = _validated_options(cls, merged)
    return found


def _schedule(schedule, lr):
    """A gdcore schedule object (or None) whose C++ twin the loop can call."""
    if schedule is None:
        return None
    if isinstance(schedule, str):
        from gdcore import schedules

        return schedules.make_schedule(schedule, lr)
    if not hasattr(schedule, "_core"):
        raise TypeError(f"schedule must be a gdcore.schedules object or a name, got {schedule!r}")
    return schedule


# 0, 1, 2, ...: the training rows of every fit without a validation split, made once and kept
# (read-only) while no larger than _KEPT_ROWS_BYTES. A fresh np.arange for 200,000 rows costs its
# page faults, about 0.6 ms on the development VM, on every fit.
_KEPT_ROWS_BYTES = 64 << 20
_kept_rows = np.zeros(0, dtype=np.int64)


def _all_rows(n):
    global _kept_rows
    if n > len(_kept_rows):
        rows = np.arange(n, dtype=np.int64)
        rows.flags.writeable = False
        if rows.nbytes > _KEPT_ROWS_BYTES:
            return rows
        _kept_rows = rows
    return _kept_rows[:n]


def _split_rows(n, validation_fraction, seed):
    if validation_fraction is None:
        return _all_rows(n), np.zeros(0, dtype=np.int64)
    fraction = check.real("validation_fraction", validation_fraction, low=0.0, high=1.0,
                          low_open=True, high_open=True)  # fmt: skip
    n_valid = max(1, int(math.ceil(fraction * n)))
    if n_valid >= n:
        raise ValueError(f"validation_fraction={fraction} leaves no training rows of {n}")
    order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def fit_linear(
    X,
    y,
    *,
    loss: str = "squared_error",
    multiclass: str = "ovr",
    optimizer="sgd",
    lr: float | None = None,
    optimizer_options: dict | None = None,
    schedule=None,
    batch_size: int | None = 32,
    max_epochs: int = 100,
    tol: float | None = 1e-3,
    n_iter_no_change: int = 5,
    shuffle: bool = True,
    random_state: int = 0,
    penalty: str | None = "l2",
    alpha: float = 1e-4,
    l1_ratio: float = 0.15,
    fit_intercept: bool = True,
    sample_weight=None,
    epsilon: float = 0.1,
    validation_fraction: float | None = None,
    early_stopping: bool = False,
    target_loss: float | None = None,
    record_every: int = 0,
    num_threads: int | None = None,
    init: dict | None = None,
    on_divergence: str = "raise",
    average=False,
    classes=None,
    task: str | None = None,
    max_dloss: float | None = None,
    floor_l2_shrink: bool = False,
    class_weight: dict | None = None,
    passive_aggressive: str | None = None,
    _kernel=None,
) -> LinearFit:
    """Fit a linear model by gradient descent; returns coefficients, intercepts and history.

    loss: a regression loss ("squared_error", "huber", "epsilon_insensitive",
        "squared_epsilon_insensitive") or a classification loss ("log_loss", "hinge",
        "squared_hinge", "modified_huber", "perceptron"); classification labels may be any
        values. With three or more classes, ``multiclass="ovr"`` trains one binary head per
        class (one-vs-rest) and ``"softmax"`` one softmax cross-entropy model (log_loss only).
    optimizer: "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adamax",
        "nadam" or a :mod:`gdcore.optim` optimizer (its class and options are used).
    lr, optimizer_options: the learning rate and other optimizer options.
    schedule: None (constant ``lr``), a :mod:`gdcore.schedules` object, or a schedule name; its
        clock ``t`` counts updates.
    batch_size: rows per update; None means all rows (batch gradient descent).
    tol, n_iter_no_change: stop when the epoch loss (or, with ``early_stopping``, the
        validation score) has not improved by ``tol`` for ``n_iter_no_change`` epochs; None
        turns this off.
    penalty, alpha, l1_ratio: "l2", "l1", "elasticnet" or None. The l2 part is added to the
        gradient; the l1 part is applied after each step by cumulative truncation (weights never
        cross zero because of it), as scikit-learn's SGD does.
    validation_fraction: hold out this share of the rows; its loss and score are recorded each
        epoch and, with ``early_stopping``, decide when to stop.
    target_loss: stop once an epoch's loss is at or below this.
    record_every: keep the parameters every this many updates in ``history.path``.
    init: the ``state`` of an earlier result, to continue from it exactly.
    on_divergence: "raise" (DivergenceError) or "warn" (DivergenceWarning); either way the
        parameters are those of the last epoch that ended finite.

    average: averaged SGD (Polyak-Ruppert, as scikit-learn's ``average=``): True averages the
        parameters of every update, an int n from the n-th update on; the result's coef and
        intercept are then the averages (once that many updates have run), and
        ``state["params"]`` keeps the last iterate.
    classes: for classification, every label the model should know (as scikit-learn's
        ``partial_fit(classes=...)``), for data that may lack some of them; default: those in y.
    task: None (the loss decides), "classification" or "regression". "classification" with a
        regression loss fits y's classes as ±1 targets (one-vs-rest heads for three or more),
        as scikit-learn's SGDClassifier does with ``loss="squared_error"`` or ``"huber"``.
    max_dloss: clip each row's loss derivative to [-max_dloss, max_dloss] before it is
        weighted (scikit-learn's SGD clips at 1e12, so that one huge early step does not
        overflow); None: no clipping.
    floor_l2_shrink: plain SGD only (no momentum): the l2 part of a step never carries a weight
        past zero. When lr · alpha · (1 - l1_ratio) > 1 that part becomes w / lr, so the step
        shrinks the weights to zero instead of flipping their sign (scikit-learn's
        ``max(0, 1 - lr · alpha)``). It changes the fixed point when lr · alpha > 1, so it is
        off by default; the estimators turn it on.
    class_weight: for classification, {label: weight} (labels left out weigh 1). Two classes
        and softmax weigh each row by its class's weight (times sample_weight); one-vs-rest
        heads weigh, in head h, the rows of class h by its weight and the other rows by 1, as
        scikit-learn's one-vs-rest SGDClassifier does.
    passive_aggressive: "pa1" or "pa2" (scikit-learn's learning_rate of those names, Crammer et
        al. 2006): each stochastic step moves by tau = min(C, L / |x|²) (PA-I) or
        L / (|x|² + 1 / (2 C)) (PA-II) instead of lr, with C = lr and L the row's loss (hinge
        or epsilon_insensitive, as scikit-learn allows). Needs batch_size 1, plain SGD and no
        schedule.

    Ctrl-C stops the loop within about 50 ms; the KeyboardInterrupt carries the model of the last
    completed update as its ``fit`` attribute.
    """
    loss = check.choice("loss", loss, REGRESSION_LOSSES + CLASSIFICATION_LOSSES)
    multiclass = check.choice("multiclass", multiclass, ("ovr", "softmax"))
    on_divergence = check.choice("on_divergence", on_divergence, ("raise", "warn"))
    X = _as_matrix(X, check_finite=False)
    n, d = X.shape
    dtype = X.dtype
    if task is None:
        classifier = loss in CLASSIFICATION_LOSSES
    else:
        classifier = check.choice("task", task, ("classification", "regression")) == "classification"
        if not classifier and loss in CLASSIFICATION_LOSSES:
            raise ValueError(f"task='regression' needs a regression loss, got loss={loss!r}")
    if classifier:
        index, classes = _encode_targets(y, n, dtype, "classification", classes)
        if len(classes) == 2:
            task, heads = "binary", 1
            Y = _signs(index == 1, dtype).reshape(n, 1)
        elif multiclass == "softmax":
            if loss != "log_loss":
                raise ValueError("multiclass='softmax' needs loss='log_loss'")
            task, heads = "softmax", len(classes)
            Y = index.astype(dtype).reshape(n, 1)
        else:
            task, heads = "ovr", len(classes)
            Y = _signs(index[:, None] == np.arange(heads), dtype)
    else:
        Y, classes = _encode_targets(y, n, dtype, "regression")
        task, heads = "regression", Y.shape[1]
    Y = np.ascontiguousarray(Y)
    if sample_weight is not None:
        sample_weight = _as_vector(sample_weight, n, dtype, "sample_weight")
        if (sample_weight < 0).any():
            raise ValueError("sample_weight must be >= 0")
    positive_weight = None
    if class_weight is not None:
        if not classifier:
            raise ValueError("class_weight is for classification")
        weights = _class_weight_vector(class_weight, classes)
        if task == "ovr":
            positive_weight = weights
        else:  # binary, softmax: the row's class weight joins its sample weight
            row_weight = weights[index].astype(dtype)
            sample_weight = row_weight if sample_weight is None else sample_weight * row_weight
    if batch_size is None:
        batch_size = n
    batch_size = check.integer("batch_size", batch_size, low=1)
    max_epochs = check.integer("max_epochs", max_epochs, low=1)
    n_iter_no_change = check.integer("n_iter_no_change", n_iter_no_change, low=1)
    tol = -math.inf if tol is None else check.real("tol", tol)
    shuffle = check.flag("shuffle", shuffle)
    seed = check.integer("random_state", random_state, low=0, high=None) & ((1 << 64) - 1)
    penalty = "none" if penalty is None else check.choice(
        "penalty", penalty, ("l2", "l1", "elasticnet", "none")
    )
    alpha = check.real("alpha", alpha, low=0.0)
    l1_ratio = check.real("l1_ratio", l1_ratio, low=0.0, high=1.0)
    fit_intercept = check.flag("fit_intercept", fit_intercept)
    epsilon = check.real("epsilon", epsilon, low=0.0)
    early_stopping = check.flag("early_stopping", early_stopping)
    if early_stopping and validation_fraction is None:
        validation_fraction = 0.1
    target = -math.inf if target_loss is None else check.real("target_loss", target_loss)
    record_every = check.integer("record_every", record_every, low=0)
    if isinstance(average, (bool, np.bool_)):
        average = 1 if average else 0
    average = check.integer("average", average, low=0)
    threads = check.num_threads(num_threads) or _core.get_num_threads()
    max_dloss = math.inf if max_dloss is None else check.real("max_dloss", max_dloss, low=0.0,
                                                               low_open=True)  # fmt: skip
    floor_l2_shrink = check.flag("floor_l2_shrink", floor_l2_shrink)
    pa_mode = 0
    if passive_aggressive is not None:
        pa_mode = {"pa1": 1, "pa2": 2}[check.choice("passive_aggressive", passive_aggressive,
                                                    ("pa1", "pa2"))]  # fmt: skip
        if loss not in ("hinge", "epsilon_insensitive"):
            raise ValueError(f"passive_aggressive={passive_aggressive!r} works with loss 'hinge' "
                             f"or 'epsilon_insensitive', got loss={loss!r}")  # fmt: skip
    kind, options = _optimizer(optimizer, lr, optimizer_options)
    sched = _schedule(schedule, options["lr"])
    train_rows, valid_rows = _split_rows(n, validation_fraction, seed)

    size = heads * d + heads
    state = _initial_state(init, kind, options, size, heads * d, dtype, penalty, average)
    kernel = _core.train_linear if _kernel is None else _kernel
    # The loop advances a copy of the schedule (ReduceLROnPlateau keeps state), kept in the
    # result's state so that a continued fit picks it up where it stopped.
    if init is not None and init.get("schedule") is not None:
        sched_arg = init["schedule"]
    else:
        sched_arg = None if sched is None else copy.copy(sched._core)
    state["schedule"] = sched_arg
    raw = kernel(
        X, Y, sample_weight, train_rows, valid_rows, state["params"], state["opt_state"],
        state["l1_q"], state["averaged"], state["counters"], state["floats"],
        task=task, heads=heads, loss=loss if task != "softmax" else "log_loss", epsilon=epsilon,
        optimizer=kind, optimizer_options=options, schedule=sched_arg, batch_size=batch_size,
        max_epochs=max_epochs, tol=tol, n_iter_no_change=n_iter_no_change,
        early_stopping=early_stopping, shuffle=shuffle, seed=seed, penalty=penalty, alpha=alpha,
        l1_ratio=l1_ratio, fit_intercept=fit_intercept, target_loss=target,
        record_every=record_every, average=average, num_threads=threads, max_dloss=max_dloss,
        floor_l2_shrink=floor_l2_shrink, positive_weight=positive_weight,
        passive_aggressive=pa_mode,
    )  # fmt: skip
    history = History.from_raw(raw, record_every)
    params = state["params"]
    if average and state["counters"][1] >= average:
        params = state["averaged"]
    coef = params[: heads * d].reshape(heads, d)
    intercept = params[heads * d :]
    if heads == 1 and task != "softmax":
        coef, intercept = coef[0], intercept[0]
    fit = LinearFit(coef, intercept, history, classes, task, state)
    # (maximize=True climbs the loss on purpose: a rising loss is then no divergence)
    climbing = options.get("maximize", False)
    zero_loss = None
    # A regression fit that started from zero and ends 100x worse than zero diverged. Not for
    # classifiers: a clipped derivative can leave a huge loss on a few rows with every sign
    # right (squared_hinge at scikit-learn's "optimal" rate: loss 1e24, accuracy 0.96).
    if (raw["status"] in ("converged", "max_epochs") and not climbing and init is None
            and task == "regression" and history.loss):  # fmt: skip
        zero_loss = _zero_model_loss(Y.reshape(n, -1), sample_weight, train_rows, task, heads,
                                     loss, epsilon)  # fmt: skip
    _finish(raw, fit, on_divergence, X, stacklevel=3, rising_is_divergence=not climbing,
            zero_loss=zero_loss)  # fmt: skip
    return fit


def _zero_model_loss(Y, sample_weight, rows, task, heads, loss, epsilon) -> float:
    """The epoch loss of the all-zero model (every prediction 0) on `rows` of a regression, as
    the loop reports losses: the weighted sum over rows and heads / the number of rows."""
    everything = len(rows) == len(Y)  # no held-out rows: every row trains, in any order
    targets = Y if everything else Y[rows]
    values = np.empty_like(targets)
    _core.loss_values(loss, epsilon, np.zeros_like(targets), targets, values, np.empty_like(targets))
    per_row = values.sum(axis=1, dtype=np.float64)
    if sample_weight is not None:
        per_row *= sample_weight if everything else sample_weight[rows]
    return float(per_row.sum()) / max(1, len(rows))


def diverging_message(losses, zero_loss=None) -> str | None:
    """Why a fit whose losses stayed finite still diverged, or None when it did not.

    A fit that blows up slowly can stop on ``tol`` (no improvement) or on ``max_epochs`` with
    finite but huge parameters. It counts as diverged when its last epoch loss is over 100x
    that of the all-zero model it started from (`zero_loss`: regressions from zero, > 0); a
    clipped derivative (``max_dloss``) then only kept the blow-up finite. It diverged, too,
    when its last epoch loss is 100x its first epoch's or more. And it counts as
    diverging when its loss rose in each of its last
    two epochs, ending at least 100x its best and above its first epoch's loss. A fit that
    plateaus or wanders near a minimum ends below where it started; SGD's "optimal" rate on
    hinge losses can bounce 50x (0.19, 0.018, 0.22, 0.95) and then settle, which is not flagged.
    """
    losses = [float(v) for v in losses]
    if zero_loss is not None and zero_loss > 0 and losses and losses[-1] > 100.0 * zero_loss:
        return (
            f"training diverged: the last epoch's loss, {losses[-1]:.4g}, is "
            f"{losses[-1] / zero_loss:.3g}x that of the all-zero model ({zero_loss:.4g}). The "
            "parameters are finite but useless; try a smaller learning rate (or scale the "
            "features)."
        )
    if len(losses) >= 2 and losses[-1] >= 100.0 * losses[0] > 0:
        return (
            f"training diverged: the last epoch's loss, {losses[-1]:.4g}, is "
            f"{losses[-1] / losses[0]:.3g}x the first epoch's ({losses[0]:.4g}). The parameters "
            "are finite but far from a minimum; try a smaller learning rate (or scale the "
            "features)."
        )
    if len(losses) < 3:
        return None
    last, best = losses[-1], min(losses)
    rising = losses[-3] < losses[-2] < last
    if not (rising and last >= 100.0 * best and last > losses[0]):
        return None
    at = losses.index(best) + 1
    return (
        f"training is diverging: the epoch loss rose from {best:.4g} (epoch {at}) to "
        f"{last:.4g} (epoch {len(losses)}) and was still rising. The parameters are finite but "
        "far from a minimum; try a smaller learning rate (or scale the features)."
    )


def _finish(raw, fit, on_divergence, X, stacklevel, rising_is_divergence=True,
            zero_loss=None):  # fmt: skip
    """After a compiled (or twin) loop returned: name the first row of X that holds NaN or
    infinity, re-raise Ctrl-C with the model of the last completed step, and report divergence
    (the last finite model kept) as asked. Shared by fit_linear and gdcore.mlp.fit_mlp.

    X is checked here rather than before the loop: the loop's first epoch reads every row and
    stops at a non-finite prediction (status "bad_input"), which spares a pass over X. A fit
    that diverged in its first epoch is checked too, since a bad row may come after the step
    that diverged."""
    status = raw["status"]
    if status == "bad_input" or (status == "diverged" and raw["epochs"] == 0):
        _check_finite_rows(X)
    if status == "bad_input":  # X is finite: a prediction overflowed, which is divergence
        status = fit.history.status = "diverged"
    if raw.get("interrupt") is not None:
        interrupt = raw["interrupt"]
        interrupt.fit = fit  # the model of the last completed step, for whoever catches it
        raise interrupt
    message = None
    if status == "diverged":
        message = (
            f"training diverged at update {raw['bad_step']} (learning rate {raw['bad_lr']:.4g}): "
            "the loss or the parameters stopped being finite. The parameters of the last epoch "
            "that ended finite were kept; try a smaller learning rate (or scale the features)."
        )
    elif status in ("converged", "max_epochs") and rising_is_divergence:
        message = diverging_message(fit.history.loss, zero_loss)
        if message is not None:
            status = fit.history.status = "diverged"
    if message is not None:
        if on_divergence == "raise":
            error = DivergenceError(message)
            error.fit = fit  # the last finite model, for whoever catches it
            raise error
        warnings.warn(message, DivergenceWarning, stacklevel=stacklevel)


def _initial_state(init, kind, options, size, n_weights, dtype, penalty, average=0,
                   copy_params=True):  # fmt: skip
    """Parameters, optimizer state and counters: zeros, or copies of an earlier fit's
    (copy_params=False: init["params"] is a fresh array the state may own)."""
    names = _STATE_ORDER[kind]
    if init is not None:
        if not isinstance(init, dict) or "params" not in init:
            raise TypeError("init must be the state of an earlier fit (LinearFit.state)")
        if "opt_state" in init and len(init["opt_state"]) != 3:
            raise ValueError("init['opt_state'] must list 3 entries (arrays or None)")
        copy_or_view = np.array if copy_params else np.asarray
        params = copy_or_view(init["params"], dtype=dtype)
        if params.shape != (size,):
            raise ValueError(f"init holds {params.size} parameters, this model needs {size}")
    else:
        params = np.zeros(size, dtype=dtype)
    opt_state = [None, None, None]
    needed = {
        "momentum_buffer": options.get("momentum", 0) != 0,
        "grad_avg": options.get("centered", False),
        "max_exp_avg_sq": options.get("amsgrad", False),
    }
    for i, name in enumerate(names):
        if name == "momentum_buffer" and kind == "rmsprop":
            use = options.get("momentum", 0) > 0
        else:
            use = needed.get(name, True)
        if not use:
            continue
        if init is not None and init.get("opt_kind") == kind and init["opt_state"][i] is not None:
            opt_state[i] = np.array(init["opt_state"][i], dtype=dtype)
        elif name == "sum":
            opt_state[i] = np.full(size, options.get("initial_accumulator_value", 0.0), dtype)
        else:
            opt_state[i] = np.zeros(size, dtype=dtype)
    same = init is not None and init.get("opt_kind") == kind
    counters = np.array(init["counters"] if same else [0, 0, 0], dtype=np.int64)
    floats = np.array(init["floats"] if same else [1.0, 0.0], dtype=np.float64)
    l1_q = None
    if penalty in ("l1", "elasticnet"):
        if same and init.get("l1_q") is not None:
            l1_q = np.array(init["l1_q"], dtype=dtype)
        else:
            l1_q = np.zeros(n_weights, dtype=dtype)
            floats[1] = 0.0
    averaged = None
    if average:
        if same and init.get("averaged") is not None:
            averaged = np.array(init["averaged"], dtype=dtype)
        else:
            averaged = np.zeros(size, dtype=dtype)
    if init is not None:  # a state from elsewhere: refuse what no fit could have left
        arrays = [("params", params), ("averaged", averaged), ("l1_q", l1_q), ("floats", floats)]
        arrays += [(f"opt_state[{i}]", a) for i, a in enumerate(opt_state)]
        for name, arr in arrays:
            if arr is not None and not np.isfinite(arr).all():
                raise ValueError(f"init[{name!r}] holds NaN or infinity; start from a finite state")
        if counters.shape != (3,) or (counters < 0).any() or (counters > 2**62).any():
            raise ValueError(
                f"init['counters'] must hold 3 counts in [0, 2**62], got {counters.tolist()}"
            )
        for name, arr in zip(names, opt_state):  # sums of squares and maxima of |g| are >= 0
            if arr is not None and name in _NONNEGATIVE_STATES and (arr < 0).any():
                raise ValueError(f"init's optimizer state {name!r} holds negative values")
        schedule = init.get("schedule")
        if schedule is not None and not isinstance(schedule, _core.Schedule):
            raise TypeError(f"init['schedule'] must be a schedule's core object, got {schedule!r}")
    return {
        "params": params,
        "opt_state": opt_state,
        "l1_q": l1_q,
        "averaged": averaged,
        "counters": counters,
        "floats": floats,
        "opt_kind": kind,
    }
