r"""NumPy twins of the loss kernels (cpp/include/gdcore/losses.hpp, python/register_losses.cpp).

Two forms. The kernel twins take the names and arguments of ``gdcore._core`` and write into the
arrays given: ``softmax_loss_grad``, ``multi_squared_loss_grad``, ``vmath_exp_nonpositive``,
``vmath_log1p_unit``, ``vmath_log_at_least_one`` and ``loss_values``. The API forms take the
arguments of :mod:`gdcore.losses` and return the arrays: ``softmax_cross_entropy``,
``multi_squared_error``, and ``loss_values_api`` for :func:`gdcore.losses.loss_values`. The
kernel twins are thin adapters over the API forms.

The API forms do the same operations in the same order as losses.hpp, in the array's own
precision; each piecewise loss evaluates every piece and picks with ``np.where`` on the same
comparison the C++ branches on. Sums over the k columns of a row run j = 0, 1, ..., k-1, as the
C++ loop does (not NumPy's pairwise sum). exp and log are the core's own (reference/vmath.py),
so the log loss and the softmax give the core's bits too.

The core evaluates every piece too, and IEEE arithmetic raises no error there; NumPy would warn
(an error under pytest's settings) when a piece that is not selected overflows, so the twins run
under ``np.errstate(over="ignore", invalid="ignore")``.
"""

from __future__ import annotations

import numpy as np

from . import vmath

LOSSES = (
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
    "log_loss",
    "hinge",
    "squared_hinge",
    "modified_huber",
    "perceptron",
)
CLASSIFICATION_LOSSES = ("log_loss", "hinge", "squared_hinge", "modified_huber", "perceptron")
REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")


# -- single-output losses: (p, y, epsilon, T) -> (loss, dloss) -----------------------------------


def squared_error(p, y, epsilon, T):
    return T(0.5) * (p - y) * (p - y), p - y


def huber(p, y, epsilon, T):
    eps = T(epsilon)
    a = np.abs(y - p)
    loss = np.where(a <= eps, T(0.5) * (a * a), eps * (a - T(0.5) * eps))
    r = p - y
    dloss = np.where(np.abs(r) <= eps, r, np.where(r >= T(0), eps, -eps))
    return loss, dloss


def epsilon_insensitive(p, y, epsilon, T):
    eps = T(epsilon)
    excess = np.abs(y - p) - eps
    loss = np.where(excess > T(0), excess, T(0))
    dloss = np.where(y - p > eps, T(-1), np.where(p - y > eps, T(1), T(0)))
    return loss, dloss


def squared_epsilon_insensitive(p, y, epsilon, T):
    eps = T(epsilon)
    excess = np.abs(y - p) - eps
    loss = np.where(excess > T(0), excess * excess, T(0))
    d = y - p
    dloss = np.where(d > eps, T(-2) * (d - eps), np.where(d < -eps, T(2) * (-d - eps), T(0)))
    return loss, dloss


# exp and log as the core computes them (vmath.hpp), bit for bit: see reference/vmath.py.
EXP_MIN_ARG = vmath.EXP_MIN_ARG
exp_nonpositive = vmath.exp_nonpositive


def vmath_exp_nonpositive(x):
    """The twin of ``_core.vmath_exp_nonpositive``: e^x for x <= 0 as a new flat array."""
    return np.ravel(vmath.exp_nonpositive(x))


def vmath_log1p_unit(x):
    """The twin of ``_core.vmath_log1p_unit``: log(1 + x) for 0 <= x <= 1 as a new flat array."""
    return np.ravel(vmath.log1p_unit(x))


def vmath_log_at_least_one(x):
    """The twin of ``_core.vmath_log_at_least_one``: log(x) for x >= 1 as a new flat array."""
    return np.ravel(vmath.log_at_least_one(x))


def log_loss(p, y, epsilon, T):
    z = p * y
    e = exp_nonpositive(-np.abs(z))
    neg_z = -z
    loss = vmath.log1p_unit(e) + np.where(neg_z > T(0), neg_z, T(0))
    dloss = -y * (np.where(z >= T(0), e, T(1)) / (T(1) + e))
    return loss, dloss


