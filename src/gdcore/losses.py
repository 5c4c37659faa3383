r"""Loss functions of the linear trainer, with their gradients, run by gdcore's compiled core.

Single-output losses have scikit-learn's names and definitions (so gdcore's SGD estimators can
stand in for ``SGDClassifier`` / ``SGDRegressor``); p is the prediction w·x + b, y the target
(regression) or a label in {-1, +1} (classification), z = p y the margin::

    squared_error                 L = ½ (p - y)²                           dL/dp = p - y
    huber                         L = ½ r²  if |r| <= ε,                   dL/dp = r
                                      ε (|r| - ½ ε) otherwise                    ε sign(r)
    epsilon_insensitive           L = max(0, |y - p| - ε)                  dL/dp = ±1 outside ε, 0 at
                                                                                 |r| <= ε
    squared_epsilon_insensitive   L = max(0, |y - p| - ε)²                 dL/dp = ±2 (|r| - ε) outside
    log_loss                      L = log(1 + exp(-z))                     dL/dp = -y / (1 + exp(z))
    hinge                         L = max(0, 1 - z), z <= 1 active         dL/dp = -y if z <= 1
    squared_hinge                 L = max(0, 1 - z)²                       dL/dp = -2 y (1 - z) if z < 1
    modified_huber                L = 0 (z >= 1), (1 - z)² (z >= -1),      dL/dp = 0, -2 y (1 - z), -4 y
                                      -4 z otherwise
    perceptron                    L = max(0, -z), z <= 0 active            dL/dp = -y if z <= 0

(r = p - y, ε = ``epsilon``.) At each kink the side taken is scikit-learn's: hinge and perceptron
count z = threshold as a mistake (gradient -y); epsilon_insensitive is flat at |r| = ε. log_loss
is evaluated as log1p(exp(-|z|)) + max(-z, 0), finite and accurate for any margin.

Multi-output losses work row by row on (n_samples, k) arrays::

    softmax_cross_entropy    L = -log softmax(x)[label]   dL/dx = softmax(x) - onehot(label)
    multi_squared_error      L = ½ Σ_j (p_j - y_j)²       dL/dp = p - y

Inputs are not checked for NaN or infinity: a NaN compares false and lands where scikit-learn's
branches put it (the hinge of a NaN margin is 0, for example), so check data before training.

Every function returns ``(loss, gradient)`` as new arrays, or writes into ``out=(loss, gradient)``
when given. :mod:`gdcore.reference.losses` holds their NumPy twins with the same names and
arguments.
"""

from __future__ import annotations

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = [
    "LOSSES",
    "CLASSIFICATION_LOSSES",
    "REGRESSION_LOSSES",
    "loss_values",
    "softmax_cross_entropy",
    "multi_squared_error",
]

LOSSES: tuple[str, ...] = tuple(name for name, _ in _core.loss_names())
CLASSIFICATION_LOSSES: tuple[str, ...] = tuple(name for name, c in _core.loss_names() if c)
REGRESSION_LOSSES: tuple[str, ...] = tuple(name for name, c in _core.loss_names() if not c)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _loss_name(loss) -> str:
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a str, one of {', '.join(LOSSES)}; got {type(loss).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")
    return loss


def _float_array(name: str, value) -> np.ndarray:
    """A float32/float64 array; lists and scalars become arrays, other dtypes are refused."""
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    if a.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
    return a


def _same_dtype(name: str, a: np.ndarray, ref_name: str, ref: np.ndarray) -> None:
    if a.dtype != ref.dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}; "
            f"convert one with .astype()"
        )


def _labels(value) -> np.ndarray:
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {a.dtype}")
    if a.dtype != np.int64:
        if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
            raise ValueError("labels holds values beyond int64's range")
        a = a.astype(np.int64)
    return a


def _outputs(out, shapes, dtype):
    if out is None:
        return tuple(np.empty(shape, dtype=dtype) for shape in shapes)
    try:
        first, second = out
    except (TypeError, ValueError):
        raise TypeError(f"out must be a pair of arrays (loss, gradient), got {out!r}") from None
    return first, second


def loss_values(loss, p, y, *, epsilon=0.1, out=None):
    """Loss and its derivative with respect to ``p``, element by element.

    ``loss`` is one of :data:`LOSSES`; ``epsilon`` is read by huber, epsilon_insensitive and
    squared_epsilon_insensitive (scikit-learn's default 0.1). ``p`` and ``y`` have the same
    shape and dtype (float32 or float64); the results have that shape and dtype. Returns
    ``(loss, dloss)``; with ``out=(loss_array, dloss_array)`` the results are written there.
    """
    name = _loss_name(loss)
    eps = check.real("epsilon", epsilon, low=0.0)
    p = _float_array("p", p)
    y = _float_array("y", y)
    _same_dtype("y", y, "p", p)
    if y.shape != p.shape:
        raise ValueError(f"y has shape {y.shape} but p has shape {p.shape}")
    out_loss, out_dloss = _outputs(out, (p.shape, p.shape), p.dtype)
    _core.loss_values(name, eps, p, y, out_loss, out_dloss)
    return out_loss, out_dloss


def softmax_cross_entropy(logits, labels, *, out=None):
    """Row-wise -log softmax(logits)[label] and its gradient softmax(logits) - onehot(label).

    ``logits`` is (n_samples, n_classes), float32 or float64; ``labels`` holds n_samples integer
    class indices in [0, n_classes). Returns ``(loss (n_samples,), dlogits (n_samples,
    n_classes))`` in the dtype of ``logits``. Stable for logits of any size (log-sum-exp after
    subtracting the row maximum).
    """
    logits = _float_array("logits", logits)
    labels = _labels(labels)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (n_samples, n_classes), got shape {logits.shape}")
    out_loss, out_d = _outputs(out, (logits.shape[:1], logits.shape), logits.dtype)
    _core.softmax_loss_grad(logits, labels, out_loss, out_d)
    return out_loss, out_d


def multi_squared_error(p, y, *, out=None):
    """Row-wise ½ Σ_j (p_j - y_j)² and its gradient p - y.

    ``p`` and ``y`` are (n_samples, n_outputs) with the same dtype. Returns ``(loss
    (n_samples,), d (n_samples, n_outputs))``.
    """
    p = _float_array("p", p)
    y = _float_array("y", y)
    _same_dtype("y", y, "p", p)
    if p.ndim != 2:
        raise ValueError(f"p must be 2-D (n_samples, n_outputs), got shape {p.shape}")
    if y.shape != p.shape:
        raise ValueError(f"y has shape {y.shape} but p has shape {p.shape}")
    out_loss, out_d = _outputs(out, (p.shape[:1], p.shape), p.dtype)
    _core.multi_squared_loss_grad(p, y, out_loss, out_d)
    return out_loss, out_d
