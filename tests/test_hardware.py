"""Bandwidth probes: core == NumPy twin, and the measurement returns sane numbers."""

import numpy as np
import pytest
from conftest import assert_mirrors

from gdcore import hardware
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
