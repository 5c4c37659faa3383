"""Pictures of gradient descent: the error surface as a bowl, its contour lines, the paths down it.

Every picture is drawn by gdcore's own optimizers and comes back as a matplotlib ``Figure``;
``path="name.png"`` also writes it to a file (the format follows the suffix). (``path`` is always
the file; the optimizer paths drawn on a contour map go in ``paths``.)

- :func:`contour`: the contour lines of any 2-D function, optimizer paths on top, and optionally
  the arrows of steepest descent (the negative gradient), which cross the contour lines at right
  angles.
- :func:`three_ways`: batch, stochastic and mini-batch gradient descent on the bowl of a linear
  neuron with two weights, E = ½Σ(t − y)², and their loss per epoch.
- :func:`lr_sweep`: a learning rate too small (crawls), about right, and too large (overshoots and
  diverges), on the same bowl.
- :func:`loss_curves`: the loss per epoch of any fit history.

matplotlib is an optional extra (``pip install "gdcore[plot]"``): it is imported when a picture
is drawn, never by ``import gdcore`` or ``import gdcore.plot``. The figures are made without
pyplot, so drawing many of them opens no windows and holds no memory; to draw into a pyplot
window, pass your own axes (``ax=plt.gca()`` or ``axes=plt.subplots(1, 2)[1]``).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping

import numpy as np

from gdcore import _validate as check

__all__ = ["contour", "three_ways", "lr_sweep", "loss_curves"]

# Paths stand out against the viridis contour lines; colour-blind safe and printable in grey.
PATH_COLORS = ("#d62728", "#000000", "#ff7f0e", "#9467bd", "#e377c2", "#8c564b", "#17becf")
FIGSIZE_ONE = (6.4, 5.4)
FIGSIZE_TWO = (12.0, 5.0)

# The pictures' titles, in the words of the people who learn from them.
TITLE_THREE_WAYS = "the bowl E = ½Σ(t − y)² seen from above:\ncontour lines and three ways down"
TITLE_THREE_WAYS_LOSS = (
    "error per epoch: batch smooth but slow,\n"
    "stochastic fast but jittery, mini-batch fast and stable"
)
TITLE_LR_SWEEP = (
    "learning rate too small, about right, too large:\npaths down the bowl (× = left the bowl)"
)
TITLE_LR_SWEEP_LOSS = "error per epoch:\ntoo small crawls, too large overshoots and blows up"
LOSS_PER_EPOCH = "loss per epoch, ½·mean(t − y)² = E / n"



def _labels_and_names(labels, count, what):
    """One label per item (None when not given) and the items' names for error messages."""
    if labels is None:
        labels = [None] * count
    elif isinstance(labels, str):
        labels = [labels]
    labels = list(labels)
    if len(labels) != count:
        raise ValueError(f"labels has {len(labels)} entries but {what} has {count}")
    names = [what] if count == 1 else [f"{what}[{i}]" for i in range(count)]
    return labels, names

