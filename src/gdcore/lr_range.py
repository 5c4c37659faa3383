"""The learning-rate range test: take the guessing out of choosing a learning rate.

Choosing the learning rate is usually trial and error. The range test (Smith, 2017) does the
trials in one short run: start with a tiny rate, multiply it by the same factor after every update
until it is huge, and record the loss along the way. The loss first barely moves (too small), then
falls fast (about right), then shoots up (too large). :func:`lr_find` runs that test with gdcore's
compiled training loop and suggests the rate where the loss fell fastest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdcore import _validate as check
from gdcore import losses as gd_losses
from gdcore.schedules import ExponentialLR
from gdcore.train import CLASSIFICATION_LOSSES, fit_linear

__all__ = ["lr_find", "LRFinderResult"]


@dataclass
class LRFinderResult:
    """Learning rates tried (one per update), the loss after each update, its smoothed form, and
    the suggested rate (the steepest fall of the smoothed loss against log(lr))."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    diverged_at: float | None

    def plot(self, path=None, ax=None):
        """Loss against learning rate (log scale) with the suggestion marked; needs matplotlib."""
        import matplotlib.pyplot as plt

        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses, color="0.75", lw=1, label="loss after each update")
        ax.plot(self.lrs, self.smoothed, color="C0", lw=2, label="smoothed")
        ax.axvline(self.suggestion, color="C3", ls="--", label=f"suggested lr = {self.suggestion:.3g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (grows every update)")
        ax.set_ylabel("training loss")
        ax.set_title("Learning-rate range test: too small, right, too large")
        ax.legend()
        fig = fig or ax.figure
        if path is not None:
            fig.savefig(path, dpi=100, bbox_inches="tight")
        return fig


def _loss_along_path(fit, X, y_eval, loss, epsilon, path):
    """Mean loss on (X, y_eval) of every parameter vector of `path` (rows: K*d + K values)."""
    d = X.shape[1]
    heads = path.shape[1] // (d + 1)
    W = path[:, : heads * d].reshape(len(path), heads, d)
    b = path[:, heads * d :]
    scores = np.einsum("nd,skd->snk", X.astype(np.float64), W) + b[:, None, :]
    out = np.empty(len(path))
    for s, p in enumerate(scores):
        if fit.task == "softmax":
            values, _ = gd_losses.softmax_cross_entropy(p, y_eval)
        else:
            values, _ = gd_losses.loss_values(loss, p, y_eval.reshape(p.shape), epsilon=epsilon)
            values = values.sum(axis=1)
        out[s] = float(np.mean(values))
    return out


