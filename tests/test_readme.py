"""The README's example runs and prints what the README says."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests")
def test_ten_line_example(capsys):
    example = python_blocks()[0]
    assert len([line for line in example.splitlines() if line.strip()]) <= 11
    exec(compile(example, "README example", "exec"), {})
    printed = capsys.readouterr().out
    w = np.array([float(v) for v in printed.strip().strip("[]").split()])
    np.testing.assert_allclose(w, [2.0, -1.0, 0.5], atol=1e-5)


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests")
def test_ci_reads_the_readme_test_command():
    text = README.read_text(encoding="utf-8")
    after = text.split("<!-- test-command -->", 1)[1]
    command = next(l for l in after.splitlines() if l.strip() and not l.startswith("```"))
    assert "pytest" in command and '".[test]"' in command
