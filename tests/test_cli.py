"""The gdcore command line: demo (the main job), playground, config."""

import subprocess
import sys

import pytest

from gdcore import cli
from gdcore.demo import run_demo


def test_demo_rows_are_honest(tmp_path):
    rows = run_demo(tmp_path / "out", pictures=False, progress=False, print_table=False)
    by = {(r.problem, r.method.split(" ")[0]): r for r in rows}
    # the three ways all reach the least-squares bowl's bottom
    for way in ("batch", "stochastic", "mini-batch"):
        row = by[("two-weight neuron", way)]
        assert row.converged and row.final < 0.01
    # the adaptive optimizers arrive on both surfaces; every row's numbers are finite
    assert by[("rosenbrock", "adam")].converged and by[("quadratic", "momentum")].converged
    assert all(r.steps > 0 and r.seconds >= 0 and r.final == r.final for r in rows)


def test_demo_writes_pictures_and_the_slider(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "simd_path" in printed and "converged" in printed and "rosenbrock" in printed
    names = {p.name for p in out.iterdir()}
    assert {"three_ways.png", "learning_rates.png", "rosenbrock_paths.png", "lr_find.png",
            "playground.html"} <= names  # fmt: skip
    assert all((out / n).stat().st_size > 5000 for n in names)


def test_playground_command(tmp_path, capsys):
    page = tmp_path / "p.html"
    assert cli.main(["playground", "--function", "himmelblau", "-o", str(page), "--rates", "3",
                     "--steps", "20"]) == 0  # fmt: skip
    assert page.stat().st_size > 1000 and "Himmelblau" in page.read_text()


def test_help_lists_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "gdcore", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in proc.stdout and "playground" in proc.stdout and "config" in proc.stdout


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["playground", "--rates", "0"])
    assert exc.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err
