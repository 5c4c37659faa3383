"""Hyperparameter checks shared by the optimizers, schedules and estimators, and the check on
a model's outputs (finite_scores).

Each check returns the value in its canonical Python type or raises an error that names the
argument and shows what was wrong.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def real(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number inside the given bounds, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        bound = "<" if high_open else "<="
        raise ValueError(f"{name} must be {bound} {high}, got {value}")
    return value


def flag(name: str, value) -> bool:
    """A boolean (Python or NumPy), as a bool."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def integer(name: str, value, *, low=None, high=None) -> int:
    """An integer inside the given bounds, as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def num_threads(value) -> int:
    """A thread count: None (follow the global setting) becomes 0."""
    if value is None:
        return 0
    return integer("num_threads", value, low=1)


def betas(name: str, value) -> tuple[float, float]:
    """A pair (beta1, beta2), each in [0, 1)."""
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {value!r}") from None
    return (
        real(f"{name}[0]", b1, low=0.0, high=1.0, high_open=True),
        real(f"{name}[1]", b2, low=0.0, high=1.0, high_open=True),
    )


def choice(name: str, value, options) -> str:
    """One of a fixed set of names."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def finite_scores(scores: np.ndarray, what: str, model: str) -> np.ndarray:
    """scores, computed by `model` from a finite X and finite parameters, unless some are not
    finite: they overflowed (|x . w| past the dtype's range), and a ValueError names the first
    row of X that did so, rather than a silent +-inf or NaN prediction."""
    bad = ~np.isfinite(scores)
    if bad.any():
        rows = bad.reshape(len(bad), -1).any(axis=1)
        raise ValueError(
            f"{what} overflows {scores.dtype.name} in {int(rows.sum())} row(s) of X (the first: "
            f"row {int(np.argmax(rows))}), so {model} cannot score them: X holds values too large "
            "for this model. Scale the features."
        )
    return scores
