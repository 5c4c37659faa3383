r"""NumPy twins of the core's exp and log (cpp/include/gdcore/vmath.hpp).

The core computes e^x and log with its own arithmetic, so that its loops over samples vectorize
(the C library's exp and log are calls the compiler cannot vectorize). NumPy's ``np.exp`` and
``np.log`` are accurate too, but they round differently in the last bit now and then, and an
adaptive optimizer can turn one such bit into a visible step (a gradient that should be 0,
normalised by Adam, becomes a full step of noise). So the twins do what the core does, operation
by operation, in the array's own precision: the log loss and the softmax of the core and of the
twin agree bit for bit.

How e^x is computed, for x <= 0:

1. Split x = n ln2 + r with n an integer and |r| <= ln2 / 2. Adding 1.5 * 2^52 (2^23 in float)
   rounds x / ln2 to an integer; ln2 is subtracted in two parts (Cody and Waite), a short one
   whose products with n are exact and the rest.
2. e^r by its Taylor series (13 terms in double, 7 in float), grouped in Estrin's form, which
   has fewer dependent steps than Horner's.
3. e^x = e^r * 2^n, where 2^n is built from its bits.

How log is computed:

1. Write the argument as 2^e m with m in [1, 2); above sqrt(2), halve m and add 1 to e.
2. log(m) = log(1 + f) = 2 atanh(s) with s = f / (2 + f), by the odd series of atanh.
3. log x = e ln2 + log(1 + f), ln2 again in two parts.

Every constant is rounded to the dtype once, as the C++ ``static_cast`` does, and every operation
is one NumPy operation on arrays of that dtype, which rounds as the C++ operation does (the core
is built with -ffp-contract=off, so a*b + c is two roundings there too).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["exp_nonpositive", "log1p_unit", "log_at_least_one", "EXP_MIN_ARG"]


class _Constants:
    """vmath.hpp's VmathConst<T> for one dtype."""

    def __init__(self, T, Int, UInt, shifter, inv_ln2, ln2_hi, ln2_lo, min_arg, mantissa, bias,
                 sqrt2, exp_terms, atanh_terms):  # fmt: skip
        self.T, self.Int, self.UInt = T, Int, UInt
        self.shifter = T(shifter)
        self.inv_ln2 = T(inv_ln2)
        self.ln2_hi = T(ln2_hi)
        self.ln2_lo = T(ln2_lo)
        self.min_arg = T(min_arg)
        self.mantissa = mantissa
        self.bias = bias
        self.sqrt2 = T(sqrt2)
        self.exp_terms = exp_terms
        self.atanh_terms = atanh_terms
        # 1/k! and 1/(2k+1), computed in double and rounded once (vmath.hpp's Coefficients)
        self.inverse_factorial = [T(1.0 / math.factorial(k)) for k in range(17)]
        self.inverse_odd = [T(1.0 / (2 * k + 1)) for k in range(17)]


# The float32 constants are written as the float values the C++ literals round to (a double
# holds each exactly), so that no second rounding through a Python float can change them.
_CONSTANTS = {
    np.dtype(np.float64): _Constants(
        np.float64, np.int64, np.uint64, 6755399441055744.0, 1.44269504088896338700e00,
        6.93147180369123816490e-01, 1.90821492927058770002e-10, -708.0, 52, 1023,
        1.41421356237309514547e00, 13, 10,
    ),  # fmt: skip
    np.dtype(np.float32): _Constants(
        np.float32, np.int32, np.uint32, 12582912.0, 1.4426950216293335, 0.693145751953125,
        1.428606765330187e-06, -87.0, 23, 127, 1.4142135381698608, 7, 5,
    ),  # fmt: skip
}

# e^x is 0 below these arguments, where it nears the subnormal range (vmath.hpp's kMinArg).
EXP_MIN_ARG = {dtype: float(c.min_arg) for dtype, c in _CONSTANTS.items()}


def _constants(x):
    try:
        return _CONSTANTS[x.dtype]
    except KeyError:
        raise TypeError(f"x must be float32 or float64, not {x.dtype}") from None


