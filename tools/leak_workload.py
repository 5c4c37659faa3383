"""A small run of every entry point of gdcore's core, error paths included, for tools/leakcheck.sh.

Each call is repeated a few times, so a leak per call shows as several lost blocks in one
record. Kept small: under valgrind everything runs about 50 times slower.
"""

import numpy as np

import gdcore
from gdcore import linalg, losses, optim, schedules


def refused(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except (ValueError, TypeError):
        return
    raise AssertionError(f"{fn.__name__} accepted bad input")


def main(rounds=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y_class = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    y_reg = X @ np.arange(5.0)
    for _ in range(rounds):
        # estimators and the loop: fit, partial_fit, predict, every kind of task
        clf = gdcore.SGDClassifier(max_iter=3, tol=None, random_state=0).fit(X, y_class)
        clf.predict(X)
        clf.partial_fit(X, y_class)
        gdcore.SGDClassifier(loss="log_loss", multi_class="softmax", max_iter=2, tol=None,
                             optimizer="adam").fit(X, y_class).predict_proba(X)  # fmt: skip
        gdcore.SGDRegressor(max_iter=3, tol=None, average=True, early_stopping=True).fit(X, y_reg)
        gdcore.fit_linear(X.astype(np.float32), y_reg, loss="huber", optimizer="nadam",
                          schedule="invscaling", max_epochs=2, record_every=5)  # fmt: skip
        with np.errstate(all="ignore"):
            try:
                gdcore.fit_linear(X * 1e150, y_reg, lr=1e10, max_epochs=3)  # diverges: raises
            except gdcore.DivergenceError:
                pass
        refused(gdcore.fit_linear, np.full((3, 2), np.nan), [1.0, 2.0, 3.0])
        # optimizers: classes and functional steps, a refused step
        for cls in (optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam, optim.AdamW,
                    optim.Adamax, optim.NAdam):
            w = rng.normal(size=50)
            opt = cls([w], lr=1e-2)
            for _ in range(3):
                opt.step([w.copy()])
            refused(opt.step, [np.full(50, np.nan)])
            opt.load_state_dict(opt.state_dict())
        p, g = rng.normal(size=30), rng.normal(size=30)
        optim.adam_step(p, g, np.zeros(30), np.zeros(30), step=1)
        refused(optim.adam_step, p, g[:3], np.zeros(30), np.zeros(30), step=1)
        # losses, gemm, schedules, minimize
        for name in losses.LOSSES:
            losses.loss_values(name, rng.normal(size=40), np.sign(rng.normal(size=40)))
        losses.softmax_cross_entropy(rng.normal(size=(10, 3)), rng.integers(0, 3, 10))
        refused(losses.softmax_cross_entropy, rng.normal(size=(10, 3)), np.full(10, 7))
        linalg.matmul(rng.normal(size=(40, 30)), rng.normal(size=(30, 20)))
        refused(linalg.gemm, np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2)))
        for name in schedules.SCHEDULE_NAMES:
            kw = {"step": {"step_size": 3}, "multistep": {"milestones": [2, 5]},
                  "exponential": {"gamma": 0.9}, "cosine": {"T_max": 10},
                  "cosine_restarts": {"T_0": 4}, "onecycle": {"total_steps": 20},
                  "polynomial": {"total_iters": 10}}.get(name, {})  # fmt: skip
            if name == "optimal":
                s = schedules.make_schedule(name, None, alpha=1e-4)
            else:
                s = schedules.make_schedule(name, 0.1, **kw)
            s.lr_many(np.arange(30))
        refused(schedules.make_schedule, "step", 0.1, step_size=0)
        gdcore.minimize("rosenbrock", np.zeros(2), max_iter=200)
        gdcore.minimize(lambda x: float(x @ x), np.ones(3), grad=lambda x: 2 * x, max_iter=20)
        refused(gdcore.minimize, "beale", np.zeros(5))


if __name__ == "__main__":
    main()
    print("leak workload: done")
