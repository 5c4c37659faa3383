"""Train multilayer perceptrons (dense networks) in one compiled loop.

:func:`fit_mlp` checks the data and options, encodes the targets, initializes the parameters
(one flat buffer: W_1, b_1, W_2, b_2, ...; W_l is fan_in x fan_out) and hands everything to the
C++ loop (``gdcore._core.train_mlp``), which runs every epoch without the GIL: forward, backward
and one optimizer step over the whole buffer per mini-batch (run block by block inside the
backward pass, same bits). It shares the linear trainer's
optimizers, schedules, shuffles, convergence rules, divergence handling, Ctrl-C handling and
:class:`~gdcore.train.History`. The NumPy twin of the loop is
:func:`gdcore.reference.mlp.fit_mlp`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from gdcore import _core
from gdcore import _validate as check
from gdcore.optim import _SUMS_OF_SQUARES
from gdcore.train import (
    _STATE_ORDER,
    History,
    _as_matrix,
    _encode_targets,
    _finish,
    _initial_state,
    _optimizer,
    _schedule,
    _signs,
    _split_rows,
)

__all__ = ["fit_mlp", "MLPFit", "ACTIVATIONS", "layer_layout"]

ACTIVATIONS = ("identity", "relu", "leaky_relu", "logistic", "sigmoid", "tanh")
DEFAULT_LR = 1e-3  # scikit-learn's learning_rate_init; fit_mlp's lr=None picks it


def layer_layout(layer_sizes):
    """[(weight offset, bias offset, fan_in, fan_out)] per layer, and the buffer size."""
    out, off = [], 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        out.append((off, off + fan_in * fan_out, fan_in, fan_out))
        off += fan_in * fan_out + fan_out
    return out, off


def unpack(params, layer_sizes):
    """Views (coefs, intercepts) into the flat buffer, as scikit-learn's coefs_/intercepts_."""
    coefs, intercepts = [], []
    for w_off, b_off, fan_in, fan_out in layer_layout(layer_sizes)[0]:
        coefs.append(params[w_off : w_off + fan_in * fan_out].reshape(fan_in, fan_out))
        intercepts.append(params[b_off : b_off + fan_out])
    return coefs, intercepts


def pack(coefs, intercepts, dtype):
    """One flat buffer from per-layer weights (fan_in x fan_out) and biases."""
    parts = []
    for W, b in zip(coefs, intercepts):
        parts.append(np.asarray(W, dtype=dtype).reshape(-1))
        parts.append(np.asarray(b, dtype=dtype).reshape(-1))
    return np.ascontiguousarray(np.concatenate(parts))


@dataclass
class MLPFit:
    """The result of :func:`fit_mlp`.

    ``coefs`` / ``intercepts`` are views into ``state["params"]`` (one per layer, as
    scikit-learn's ``coefs_`` / ``intercepts_``). ``state`` holds what a further call needs to
    continue the fit exactly (pass it back as ``init``): parameters, optimizer state, counters
    (which also fix the next shuffle) and the schedule's core object.
    """

    coefs: list
    intercepts: list
    history: History
    classes: np.ndarray | None
    task: str
    layer_sizes: tuple
    activation: str
    state: dict

    def forward(self, X, num_threads=None) -> np.ndarray:
        """The raw outputs (n_samples, n_outputs): values, a logit, or softmax logits. X must
        be finite; an output that overflows the dtype is a ValueError naming its row."""
        X = _as_matrix(X)
        params = self.state["params"]
        if X.dtype != params.dtype:
            with np.errstate(over="ignore"):  # a value past float32's range: refused below
                X = X.astype(params.dtype)
        out = _core.mlp_forward(X, params, list(self.layer_sizes), self.activation,
                                check.num_threads(num_threads))  # fmt: skip
        return check.finite_scores(out, "the network's forward pass", "MLPFit")

    def predict(self, X) -> np.ndarray:
        """Values (regression) or labels (classification)."""
        out = self.forward(X)
        if self.task == "regression":
            return out[:, 0] if out.shape[1] == 1 else out
        if self.task == "binary":
            return self.classes[(out[:, 0] > 0).astype(np.int64)]
        return self.classes[np.argmax(out, axis=1)]


