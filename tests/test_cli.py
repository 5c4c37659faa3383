"""The gdcore command line and its optimizer race."""

import subprocess
import sys

import numpy as np
import pytest

from gdcore import cli
from gdcore._race import make_bowl, race


def test_bowl_bottom_is_least_squares():
    bowl = make_bowl()
    # The gradient vanishes at the least-squares weights: Xᵀ(Xw* − t) = 0.
    np.testing.assert_allclose(bowl.gradient(bowl.w_best), 0.0, atol=1e-14)
    assert bowl.error(bowl.w_best + 0.01) > bowl.e_best


def test_every_racer_arrives():
    results = race(max_steps=5000, tol=1e-10)
    assert len(results) == 9
    for r in results:
        assert r.converged, r
        assert 0 < r.steps < 5000 and r.gap < 1e-10


def test_demo_prints_config_and_race(capsys):
    assert cli.main(["demo", "--max-steps", "3000"]) == 0
    out = capsys.readouterr().out
    assert "simd_path" in out and "Adam" in out and "RMSprop" in out
    assert out.count(" yes") == 9


def test_help_lists_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "gdcore", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in proc.stdout and "config" in proc.stdout


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "--max-steps", "0"])
    assert exc.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err