def _matplotlib():
    """The Figure class, imported on first use so that matplotlib stays an optional extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "gdcore.plot draws with matplotlib, which is not installed; "
            'install it with: pip install "gdcore[plot]"'
        ) from error
    return Figure


def _new_axes(ax, ncols=1):
    """(figure, axes) to draw on: the caller's axes, or a fresh figure's."""
    if ax is not None:
        axes = list(ax) if ncols > 1 else [ax]
        if len(axes) != ncols or not all(hasattr(a, "plot") for a in axes):
            raise TypeError(f"axes must be {ncols} matplotlib Axes, got {ax!r}")
        return axes[0].figure, axes if ncols > 1 else axes[0]
    Figure = _matplotlib()
    fig = Figure(figsize=FIGSIZE_ONE if ncols == 1 else FIGSIZE_TWO, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, (list(axes) if ncols > 1 else axes)


def _finish(fig, path):
    """Write the figure to ``path`` (a file name or an open binary file) when given; return it."""
    if path is not None:
        if not (isinstance(path, (str, bytes, os.PathLike)) or hasattr(path, "write")):
            raise TypeError(
                f"path is the file to save the picture to, got {type(path).__name__}; "
                "optimizer paths go in paths="
            )
        fig.savefig(path, dpi=100)
    return fig


# --- evaluating a function of two variables on a grid ---------------------------------------


def _takes_point(fun) -> bool:
    """True for fun(p) with p = (x, y); False for fun(x, y).

    Decided by the number of required positional parameters: one means a point, two or more (or
    a signature Python cannot read, or ``*args``) means x and y.
    """
    if isinstance(fun, np.ufunc):
        return fun.nin == 1
    try:
        signature = inspect.signature(fun)
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        p for p in signature.parameters.values()
        if p.kind in positional and p.default is inspect.Parameter.empty
    ]  # fmt: skip
    return len(required) == 1


def _at_point(fun, takes_point, x, y, name="fun"):
    value = fun(np.array([x, y])) if takes_point else fun(x, y)
    value = np.asarray(value, dtype=float)
    if value.size != 1:
        raise ValueError(f"{name} must return one number per point, got shape {value.shape}")
    return float(value.reshape(()))


def _on_grid(fun, X, Y, name="fun"):
    """fun at every grid point: at once when fun broadcasts over arrays, else point by point.

    A one-point function is tried with the points along the last axis (p[..., 0], p[..., 1])
    and then along the first (p[0], p[1], as scipy's test functions read them); a vectorized
    answer is used only when it has the grid's shape and agrees with fun at single points.
    """
    if not callable(fun):
        raise TypeError(f"{name} must be a callable f(x, y) or f(p), got {fun!r}")
    takes_point = _takes_point(fun)
    if takes_point:
        attempts = (lambda: fun(np.stack([X, Y], axis=-1)), lambda: fun(np.stack([X, Y])))
    else:
        attempts = (lambda: fun(X, Y),)
    rows, cols = X.shape
    probes = [(0, 0), (rows - 1, cols - 1), (rows // 3, 2 * cols // 3), (rows - 1, 0)]
    with np.errstate(all="ignore"):
        expected = [_at_point(fun, takes_point, X[i], Y[i], name) for i in probes]
        for attempt in attempts:
            try:
                Z = np.asarray(attempt(), dtype=float)
            except Exception:  # noqa: BLE001 - a function that cannot take arrays goes pointwise
                continue
            if Z.shape == X.shape and np.allclose(
                [Z[i] for i in probes], expected, rtol=1e-9, atol=0.0, equal_nan=True
            ):
                return Z
        values = [_at_point(fun, takes_point, x, y, name) for x, y in zip(X.flat, Y.flat)]
    return np.array(values, dtype=float).reshape(X.shape)


def _descent_directions(fun, grad, X, Y):
    """Unit vectors of steepest descent, −∇f/|∇f|, at the grid points (NaN where ∇f = 0)."""
    if grad is not None:
        if not callable(grad):
            raise TypeError(f"grad must be a callable returning (df/dx, df/dy), got {grad!r}")
        takes_point = _takes_point(grad)
        G = np.empty(X.shape + (2,))
        for index in np.ndindex(X.shape):
            x, y = X[index], Y[index]
            g = np.asarray(grad(np.array([x, y])) if takes_point else grad(x, y), dtype=float)
            if g.size != 2:
                raise ValueError(f"grad must return 2 numbers (df/dx, df/dy), got shape {g.shape}")
            G[index] = g.reshape(2)
    else:
        # Central differences, a step of about cbrt(machine epsilon) relative to the window.
        hx = 1e-5 * max(np.ptp(X), 1e-12)
        hy = 1e-5 * max(np.ptp(Y), 1e-12)
        gx = (_on_grid(fun, X + hx, Y) - _on_grid(fun, X - hx, Y)) / (2 * hx)
        gy = (_on_grid(fun, X, Y + hy) - _on_grid(fun, X, Y - hy)) / (2 * hy)
        G = np.stack([gx, gy], axis=-1)
    norm = np.hypot(G[..., 0], G[..., 1])
    with np.errstate(all="ignore"):
        return -G / np.where(norm > 0, norm, np.nan)[..., None]


def _contour_levels(Z, levels, log_levels):
    """The heights of the contour lines.

    An int n gives n lines: evenly spaced in √(f − min) by default, so that a bowl's contour
    lines come out as evenly spaced rings; with ``log_levels``, evenly spaced in log(f − min),
    for valleys whose heights span many decades (Rosenbrock's).
    """
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        raise ValueError("fun is not finite anywhere in the window (xlim, ylim)")
    if not isinstance(levels, (int, np.integer)):
        values = np.sort(np.asarray(levels, dtype=float).reshape(-1))
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError(f"levels must be an int or finite contour heights, got {levels!r}")
        return values
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    low, high = float(finite.min()), float(finite.max())
    span = high - low
    if span <= 0:
        return np.array([low])
    if log_levels:
        rises = finite - low
        smallest = max(float(np.quantile(rises[rises > 0], 0.01)), span * 1e-9)
        return low + np.geomspace(smallest, span, levels)
    return low + span * np.linspace(0.0, 1.0, levels + 2)[1:-1] ** 2


# --- paths -----------------------------------------------------------------------------------


def _as_path(path, name):
    """A (steps, 2) float array from an array, a fit result, a history or a minimize result."""
    coef = getattr(path, "coef", None)
    history = getattr(path, "history", None)
    if history is not None and getattr(history, "path", None) is not None:
        # A fit_linear result: its path holds the weights, then the intercepts.
        n_weights = np.size(coef) if coef is not None else 2
        if n_weights != 2:
            raise ValueError(f"{name} is a fit with {n_weights} weights; a contour map needs 2")
        path = np.asarray(history.path)[:, :2]
    elif getattr(path, "path", None) is not None:
        path = path.path
    try:
        array = np.asarray(path, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of shape (steps, 2), got {path!r}") from error
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must have shape (steps, 2), got {array.shape}")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        array = array[: int(np.argmin(finite))]  # drawn up to its last finite point
    return array


def _as_paths(paths, labels):
    """[(label, path)] from one path, a list of them or a {label: path} dict."""
    if paths is None:
        return []
    if isinstance(paths, Mapping):
        if labels is not None:
            raise ValueError("labels must be None when paths is a dict (its keys are the labels)")
        labels, paths = list(paths.keys()), list(paths.values())
    elif isinstance(paths, np.ndarray) or hasattr(paths, "path") or hasattr(paths, "history"):
        paths = [paths]
    else:
        paths = list(paths)
        if paths and np.ndim(paths[0]) == 1:
            paths = [paths]  # a single path given as a list of points
    labels, names = _labels_and_names(labels, len(paths), "paths")
    return [(label, _as_path(p, n)) for label, p, n in zip(labels, paths, names)]


def _leaves_view(path, xlim, ylim):
    """(path up to where it leaves the window, the point where it crosses the edge or None)."""
    (x0, x1), (y0, y1) = xlim, ylim
    inside = (path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
    if inside.all() or not inside[0]:
        return path, None
    first_out = int(np.argmin(inside))
    a, b = path[first_out - 1], path[first_out]
    # The largest fraction s of the step a -> b that stays inside the window.
    s = 1.0
    for axis, (lo, hi) in enumerate((xlim, ylim)):
        d = b[axis] - a[axis]
        if d > 0:
            s = min(s, (hi - a[axis]) / d)
        elif d < 0:
            s = min(s, (lo - a[axis]) / d)
    edge = a + s * (b - a)
    return np.vstack([path[:first_out], edge]), edge


def _draw_path(ax, path, label, color):
    ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.6, alpha=0.9, label=label,
            marker="." if len(path) <= 60 else None, ms=4)  # fmt: skip
    ax.plot(*path[0], "o", color=color, ms=8, mec="white", zorder=4)
    ax.plot(*path[-1], "s", color=color, ms=7, mec="white", zorder=4)


def _check_limits(name, limits):
    try:
        low, high = (float(v) for v in limits)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a pair (low, high), got {limits!r}") from error
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{name} must be finite with low < high, got {limits!r}")
    return low, high


# --- pictures --------------------------------------------------------------------------------


def contour(
    fun,
    xlim,
    ylim,
    *,
    paths=None,
    labels=None,
    levels=20,
    log_levels=False,
    arrows=False,
    grad=None,
    minimum=None,
    resolution=200,
    equal_aspect=True,
    title=None,
    ax=None,
    path=None,
):
    """The contour lines of f over a window, with optimizer paths and steepest-descent arrows.

    fun: ``f(x, y)``, vectorized over grids as NumPy expressions are, or ``f(p)`` of one point
        ``p = (x, y)`` (a function with one required positional parameter). A one-point function
        that broadcasts over ``p[..., 0], p[..., 1]`` or over ``p[0], p[1]`` is evaluated on the
        whole grid at once; any other function point by point (slower, same picture).
    xlim, ylim: the window, (low, high) on each axis.
    paths: one path, a list of them, or a ``{label: path}`` dict. A path is an array of shape
        (steps, 2), the first row the start; ``fit_linear`` results with two weights (their
        ``history.path``) and results with a ``path`` attribute are accepted too. Each path is a
        line with a circle at its start and a square at its end.
    labels: a label per path, for the legend.
    levels: the number of contour lines, or their heights. By default the lines are evenly
        spaced in √(f − min), so that a bowl's contour lines are evenly spaced rings;
        ``log_levels=True`` spaces them evenly in log(f − min), for valleys whose heights span
        decades.
    arrows: draw the direction of steepest descent, −∇f, as arrows of equal length on a coarse
        grid (True: 15 × 15, or an int per side). They cross the contour lines at right angles.
    grad: ``grad(x, y)`` or ``grad(p)`` returning (df/dx, df/dy), for the arrows; by default
        central differences of fun.
    minimum: a point (x, y) to mark as the minimum.
    equal_aspect: one unit is as long on both axes, so that right angles look right.
    ax: draw into these axes instead of a new figure.
    path: a file name to write the picture to (not an optimizer path: those go in ``paths``).

    Returns the matplotlib Figure.
    """
    xlim = _check_limits("xlim", xlim)
    ylim = _check_limits("ylim", ylim)
    if not isinstance(resolution, (int, np.integer)) or resolution < 10:
        raise ValueError(f"resolution must be an int >= 10, got {resolution!r}")
    if isinstance(arrows, (bool, np.bool_)):
        arrow_count = 15 if arrows else 0
    elif isinstance(arrows, (int, np.integer)) and arrows >= 2:
        arrow_count = int(arrows)
    else:
        raise ValueError(f"arrows must be True, False or an int >= 2, got {arrows!r}")
    drawn_paths = _as_paths(paths, labels)
    if minimum is not None:
        minimum = np.asarray(minimum, dtype=float)
        if minimum.shape != (2,):
            raise ValueError(f"minimum must be a point (x, y), got shape {minimum.shape}")

    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    X, Y = np.meshgrid(xs, ys)
    Z = _on_grid(fun, X, Y)
    heights = _contour_levels(Z, levels, log_levels)

    fig, ax = _new_axes(ax)
    lines = ax.contour(X, Y, np.ma.masked_invalid(Z), levels=heights, cmap="viridis",
                       linewidths=1.0, alpha=0.85)  # fmt: skip
    lines.set_label("_contour lines")
    if arrow_count:
        # Arrows at the centres of a coarse grid, each 70% of a cell long, pointing downhill.
        cell_x = (xlim[1] - xlim[0]) / arrow_count
        cell_y = (ylim[1] - ylim[0]) / arrow_count
        AX, AY = np.meshgrid(
            xlim[0] + cell_x * (np.arange(arrow_count) + 0.5),
            ylim[0] + cell_y * (np.arange(arrow_count) + 0.5),
        )
        D = _descent_directions(fun, grad, AX, AY) * 0.7 * min(cell_x, cell_y)
        ax.quiver(AX, AY, D[..., 0], D[..., 1], angles="xy", scale_units="xy", scale=1.0,
                  color="0.45", width=0.003, pivot="tail", zorder=2,
                  label="steepest descent −∇f, at right angles to the contour lines")  # fmt: skip
    for i, (label, steps) in enumerate(drawn_paths):
        _draw_path(ax, steps, label, PATH_COLORS[i % len(PATH_COLORS)])
    if minimum is not None:
        ax.plot(*minimum, "*", color="gold", mec="black", ms=16, zorder=5, label="minimum")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title if title is not None else "contour lines of f, seen from above")
    if any(label is not None for label, _ in drawn_paths) or arrow_count or minimum is not None:
        ax.legend(loc="best", fontsize="small", framealpha=0.85)
    return _finish(fig, path)


def _bowl_data(n_samples, random_state):
    """A small data set whose error surface is a tilted, stretched bowl.

    Two inputs correlated by 0.5 (so the contour lines are tilted ellipses, three times longer
    than wide, and the steepest descent does not point at the minimum) and targets from the
    weights (2, −1) plus noise; from zero weights the descent has to cross the contour lines
    and then turn along the valley.
    """
    rng = np.random.default_rng(random_state)
    z = rng.normal(size=(n_samples, 2))
    X = np.column_stack([z[:, 0], 0.5 * z[:, 0] + math.sqrt(0.75) * z[:, 1]])
    t = X @ np.array([2.0, -1.0]) + 0.5 * rng.normal(size=n_samples)
    return X, t


def _check_data(X, y, n_samples, random_state):
    if X is None and y is None:
        return _bowl_data(n_samples, random_state)
    if X is None or y is None:
        raise ValueError("X and y go together: give both or neither")
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n_samples, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    return X, y


def _bowl(X, t):
    """E(w1, w2) = ½Σ(t − y)² with y = w1·x1 + w2·x2, vectorized over grids of weights."""

    def error(w1, w2):
        residual = t - (np.multiply.outer(w1, X[:, 0]) + np.multiply.outer(w2, X[:, 1]))
        return 0.5 * np.sum(residual**2, axis=-1)

    return error


def _window(points, pad=0.15):
    """Square limits that hold the points with a margin (so that ellipses look like ellipses)."""
    points = np.asarray(points, dtype=float)
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2
    half = max(float(np.max(high - low)) / 2, 1e-3) * (1 + 2 * pad)
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def _fit(X, t, **options):
    """A fit_linear run on the bowl, recording every update; a diverging fit is kept, not raised."""
    from gdcore.train import DivergenceError, fit_linear

    try:
        return fit_linear(X, t, loss="squared_error", penalty=None, fit_intercept=False, tol=None,
                          record_every=1, **options), False  # fmt: skip
    except DivergenceError as error:
        return error.fit, True


def three_ways(
    *,
    lr=0.05,
    epochs=20,
    batch_size=10,
    optimizer="sgd",
    X=None,
    y=None,
    n_samples=100,
    random_state=0,
    axes=None,
    path=None,
):
    """Batch, stochastic and mini-batch gradient descent on the bowl of a two-weight neuron.

    A linear neuron y = w1·x1 + w2·x2 (no intercept) with error E = ½Σ(t − y)² has a bowl for an
    error surface; seen from above, its contour lines are ellipses around the least-squares
    weights (the star). From zero weights, :func:`gdcore.fit_linear` walks down it three ways,
    for the same number of epochs at the same learning rate:

    - batch (``batch_size=None``): one step per epoch on all the data; a smooth path across the
      contour lines;
    - stochastic (``batch_size=1``): one step per example; many jittery steps;
    - mini-batch (``batch_size``, 10 by default): one step per small chunk; fast and stable.

    Left: the three paths on the contour lines. Right: the loss per epoch (log scale).

    X, y: two inputs and the targets; by default a small embedded data set (seeded by
        ``random_state``, ``n_samples`` rows) whose bowl is tilted and stretched.
    lr, epochs, optimizer: passed to :func:`gdcore.fit_linear` (``max_epochs=epochs``).
    axes: two matplotlib Axes to draw into instead of a new figure.
    path: a file name to write the picture to.

    Returns the matplotlib Figure.
    """
    X, t = _check_data(X, y, n_samples, random_state)
    n = len(t)
    minibatch = check.integer("batch_size", batch_size, low=2)
    if minibatch >= n:
        raise ValueError(f"batch_size must be below the {n} samples for a mini-batch, got {minibatch}")
    ways = {
        "batch (all the data, 1 step per epoch)": None,
        "stochastic (1 example, {} steps per epoch)".format(n): 1,
        f"mini-batch ({minibatch} examples, {math.ceil(n / minibatch)} steps per epoch)": minibatch,
    }
    fits = {}
    for label, size in ways.items():
        fits[label], _ = _fit(X, t, optimizer=optimizer, lr=lr, batch_size=size, max_epochs=epochs,
                              shuffle=True, random_state=random_state)  # fmt: skip
    best = np.linalg.lstsq(X, t, rcond=None)[0]
    paths = {label: fit.history.path[:, :2] for label, fit in fits.items()}
    finite = [p[np.isfinite(p).all(axis=1)] for p in paths.values()]
    xlim, ylim = _window(np.vstack([best[None, :], *finite]))

    fig, (left, right) = _new_axes(axes, ncols=2)
    contour(_bowl(X, t), xlim, ylim, paths=paths, minimum=best, levels=15, ax=left,
            title=TITLE_THREE_WAYS)  # fmt: skip
    left.set_xlabel("weight w₁")
    left.set_ylabel("weight w₂")
    loss_curves({label: fit.history for label, fit in fits.items()}, log=True, ax=right,
                title=TITLE_THREE_WAYS_LOSS)  # fmt: skip
    right.set_ylabel(LOSS_PER_EPOCH)
    return _finish(fig, path)


def lr_sweep(
    lrs=None,
    *,
    labels=None,
    epochs=30,
    batch_size=None,
    optimizer="sgd",
    X=None,
    y=None,
    n_samples=100,
    random_state=0,
    axes=None,
    path=None,
):
    """The learning rate too small, about right and too large, on the bowl of a two-weight neuron.

    The same bowl as :func:`three_ways` (or your X, y), walked down from zero weights by
    :func:`gdcore.fit_linear` once per learning rate. By default three learning rates, found
    from the bowl's curvature (the eigenvalues λ of XᵀX / n): for batch gradient descent a step
    is stable below 2 / λmax, so

    - too small: 0.05 / λmax — safe, stable steps that crawl and stop far from the bottom;
    - about right: 1 / λmax — as long a step as the steepest direction takes without
      overshooting;
    - too large: 2.2 / λmax — every step overshoots the valley a little further: it diverges.

    A path that leaves the window is cut where it crosses the edge (marked ×); a fit that blows
    up (``gdcore.DivergenceError``) is drawn up to its last finite point and marked on its loss
    curve. Left: the paths on the contour lines. Right: the loss per epoch (log scale).

    lrs: your learning rates instead (labelled "lr = ..." unless ``labels`` are given).
    epochs, batch_size, optimizer: passed to :func:`gdcore.fit_linear`; ``batch_size=None`` is
        batch gradient descent, for which the default learning rates are worked out.
    axes: two matplotlib Axes to draw into instead of a new figure.
    path: a file name to write the picture to.

    Returns the matplotlib Figure.
    """
    X, t = _check_data(X, y, n_samples, random_state)
    curvature = np.linalg.eigvalsh(X.T @ X / len(t))
    if lrs is None:
        lrs = [0.05 / curvature[-1], 1.0 / curvature[-1], 2.2 / curvature[-1]]
        if labels is None:
            words = ("too small: crawls", "about right", "too large: overshoots, diverges")
            labels = [f"{word} (lr = {lr:.3g})" for word, lr in zip(words, lrs)]
    lrs = np.asarray(lrs, dtype=float).reshape(-1)
    if lrs.size == 0 or not (np.isfinite(lrs).all() and (lrs > 0).all()):
        raise ValueError(f"lrs must be positive finite learning rates, got {lrs!r}")
    if labels is None:
        labels = [f"lr = {lr:.3g}" for lr in lrs]
    labels = list(labels)
    if len(labels) != lrs.size:
        raise ValueError(f"labels has {len(labels)} entries but lrs has {lrs.size}")

    runs = []
    for label, lr in zip(labels, lrs):
        fit, blew_up = _fit(X, t, optimizer=optimizer, lr=float(lr), batch_size=batch_size,
                            max_epochs=epochs, shuffle=True, random_state=random_state)  # fmt: skip
        runs.append((label, fit, blew_up))
    best = np.linalg.lstsq(X, t, rcond=None)[0]
    # The window holds the start, the minimum and every path that stays near the bowl.
    start = runs[0][1].history.path[0, :2]
    scale = 3 * max(float(np.linalg.norm(best - start)), 1e-3)
    kept = [best[None, :], start[None, :]]
    for _, fit, _ in runs:
        p = fit.history.path[:, :2]
        p = p[np.isfinite(p).all(axis=1)]
        if np.all(np.abs(p - best) <= scale):
            kept.append(p)
    xlim, ylim = _window(np.vstack(kept))

    fig, (left, right) = _new_axes(axes, ncols=2)
    cut, exits = {}, []
    for i, (label, fit, _) in enumerate(runs):
        cut[label], exit_point = _leaves_view(_as_path(fit, label), xlim, ylim)
        if exit_point is not None:
            exits.append((exit_point, PATH_COLORS[i % len(PATH_COLORS)]))
    contour(_bowl(X, t), xlim, ylim, paths=cut, minimum=best, levels=15, ax=left,
            title=TITLE_LR_SWEEP)  # fmt: skip
    for point, color in exits:
        left.plot(*point, "X", color=color, mec="white", ms=13, zorder=6, clip_on=False)
    left.set_xlabel("weight w₁")
    left.set_ylabel("weight w₂")
    loss_curves({label: fit.history for label, fit, _ in runs}, log=True, ax=right,
                title=TITLE_LR_SWEEP_LOSS)  # fmt: skip
    right.set_ylabel(LOSS_PER_EPOCH)
    # Keep the axis on the sensible curves; a diverging one runs off the top.
    first = [fit.history.loss[0] for _, fit, _ in runs if fit.history.loss]
    sane = [v for _, fit, _ in runs for v in fit.history.loss if np.isfinite(v)]
    if first and sane and max(sane) > 100 * max(first):
        low = max(min(v for v in sane if v > 0), 1e-300) if any(v > 0 for v in sane) else None
        right.set_ylim(low / 2 if low else None, 100 * max(first))
    for i, (label, fit, blew_up) in enumerate(runs):
        if blew_up:
            # The loss became infinite during the next epoch: mark it on the top edge.
            epoch = len(fit.history.loss) + 1
            color = PATH_COLORS[i % len(PATH_COLORS)]
            top = right.get_ylim()[1]
            right.plot(epoch, top, "X", color=color, mec="white", ms=13, zorder=6, clip_on=False)
            right.annotate(f"blew up in epoch {epoch}", (epoch, top), xytext=(8, -14),
                           textcoords="offset points", color=color, va="top")  # fmt: skip
    return _finish(fig, path)


def _as_history(item, name):
    """(loss, val_loss, val_score) sequences from a history, a fit, a result or raw numbers."""
    history = getattr(item, "history", item)
    if hasattr(history, "loss") and not callable(history.loss):
        loss = history.loss
    elif hasattr(history, "losses"):
        loss = history.losses
    else:
        loss = history
    try:
        loss = np.asarray(loss, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a fit history or a sequence of losses, got {item!r}"
        ) from error
    if loss.ndim != 1:
        raise ValueError(f"{name} must hold one loss per epoch (1-D), got shape {loss.shape}")
    val_loss = np.asarray(getattr(history, "val_loss", None) or [], dtype=float)
    val_score = np.asarray(getattr(history, "val_score", None) or [], dtype=float)
    return [np.where(np.isfinite(a), a, np.nan) for a in (loss, val_loss, val_score)]


def loss_curves(
    histories, labels=None, *, log=None, xlabel="epoch", title=None, ax=None, path=None
):
    """The loss per epoch of one or more fits.

    histories: a fit history (``result.history``), a fit result, anything with a ``loss`` or
        ``losses`` sequence, a plain sequence of numbers, or a list or ``{label: ...}`` dict of
        these.
    labels: a label per curve, for the legend.
    log: a log-scale loss axis; by default when every loss is positive.

    A validation loss, when recorded, is drawn dashed on the same axis; a validation score on a
    second axis at the right, dotted. Non-finite losses are left out (a gap).
    ax: draw into these axes instead of a new figure.
    path: a file name to write the picture to.

    Returns the matplotlib Figure.
    """
    if isinstance(histories, (Mapping, list, tuple)) and len(histories) == 0:
        raise ValueError("histories is empty")
    if isinstance(histories, Mapping):
        if labels is not None:
            raise ValueError("labels must be None when histories is a dict (its keys label them)")
        labels, items = list(histories.keys()), list(histories.values())
    elif isinstance(histories, (list, tuple)) and histories and not np.isscalar(histories[0]):
        items = list(histories)
    elif isinstance(histories, np.ndarray) and histories.ndim == 2:
        items = list(histories)
    else:
        items = [histories]
    labels, names = _labels_and_names(labels, len(items), "histories")
    curves = [_as_history(item, name) for item, name in zip(items, names)]
    if log is None:
        values = np.concatenate([c[0] for c in curves] + [c[1] for c in curves])
        values = values[np.isfinite(values)]
        log = values.size > 0 and bool((values > 0).all())

    fig, ax = _new_axes(ax)
    scores = None
    for i, (label, (loss, val_loss, val_score)) in enumerate(zip(labels, curves)):
        color = PATH_COLORS[i % len(PATH_COLORS)]
        epochs = np.arange(1, loss.size + 1)
        ax.plot(epochs, loss, "-", color=color, lw=1.8, label=label,
                marker="o" if loss.size <= 40 else None, ms=3)  # fmt: skip
        if val_loss.size:
            ax.plot(np.arange(1, val_loss.size + 1), val_loss, "--", color=color, lw=1.4,
                    label=f"{label or 'fit'}: validation loss")  # fmt: skip
        if val_score.size:
            if scores is None:
                scores = ax.twinx()
                scores.set_ylabel("validation score (dotted)")
            scores.plot(np.arange(1, val_score.size + 1), val_score, ":", color=color, lw=1.6,
                        label=f"{label or 'fit'}: validation score")  # fmt: skip
    if log:
        # Limits set by hand: matplotlib's margins around a diverging loss (1e300) overflow.
        values = np.concatenate([c[0] for c in curves] + [c[1] for c in curves])
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            low, high = np.log10(values.min()), np.log10(values.max())
            margin = 0.05 * max(high - low, 0.5)
            ax.set_ylim(10 ** (low - margin), 10 ** min(high + margin, 307.0))
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss" + (" (log scale)" if log else ""))
    ax.set_title(title if title is not None else "loss per epoch: the error going downhill")
    ax.grid(True, which="major", alpha=0.3)
    handles, names_ = ax.get_legend_handles_labels()
    if scores is not None:
        more, more_names = scores.get_legend_handles_labels()
        handles, names_ = handles + more, names_ + more_names
    if handles:
        ax.legend(handles, names_, loc="best", fontsize="small", framealpha=0.85)
    return _finish(fig, path)