def _elementwise(kernel):
    """Run ``kernel`` on a 1-d copy of the array (bit views and wrapping integer arithmetic
    need arrays, not NumPy scalars) and give the result the argument's shape."""

    def apply(x):
        x = np.asarray(x)
        if x.dtype.kind == "f" and not x.dtype.isnative:  # the bit views need native order
            x = x.astype(x.dtype.newbyteorder("="))
        c = _constants(x)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return kernel(np.array(x, ndmin=1).reshape(-1), c).reshape(x.shape)

    apply.__name__ = kernel.__name__
    apply.__doc__ = kernel.__doc__
    return apply


@_elementwise
def exp_nonpositive(x, c):
    """e^x for x <= 0, and 0 below EXP_MIN_ARG; the bits of the core's exp_nonpositive."""
    T = c.T
    tiny = x < c.min_arg
    x = np.where(tiny, c.min_arg, x)
    # x = n ln2 + r: adding the shifter rounds x / ln2 to the integer n, held in the low bits
    shifted = x * c.inv_ln2 + c.shifter
    n = shifted - c.shifter
    n_int = shifted.view(c.Int) - np.asarray(c.shifter).view(c.Int)
    r = (x - n * c.ln2_hi) - n * c.ln2_lo
    # e^r = 1 + (r + r^2 q(r)), q = 1/2! + r/3! + ..., in Estrin's form
    f = c.inverse_factorial
    r2 = r * r
    r4 = r2 * r2
    p0, p1, p2 = f[2] + f[3] * r, f[4] + f[5] * r, f[6] + f[7] * r
    if c.exp_terms == 7:
        q = (p0 + p1 * r2) + p2 * r4
    else:
        p3, p4, p5 = f[8] + f[9] * r, f[10] + f[11] * r, f[12] + f[13] * r
        a0, a1, a2 = p0 + p1 * r2, p2 + p3 * r2, p4 + p5 * r2
        q = (a0 + a1 * r4) + a2 * (r4 * r4)
    poly = T(1) + (r + r2 * q)
    # 2^n from its bits: the biased exponent shifted into place
    biased = n_int.view(c.UInt) + c.UInt(c.bias)
    scale = (biased << c.UInt(c.mantissa)).view(T)
    return np.where(tiny, T(0), poly * scale)


def _log1p_reduced(f, c):
    """log(1 + f) for |f| <= sqrt(2) - 1: 2 atanh(s), s = f / (2 + f)."""
    T = c.T
    s = f / (T(2) + f)
    z = s * s
    series = np.zeros_like(z)
    for k in range(c.atanh_terms, 0, -1):
        series = z * (c.inverse_odd[k] + series)
    return T(2) * s + T(2) * s * series


@_elementwise
def log1p_unit(t, c):
    """log(1 + t) for 0 <= t <= 1; the bits of the core's log1p_unit."""
    T = c.T
    u = T(1) + t
    lost = (t - (u - T(1))) / u  # what rounding 1 + t dropped, to first order
    halve = u > c.sqrt2
    f = np.where(halve, u * T(0.5), u) - T(1)
    log_f = _log1p_reduced(f, c)
    k = np.where(halve, T(1), T(0))
    return k * c.ln2_hi + ((log_f + lost) + k * c.ln2_lo)


@_elementwise
def log_at_least_one(x, c):
    """log(x) for x >= 1 (any positive normal x); +inf and NaN pass through. The bits of the
    core's log_at_least_one."""
    T = c.T
    bits = x.view(c.Int)
    mantissa_mask = c.Int((1 << c.mantissa) - 1)
    exponent = (bits >> c.Int(c.mantissa)) - c.Int(c.bias)
    m = ((bits & mantissa_mask) | c.Int(c.bias << c.mantissa)).view(T)
    halve = m > c.sqrt2
    f = np.where(halve, m * T(0.5), m) - T(1)
    e = exponent.astype(T) + np.where(halve, T(1), T(0))
    result = e * c.ln2_hi + (_log1p_reduced(f, c) + e * c.ln2_lo)
    return np.where(x < T(np.inf), result, x)
