"""gdcore's own exp and log1p (vmath.hpp), which let the log loss vectorize: within 2 ulp of
NumPy (3 for log1p in float32)."""

import numpy as np
import pytest

from conftest import assert_mirrors

from gdcore import _core
from gdcore.reference import losses as ref


def ulps(actual, expected):
    """Distance in units in the last place of the expected values."""
    spacing = np.spacing(np.abs(expected).astype(expected.dtype))
    return np.abs(actual.astype(np.float64) - expected.astype(np.float64)) / spacing


@pytest.mark.parametrize("dtype,low", [(np.float64, -708.0), (np.float32, -87.0)])
def test_exp_within_two_ulp(dtype, low):
    x = np.concatenate([np.linspace(low, 0.0, 4_000_001), -np.geomspace(1e-30, 1.0, 20_001)])
    x = x.astype(dtype)
    got = _core.vmath_exp_nonpositive(x)
    assert got.dtype == dtype
    assert np.max(ulps(got, np.exp(x))) <= 2.0
    assert _core.vmath_exp_nonpositive(np.array([0.0], dtype))[0] == 1.0
    # below the normal range the result is 0, never a NaN or garbage
    tiny = _core.vmath_exp_nonpositive(np.array([low - 10, -1e30, -np.inf], dtype))
    assert np.all(tiny == 0.0)


@pytest.mark.parametrize("dtype,low", [(np.float64, -708.0), (np.float32, -87.0)])
def test_exp_mirrors_twin_across_the_flush(dtype, low):
    # the twin (reference.losses.exp_nonpositive) flushes to 0 below the same argument
    x = np.concatenate([np.linspace(low - 2.0, low + 2.0, 4001), [low, -1e30, -np.inf, 0.0]])
    x = x.astype(dtype)
    got, twin = _core.vmath_exp_nonpositive(x), ref.exp_nonpositive(x)
    assert np.array_equal(got == 0, twin == 0)
    normal = twin != 0
    assert_mirrors(got[normal] / twin[normal], np.ones(int(normal.sum()), dtype), "exp / twin")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log1p_within_two_ulp(dtype):
    t = np.concatenate([np.linspace(0.0, 1.0, 400_001), np.geomspace(1e-300 if dtype == np.float64 else 1e-37, 1.0, 2001)])
    t = t.astype(dtype)
    got = _core.vmath_log1p_unit(t)
    assert got.dtype == dtype
    assert np.max(ulps(got, np.log1p(t))) <= (2.0 if dtype == np.float64 else 3.0)
    assert _core.vmath_log1p_unit(np.array([0.0], dtype))[0] == 0.0