def lr_find(
    X,
    y,
    *,
    loss: str = "squared_error",
    optimizer="sgd",
    min_lr: float = 1e-6,
    max_lr: float = 10.0,
    num_steps: int = 100,
    batch_size: int | None = 32,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    eval_rows: int = 2048,
    random_state: int = 0,
    **fit_options,
) -> LRFinderResult:
    """Run the learning-rate range test on a linear model and suggest a learning rate.

    The rate grows geometrically from ``min_lr`` to ``max_lr`` over ``num_steps`` updates of
    ``batch_size`` rows (the data is cycled through as often as needed). After every update the
    loss is measured on the same ``eval_rows`` rows, so that the curve shows the parameters, not
    the noise of the batches. The curve is smoothed with an exponential moving average
    (``smoothing``, bias-corrected); the test stops early once the smoothed loss exceeds
    ``stop_factor`` times its minimum (or the fit diverges). The suggestion is the rate at the
    steepest descent of the smoothed loss against log(lr), taken before its minimum.

    Other keyword arguments go to :func:`gdcore.fit_linear` (e.g. ``penalty``, ``alpha``).
    """
    min_lr = check.real("min_lr", min_lr, low=0.0, low_open=True)
    max_lr = check.real("max_lr", max_lr, low=min_lr, low_open=True)
    # 10**7 updates is already days of a large model's training: a sweep needs far fewer
    num_steps = check.integer("num_steps", num_steps, low=5, high=10**7)
    smoothing = check.real("smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    stop_factor = check.real("stop_factor", stop_factor, low=1.0, low_open=True)
    eval_rows = check.integer("eval_rows", eval_rows, low=1)
    for banned in ("lr", "schedule", "max_epochs", "tol", "record_every", "on_divergence"):
        if banned in fit_options:
            raise TypeError(f"lr_find sets {banned} itself; it cannot be passed")
    X = np.asarray(X)
    n = X.shape[0] if X.ndim == 2 else 0
    rows = n if batch_size is None else check.integer("batch_size", batch_size, low=1)
    updates_per_epoch = max(1, math.ceil(n / max(1, rows))) if n else 1
    epochs = math.ceil(num_steps / updates_per_epoch)
    gamma = (max_lr / min_lr) ** (1.0 / (num_steps - 1))
    fit = _run(X, y, loss, optimizer, min_lr, gamma, batch_size, epochs, random_state, fit_options)
    path = fit.history.path[1 : num_steps + 1]
    steps = len(path)
    lrs = min_lr * gamma ** np.arange(steps)
    rng = np.random.default_rng(random_state)
    pick = np.sort(rng.choice(n, size=min(eval_rows, n), replace=False))
    X_eval = np.ascontiguousarray(X[pick], dtype=np.float64)
    y_eval = _eval_targets(fit, np.asarray(y)[pick], loss)
    finite = np.all(np.isfinite(path), axis=1)
    values = np.full(steps, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        values[finite] = _loss_along_path(fit, X_eval, y_eval, loss,
                                          fit_options.get("epsilon", 0.1), path[finite])  # fmt: skip
    smoothed = np.empty(steps)
    average, best, stop = 0.0, np.inf, steps
    for i, value in enumerate(values):
        if not np.isfinite(value):
            stop = i
            break
        average = smoothing * average + (1 - smoothing) * value
        smoothed[i] = average / (1 - smoothing ** (i + 1))
        best = min(best, smoothed[i])
        if smoothed[i] > stop_factor * best:
            stop = i + 1
            break
    lrs, values, smoothed = lrs[:stop], values[:stop], smoothed[:stop]
    if stop < 3:
        raise ValueError(
            "the loss blew up within the first updates of the range test; lower min_lr"
        )
    lowest = int(np.argmin(smoothed))
    slopes = np.gradient(smoothed[: lowest + 1], np.log(lrs[: lowest + 1])) if lowest >= 2 else None
    suggestion = float(lrs[int(np.argmin(slopes))]) if slopes is not None else float(lrs[lowest]) / 10
    diverged_at = float(lrs[-1]) if stop < steps else None
    return LRFinderResult(lrs, values, smoothed, suggestion, diverged_at)


def _run(X, y, loss, optimizer, min_lr, gamma, batch_size, epochs, random_state, fit_options):
    import warnings

    from gdcore.train import DivergenceWarning

    with warnings.catch_warnings():
        # Growing the rate until the loss explodes is the point of the test: a divergence ends
        # the run, and the path up to it is what is measured.
        warnings.simplefilter("ignore", DivergenceWarning)
        return fit_linear(
            X, y, loss=loss, optimizer=optimizer, lr=min_lr, batch_size=batch_size,
            schedule=ExponentialLR(min_lr, gamma=gamma), max_epochs=epochs, tol=None,
            record_every=1, on_divergence="warn", random_state=random_state, **fit_options,
        )  # fmt: skip


def _eval_targets(fit, y, loss):
    """y in the form the loss functions take: values, ±1 labels per head, or class indices."""
    if loss not in CLASSIFICATION_LOSSES:
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    index = np.searchsorted(fit.classes, y)
    if fit.task == "softmax":
        return index.astype(np.int64)
    if fit.task == "binary":
        return np.where(index == 1, 1.0, -1.0).reshape(-1, 1)
    return np.where(index[:, None] == np.arange(len(fit.classes)), 1.0, -1.0)
