import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# CI runs the same examples every time (a failure there reproduces locally with
# HYPOTHESIS_PROFILE=ci); local runs explore new ones.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# tests/test_fuzz.py: each test's example budget is multiplied by FUZZ["factor"]; --long makes
# it LONG_FACTOR (>= 10,000 cases in all) and explores new examples rather than CI's fixed ones.
# FUZZ["cases"] counts the calls the fuzz tests made; the count is printed at the end.
LONG_FACTOR = 40
FUZZ = {"factor": 1, "cases": 0, "accepted": 0, "generic": 0}


def pytest_addoption(parser):
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help=f"fuzz for long: {LONG_FACTOR}x the examples of tests/test_fuzz.py, not derandomized",
    )


def pytest_configure(config):
    if config.getoption("--long"):
        FUZZ["factor"] = LONG_FACTOR
        settings.register_profile("long", parent=settings.get_profile("dev"), derandomize=False)
        settings.load_profile("long")


def pytest_terminal_summary(terminalreporter):
    if FUZZ["cases"]:
        terminalreporter.write_line(
            f"fuzz: {FUZZ['cases']} calls into gdcore's entry points, {FUZZ['accepted']} answered, "
            f"the rest refused with ValueError/TypeError ({FUZZ['generic']} of them pybind11's generic "
            f"'incompatible function arguments'; budget factor {FUZZ['factor']})"
        )

# The mirror's tolerances: core vs NumPy twin, relative to the scale of the reference values.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_mirrors(actual, expected, what=""):
    """Core result equals the reference within the mirror's tolerance for its dtype."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return
    finite = np.isfinite(expected)
    assert np.array_equal(actual[~finite], expected[~finite], equal_nan=True), (
        f"{what}: non-finite values differ"
    )
    scale = max(float(np.max(np.abs(expected[finite]), initial=0.0)), np.finfo(actual.dtype).tiny)
    err = float(np.max(np.abs(actual[finite] - expected[finite]), initial=0.0))
    rtol = RTOL[actual.dtype]
    assert err <= rtol * scale, f"{what}: max error {err:.3g} > {rtol:g} x scale {scale:.3g}"


def interrupt_after(seconds):
    """Send this process SIGINT (Ctrl-C) after `seconds` from a helper thread; returns a dict
    whose "at" is the perf_counter time of the signal once it is sent."""
    import os
    import signal
    import threading
    import time

    sent = {}

    def send():
        time.sleep(seconds)
        sent["at"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()
    return sent


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