def _hinge(p, y, threshold, T):
    t = T(threshold)
    z = p * y
    return np.where(z <= t, t - z, T(0)), np.where(z <= t, -y, T(0))


def hinge(p, y, epsilon, T):
    return _hinge(p, y, 1.0, T)


def squared_hinge(p, y, epsilon, T):
    m = T(1.0) - p * y
    return np.where(m > T(0), m * m, T(0)), np.where(m > T(0), T(-2) * y * m, T(0))


def modified_huber(p, y, epsilon, T):
    z = p * y
    loss = np.where(z >= T(1), T(0), np.where(z >= T(-1), (T(1) - z) * (T(1) - z), T(-4) * z))
    dloss = np.where(
        z >= T(1), T(0), np.where(z >= T(-1), T(2) * (T(1) - z) * -y, T(-4) * y)
    )
    return loss, dloss


def perceptron(p, y, epsilon, T):
    return _hinge(p, y, 0.0, T)


_BY_NAME = {name: globals()[name] for name in LOSSES}


def _outputs(out, shapes, dtype):
    if out is None:
        return tuple(np.empty(shape, dtype=dtype) for shape in shapes)
    return out


def loss_values_api(loss, p, y, *, epsilon=0.1, out=None):
    """The twin of the API function :func:`gdcore.losses.loss_values` (its arguments, its
    returned pair), without its checks."""
    p = np.asarray(p)
    y = np.asarray(y)
    out_loss, out_dloss = _outputs(out, (p.shape, p.shape), p.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        values, slopes = _BY_NAME[loss](p, y, epsilon, p.dtype.type)
    out_loss[...] = values
    out_dloss[...] = slopes
    return out_loss, out_dloss


def loss_values(kind, epsilon, p, y, out_loss, out_dloss):
    """The twin of ``_core.loss_values``: out_loss, out_dloss = L(p, y), dL/dp(p, y) in place."""
    loss_values_api(kind, p, y, epsilon=epsilon, out=(out_loss, out_dloss))



# -- multi-output losses ------------------------------------------------------------------------


def _column_sum(a):
    """Σ_j a[:, j] in the order j = 0, 1, ..., k-1."""
    total = np.zeros(a.shape[0], dtype=a.dtype)
    for j in range(a.shape[1]):
        total = total + a[:, j]
    return total


def softmax_cross_entropy(logits, labels, *, out=None):
    logits = np.asarray(logits)
    labels = np.asarray(labels, dtype=np.int64)
    n, k = logits.shape
    T = logits.dtype.type
    out_loss, out_d = _outputs(out, ((n,), (n, k)), logits.dtype)
    if n == 0:
        return out_loss, out_d
    rows = np.arange(n)
    with np.errstate(over="ignore", invalid="ignore"):
        m = logits.max(axis=1)
        e = vmath.exp_nonpositive(logits - m[:, None])
        total = _column_sum(e)
        d = e / total[:, None]
        d[rows, labels] = d[rows, labels] - T(1)
        loss = (m - logits[rows, labels]) + vmath.log_at_least_one(total)
    out_loss[...] = loss
    out_d[...] = d
    return out_loss, out_d


def softmax_loss_grad(logits, labels, out_loss, out_dlogits):
    """The twin of ``_core.softmax_loss_grad``: softmax_cross_entropy into the given arrays."""
    softmax_cross_entropy(logits, labels, out=(out_loss, out_dlogits))


def multi_squared_error(p, y, *, out=None):
    p = np.asarray(p)
    y = np.asarray(y)
    T = p.dtype.type
    out_loss, out_d = _outputs(out, (p.shape[:1], p.shape), p.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        r = p - y
        loss = T(0.5) * _column_sum(r * r)
    out_loss[...] = loss
    out_d[...] = r
    return out_loss, out_d


def multi_squared_loss_grad(p, y, out_loss, out_d):
    """The twin of ``_core.multi_squared_loss_grad``: multi_squared_error into the given arrays."""
    multi_squared_error(p, y, out=(out_loss, out_d))