def fit_mlp(
    X,
    y,
    *,
    hidden_layer_sizes=(100,),
    activation: str = "relu",
    classifier: bool | None = None,
    optimizer="adam",
    lr: float | None = None,
    optimizer_options: dict | None = None,
    schedule=None,
    batch_size: int | None = 200,
    max_epochs: int = 200,
    tol: float | None = 1e-4,
    n_iter_no_change: int = 10,
    shuffle: bool = True,
    random_state: int = 0,
    alpha: float = 1e-4,
    init="glorot",
    validation_fraction: float | None = None,
    early_stopping: bool = False,
    target_loss: float | None = None,
    record_every: int = 0,
    num_threads: int | None = None,
    on_divergence: str = "raise",
    classes=None,
    _kernel=None,
) -> MLPFit:
    """Fit a multilayer perceptron by mini-batch gradient descent.

    hidden_layer_sizes: units of each hidden layer (an int for one layer; () for none).
    activation: of the hidden layers: "relu", "leaky_relu" (slope 0.01), "logistic" (alias
        "sigmoid"), "tanh" or "identity".
    classifier: None decides from y (floats: regression; anything else: classification);
        classification uses a logistic output for two classes and softmax for more.
        Regression minimizes ½ Σ_j (z_j - y_j)² per sample (scikit-learn's squared loss for
        one output).
    optimizer, lr, optimizer_options, schedule: as :func:`gdcore.fit_linear` ("adam", "sgd",
        "momentum", "nesterov", "adagrad", "rmsprop", "adamw", "adamax", "nadam" or a
        :mod:`gdcore.optim` optimizer); the schedule's clock counts updates. The learning rate
        is ``lr`` or ``optimizer_options["lr"]`` (both: they must agree); neither: 1e-3, or a
        :mod:`gdcore.optim` optimizer's own lr.
    batch_size: rows per update, at most n (None: all rows).
    tol, n_iter_no_change: stop when the epoch loss (or, with early_stopping, the validation
        score) has not improved by tol for n_iter_no_change epochs; None turns this off.
    alpha: l2 penalty as scikit-learn's MLP: alpha ‖W‖² / (2 B) added to each batch's mean loss
        (biases not penalized). history.loss holds scikit-learn's loss_curve_ entries.
    init: "glorot" (scikit-learn's initialization, drawn from SplitMix64(random_state)), "he",
        a flat parameter buffer, a list of (coefs, intercepts), or the ``state`` of an earlier
        fit to continue from it exactly.
    validation_fraction, early_stopping, target_loss, record_every, num_threads,
    on_divergence, classes: as :func:`gdcore.fit_linear`.

    Ctrl-C stops the loop within about 50 ms; the KeyboardInterrupt carries the model of the last
    completed update as its ``fit`` attribute. Divergence restores the last finite epoch.
    """
    on_divergence = check.choice("on_divergence", on_divergence, ("raise", "warn"))
    activation = check.choice("activation", activation, ACTIVATIONS)
    if activation == "sigmoid":
        activation = "logistic"
    X = _as_matrix(X, check_finite=False)
    n, d = X.shape
    dtype = X.dtype
    if isinstance(hidden_layer_sizes, (int, np.integer)):
        hidden_layer_sizes = (hidden_layer_sizes,)
    try:
        hidden = tuple(hidden_layer_sizes)
    except TypeError:
        raise TypeError(
            f"hidden_layer_sizes must be an int or a sequence of ints, got {hidden_layer_sizes!r}"
        ) from None
    hidden = tuple(check.integer("hidden_layer_sizes", h, low=1) for h in hidden)
    if classifier is None:
        classifier = classes is not None or np.asarray(y).dtype.kind != "f"
    classifier = check.flag("classifier", classifier)
    if classifier:
        index, classes = _encode_targets(y, n, dtype, "classification", classes)
        if len(classes) == 2:
            task, outputs = "binary", 1
            Y = _signs(index == 1, dtype).reshape(n, 1)
        else:
            task, outputs = "softmax", len(classes)
            Y = index.astype(dtype).reshape(n, 1)
    else:
        Y, classes = _encode_targets(y, n, dtype, "regression")
        task, outputs = "regression", Y.shape[1]
    Y = np.ascontiguousarray(Y)
    layer_sizes = (d, *hidden, outputs)
    if batch_size is None:
        batch_size = n
    batch_size = check.integer("batch_size", batch_size, low=1)
    max_epochs = check.integer("max_epochs", max_epochs, low=1)
    n_iter_no_change = check.integer("n_iter_no_change", n_iter_no_change, low=1)
    tol = -math.inf if tol is None else check.real("tol", tol)
    shuffle = check.flag("shuffle", shuffle)
    seed = check.integer("random_state", random_state, low=0, high=None) & ((1 << 64) - 1)
    alpha = check.real("alpha", alpha, low=0.0)
    early_stopping = check.flag("early_stopping", early_stopping)
    if early_stopping and validation_fraction is None:
        validation_fraction = 0.1
    target = -math.inf if target_loss is None else check.real("target_loss", target_loss)
    record_every = check.integer("record_every", record_every, low=0)
    threads = check.num_threads(num_threads) or _core.get_num_threads()
    lr, optimizer_options = check.lr_once(lr, optimizer_options)
    if lr is None and isinstance(optimizer, str):
        lr = DEFAULT_LR
    kind, options = _optimizer(optimizer, lr, optimizer_options)
    sched = _schedule(schedule, options["lr"])
    train_rows, valid_rows = _split_rows(n, validation_fraction, seed)
    _, size = layer_layout(layer_sizes)

    if isinstance(init, dict):
        _check_state(init, kind)
        state = _initial_state(init, kind, options, size, 0, dtype, "none")
    else:  # _initial_params made a new array: the state owns it
        params = _initial_params(init, layer_sizes, activation, seed, dtype, size)
        state = _initial_state({"params": params}, kind, options, size, 0, dtype, "none",
                               copy_params=False)  # fmt: skip
    kernel = _core.train_mlp if _kernel is None else _kernel
    if isinstance(init, dict) and init.get("schedule") is not None:
        sched_arg = init["schedule"]
    else:
        sched_arg = None if sched is None else copy.copy(sched._core)
    state["schedule"] = sched_arg
    raw = kernel(
        X, Y, train_rows, valid_rows, state["params"], state["opt_state"], state["counters"],
        state["floats"], layer_sizes=list(layer_sizes), activation=activation, task=task,
        optimizer=kind, optimizer_options=options, schedule=sched_arg, batch_size=batch_size,
        max_epochs=max_epochs, tol=tol, n_iter_no_change=n_iter_no_change,
        early_stopping=early_stopping, shuffle=shuffle, seed=seed, alpha=alpha,
        target_loss=target, record_every=record_every, num_threads=threads,
    )  # fmt: skip
    history = History.from_raw(raw, record_every)
    coefs, intercepts = unpack(state["params"], layer_sizes)
    fit = MLPFit(coefs, intercepts, history, classes, task, layer_sizes, activation, state)
    _finish(raw, fit, on_divergence, X, stacklevel=3)
    return fit


