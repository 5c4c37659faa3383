r"""Minimize a function by gradient descent with any gdcore optimizer.

:func:`minimize` runs one compiled loop (``gdcore._core.minimize``, see
cpp/include/gdcore/minimize.hpp) over either

* a built-in test function named by a string (:mod:`gdcore.functions`): the whole loop runs in
  C++ without the GIL, or
* a Python function: the loop calls it back for the value and gradient at each point; the
  optimizer update itself still runs in C++.

The loop, with t counting updates::

    f, g = fun(x0), grad(x0);  stop if ‖g‖ <= tol
    for t = 1 … max_iter:
        x = optimizer_step(x, g, lr = schedule(t - 1))
        f, g = fun(x), grad(x)      # non-finite x, f or g: diverged, keep the previous point
        stop if ‖g‖ <= tol

The NumPy twin of the whole loop is :func:`gdcore.reference.minimize.minimize`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from gdcore import _core
from gdcore import _validate as check
from gdcore.functions import FUNCTION_NAMES, FUNCTION_OPTIONS, function_options
from gdcore.train import _optimizer, _schedule

__all__ = ["minimize", "MinimizeResult", "DEFAULT_LR", "DEFAULT_MAX_ITER", "DEFAULT_TOL"]

DEFAULT_LR = 0.01  # as fit_linear; None picks it
DEFAULT_MAX_ITER = 1000
DEFAULT_TOL = 1e-6  # on the Euclidean norm of the gradient


@dataclass
class MinimizeResult:
    """What :func:`minimize` found.

    x, fun, grad: the last point kept, its value and gradient. n_iter: updates kept.
    status: "converged" (‖grad‖ <= tol), "max_iter", or "diverged" (the next point, its value or
    its gradient was not finite; x is the last finite point). message: the same in words.
    path: (n_iter + 1, n) points, x0 first; losses: the n_iter + 1 values (None unless record).
    """

    x: np.ndarray
    fun: float
    grad: np.ndarray
    n_iter: int
    converged: bool
    status: str
    message: str
    path: np.ndarray | None = None
    losses: np.ndarray | None = None


def _start_point(x0) -> np.ndarray:
    """x0 as a fresh C-contiguous 1-D float32/float64 array of finite numbers."""
    arr = np.asarray(x0)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"x0 must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"x0 must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("x0 is empty")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.array(arr, dtype=dtype, order="C")  # a copy: x0 is never changed
    if not np.isfinite(arr).all():
        raise ValueError(f"x0 contains NaN or infinity (first at {int(np.argmax(~np.isfinite(arr)))})")
    return arr


def _same(a, b) -> bool:
    try:
        return a is b or bool(np.all(np.asarray(a) == np.asarray(b)))
    except (TypeError, ValueError):
        return False


def _prepare(fun, x0, grad, optimizer, lr, schedule, max_iter, tol, record, options):
    """Validated arguments shared by the core and the twin."""
    options = dict(options)
    # optimizer_options=, as fit_linear and fit_mlp take it: merged with the keyword options
    lr, given = check.lr_once(lr, options.pop("optimizer_options", None))
    for key, value in given.items():
        if key in options and not _same(options[key], value):
            raise ValueError(f"{key} is given twice: {key}={options[key]!r} and "
                             f"optimizer_options[{key!r}]={value!r}")  # fmt: skip
        options[key] = value
    x = _start_point(x0)
    if isinstance(fun, str):
        if fun not in FUNCTION_NAMES:
            raise ValueError(f"fun must be one of {', '.join(map(repr, FUNCTION_NAMES))} or a "
                             f"callable, got {fun!r}")  # fmt: skip
        if grad is not None:
            raise TypeError("grad must be None for a built-in function (its gradient is built in)")
        known = FUNCTION_OPTIONS[fun]
        fun_opts = function_options(fun, {k: v for k, v in options.items() if k in known}, "fun")
        options = {k: v for k, v in options.items() if k not in known}
        low = 1 if fun in ("quadratic", "rastrigin") else 2
        high = 2 if fun in ("beale", "himmelblau", "booth", "saddle") else None
        if x.size < low or (high is not None and x.size > high):
            want = f"exactly {high}" if high == low else f"at least {low}"
            raise ValueError(f"x0 has {x.size} coordinates but {fun} takes {want}")
    elif callable(fun):
        fun_opts = {}
        if grad is None:
            raise TypeError("grad is required with a Python function: pass grad=callable, or "
                            "grad=True when fun returns (value, gradient)")  # fmt: skip
        if grad is True:
            grad = None  # the core's convention: fun returns both
        elif not callable(grad):
            raise TypeError(f"grad must be a callable or True, got {type(grad).__name__} {grad!r}")
    else:
        raise TypeError(f"fun must be a built-in function name or a callable, got {type(fun).__name__}")
    if lr is not None:
        lr = check.real("lr", lr, low=0.0, low_open=True)
    try:
        # a name with lr=None gets DEFAULT_LR (fit_linear's 0.01); an Optimizer keeps its own
        kind, opt = _optimizer(optimizer, lr, options)
    except TypeError as error:
        if "unexpected keyword" not in str(error):
            raise
        extra = sorted(set(options))
        raise TypeError(f"unknown option(s) {', '.join(map(repr, extra))}: not options of "
                        f"optimizer {optimizer!r} nor of the function") from None  # fmt: skip
    if opt["lr"] <= 0 and schedule is None:
        raise ValueError(f"lr must be > 0, got {opt['lr']}")
    sched = _schedule(schedule, opt["lr"])
    max_iter = check.integer("max_iter", max_iter, low=0)
    tol = -1.0 if tol is None else check.real("tol", tol, low=0.0)
    record = check.flag("record", record)
    return x, fun, grad, fun_opts, kind, opt, sched, max_iter, tol, record


def _finish(x, raw, tol, record, dtype) -> MinimizeResult:
    """The result object and its message, from the loop's raw dict (core or twin)."""
    status, n_iter = raw["status"], int(raw["n_iter"])
    norm = raw["grad_norm"]
    if raw.get("interrupt") is None and status == "diverged" and raw["bad_step"] == 0:
        raise ValueError(f"fun's {raw['bad']} is not finite at x0 (value {raw['fun']})")
    if status == "converged":
        message = f"converged after {n_iter} steps: gradient norm {norm:.3g} <= tol {tol:g}"
    elif status == "max_iter":
        limit = "" if tol < 0 else f" > tol {tol:g}"
        message = f"stopped after max_iter={n_iter} steps; gradient norm {norm:.3g}{limit}"
    elif status == "diverged":
        message = (
            f"diverged at step {raw['bad_step']} (lr {raw['bad_lr']:.4g}): the {raw['bad']} "
            f"stopped being finite; x is the last finite point (step {raw['bad_step'] - 1}). "
            "Try a smaller lr."
        )
    else:
        message = f"interrupted after {n_iter} steps"
    result = MinimizeResult(
        x=x,
        fun=float(raw["fun"]),
        grad=np.asarray(raw["grad"], dtype=dtype),
        n_iter=n_iter,
        converged=status == "converged",
        status=status,
        message=message,
        path=raw["path"] if record else None,
        losses=raw["losses"] if record else None,
    )
    interrupt = raw.get("interrupt")
    if interrupt is not None:
        if isinstance(interrupt, KeyboardInterrupt):
            interrupt.result = result  # the last point reached, for whoever catches it
        raise interrupt
    return result


