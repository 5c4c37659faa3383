r"""NumPy twins of the built-in test functions (cpp/include/gdcore/functions.hpp).

Each function takes a point ``x`` of shape (n,) — or points, one per row of an (m, n) array —
and returns ``(value, gradient)``: a scalar and an (n,) array, or (m,) values and (m, n)
gradients. The arithmetic is the C++ code's, operation for operation and in the point's own
precision (float32 or float64), with sums taken over the coordinates in index order, so the two
agree bit for bit.

=============  ==============================================  =================================
name           f(x)                                            minimizers (f = 0)
=============  ==============================================  =================================
quadratic      ½ Σ λ_i y_i², y = Rᵀx, λ_i = condition^(i/(n-1))  the origin
rosenbrock     Σ_{i<n-1} b (x_{i+1} − x_i²)² + (a − x_i)²       (1, …, 1) for a = 1; (a, a²) in 2-D
beale          Σ_k (c_k − x + x y^k)², c = (1.5, 2.25, 2.625)  (3, 0.5)
himmelblau     (x² + y − 11)² + (x + y² − 7)²                  (3, 2), (−2.805118, 3.131312),
                                                               (−3.779310, −3.283186),
                                                               (3.584428, −1.848126)
booth          (x + 2y − 7)² + (2x + y − 5)²                   (1, 3)
saddle         x² − y²                                         none: unbounded below; a saddle
                                                               point at the origin
rastrigin      A n + Σ (x_i² − A cos(2π x_i))                  the origin (local minima near
                                                               every integer point)
=============  ==============================================  =================================

R in the quadratic turns the first two coordinates by ``angle`` degrees. The chained Rosenbrock
in n ≥ 4 dimensions also has a local minimum near (−1, 1, …, 1).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "beale",
    "booth",
    "evaluate",
    "himmelblau",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
]


def _points(x):
    """x as an (m, n) float array (float64 unless float32), and whether it was one point."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    single = x.ndim == 1
    return np.atleast_2d(x), single


def _result(values, grads, single):
    if single:
        return values[0], grads[0]
    return values, grads


def _eigenvalue(condition, i, n):
    if n < 2:
        return 1.0
    return condition ** (float(i) / float(n - 1))


def quadratic(x, *, condition=10.0, angle=0.0):
    r"""½ Σ λ_i y_i² with y = Rᵀx; gradient R (λ ⊙ y).

    y0 = c x0 + s x1, y1 = c x1 − s x0 (c, s: cosine and sine of ``angle`` degrees), y_i = x_i
    beyond; g0 = c λ0 y0 − s λ1 y1, g1 = s λ0 y0 + c λ1 y1, g_i = λ_i x_i.
    """
    X, single = _points(x)
    T = X.dtype.type
    m, n = X.shape
    theta = angle * (math.pi / 180.0)
    c, s = T(math.cos(theta)), T(math.sin(theta))
    half = T(0.5)
    f = np.zeros(m, dtype=X.dtype)
    G = np.empty_like(X)
    i = 0
    if n >= 2:
        l0, l1 = T(_eigenvalue(condition, 0, n)), T(_eigenvalue(condition, 1, n))
        y0 = c * X[:, 0] + s * X[:, 1]
        y1 = c * X[:, 1] - s * X[:, 0]
        ly0, ly1 = l0 * y0, l1 * y1
        f = f + half * (ly0 * y0)
        f = f + half * (ly1 * y1)
        G[:, 0] = c * ly0 - s * ly1
        G[:, 1] = s * ly0 + c * ly1
        i = 2
    for j in range(i, n):
        lx = T(_eigenvalue(condition, j, n)) * X[:, j]
        f = f + half * (lx * X[:, j])
        G[:, j] = lx
    return _result(f, G, single)


def rosenbrock(x, *, a=1.0, b=100.0):
    r"""Σ_{i<n-1} b (x_{i+1} − x_i²)² + (a − x_i)², n ≥ 2.

    g_i = [−4b x_i (x_{i+1} − x_i²) − 2 (a − x_i)]_{i<n−1} + [2b (x_i − x_{i−1}²)]_{i>0}
    """
    X, single = _points(x)
    T = X.dtype.type
    m, n = X.shape
    ta, tb, neg4b, two, twob = T(a), T(b), T(-4.0 * b), T(2), T(2.0 * b)
    f = np.zeros(m, dtype=X.dtype)
    G = np.zeros_like(X)
    for i in range(n - 1):
        d = X[:, i + 1] - X[:, i] * X[:, i]
        e = ta - X[:, i]
        f = f + (tb * (d * d) + e * e)
        G[:, i] = G[:, i] + ((neg4b * X[:, i]) * d - two * e)
        G[:, i + 1] = G[:, i + 1] + twob * d
    return _result(f, G, single)


