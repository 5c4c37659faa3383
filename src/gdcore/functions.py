r"""Built-in test functions for :func:`gdcore.minimize`, computed by the C++ core.

Each function takes a point ``x`` (n,) — or many points, one per row of an (m, n) array, as a
contour plot needs — and returns ``(value, gradient)``. float32 points are evaluated in float32,
anything else in float64. The NumPy twins (same names, same arithmetic) are in
:mod:`gdcore.reference.functions`.

=============  ===========================================  ========================================
name           f(x)                                         minimizers (f = 0)
=============  ===========================================  ========================================
quadratic      ½ Σ λ_i y_i², y = Rᵀx                         the origin
rosenbrock     Σ_{i<n-1} b (x_{i+1} − x_i²)² + (a − x_i)²    (1, …, 1) for a = 1; (a, a²) in 2-D
beale          Σ_k (c_k − x + x y^k)², c = (1.5, 2.25, 2.625)  (3, 0.5)
himmelblau     (x² + y − 11)² + (x + y² − 7)²               four: see :data:`MINIMIZERS`
booth          (x + 2y − 7)² + (2x + y − 5)²                (1, 3)
saddle         x² − y²                                      none (unbounded below); saddle at 0
rastrigin      A n + Σ (x_i² − A cos(2π x_i))               the origin; local minima near integers
=============  ===========================================  ========================================

Options: ``quadratic(condition=10, angle=0)`` — eigenvalues spread geometrically from 1 to
``condition`` over the n coordinates (1 in 1-D), the first two coordinates turned by ``angle``
degrees; ``rosenbrock(a=1, b=100)`` (n ≥ 2, the chained form; for n ≥ 4 there is also a local
minimum near (−1, 1, …, 1)); ``rastrigin(A=10)``. beale, himmelblau, booth and saddle are 2-D.
"""

from __future__ import annotations

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = [
    "FUNCTION_NAMES",
    "FUNCTION_OPTIONS",
    "MINIMIZERS",
    "beale",
    "booth",
    "evaluate",
    "himmelblau",
    "minimizers",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
]

FUNCTION_NAMES = ("quadratic", "rosenbrock", "beale", "himmelblau", "booth", "saddle", "rastrigin")

# The options each built-in takes, with their defaults.
FUNCTION_OPTIONS = {
    "quadratic": {"condition": 10.0, "angle": 0.0},
    "rosenbrock": {"a": 1.0, "b": 100.0},
    "beale": {},
    "himmelblau": {},
    "booth": {},
    "saddle": {},
    "rastrigin": {"A": 10.0},
}

# Known global minimizers of the 2-D functions with default options (f = 0 at each). Himmelblau's
# last three are given to 6 decimals (f there is below 1e-9).
MINIMIZERS = {
    "quadratic": [(0.0, 0.0)],
    "rosenbrock": [(1.0, 1.0)],
    "beale": [(3.0, 0.5)],
    "himmelblau": [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
    "booth": [(1.0, 3.0)],
    "saddle": [],
    "rastrigin": [(0.0, 0.0)],
}


def function_options(name, options: dict, argument: str = "name") -> dict:
    """The built-in's validated options (defaults filled in); errors name the bad one."""
    name = check.choice(argument, name, FUNCTION_NAMES)
    known = FUNCTION_OPTIONS[name]
    out = dict(known)
    for key, value in options.items():
        if key not in known:
            listed = ", ".join(known) or "none"
            raise TypeError(f"unknown option {key!r} for the {name} function; it takes: {listed}")
        if key == "condition":
            out[key] = check.real(key, value, low=0.0, low_open=True)
        else:
            out[key] = check.real(key, value)
    return out


def _as_points(x):
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"x must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))


def evaluate(name: str, x, **options):
    """(value, gradient) of the built-in ``name`` at x (n,), or at each row of x (m, n).

    x must be finite (NaN or infinity is a ValueError naming the first such point); a value or
    gradient that overflows at a finite point comes back as infinity."""
    opts = function_options(name, options)
    points = _as_points(x)
    bad = _core.first_nonfinite(points)
    if bad < points.size:
        where = f"row {bad // points.shape[1]}" if points.ndim == 2 else f"index {bad}"
        value = points.reshape(-1)[bad]
        raise ValueError(f"x contains NaN or infinity ({value} at {where})")
    value, grad = _core.evaluate_function(name, points, opts)
    return value, grad


def minimizers(name: str, dim: int = 2, **options) -> np.ndarray:
    """The known global minimizers (rows) of a built-in in ``dim`` dimensions.

    Empty for the saddle (it has none). Rosenbrock's is (1, …, 1) for a = 1 and (a, a²) in 2-D;
    other cases are not known in closed form (ValueError).
    """
    opts = function_options(name, options)
    dim = check.integer("dim", dim, low=1)
    if name in ("beale", "himmelblau", "booth", "saddle") and dim != 2:
        raise ValueError(f"dim must be 2 for {name}, got {dim}")
    if name in ("quadratic", "rastrigin"):
        return np.zeros((1, dim))
    if name == "rosenbrock":
        if dim < 2:
            raise ValueError(f"dim must be >= 2 for rosenbrock, got {dim}")
        a = opts["a"]
        if a == 1.0:
            return np.ones((1, dim))
        if dim == 2:
            return np.array([[a, a * a]])
        raise ValueError("rosenbrock's minimizer is known in closed form only for a = 1 or dim = 2")
    return np.array(MINIMIZERS[name], dtype=np.float64).reshape(-1, 2)


def quadratic(x, *, condition=10.0, angle=0.0):
    """½ Σ λ_i y_i², y = Rᵀx: the bowl with the given condition number, turned by ``angle``°."""
    return evaluate("quadratic", x, condition=condition, angle=angle)


def rosenbrock(x, *, a=1.0, b=100.0):
    """Σ b (x_{i+1} − x_i²)² + (a − x_i)², chained over n ≥ 2 coordinates."""
    return evaluate("rosenbrock", x, a=a, b=b)


def beale(x):
    """Beale's function; minimum 0 at (3, 0.5)."""
    return evaluate("beale", x)


def himmelblau(x):
    """Himmelblau's function; four minima of 0 (see :data:`MINIMIZERS`)."""
    return evaluate("himmelblau", x)


def booth(x):
    """Booth's function; minimum 0 at (1, 3)."""
    return evaluate("booth", x)


def saddle(x):
    """x² − y²: a saddle point at the origin, unbounded below."""
    return evaluate("saddle", x)


def rastrigin(x, *, A=10.0):
    """A n + Σ (x_i² − A cos(2π x_i)); minimum 0 at the origin among many local minima."""
    return evaluate("rastrigin", x, A=A)