def minimize(
    fun,
    x0,
    grad=None,
    optimizer="adam",
    lr: float | None = None,
    schedule=None,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float | None = DEFAULT_TOL,
    record: bool = True,
    **options,
) -> MinimizeResult:
    """Minimize ``fun`` from ``x0`` by gradient descent; returns a :class:`MinimizeResult`.

    fun: a built-in name ("quadratic", "rosenbrock", "beale", "himmelblau", "booth", "saddle",
        "rastrigin"; the whole loop then runs in C++ without the GIL, see
        :mod:`gdcore.functions`) or a Python function of a 1-D array returning a real number.
    x0: the start (1-D; float32 stays float32, anything else becomes float64). Never modified.
    grad: for a Python ``fun``, a function returning the gradient (an array of x's shape), or
        ``True`` when ``fun`` itself returns ``(value, gradient)``. None for a built-in.
    optimizer: "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adamax",
        "nadam" or a :mod:`gdcore.optim` optimizer (its class and options are used).
    lr: the learning rate; None means ``optimizer_options["lr"]`` if given, else an optimizer
        object's own lr, else 0.01 (:data:`DEFAULT_LR`).
    schedule: None, a :mod:`gdcore.schedules` object or a schedule name; its clock t counts
        updates (the t-th update uses lr(t - 1)) and it observes f after each update.
    max_iter: the most updates (default 1000).
    tol: stop ("converged") once the Euclidean norm of the gradient is <= tol (default 1e-6),
        checked at x0 and after each update; None never stops early.
    record: keep ``path`` ((n_iter + 1) × n, x0 first) and ``losses`` (n_iter + 1).
    options: the built-in's options (``condition=``, ``angle=`` for the quadratic, ``a=``,
        ``b=`` for rosenbrock, ``A=`` for rastrigin); every other keyword is an optimizer
        option (``momentum=``, ``betas=``, ...). ``optimizer_options={...}`` is accepted too, as
        :func:`gdcore.fit_linear` takes it (a key given both ways must have one value; its
        ``"lr"`` is the ``lr``).

    Divergence (a non-finite point, value or gradient) is not an error: the result has
    ``status="diverged"``, ``converged=False``, the last finite point and a message naming the
    step and lr. A function that is not finite at x0 is a ValueError. Ctrl-C stops the loop
    within about 50 ms (built-ins) or at the next call of a Python function; the
    KeyboardInterrupt carries the result so far as its ``result`` attribute.
    """
    x, fun, grad, fun_opts, kind, opt, sched, max_iter, tol, record = _prepare(
        fun, x0, grad, optimizer, lr, schedule, max_iter, tol, record, options
    )
    sched_core = None if sched is None else copy.copy(sched._core)
    raw = _core.minimize(
        fun, x, grad, function_options=fun_opts, optimizer=kind, optimizer_options=opt,
        schedule=sched_core, max_iter=max_iter, tol=tol, record=record,
    )  # fmt: skip
    return _finish(x, raw, tol, record, x.dtype)