def beale(x):
    r"""Σ_k t_k², t_k = c_k − x + x y^k with c = (1.5, 2.25, 2.625).

    ∂f/∂x = 2 t1 (y − 1) + 2 t2 (y² − 1) + 2 t3 (y³ − 1);
    ∂f/∂y = 2 t1 x + 2 t2 (2 x y) + 2 t3 (3 x y²).
    """
    X, single = _points(x)
    T = X.dtype.type
    x_, y = X[:, 0], X[:, 1]
    one, two, three = T(1), T(2), T(3)
    y2 = y * y
    y3 = y2 * y
    t1 = (T(1.5) - x_) + x_ * y
    t2 = (T(2.25) - x_) + x_ * y2
    t3 = (T(2.625) - x_) + x_ * y3
    G = np.empty_like(X)
    G[:, 0] = ((two * t1) * (y - one) + (two * t2) * (y2 - one)) + (two * t3) * (y3 - one)
    G[:, 1] = ((two * t1) * x_ + (two * t2) * ((two * x_) * y)) + (two * t3) * ((three * x_) * y2)
    return _result((t1 * t1 + t2 * t2) + t3 * t3, G, single)


def himmelblau(x):
    r"""u² + v², u = x² + y − 11, v = x + y² − 7; ∇f = (4 u x + 2 v, 2 u + 4 v y)."""
    X, single = _points(x)
    T = X.dtype.type
    x_, y = X[:, 0], X[:, 1]
    two, four = T(2), T(4)
    u = (x_ * x_ + y) - T(11)
    v = (x_ + y * y) - T(7)
    G = np.empty_like(X)
    G[:, 0] = (four * u) * x_ + two * v
    G[:, 1] = two * u + (four * v) * y
    return _result(u * u + v * v, G, single)


def booth(x):
    r"""u² + v², u = x + 2y − 7, v = 2x + y − 5; ∇f = (2u + 4v, 4u + 2v)."""
    X, single = _points(x)
    T = X.dtype.type
    x_, y = X[:, 0], X[:, 1]
    two, four = T(2), T(4)
    u = (x_ + two * y) - T(7)
    v = (two * x_ + y) - T(5)
    G = np.empty_like(X)
    G[:, 0] = two * u + four * v
    G[:, 1] = four * u + two * v
    return _result(u * u + v * v, G, single)


def saddle(x):
    r"""x² − y²; ∇f = (2x, −2y)."""
    X, single = _points(x)
    T = X.dtype.type
    x_, y = X[:, 0], X[:, 1]
    two = T(2)
    G = np.empty_like(X)
    G[:, 0] = two * x_
    G[:, 1] = -(two * y)
    return _result(x_ * x_ - y * y, G, single)


def rastrigin(x, *, A=10.0):
    r"""A n + Σ (x_i² − A cos(2π x_i)); g_i = 2 x_i + 2πA sin(2π x_i).

    cos and sin are the C library's (Python's math module) in double, rounded to the dtype, as
    the core takes them.
    """
    X, single = _points(x)
    T = X.dtype.type
    m, n = X.shape
    two_pi, ta, two = T(2.0 * math.pi), T(A), T(2)
    two_pi_a = T(2.0 * math.pi * A)
    s = np.zeros(m, dtype=X.dtype)
    G = np.empty_like(X)
    for i in range(n):
        arg = (two_pi * X[:, i]).astype(np.float64)
        cs = np.array([math.cos(v) for v in arg]).astype(X.dtype)
        sn = np.array([math.sin(v) for v in arg]).astype(X.dtype)
        s = s + (X[:, i] * X[:, i] - ta * cs)
        G[:, i] = two * X[:, i] + two_pi_a * sn
    return _result(T(A * float(n)) + s, G, single)


FUNCTIONS = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "booth": booth,
    "saddle": saddle,
    "rastrigin": rastrigin,
}


def evaluate(name, x, **options):
    """(value, gradient) of the built-in ``name`` at x, as ``gdcore.functions.evaluate``."""
    return FUNCTIONS[name](x, **options)


def evaluate_function(name, x, options):
    """The twin of ``_core.evaluate_function``: :func:`evaluate` with the options as a dict,
    returning the tuple (value or values, gradient or gradients)."""
    return tuple(evaluate(name, x, **options))