def _initial_params(init, layer_sizes, activation, seed, dtype, size):
    if isinstance(init, str):
        scheme = check.choice("init", init, ("glorot", "he"))
        params = np.zeros(size, dtype=dtype)
        _core.mlp_init(params, list(layer_sizes), activation, scheme, seed)
        return params
    if isinstance(init, (list, tuple)) and len(init) == 2 and isinstance(init[0], (list, tuple)):
        coefs, intercepts = init
        layers = len(layer_sizes) - 1
        if len(coefs) != layers or len(intercepts) != layers:
            expected = ", ".join(
                f"{(fan_in, fan_out)} and ({fan_out},)"
                for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:])
            )
            raise ValueError(
                f"init has {len(coefs)} weight matrices and {len(intercepts)} bias vectors, the "
                f"network (layer_sizes {tuple(layer_sizes)}) {layers} of each: {expected}"
            )
        for l, (W, b) in enumerate(zip(coefs, intercepts)):
            want = (layer_sizes[l], layer_sizes[l + 1])
            if np.shape(W) != want or np.shape(b) != (want[1],):
                raise ValueError(
                    f"init layer {l} has shapes {np.shape(W)}, {np.shape(b)}; expected {want}, "
                    f"({want[1]},)"
                )
        params = pack(coefs, intercepts, dtype)
    else:
        params = np.array(init, dtype=dtype).reshape(-1)
        if params.size != size:
            raise ValueError(f"init holds {params.size} parameters, this network needs {size}")
    bad = _core.first_nonfinite(params)
    if bad < params.size:
        raise ValueError(f"init contains NaN or infinity (parameter {bad} of the flat buffer)")
    return params


# Counters from a state passed as init stay this far below int64's end: the loop adds to them.
_MAX_COUNTER = 2**62


def _check_state(init: dict, kind: str) -> None:
    """A state passed as init (an earlier fit's ``state``) holds what a fit could have left:
    finite numbers (a NaN parameter would otherwise come back as a NaN model reported as
    divergence), non-negative sums of squares, three counts and a core schedule."""
    parts = [("params", init.get("params")), ("floats", init.get("floats"))]
    opt_state = init.get("opt_state")
    if opt_state is not None:
        if not isinstance(opt_state, (list, tuple)) or len(opt_state) != 3:
            raise ValueError("init['opt_state'] must be a list of 3 state arrays (or None)")
        parts += [(f"opt_state[{i}]", a) for i, a in enumerate(opt_state)]
    for name, value in parts:
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            at = int(np.argmax(~np.isfinite(arr).reshape(-1)))
            raise ValueError(
                f"init[{name!r}] holds NaN or infinity (first at flat index {at}); start from a "
                "finite state"
            )
    if opt_state is not None and init.get("opt_kind") == kind:  # the state the loop will use
        for i, name in enumerate(_STATE_ORDER[kind]):
            arr = None if opt_state[i] is None else np.asarray(opt_state[i])
            if name in _SUMS_OF_SQUARES and arr is not None and (arr < 0).any():
                raise ValueError(
                    f"init['opt_state'][{i}] ({name}) holds a negative value; it accumulates "
                    "squares and is never negative"
                )
    if "counters" in init:
        counters = np.asarray(init["counters"])
        if (counters.shape != (3,) or counters.dtype.kind not in "iu"
                or (counters < 0).any() or (counters > _MAX_COUNTER).any()):  # fmt: skip
            raise ValueError(
                f"init['counters'] must hold 3 integer counts in [0, 2**62], got {counters!r}"
            )
    schedule = init.get("schedule")
    if schedule is not None and not isinstance(schedule, _core.Schedule):
        raise TypeError(
            "init['schedule'] must be the core schedule of an earlier fit's state (or None), "
            f"got {type(schedule).__name__} {schedule!r}"
        )
