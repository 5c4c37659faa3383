"""``gdcore demo``: the main job. Gradient descent on built-in problems, as a table and pictures.

1. The three ways on the seeds' two-weight linear neuron (E = ½ Σ (t − y)²): batch, stochastic
   and mini-batch gradient descent, each until the error stops falling.
2. Four optimizers (SGD, momentum, Adam, RMSprop) down built-in surfaces: a long narrow bowl and
   Rosenbrock's banana-shaped valley, each from the same start.
3. The learning-rate range test on a logistic regression.

It prints one table (steps, time, final loss, converged?) and, when matplotlib is installed,
writes the pictures and the learning-rate slider page into the output folder. Everything is
embedded: no data is downloaded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from gdcore import _config
from gdcore._progress import Progress

__all__ = ["run_demo", "Row"]


@dataclass
class Row:
    problem: str
    method: str
    steps: int
    seconds: float
    final: float
    converged: bool


def _neuron_data(seed=0):
    """The two-weight linear neuron: t = 1.5 x1 − 0.8 x2 + noise, 200 samples."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 2)) * np.array([1.0, 0.6])
    t = X @ np.array([1.5, -0.8]) + 0.1 * rng.normal(size=200)
    return X, t


def _logistic_data(seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 10))
    logits = X @ rng.normal(size=10)
    y = (logits + 0.5 * rng.normal(size=2000) > 0).astype(int)
    return X, y


def run_demo(outdir="gdcore-demo", *, pictures=True, progress=True, print_table=True):
    """Run the demo; returns the table's rows. Pictures go to ``outdir`` if matplotlib exists."""
    from gdcore import fit_linear, lr_find
    from gdcore.minimize import minimize

    rows: list[Row] = []
    extras = {}
    tasks = 3 + 8 + 1 + (5 if pictures else 0)
    bar = Progress(tasks, progress, desc="gdcore demo", unit="task")

    # 1. The three ways on the two-weight neuron.
    X, t = _neuron_data()
    ways = [("batch", None, 0.5), ("stochastic", 1, 0.01), ("mini-batch (10)", 10, 0.05)]
    extras["three_ways"] = {}
    for name, batch, lr in ways:
        began = time.perf_counter()
        fit = fit_linear(X, t, loss="squared_error", lr=lr, batch_size=batch, max_epochs=500,
                         tol=1e-7, n_iter_no_change=3, penalty=None, fit_intercept=False,
                         random_state=0)  # fmt: skip
        seconds = time.perf_counter() - began
        updates = int(fit.state["counters"][1])
        rows.append(Row("two-weight neuron", f"{name} GD", updates, seconds,
                        fit.history.loss[-1], fit.history.converged))  # fmt: skip
        extras["three_ways"][name] = fit
        bar.step(f"{name} gradient descent")

    # 2. Four optimizers down built-in surfaces.
    # Each optimizer at the rate that arrived (gradient norm < 1e-6) in the fewest steps on the
    # grid 1e-4, 2e-4, 5e-4, ..., 0.5, swept once; on Rosenbrock plain SGD and RMSprop arrive at
    # no rate of the grid within 20,000 steps (SGD crawls along the valley floor, RMSprop's
    # normalized steps hover around it): they run at a rate that gets close.
    racers = {
        "quadratic": [("sgd", 0.05), ("momentum", 0.01), ("adam", 0.1), ("rmsprop", 0.2)],
        "rosenbrock": [("sgd", 1e-3), ("momentum", 1e-3), ("adam", 0.1), ("rmsprop", 1e-3)],
    }
    starts = {"quadratic": (-2.5, 2.0), "rosenbrock": (-1.5, 2.5)}
    options = {"quadratic": {"condition": 20.0, "angle": 0.5}, "rosenbrock": {}}
    extras["races"] = {}
    for function, entries in racers.items():
        extras["races"][function] = {}
        for optimizer, lr in entries:
            began = time.perf_counter()
            result = minimize(function, starts[function], optimizer=optimizer, lr=lr,
                              max_iter=20000, tol=1e-6, record=True, **options[function])  # fmt: skip
            seconds = time.perf_counter() - began
            rows.append(Row(function, f"{optimizer} (lr {lr:g})", int(result.n_iter), seconds,
                            float(result.fun), bool(result.converged)))  # fmt: skip
            extras["races"][function][optimizer] = result
            bar.step(f"{optimizer} on {function}")

    # 3. The learning-rate range test.
    Xl, yl = _logistic_data()
    finder = lr_find(Xl, yl, loss="log_loss", batch_size=32, num_steps=150)
    began = time.perf_counter()
    check = fit_linear(Xl, yl, loss="log_loss", lr=finder.suggestion, batch_size=32,
                       max_epochs=30, tol=1e-4, random_state=0)  # fmt: skip
    seconds = time.perf_counter() - began
    rows.append(Row("logistic regression", f"lr_find's lr {finder.suggestion:.3g}",
                    int(check.state["counters"][1]), seconds, check.history.loss[-1],
                    check.history.converged))  # fmt: skip
    extras["lr_find"] = finder
    bar.step("learning-rate range test")

    written = []
    if pictures:
        written = _pictures(outdir, extras, bar)
    bar.close()
    if print_table:
        print(format_rows(rows))
        if written:
            print(f"\nPictures and the learning-rate slider are in {os.path.abspath(outdir)}:")
            for path in written:
                print(f"  {os.path.basename(path)}")
        elif pictures:
            print("\nPictures skipped: install matplotlib (pip install 'gdcore[plot]').")
    return rows


def _pictures(outdir, extras, bar):
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        return []
    from gdcore import functions, plot
    from gdcore.playground import write_playground

    os.makedirs(outdir, exist_ok=True)
    written = []

    def out(name):
        path = os.path.join(outdir, name)
        written.append(path)
        return path

    plot.three_ways(path=out("three_ways.png"))
    bar.step("picture: the three ways")
    plot.lr_sweep(path=out("learning_rates.png"))
    bar.step("picture: too small, right, too large")
    for function, races in extras["races"].items():
        opts = {"condition": 20.0, "angle": 0.5} if function == "quadratic" else {}

        def height(x, y, function=function, opts=opts):
            points = np.stack([np.ravel(x), np.ravel(y)], axis=1)
            return functions.evaluate(function, points, **opts)[0].reshape(np.shape(x))

        view = {"quadratic": ((-3, 3), (-3, 3)), "rosenbrock": ((-2, 2), (-1, 3))}[function]
        plot.contour(height, *view,
                     paths=[r.path for r in races.values()], labels=list(races),
                     arrows=True, log_levels=function == "rosenbrock",
                     path=out(f"{function}_paths.png"))  # fmt: skip
    bar.step("pictures: optimizer paths")
    extras["lr_find"].plot(path=out("lr_find.png"))
    bar.step("picture: learning-rate range test")
    write_playground(out("playground.html"), "rosenbrock")
    bar.step("the learning-rate slider page")
    return written


def format_rows(rows) -> str:
    header = (f"{'problem':<20} {'method':<28} {'steps':>7} {'time':>9} {'final loss':>12} "
              f"{'converged':>9}")  # fmt: skip  (steps: updates)
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.problem:<20} {r.method:<28} {r.steps:>7d} {r.seconds * 1e3:>7.1f}ms "
            f"{r.final:>12.4g} {'yes' if r.converged else 'no':>9}"
        )
    return "\n".join(lines)


def main(outdir="gdcore-demo", pictures=True) -> int:
    _config.show_config()
    print()
    run_demo(outdir, pictures=pictures)
    return 0
