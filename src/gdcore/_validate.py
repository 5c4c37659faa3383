"""Hyperparameter checks shared by the optimizers, schedules and estimators, and the check on
a model's outputs (finite_scores).

Each check returns the value in its canonical Python type or raises an error that names the
argument and shows what was wrong.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

INT64_MAX = 2**63 - 1  # the core's counters and sizes are 64-bit
INT32_MAX = 2**31 - 1  # thread counts are C ints


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter of the wrong type. Both a TypeError and a ValueError, as scikit-learn's
    InvalidParameterError is, so that ``except ValueError`` in a script written for
    scikit-learn still catches it."""


def real(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number inside the given bounds, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(
            f"{name} must be a real number, got {type(value).__name__} {value!r}"
        )
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
    raise InvalidParameterError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def integer(name: str, value, *, low=None, high=INT64_MAX) -> int:
    """An integer inside the given bounds, as an int.

    ``high`` defaults to the largest 64-bit integer, so that a value the core could not take
    is refused here, by name, rather than by the binding's type conversion; ``high=None``
    removes the bound (for a value that is reduced before it reaches the core, as a seed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        limit = {INT64_MAX: " (the largest 64-bit integer)", INT32_MAX: " (the largest C int)"}
        raise ValueError(f"{name} must be <= {high}{limit.get(high, '')}, got {value}")
    return value


def num_threads(value) -> int:
    """A thread count: None (follow the global setting) becomes 0."""
    if value is None:
        return 0
    return integer("num_threads", value, low=1, high=INT32_MAX)


def betas(name: str, value) -> tuple[float, float]:
    """A pair (beta1, beta2), each in [0, 1)."""
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        message = f"{name} must be a pair (beta1, beta2), got {value!r}"
        raise InvalidParameterError(message) from None
    return (
        real(f"{name}[0]", b1, low=0.0, high=1.0, high_open=True),
        real(f"{name}[1]", b2, low=0.0, high=1.0, high_open=True),
    )


def choice(name: str, value, options) -> str:
    """One of a fixed set of names."""
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def lr_once(lr, optimizer_options, argument: str = "optimizer_options"):
    """(lr, the other options as a new dict): the learning rate may come as ``lr`` or as
    ``optimizer_options["lr"]``, not both ways with two values (a ValueError naming both)."""
    if optimizer_options is None:
        return lr, {}
    if not isinstance(optimizer_options, dict):
        raise TypeError(
            f"{argument} must be a dict, got {type(optimizer_options).__name__} "
            f"{optimizer_options!r}"
        )
    options = dict(optimizer_options)
    if "lr" in options:
        given = real(f"{argument}['lr']", options.pop("lr"))
        if lr is not None and given != lr:
            raise ValueError(f"lr is given twice: lr={lr!r} and {argument}['lr']={given!r}")
        lr = given
    return lr, options


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
