"""The learning-rate range test."""

import numpy as np
import pytest

import gdcore
from gdcore.lr_range import lr_find


def _regression(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)


def test_curve_falls_then_blows_up_and_the_suggestion_trains():
    X, y = _regression()
    result = lr_find(X, y, min_lr=1e-5, max_lr=10.0, num_steps=120, batch_size=16)
    assert np.all(np.diff(np.log(result.lrs)) > 0)  # geometric growth
    assert result.diverged_at is not None  # 10 is far too large for this problem
    lowest = int(np.argmin(result.smoothed))
    assert result.smoothed[lowest] < 0.2 * result.smoothed[0]  # the loss really fell
    assert result.lrs[0] < result.suggestion < result.lrs[lowest] * 1.0001
    # the suggested rate trains the model well, a hundred times larger does not
    good = gdcore.fit_linear(X, y, lr=result.suggestion, batch_size=16, max_epochs=30, tol=None,
                             penalty=None)  # fmt: skip
    assert good.history.loss[-1] < 0.05
    with pytest.warns(gdcore.DivergenceWarning):
        gdcore.fit_linear(X, y, lr=result.suggestion * 100, batch_size=16, max_epochs=30,
                          tol=None, on_divergence="warn")  # fmt: skip


def test_classification_curves():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 4))
    y = np.digitize(X @ rng.standard_normal(4), [-0.5, 0.5])  # three classes
    for kw in (dict(loss="log_loss"), dict(loss="log_loss", multiclass="softmax"),
               dict(loss="hinge")):  # fmt: skip
        result = lr_find(X, y, num_steps=60, batch_size=8, **kw)
        assert np.isfinite(result.suggestion) and result.suggestion > 0
        assert result.smoothed.min() < result.smoothed[0]


def test_plot_writes_a_picture(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, y = _regression(n=200)
    result = lr_find(X, y, num_steps=50)
    out = tmp_path / "lr.png"
    result.plot(path=out)
    assert out.stat().st_size > 5000


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(min_lr=0.0), "min_lr must be > 0"),
        (dict(min_lr=1.0, max_lr=0.5), "max_lr must be > 1.0"),
        (dict(num_steps=2), "num_steps must be >= 5"),
        (dict(lr=0.1), "lr_find sets lr itself"),
        (dict(smoothing=1.0), "smoothing must be < 1"),
    ],
)
def test_bad_arguments(kw, match):
    X, y = _regression(n=50)
    with pytest.raises((ValueError, TypeError), match=match):
        lr_find(X, y, **kw)
