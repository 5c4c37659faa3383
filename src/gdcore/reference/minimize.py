r"""The twin of cpp/include/gdcore/minimize.hpp: the minimize loop in NumPy.

:func:`minimize` takes exactly the arguments of ``gdcore._core.minimize``, as
:func:`gdcore.minimize` validates them, updates ``x0`` in place and returns the same raw dict. It
repeats the compiled loop step for step with the twins of the built-in functions
(:mod:`gdcore.reference.functions`) and of the optimizers (:mod:`gdcore.reference.optim`)::

    f, g = fun(x0);  stop if ‖g‖ <= tol
    for t = 1 … max_iter:
        x = optimizer_step(x, g, lr = schedule.lr(t - 1))
        x, f or g not finite -> diverged, back to the previous point
        record x and f; schedule.observe(f); stop if ‖g‖ <= tol

‖g‖ is summed in float64 in index order. The schedule object is the one the compiled loop gets
and, as there, it advances in place (its own twin is :mod:`gdcore.reference.schedules`).

:func:`minimize_api` is :func:`gdcore.minimize` (its arguments, its checks, its
:class:`~gdcore.minimize.MinimizeResult`) with this loop in place of the compiled one.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from gdcore.minimize import MinimizeResult, _finish, _prepare
from gdcore.minimize import DEFAULT_MAX_ITER, DEFAULT_TOL
from gdcore.reference import functions as ref_functions
from gdcore.reference.train import _optimizer_step
from gdcore.train import _initial_state

__all__ = ["minimize", "minimize_api", "gradient_norm"]


def gradient_norm(g) -> float:
    """√(Σ g_i²) with the squares summed in float64 in index order; where a square overflows
    though every g_i is finite, m √(Σ (g_i / m)²) with m the largest |g_i|."""
    gd = np.asarray(g, dtype=np.float64)
    with np.errstate(over="ignore"):
        total = float(np.add.accumulate(gd * gd)[-1])
    if not math.isinf(total):
        return math.sqrt(total)
    largest = float(np.max(np.abs(gd)))
    if math.isinf(largest):
        return largest
    v = gd / largest
    return largest * math.sqrt(float(np.add.accumulate(v * v)[-1]))


def _evaluate(fun, grad, fun_opts, x):
    """(value, gradient) at a copy of x, as the core's objectives give them."""
    T = x.dtype.type
    if isinstance(fun, str):
        value, g = ref_functions.evaluate(fun, x.copy(), **fun_opts)
        return T(value), np.asarray(g, dtype=x.dtype)
    if grad is None:
        value, g = fun(x.copy())
    else:
        value = fun(x.copy())
        g = grad(x.copy())
    g = np.asarray(g)
    if g.dtype.kind == "c":  # as the core: refused, not cast with a ComplexWarning
        raise TypeError(f"the gradient must be real, got dtype {g.dtype}")
    return T(float(value)), np.ascontiguousarray(g, dtype=x.dtype).reshape(x.shape)


def minimize_api(
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
    """:func:`gdcore.minimize` in NumPy: same arguments, same result."""
    x, fun, grad, fun_opts, kind, opt, sched, max_iter, tol, record = _prepare(
        fun, x0, grad, optimizer, lr, schedule, max_iter, tol, record, options
    )
    sched_core = None if sched is None else copy.copy(sched._core)
    raw = minimize(
        fun, x, grad, function_options=fun_opts, optimizer=kind, optimizer_options=opt,
        schedule=sched_core, max_iter=max_iter, tol=tol, record=record,
    )  # fmt: skip
    return _finish(x, raw, tol, record, x.dtype)


def minimize(fun, x0, grad, *, function_options, optimizer, optimizer_options, schedule,
             max_iter, tol, record) -> dict:  # fmt: skip
    """The twin of ``gdcore._core.minimize``: the loop from x0 (updated in place to the point
    returned); the raw dict has the core's keys. An exception raised by a Python ``fun`` or
    ``grad`` stops the loop and comes back as ``interrupt`` (status "interrupted"), as in the
    core."""
    # The core lets values overflow to inf quietly and then reports the divergence; so does this.
    with np.errstate(over="ignore", invalid="ignore"):
        return _loop(fun, x0, grad, function_options, optimizer, optimizer_options, schedule,
                     max_iter, tol, record)  # fmt: skip


class _Stop(Exception):
    """A Python objective raised: the loop stops, the exception travels in the result."""

    def __init__(self, error):
        super().__init__()
        self.error = error


def _objective(fun, grad, fun_opts, x):
    """_evaluate; what a Python function raises becomes _Stop, as in the core's PythonObjective
    (Ctrl-C included)."""
    try:
        return _evaluate(fun, grad, fun_opts, x)
    except BaseException as error:
        if isinstance(fun, str):
            raise
        raise _Stop(error) from None


def _loop(fun, x, grad, fun_opts, kind, opt, sched, max_iter, tol, record) -> dict:
    n = x.size
    states = _initial_state(None, kind, opt, n, 0, x.dtype, "none")["opt_state"]
    mu_product = 1.0
    raw = {"status": "max_iter", "n_iter": 0, "bad_step": -1, "bad_lr": 0.0, "bad": "",
           "interrupt": None}  # fmt: skip
    path, losses = [], []

    def result(f, g):
        rows = len(losses)
        raw.update(
            fun=float(f),
            grad=g,
            path=np.array(path, dtype=x.dtype).reshape(rows, n),
            losses=np.array(losses, dtype=np.float64),
        )
        return raw

    try:
        f, g = _objective(fun, grad, fun_opts, x)
    except _Stop as stop:
        raw.update(status="interrupted", interrupt=stop.error, grad_norm=0.0)
        return result(0.0, np.zeros(n, dtype=x.dtype))
    if not (np.isfinite(f) and np.isfinite(g).all()):
        raw.update(status="diverged", bad_step=0, bad="value" if not np.isfinite(f) else "gradient",
                   grad_norm=0.0)  # fmt: skip
        return result(f, g)
    if record:
        path.append(x.copy())
        losses.append(float(f))
    if gradient_norm(g) <= tol:
        raw["status"] = "converged"
    t = 1
    while t <= max_iter and raw["status"] != "converged":
        step_lr = opt["lr"] if sched is None else sched.lr(t - 1)
        previous, previous_g, previous_f = x.copy(), g.copy(), f
        mu_product = _optimizer_step(kind, dict(opt, lr=step_lr), x, g, states, t, mu_product)
        bad = ""
        if not np.isfinite(x).all():
            bad = "point"
        else:
            try:
                f, g = _objective(fun, grad, fun_opts, x)
            except _Stop as stop:
                x[...] = previous
                g, f = previous_g, previous_f
                raw.update(status="interrupted", interrupt=stop.error)
                break
            if not np.isfinite(f):
                bad = "value"
            elif not np.isfinite(g).all():
                bad = "gradient"
        if bad:
            x[...] = previous
            g, f = previous_g, previous_f
            raw.update(status="diverged", bad=bad, bad_step=t, bad_lr=step_lr)
            break
        raw["n_iter"] = t
        if record:
            path.append(x.copy())
            losses.append(float(f))
        if sched is not None:
            sched.observe(float(f))
        if gradient_norm(g) <= tol:
            raw["status"] = "converged"
        t += 1
    raw["grad_norm"] = gradient_norm(g)
    return result(f, g)
