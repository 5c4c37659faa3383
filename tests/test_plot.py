"""gdcore.plot: the pictures render headlessly, are non-trivial, and show what they claim."""

import math
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

import gdcore  # noqa: E402
from gdcore import plot  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A rotated, stretched quadratic bowl f(x, y) = ½ (x, y) A (x, y)ᵀ and its analytic gradient.
A = np.array([[3.0, 1.2], [1.2, 1.0]])


def bowl(x, y):
    return 0.5 * (A[0, 0] * x * x + 2 * A[0, 1] * x * y + A[1, 1] * y * y)


def bowl_grad(x, y):
    return np.array([A[0, 0] * x + A[0, 1] * y, A[1, 0] * x + A[1, 1] * y])


def assert_png(path, min_colours=50):
    """A real PNG of a reasonable size whose pixels are far from one flat colour."""
    assert path.exists(), f"{path} was not written"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert 10_000 < len(data) < 5_000_000, f"{path} has an odd size: {len(data)} bytes"
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert height >= 300 and width >= 300, image.shape
    pixels = np.round(image[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    assert len(colours) >= min_colours, f"{path} has only {len(colours)} distinct colours"
    # Not a blank page: a good share of the pixels is not the white background.
    assert (pixels.min(axis=1) < 200).mean() > 0.02


def path_lines(ax):
    """The lines that draw paths (labelled or not): those with more than one point."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 1]


def legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def contour_sets(ax):
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def test_import_gdcore_does_not_import_matplotlib():
    code = "import sys, gdcore, gdcore.plot; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- contour -----------------------------------------------------------------------------------


def test_contour_draws_paths_with_start_and_end_markers(tmp_path):
    first = np.array([[-2.0, 2.0], [-1.0, 1.2], [-0.3, 0.4], [0.0, 0.0]])
    second = np.array([[2.0, -1.5], [0.5, 0.5], [0.1, -0.1]])
    out = tmp_path / "bowl.png"
    fig = plot.contour(bowl, (-3, 3), (-3, 3), paths=[first, second], labels=["one", "two"],
                       minimum=(0, 0), path=out)  # fmt: skip
    assert_png(out)
    ax = fig.axes[0]
    lines = path_lines(ax)
    assert len(lines) == 2
    np.testing.assert_array_equal(np.column_stack(lines[0].get_data()), first)
    np.testing.assert_array_equal(np.column_stack(lines[1].get_data()), second)
    markers = {(line.get_marker(), tuple(np.ravel(line.get_data()))) for line in ax.get_lines()}
    for path in (first, second):
        assert ("o", tuple(path[0])) in markers  # start
        assert ("s", tuple(path[-1])) in markers  # end
    assert ("*", (0.0, 0.0)) in markers
    assert legend_texts(ax) == ["one", "two", "minimum"]
    assert (ax.get_xlim(), ax.get_ylim()) == ((-3, 3), (-3, 3))
    assert len(contour_sets(ax)) == 1 and len(contour_sets(ax)[0].levels) == 20


@pytest.mark.parametrize("use_grad", [False, True], ids=["central-differences", "grad"])
def test_arrows_point_downhill_at_right_angles_to_the_contour_lines(use_grad):
    fig = plot.contour(bowl, (-2, 2), (-2, 2), arrows=12, grad=bowl_grad if use_grad else None,
                       levels=40, resolution=400)  # fmt: skip
    ax = fig.axes[0]
    (quiver,) = [c for c in ax.collections if isinstance(c, Quiver)]
    points = quiver.get_offsets()
    arrows = np.column_stack([quiver.U, quiver.V])
    assert len(points) == 144
    gradient = np.array([bowl_grad(x, y) for x, y in points])
    unit = arrows / np.linalg.norm(arrows, axis=1, keepdims=True)
    # Exactly the direction of steepest descent, −∇f/|∇f| ...
    np.testing.assert_allclose(unit, -gradient / np.linalg.norm(gradient, axis=1, keepdims=True),
                               atol=1e-6)  # fmt: skip
    # ... which is perpendicular to the contour tangent (−∂f/∂y, ∂f/∂x).
    tangent = np.column_stack([-gradient[:, 1], gradient[:, 0]])
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    assert np.max(np.abs(np.sum(unit * tangent, axis=1))) < 1e-6

    # And at right angles to the contour lines as drawn: where an arrow starts on (next to) a
    # drawn line, the line's direction there is perpendicular to the arrow.
    (lines,) = contour_sets(ax)
    pieces = [piece for p in lines.get_paths() for piece in p.to_polygons(closed_only=False)]
    checked = 0
    for point, direction in zip(points, unit):
        for piece in pieces:
            if len(piece) < 3:
                continue
            distance = np.linalg.norm(piece - point, axis=1)
            k = int(np.argmin(distance))
            if distance[k] > 0.02 or k == 0 or k == len(piece) - 1:
                continue
            along = piece[k + 1] - piece[k - 1]
            along /= np.linalg.norm(along)
            assert abs(float(along @ direction)) < 0.05, (point, along, direction)
            checked += 1
    assert checked >= 5


def scipy_style(p):
    return 0.5 * (A[0, 0] * p[0] ** 2 + 2 * A[0, 1] * p[0] * p[1] + A[1, 1] * p[1] ** 2)


def last_axis(p):
    x, y = p[..., 0], p[..., 1]
    return bowl(x, y)


def one_point_at_a_time(x, y):
    return 0.5 * (A[0, 0] * math.pow(x, 2) + 2 * A[0, 1] * x * y + A[1, 1] * math.pow(y, 2))


@pytest.mark.parametrize("fun", [scipy_style, last_axis, one_point_at_a_time, np.hypot])
def test_contour_accepts_each_form_of_function(fun):
    X, Y = np.meshgrid(np.linspace(-1, 2, 30), np.linspace(-2, 1, 20))
    expected = np.hypot(X, Y) if fun is np.hypot else bowl(X, Y)
    np.testing.assert_allclose(plot._on_grid(fun, X, Y), expected, rtol=1e-12)
    fig = plot.contour(fun, (-1, 2), (-2, 1), resolution=30)
    ax = fig.axes[0]
    assert len(contour_sets(ax)) == 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")


def test_log_levels_span_decades_on_a_valley():
    def rosenbrock(x, y):
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    fig = plot.contour(rosenbrock, (-2, 2), (-1, 3), levels=12, log_levels=True, arrows=True)
    levels = contour_sets(fig.axes[0])[0].levels
    assert len(levels) == 12
    assert levels[-1] / levels[0] > 1e3
    # Evenly spaced in log(f − min), the minimum taken over the drawn (200 × 200) grid.
    lowest = rosenbrock(*np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))).min()
    steps = np.diff(np.log(levels - lowest))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-6)


def test_contour_accepts_fit_results_and_draws_into_given_axes():
    X, y = plot._bowl_data(50, 0)
    fit = gdcore.fit_linear(X, y, lr=0.1, batch_size=None, max_epochs=5, tol=None, penalty=None,
                            fit_intercept=False, record_every=1)  # fmt: skip
    figure, ax = plt.subplots()
    try:
        returned = plot.contour(bowl, (-1, 3), (-2, 2), paths={"batch": fit}, ax=ax)
        assert returned is figure
        (line,) = path_lines(ax)
        np.testing.assert_array_equal(np.column_stack(line.get_data()), fit.history.path[:, :2])
        assert legend_texts(ax) == ["batch"]
    finally:
        plt.close(figure)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"paths": np.zeros((5, 3))}, ValueError, r"paths must have shape \(steps, 2\), got \(5,"),
        ({"paths": [np.zeros((4, 2)), np.zeros(4)]}, ValueError, r"paths\[1\] must have shape"),
        ({"paths": [np.zeros((4, 2))], "labels": ["a", "b"]}, ValueError, "labels has 2 entries"),
        ({"arrows": -1}, ValueError, "arrows must be"),
        ({"minimum": (1, 2, 3)}, ValueError, "minimum must be a point"),
        ({"levels": 0}, ValueError, "levels must be >= 1"),
        ({"path": np.zeros((4, 2))}, TypeError, "path is the file to save the picture to"),
        ({"resolution": 3}, ValueError, "resolution must be"),
        ({"arrows": True, "grad": lambda x, y: 1.0}, ValueError, "grad must return 2 numbers"),
    ],
)
def test_contour_rejects_bad_input_naming_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        plot.contour(bowl, (-1, 1), (-1, 1), **kwargs)


def test_contour_rejects_bad_windows_and_functions():
    with pytest.raises(ValueError, match="xlim must be finite with low < high"):
        plot.contour(bowl, (1, -1), (-1, 1))
    with pytest.raises(ValueError, match="ylim must be a pair"):
        plot.contour(bowl, (-1, 1), 3)
    with pytest.raises(TypeError, match="fun must be a callable"):
        plot.contour("bowl", (-1, 1), (-1, 1))
    with pytest.raises(ValueError, match="fun must return one number per point"):
        plot.contour(lambda x, y: [1.0, 2.0], (-1, 1), (-1, 1))
    with pytest.raises(ValueError, match="fun is not finite anywhere"):
        plot.contour(lambda x, y: np.full_like(x, np.nan), (-1, 1), (-1, 1))


# --- the three ways ------------------------------------------------------------------------------


def test_three_ways_draws_batch_stochastic_and_minibatch(tmp_path):
    out = tmp_path / "three_ways.png"
    fig = plot.three_ways(epochs=8, path=out)
    assert_png(out)
    left, right = fig.axes[:2]
    labels = legend_texts(left)
    ways = [label.split(" (")[0] for label in labels]
    assert ways == ["batch", "stochastic", "mini-batch", "minimum"]
    assert "bowl" in left.get_title() and "contour lines" in left.get_title()
    assert (left.get_xlabel(), left.get_ylabel()) == ("weight w₁", "weight w₂")
    assert right.get_xlabel() == "epoch" and right.get_yscale() == "log"

    # The paths are fit_linear's, update by update: 1, 100 and 10 steps per epoch from zero.
    X, t = plot._bowl_data(100, 0)
    batch, stochastic, minibatch = path_lines(left)
    for line, size, steps in ((batch, None, 8), (stochastic, 1, 800), (minibatch, 10, 80)):
        fit = gdcore.fit_linear(X, t, lr=0.05, batch_size=size, max_epochs=8, tol=None,
                                penalty=None, fit_intercept=False, record_every=1)  # fmt: skip
        drawn = np.column_stack(line.get_data())
        assert drawn.shape == (steps + 1, 2)
        np.testing.assert_array_equal(drawn, fit.history.path[:, :2])
        np.testing.assert_array_equal(drawn[0], [0.0, 0.0])
    # The star is the bottom of the bowl: the least-squares weights.
    (star,) = [line for line in left.get_lines() if line.get_marker() == "*"]
    np.testing.assert_allclose(np.ravel(star.get_data()), np.linalg.lstsq(X, t, rcond=None)[0])
    # One loss per epoch, and the stochastic descent is furthest down after one epoch.
    curves = path_lines(right)
    assert [len(c.get_ydata()) for c in curves] == [8, 8, 8]
    assert curves[1].get_ydata()[1] < curves[2].get_ydata()[1] < curves[0].get_ydata()[1]


def test_three_ways_is_deterministic(tmp_path):
    plot.three_ways(epochs=3, path=tmp_path / "a.png")
    plot.three_ways(epochs=3, path=tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_three_ways_rejects_bad_data():
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 2\)"):
        plot.three_ways(X=np.zeros((10, 3)), y=np.zeros(10))
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        plot.three_ways(X=np.ones((10, 2)), y=np.zeros(9))
    with pytest.raises(ValueError, match="X and y go together"):
        plot.three_ways(X=np.ones((10, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        plot.three_ways(batch_size=1)
    with pytest.raises(ValueError, match="batch_size must be below the 100 samples"):
        plot.three_ways(batch_size=100)


# --- the learning rate ---------------------------------------------------------------------------


def test_lr_sweep_too_small_right_too_large(tmp_path):
    out = tmp_path / "lr.png"
    fig = plot.lr_sweep(path=out)
    assert_png(out)
    left, right = fig.axes[:2]
    words = [label.split(" (")[0] for label in legend_texts(left)]
    assert words == [
        "too small: crawls", "about right", "too large: overshoots, diverges", "minimum"
    ]  # fmt: skip
    assert "learning rate" in left.get_title()
    small, right_lr, large = [line.get_ydata() for line in path_lines(right)]
    assert small[-1] > 2 * right_lr[-1]  # crawls
    assert large[-1] > 100 * large[0]  # overshoots and grows
    assert right.get_yscale() == "log"
    # The diverging path is cut where it leaves the window, and the place is marked.
    exits = [line for line in left.get_lines() if line.get_marker() == "X"]
    assert len(exits) == 1
    x, y = np.ravel(exits[0].get_data())
    (x0, x1), (y0, y1) = left.get_xlim(), left.get_ylim()
    assert min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-9


def test_lr_sweep_survives_a_fit_that_blows_up(tmp_path):
    # lr = 50 overflows to infinity within 200 batch steps: fit_linear raises DivergenceError,
    # the sweep keeps its finite path and marks where it blew up.
    fig = plot.lr_sweep([0.05, 0.5, 50.0], epochs=200, path=tmp_path / "blew_up.png")
    assert_png(tmp_path / "blew_up.png")
    left, right = fig.axes[:2]
    assert legend_texts(left)[:3] == ["lr = 0.05", "lr = 0.5", "lr = 50"]
    (note,) = [t.get_text() for t in right.texts if t.get_text().startswith("blew up in epoch")]
    with pytest.raises(gdcore.DivergenceError, match="diverged"):
        gdcore.fit_linear(*plot._bowl_data(100, 0), lr=50.0, batch_size=None, max_epochs=200,
                          tol=None, penalty=None, fit_intercept=False)  # fmt: skip
    assert np.isfinite(np.column_stack(path_lines(left)[2].get_data())).all()


def test_lr_sweep_rejects_bad_learning_rates():
    with pytest.raises(ValueError, match="lrs must be positive finite"):
        plot.lr_sweep([0.1, -1.0])
    with pytest.raises(ValueError, match="labels has 1 entries but lrs has 2"):
        plot.lr_sweep([0.1, 0.2], labels=["a"])


# --- loss curves ---------------------------------------------------------------------------------


def test_loss_curves_from_histories_with_validation_score(tmp_path):
    X, t = plot._bowl_data(100, 1)
    fits = {
        name: gdcore.fit_linear(X, t, optimizer=name, lr=0.05, max_epochs=15, tol=None,
                                validation_fraction=0.2, batch_size=10)  # fmt: skip
        for name in ("sgd", "adam")
    }
    out = tmp_path / "loss.png"
    fig = plot.loss_curves({name: fit.history for name, fit in fits.items()}, path=out)
    assert_png(out)
    ax, scores = fig.axes  # the validation score has its own axis at the right
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    assert "validation score" in scores.get_ylabel()
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert [list(line.get_ydata()) for line in solid] == [f.history.loss for f in fits.values()]
    assert len([line for line in ax.get_lines() if line.get_linestyle() == "--"]) == 2
    assert len(scores.get_lines()) == 2
    assert legend_texts(ax) == [
        "sgd", "sgd: validation loss", "adam", "adam: validation loss",
        "sgd: validation score", "adam: validation score",
    ]  # fmt: skip


def test_loss_curves_from_raw_sequences():
    fig = plot.loss_curves([3.0, 2.0, 1.0, 0.0], labels="hinge")
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear"  # a loss of zero has no logarithm
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    fig = plot.loss_curves([[1.0, 0.5, np.inf], np.array([2.0, 1.0])], log=True)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert np.isnan(ax.get_lines()[0].get_ydata()[2])


def test_loss_curves_rejects_bad_input():
    with pytest.raises(ValueError, match=r"histories must hold one loss per epoch \(1-D\)"):
        plot.loss_curves(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="labels has 3 entries but histories has 2"):
        plot.loss_curves([[1.0, 0.5], [2.0, 1.0]], labels=["a", "b", "c"])
    with pytest.raises(TypeError, match=r"histories\[1\] must be a fit history"):
        plot.loss_curves([[1.0, 0.5], [object()]])
    with pytest.raises(ValueError, match="histories is empty"):
        plot.loss_curves([])
