"""The optimizer race of ``gdcore demo``: every optimizer on the same bowl, from the same start.

The bowl is the seeds' picture: a linear neuron with two weights and the squared error
E(w) = ½ mean (x·w − t)² over a small embedded data set whose two inputs are correlated, so the
bowl is a long narrow valley. Its bottom is known exactly (least squares), which tells each
racer when it has arrived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gdcore import optim


@dataclass
class Bowl:
    x: np.ndarray
    t: np.ndarray
    w_best: np.ndarray
    e_best: float

    def error(self, w: np.ndarray) -> float:
        r = self.x @ w - self.t
        return 0.5 * float(r @ r) / len(self.t)

    def gradient(self, w: np.ndarray) -> np.ndarray:
        return self.x.T @ (self.x @ w - self.t) / len(self.t)


def make_bowl(n: int = 200, correlation: float = 0.9, seed: int = 0) -> Bowl:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)
    b = correlation * a + np.sqrt(1 - correlation**2) * rng.standard_normal(n)
    x = np.column_stack([a, b])
    t = x @ np.array([2.0, -1.0]) + 0.1 * rng.standard_normal(n)
    w_best = np.linalg.lstsq(x, t, rcond=None)[0]
    bowl = Bowl(x, t, w_best, 0.0)
    bowl.e_best = bowl.error(w_best)
    return bowl


# Each racer with the learning rate that reached the bottom in the fewest steps on a grid of
# 0.001, 0.002, 0.005, ..., 1, 2 (swept once on this bowl; too large a rate diverges).
RACERS = [
    ("SGD", lambda w: optim.SGD([w], lr=1.0)),
    ("SGD + momentum", lambda w: optim.SGD([w], lr=0.5, momentum=0.9)),
    ("SGD + Nesterov", lambda w: optim.SGD([w], lr=0.5, momentum=0.9, nesterov=True)),
    ("Adagrad", lambda w: optim.Adagrad([w], lr=1.0)),
    ("RMSprop", lambda w: optim.RMSprop([w], lr=0.2)),
    ("Adam", lambda w: optim.Adam([w], lr=0.1)),
    ("AdamW", lambda w: optim.AdamW([w], lr=0.1, weight_decay=0.0)),
    ("Adamax", lambda w: optim.Adamax([w], lr=0.2)),
    ("NAdam", lambda w: optim.NAdam([w], lr=0.2)),
]


@dataclass
class Result:
    name: str
    lr: float
    steps: int
    gap: float
    converged: bool
    seconds: float


def race(max_steps: int = 5000, tol: float = 1e-10, start=(-2.0, 3.0)) -> list[Result]:
    """Run every racer until E(w) − E(w*) < tol or max_steps; return their results."""
    bowl = make_bowl()
    results = []
    for name, make in RACERS:
        w = np.array(start, dtype=np.float64)
        opt = make(w)
        gap = bowl.error(w) - bowl.e_best
        steps = 0
        began = time.perf_counter()
        while steps < max_steps and gap >= tol:
            opt.step([bowl.gradient(w)])
            steps += 1
            gap = bowl.error(w) - bowl.e_best
        seconds = time.perf_counter() - began
        lr = opt.param_groups[0]["lr"]
        results.append(Result(name, lr, steps, gap, gap < tol, seconds))
    return results


def format_table(results: list[Result]) -> str:
    lines = [
        f"{'optimizer':<16} {'lr':>6} {'steps':>6} {'E - E*':>10} {'converged':>9} {'time':>9}",
        "-" * 61,
    ]
    for r in sorted(results, key=lambda r: (not r.converged, r.steps)):
        lines.append(
            f"{r.name:<16} {r.lr:>6g} {r.steps:>6d} {r.gap:>10.2e} "
            f"{'yes' if r.converged else 'no':>9} {r.seconds * 1e3:>7.1f}ms"
        )
    return "\n".join(lines)
