"""gdcore's own exp, log1p and log (vmath.hpp), which let the log loss and the softmax vectorize:
within 2 ulp of NumPy (3 for log1p in float32), and bit for bit the twins' (reference/vmath.py)."""

import numpy as np
import pytest

from gdcore import _core
from gdcore.reference import losses as ref
from gdcore.reference import vmath as ref_vmath


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
def test_exp_twin_gives_the_same_bits(dtype, low):
    # the whole domain, densest across the flush to 0 and near 0, where r is tiny
    x = np.concatenate([
        np.linspace(low - 30.0, 0.0, 1_000_001), np.linspace(low - 2.0, low + 2.0, 40_001),
        -np.geomspace(1e-38, 1.0, 20_001), [low, -1e30, -np.inf, 0.0, -0.0, np.nan],
    ]).astype(dtype)  # fmt: skip
    got, twin = _core.vmath_exp_nonpositive(x), ref_vmath.exp_nonpositive(x)
    assert twin.dtype == dtype
    np.testing.assert_array_equal(got.view(np.uint8), twin.view(np.uint8))
    assert np.count_nonzero(twin == 0) > 0  # the flush was crossed


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_twins_give_the_same_bits(dtype):
    t = np.concatenate([
        np.linspace(0.0, 1.0, 1_000_001), np.geomspace(np.finfo(dtype).tiny, 1.0, 20_001),
        [np.sqrt(2.0) - 1.0],
    ]).astype(dtype)  # fmt: skip
    got, twin = _core.vmath_log1p_unit(t), ref_vmath.log1p_unit(t)
    np.testing.assert_array_equal(got.view(np.uint8), twin.view(np.uint8))
    big = float(np.finfo(dtype).max)
    x = np.concatenate([
        np.linspace(1.0, 64.0, 1_000_001), np.geomspace(1.0, big / 2, 20_001),
        [np.sqrt(2.0), 2.0, big, np.inf, np.nan],
    ]).astype(dtype)  # fmt: skip
    got, twin = _core.vmath_log_at_least_one(x), ref_vmath.log_at_least_one(x)
    np.testing.assert_array_equal(got.view(np.uint8), twin.view(np.uint8))


def test_twins_keep_the_shape_of_their_argument():
    assert ref_vmath.exp_nonpositive(np.float32(-1.0)).shape == ()
    assert ref_vmath.log_at_least_one(np.ones((2, 3))).shape == (2, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        ref_vmath.log1p_unit(np.ones(3, np.float16))
    swapped = np.array([-1.0, -2.5], dtype=">f8")  # another byte order: the same values
    native = swapped.astype(np.float64)
    want = ref_vmath.exp_nonpositive(native)
    np.testing.assert_array_equal(ref_vmath.exp_nonpositive(swapped), want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_within_two_ulp_of_the_exact_log(dtype):
    # against log in float64 (rounded once to float32 there would add its own half ulp)
    big = float(np.finfo(dtype).max)
    x = np.concatenate([np.linspace(1.0, 100.0, 1_000_001), np.geomspace(1.0, big / 2, 20_001)])
    x = x.astype(dtype)
    got = _core.vmath_log_at_least_one(x)
    assert got.dtype == dtype
    if dtype == np.float64:
        assert np.max(ulps(got, np.log(x))) <= 2.0
    else:
        exact = np.log(x.astype(np.float64))
        spacing = np.spacing(exact.astype(dtype)).astype(np.float64)
        spacing[spacing == 0] = np.spacing(np.float32(0))
        assert np.max(np.abs(got - exact) / spacing) <= 2.0
    assert _core.vmath_log_at_least_one(np.array([1.0], dtype))[0] == 0.0
    edge = _core.vmath_log_at_least_one(np.array([np.inf, np.nan], dtype))
    assert edge[0] == np.inf and np.isnan(edge[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log1p_within_two_ulp(dtype):
    t = np.concatenate([np.linspace(0.0, 1.0, 400_001), np.geomspace(1e-300 if dtype == np.float64 else 1e-37, 1.0, 2001)])
    t = t.astype(dtype)
    got = _core.vmath_log1p_unit(t)
    assert got.dtype == dtype
    assert np.max(ulps(got, np.log1p(t))) <= (2.0 if dtype == np.float64 else 3.0)
    assert _core.vmath_log1p_unit(np.array([0.0], dtype))[0] == 0.0
