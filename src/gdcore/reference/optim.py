r"""NumPy twins of the optimizer kernels (gdcore.optim's functional forms).

Each function updates ``param`` and its state arrays in place, with the same operations in the
same order as the C++ kernel, in the parameter's own precision. Scalars that depend only on the
step (bias corrections, decayed learning rates) are computed in Python floats, as PyTorch does,
then rounded to the parameter's dtype.

``step`` is the step number after this update: 1 for the first.
"""

from __future__ import annotations

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
