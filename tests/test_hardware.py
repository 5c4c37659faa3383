"""Bandwidth probes: core == NumPy twin, and the measurement returns sane numbers."""

import numpy as np
import pytest
from conftest import assert_mirrors

from gdcore import _core, hardware
from gdcore.reference import hardware as ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 4097, 100_003])
def test_probes_mirror_twin(dtype, n):
    rng = np.random.default_rng(n)
    b = rng.standard_normal(n).astype(dtype)
    c = rng.standard_normal(n).astype(dtype)
    a_core, a_twin = np.empty_like(b), np.empty_like(b)
    hardware.triad(a_core, b, c, 0.3)
    ref.triad(a_twin, b, c, 0.3)
    assert_mirrors(a_core, a_twin, "triad")
    hardware.axpy(a_core, c, -1.7, num_threads=2)
    ref.axpy(a_twin, c, -1.7)
    assert_mirrors(a_core, a_twin, "axpy")


def test_memory_bandwidth_is_plausible():
    bw = hardware.memory_bandwidth(n_bytes=12 << 20, repeats=2)
    assert set(bw) == {"triad", "axpy", "bound"}
    assert 1e8 < bw["bound"] < 1e13  # between 0.1 GB/s and 10 TB/s
    assert bw["bound"] == max(bw["triad"], bw["axpy"])


def test_probe_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"b has shape \(2,\) but a has shape \(3,\)"):
        hardware.triad(np.zeros(3), np.zeros(2), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="n_bytes must be >="):
        hardware.memory_bandwidth(n_bytes=10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (37, 21), (1100, 64)])
@pytest.mark.parametrize("threads", [1, 2])
def test_row_sum_mirrors_twin_bitwise(dtype, shape, threads):
    rng = np.random.default_rng(shape[0])
    X = rng.standard_normal(shape).astype(dtype)
    order = rng.permutation(shape[0])
    out_core = np.full(shape[1], np.nan, dtype)
    out_twin = np.empty(shape[1], dtype)
    hardware.row_sum(out_core, X, order, num_threads=threads)
    if shape == (1100, 64):  # enough values for one chunk per thread
        assert _core.row_sum_chunks(1100, 64, threads) == threads
    ref.row_sum(out_twin, X, order, num_threads=threads)
    assert np.array_equal(out_core, out_twin)
    np.testing.assert_allclose(out_core, X.sum(axis=0), rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4)  # fmt: skip


def test_row_sum_rejects_rows_outside_x():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"order\[1\] = 5 is not a row of X \(5 rows\)"):
        hardware.row_sum(np.zeros(2), X, [0, 5])
    with pytest.raises(ValueError, match="out must be a 1-D array"):
        hardware.row_sum(np.zeros(3), X, [0])


def test_shuffled_read_rate_is_plausible():
    X = np.ones((20_000, 50), np.float32)
    rate = hardware.shuffled_read_rate(X, repeats=2)
    assert 1e4 < rate["rows_per_s"] < 1e11
    assert rate["bytes_per_s"] == pytest.approx(rate["rows_per_s"] * 200)
