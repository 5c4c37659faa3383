r"""NumPy twins of the optimizer kernels (gdcore.optim's functional forms).

Each function updates ``param`` and its state arrays in place, with the same operations in the
same order as the C++ kernel, in the parameter's own precision. Scalars that depend only on the
step (bias corrections, decayed learning rates) are computed in Python floats, as PyTorch does,
then rounded to the parameter's dtype.

``step`` is the step number after this update: 1 for the first.
"""

from __future__ import annotations

import inspect
import math

import numpy as np


def first_nonfinite(x, *, num_threads=1):
    """Index of the first NaN or infinite element of ``x`` (flattened), or ``x.size`` if none.

    The core's scan splits ``x`` into one block per thread and scans each from its end, so that
    the block's start stays in that core's cache for the update that follows; the answer is the
    same first index for every thread count, which is all this twin has to reproduce.
    """
    del num_threads  # the answer does not depend on it
    flat = np.asarray(x).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(flat))
    return int(bad[0]) if bad.size else int(flat.size)


def _lerp(a, b, w, one):
    """PyTorch's lerp: a + w (b - a) when |w| < 0.5, else b - (b - a)(1 - w)."""
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (one - w)


def _direction(param, grad, weight_decay, maximize, T):
    d = grad * T(-1.0 if maximize else 1.0)
    if weight_decay != 0:
        d = d + T(weight_decay) * param
    return d


def sgd_step(
    param,
    grad,
    momentum_buffer=None,
    *,
    step,
    lr=1e-3,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
):
    T = param.dtype.type
    d = _direction(param, grad, weight_decay, maximize, T)
    if momentum != 0:
        if step <= 1:
            b = d
        else:
            b = momentum_buffer * T(momentum) + T(1.0 - dampening) * d
        momentum_buffer[...] = b
        d = d + T(momentum) * b if nesterov else b
    param[...] = param + T(-lr) * d


def adagrad_step(
    param, grad, sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False
):
    T = param.dtype.type
    clr = lr / (1.0 + (float(step) - 1.0) * lr_decay)
    d = _direction(param, grad, weight_decay, maximize, T)
    sum[...] = sum + d * d
    param[...] = param + (T(-clr) * d) / (np.sqrt(sum) + T(eps))


def rmsprop_step(
    param,
    grad,
    square_avg,
    grad_avg=None,
    momentum_buffer=None,
    *,
    step,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
    maximize=False,
):
    T = param.dtype.type
    d = _direction(param, grad, weight_decay, maximize, T)
    square_avg[...] = square_avg * T(alpha) + (T(1.0 - alpha) * d) * d
    if centered:
        grad_avg[...] = _lerp(grad_avg, d, T(1.0 - alpha), T(1))
        var = square_avg - grad_avg * grad_avg
        r = np.sqrt(np.where(var > T(0), var, T(0)))  # as the core: NaN becomes 0 too
    else:
        r = np.sqrt(square_avg)
    r = r + T(eps)
    if momentum > 0:
        momentum_buffer[...] = momentum_buffer * T(momentum) + d / r
        param[...] = param + T(-lr) * momentum_buffer
    else:
        param[...] = param + (T(-lr) * d) / r


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq=None,
    *,
    step,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
):
    T = param.dtype.type
    t = float(step)
    bias1 = 1.0 - beta1**t
    bias2 = 1.0 - beta2**t
    decoupled = decoupled_weight_decay and weight_decay != 0
    d = _direction(param, grad, 0.0 if decoupled_weight_decay else weight_decay, maximize, T)
    x = param * T(1.0 - lr * weight_decay) if decoupled else param
    exp_avg[...] = _lerp(exp_avg, d, T(1.0 - beta1), T(1))
    exp_avg_sq[...] = exp_avg_sq * T(beta2) + (T(1.0 - beta2) * d) * d
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        vhat = max_exp_avg_sq
    else:
        vhat = exp_avg_sq
    denom = np.sqrt(vhat) * T(1.0 / math.sqrt(bias2)) + T(eps)
    param[...] = x + (T(-(lr / bias1)) * exp_avg) / denom


def adamax_step(
    param,
    grad,
    exp_avg,
    exp_inf,
    *,
    step,
    lr=2e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    maximize=False,
):
    T = param.dtype.type
    bias1 = 1.0 - beta1 ** float(step)
    d = _direction(param, grad, weight_decay, maximize, T)
    exp_avg[...] = _lerp(exp_avg, d, T(1.0 - beta1), T(1))
    exp_inf[...] = np.maximum(exp_inf * T(beta2), np.abs(d) + T(eps))
    param[...] = param + (T(-(lr / bias1)) * exp_avg) / exp_inf


def nadam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    *,
    step,
    mu_product=1.0,
    lr=2e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
    maximize=False,
    decoupled_weight_decay=False,
) -> float:
    T = param.dtype.type
    t = float(step)
    bias2 = 1.0 - beta2**t
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1.0) * momentum_decay))
    mu_product = mu_product * mu
    mu_product_next = mu_product * mu_next
    decoupled = decoupled_weight_decay and weight_decay != 0
    d = _direction(param, grad, 0.0 if decoupled_weight_decay else weight_decay, maximize, T)
    x = param * T(1.0 - lr * weight_decay) if decoupled else param
    exp_avg[...] = _lerp(exp_avg, d, T(1.0 - beta1), T(1))
    exp_avg_sq[...] = exp_avg_sq * T(beta2) + (T(1.0 - beta2) * d) * d
    r = np.sqrt(exp_avg_sq * T(1.0 / bias2)) + T(eps)
    x = x + (T(-lr * (1.0 - mu) / (1.0 - mu_product)) * d) / r
    param[...] = x + (T((-lr * mu_next) / (1.0 - mu_product_next)) * exp_avg) / r
    return mu_product


# -- the engine: many parameters, their groups and step counters ---------------------------------

_KERNELS = {
    "sgd": sgd_step,
    "adagrad": adagrad_step,
    "rmsprop": rmsprop_step,
    "adam": adam_step,
    "adamax": adamax_step,
    "nadam": nadam_step,
}


def _kernel_options(kernel, group: dict) -> dict:
    """The options of ``group`` that ``kernel`` takes, ``betas`` split into beta1 and beta2; the
    others ("params", "initial_accumulator_value", ...) are ignored, as the core's
    optimizer_config reads only the keys it knows. A missing option keeps the kernel's default."""
    accepted = set(inspect.signature(kernel).parameters) - {"step", "mu_product"}
    options = {key: value for key, value in group.items() if key in accepted}
    if "betas" in group and "beta1" in accepted:
        options["beta1"], options["beta2"] = (float(b) for b in group["betas"])
    return options


class OptimizerEngine:
    """The twin of ``gdcore._core.OptimizerEngine``: the stateful side of :mod:`gdcore.optim`.

    It holds the caller's parameter and state arrays (no copies), one step counter and NAdam
    mu_product per parameter (``steps``, ``mu_products``, updated in place) and one option dict
    per group. ``step(grads)`` checks every gradient first (with ``check_finite``: a NaN or
    infinity raises ValueError and nothing changes), then for each parameter i::

        steps[i] += 1
        kernel(params[i], grads[i], *states[i], step=steps[i], **group_of[i]'s options)

    with the kernel twins above. ``num_threads`` changes only the core's speed, never a bit.
    """

    def __init__(self, kind, params, group_of, states, steps, mu_products, n_groups, num_threads,
                 check_finite):  # fmt: skip
        if kind not in _KERNELS:
            raise ValueError(f"unknown optimizer {kind!r}")
        if not (len(params) == len(group_of) == len(states) == len(steps) == len(mu_products)):
            raise ValueError("params, group_of, states, steps and mu_products must have one entry "
                             "per parameter")  # fmt: skip
        self._kernel = _KERNELS[kind]
        self._params = list(params)
        self._group_of = [int(g) for g in group_of]
        self._states = [list(row) for row in states]
        self._steps = steps
        self._mu_products = mu_products
        self._groups = [{} for _ in range(n_groups)]
        self._num_threads = num_threads if num_threads > 0 else 0
        self._check_finite = check_finite

    def set_group(self, index, group):
        if not 0 <= index < len(self._groups):
            raise IndexError("parameter group index out of range")
        self._groups[index] = _kernel_options(self._kernel, group)

    def step(self, grads):
        if isinstance(grads, np.ndarray):
            grads = [grads]
        grads = [np.asarray(g) for g in grads]
        if len(grads) != len(self._params):
            raise ValueError(f"grads has {len(grads)} arrays but the optimizer has "
                             f"{len(self._params)} parameters")  # fmt: skip
        if self._check_finite:
            for i, g in enumerate(grads):
                bad = first_nonfinite(g)
                if bad < g.size:
                    raise ValueError(f"grads[{i}] contains a non-finite value "
                                     f"({g.reshape(-1)[bad]!r} at flat index {bad}); "
                                     "nothing was updated")  # fmt: skip
        for i, (param, grad) in enumerate(zip(self._params, grads)):
            self._steps[i] += 1
            options = self._groups[self._group_of[i]]
            step = int(self._steps[i])
            if self._kernel is nadam_step:
                self._mu_products[i] = nadam_step(param, grad, *self._states[i], step=step,
                                                  mu_product=float(self._mu_products[i]),
                                                  **options)  # fmt: skip
            else:
                self._kernel(param, grad, *self._states[i], step=step, **options)

    @property
    def num_threads(self):
        return self._num_threads

    @num_threads.setter
    def num_threads(self, n):
        self._num_threads = n if n > 0 else 0
