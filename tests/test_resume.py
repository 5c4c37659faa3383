"""Exact resume: optimizers, schedules, estimators and fit_linear states pickle, and a run stopped,
pickled, loaded in a NEW Python process and continued equals the uninterrupted run bit for bit.

Every continuation runs in one child process per test (the child imports this file and calls
the ``continue_*`` functions below, so parent and child run the very same code). Each test first
builds the uninterrupted results and the checkpoints here, then sends all checkpoints at once.
"""

import copy
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gdcore
from gdcore import optim, schedules

THREADS = 2  # the same in both processes: the core sums per-thread partials in a fixed order

# ---------------------------------------------------------------------------------------------
# The continuation functions: called here for the uninterrupted runs, and in the child process.


def gradients_at(params, t):
    """A deterministic gradient for update t: NumPy only, so every process computes the same."""
    return [np.sin(3 * p + 0.1 * t) + 0.5 * p for p in params]


def run_optimizer(params, opt, sched, start, stop):
    """Updates start..stop-1 of params with opt (and sched stepped after each update)."""
    for t in range(start, stop):
        opt.step(gradients_at(params, t))
        if sched is not None:
            sched.step(float(sum(np.sum(p.astype(np.float64) ** 2) for p in params)))
    return params


def continue_optimizer(blob, start, stop):
    params, opt, sched = pickle.loads(blob)
    assert all(a is b for a, b in zip(opt.params, params)), "loaded optimizer lost its arrays"
    run_optimizer(params, opt, sched, start, stop)
    return params, opt.state_dict()


def run_schedule(sched, start, stop):
    """Steps start..stop-1 of sched; the lrs in force after each."""
    lrs = []
    for k in range(start, stop):
        sched.step(float(np.cos(k)))  # a metric for ReduceLROnPlateau; the others ignore it
        lrs.append(sched.get_last_lr())
    return lrs


def continue_schedule(blob, start, stop):
    return run_schedule(pickle.loads(blob), start, stop)


def continue_estimator(blob, X, y, calls):
    est = pickle.loads(blob)
    for _ in range(calls):
        est.partial_fit(X, y)
    return est.coef_, est.intercept_, est.t_


def continue_fit_linear(blob, X, y, epochs, options):
    state = pickle.loads(blob)
    fit = gdcore.fit_linear(X, y, init=state, max_epochs=epochs, **options)
    return fit.coef, fit.intercept, fit.state["counters"]


_CHILD = textwrap.dedent(
    """
    import importlib.util, pickle, sys
    sys.path.insert(0, sys.argv[4])  # the parent's gdcore, whatever the child's path holds
    spec = importlib.util.spec_from_file_location("resume_jobs", sys.argv[1])
    jobs_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jobs_module)
    with open(sys.argv[2], "rb") as f:
        jobs = pickle.load(f)
    results = [getattr(jobs_module, name)(*args) for name, args in jobs]
    with open(sys.argv[3], "wb") as f:
        pickle.dump(results, f)
    """
)


def in_new_process(directory, jobs):
    """Run [(function name, args)] in a fresh interpreter; returns their results."""
    jobs_file, results_file = directory / "jobs.pkl", directory / "results.pkl"
    jobs_file.write_bytes(pickle.dumps(jobs))
    package_root = os.path.dirname(os.path.dirname(gdcore.__file__))
    cmd = [sys.executable, "-W", "error", "-c", _CHILD, __file__, str(jobs_file),
           str(results_file), package_root]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return pickle.loads(results_file.read_bytes())


@pytest.fixture(scope="module")
def continued(tmp_path_factory):
    """Every checkpoint below, continued in ONE new process (an interpreter start costs ~1.5 s):
    {kind: [(uninterrupted result, the child's continuation), ...]}."""
    kinds = {
        "optimizers": optimizer_checkpoints(),
        "schedules": schedule_checkpoints(),
        "estimators": estimator_checkpoints(),
        "fit_linear": fit_linear_checkpoints(),
    }
    jobs = [job for job_list, _ in kinds.values() for job in job_list]
    results = iter(in_new_process(tmp_path_factory.mktemp("resume"), jobs))
    return {
        kind: [(want, next(results)) for want in expected]
        for kind, (_, expected) in kinds.items()
    }


def assert_bitwise(actual, expected, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    assert actual.tobytes() == expected.tobytes(), (
        f"{what}: max difference {np.max(np.abs(actual.astype(float) - expected)):.3g}"
    )


def assert_state_dicts_equal(a, b, what):
    assert a["param_groups"] == b["param_groups"], what
    assert a["state"].keys() == b["state"].keys(), what
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys(), what
        for key, value in a["state"][i].items():
            if isinstance(value, np.ndarray):
                assert_bitwise(value, b["state"][i][key], f"{what} state[{i}][{key!r}]")
            else:
                assert value == b["state"][i][key], f"{what} state[{i}][{key!r}]"


# ---------------------------------------------------------------------------------------------
# Optimizers: every class, options that create every state array, two groups, a schedule.


def _params(dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=7).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)]


OPTIMIZER_CASES = {
    "SGD": lambda g: optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adagrad": lambda g: optim.Adagrad(g, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": lambda g: optim.RMSprop(g, lr=0.01, centered=True, momentum=0.5),
    "Adam": lambda g: optim.Adam(g, lr=0.02, amsgrad=True, weight_decay=1e-2),
    "AdamW": lambda g: optim.AdamW(g, lr=0.02),
    "Adamax": lambda g: optim.Adamax(g, lr=0.02, maximize=True),
    "NAdam": lambda g: optim.NAdam(g, lr=0.02, decoupled_weight_decay=True, weight_decay=0.1),
}

SCHEDULE_FOR = {  # a schedule bound to some of the optimizers: its clock must resume too
    "SGD": lambda opt: schedules.StepLR(opt, step_size=3, gamma=0.5),
    "RMSprop": lambda opt: schedules.ReduceLROnPlateau(opt, patience=1, factor=0.5),
    "Adam": lambda opt: schedules.Warmup(schedules.CosineAnnealingLR(opt, T_max=20), 4),
    "NAdam": lambda opt: schedules.OneCycleLR(opt, total_steps=30),
}


def _build_optimizer(name, dtype, seed):
    first, second = _params(dtype, seed)
    groups = [{"params": [first]}, {"params": [second], "lr": 0.005}]
    opt = OPTIMIZER_CASES[name](groups)
    opt.num_threads = THREADS
    sched = SCHEDULE_FOR[name](opt) if name in SCHEDULE_FOR else None
    return [first, second], opt, sched


def test_resume_cases_cover_every_optimizer_class():
    classes = {
        name for name in optim.__all__
        if isinstance(getattr(optim, name), type)
        and issubclass(getattr(optim, name), optim.Optimizer) and name != "Optimizer"
    }  # fmt: skip
    assert classes == set(OPTIMIZER_CASES)


def optimizer_checkpoints():
    """(jobs for the child, the uninterrupted results they must reproduce)."""
    stop_at, total = 9, 25
    jobs, expected = [], []
    for seed, name in enumerate(OPTIMIZER_CASES):
        for dtype in (np.float32, np.float64):
            params, opt, sched = _build_optimizer(name, dtype, seed)
            run_optimizer(params, opt, sched, 0, stop_at)
            jobs.append(
                ("continue_optimizer", (pickle.dumps((params, opt, sched)), stop_at, total))
            )
            params, opt, sched = _build_optimizer(name, dtype, seed)
            run_optimizer(params, opt, sched, 0, total)
            expected.append((f"{name} {np.dtype(dtype)}", params, opt.state_dict()))
    return jobs, expected


def test_optimizers_resume_bitwise_in_a_new_process(continued):
    for (what, params, state), (got_params, got_state) in continued["optimizers"]:
        for k, (a, b) in enumerate(zip(got_params, params)):
            assert_bitwise(a, b, f"{what} params[{k}]")
        assert_state_dicts_equal(got_state, state, what)


@pytest.mark.parametrize("name", list(OPTIMIZER_CASES))
def test_optimizer_pickle_round_trip(name):
    params, opt, _ = _build_optimizer(name, np.float64, 0)
    run_optimizer(params, opt, None, 0, 5)
    loaded_params, loaded = pickle.loads(pickle.dumps((params, opt)))
    assert type(loaded) is type(opt) and repr(loaded) == repr(opt)
    assert loaded.num_threads == opt.num_threads
    assert all(a is b for a, b in zip(loaded.params, loaded_params))
    assert all(g["params"][0] is p for g, p in zip(loaded.param_groups, loaded_params))
    assert_state_dicts_equal(loaded.state_dict(), opt.state_dict(), name)
    # The loaded groups reach the loaded core: lr 0 everywhere freezes the parameters (no
    # optimizer here moves a parameter at lr 0; AdamW's decay is scaled by lr too).
    before = [p.copy() for p in loaded_params]
    for group in loaded.param_groups:
        group["lr"] = 0.0
    loaded.step(gradients_at(loaded_params, 0))
    for a, b in zip(loaded_params, before):
        assert_bitwise(a, b, f"{name} at lr 0")
    # ... and the original was left alone by all of this.
    assert opt.param_groups[0]["lr"] != 0.0


@pytest.mark.parametrize("name", list(OPTIMIZER_CASES))
def test_optimizer_deepcopy_is_independent_and_identical(name):
    params, opt, _ = _build_optimizer(name, np.float32, 1)
    run_optimizer(params, opt, None, 0, 3)
    twin = copy.deepcopy(opt)
    twin_params = twin.params
    assert not any(np.shares_memory(a, b) for a, b in zip(params, twin_params))
    run_optimizer(params, opt, None, 3, 8)
    run_optimizer(twin_params, twin, None, 3, 8)
    for a, b in zip(twin_params, params):
        assert_bitwise(a, b, f"{name} deepcopy")


# ---------------------------------------------------------------------------------------------
# Schedules: every class, standalone, continued in a new process.

SCHEDULE_CASES = {
    "ConstantLR": lambda: schedules.ConstantLR(0.1, factor=0.5, total_iters=3),
    "StepLR": lambda: schedules.StepLR(0.1, step_size=2, gamma=0.7),
    "MultiStepLR": lambda: schedules.MultiStepLR(0.1, milestones=[2, 5, 9]),
    "ExponentialLR": lambda: schedules.ExponentialLR(0.1, gamma=0.9),
    "InverseScaling": lambda: schedules.InverseScaling(0.1, power_t=0.3),
    "OptimalLR": lambda: schedules.OptimalLR(None, alpha=1e-3),
    "PolynomialLR": lambda: schedules.PolynomialLR(0.1, total_iters=12, power=2.0),
    "CosineAnnealingLR": lambda: schedules.CosineAnnealingLR(0.1, T_max=7, eta_min=1e-3),
    "CosineAnnealingWarmRestarts": lambda: schedules.CosineAnnealingWarmRestarts(0.1, 3, 2),
    "Warmup": lambda: schedules.Warmup(schedules.ReduceLROnPlateau(0.1, patience=0), 3),
    "OneCycleLR": lambda: schedules.OneCycleLR(max_lr=0.1, total_steps=15, three_phase=True),
    "ReduceLROnPlateau": lambda: schedules.ReduceLROnPlateau(0.1, patience=1, cooldown=1),
}


def test_resume_cases_cover_every_schedule_class():
    classes = {
        name for name in schedules.__all__
        if isinstance(getattr(schedules, name), type)
        and issubclass(getattr(schedules, name), schedules.LRSchedule) and name != "LRSchedule"
    }  # fmt: skip
    assert classes == set(SCHEDULE_CASES)


def schedule_checkpoints():
    stop_at, total = 6, 18
    jobs, expected = [], []
    for name, build in SCHEDULE_CASES.items():
        sched = build()
        run_schedule(sched, 0, stop_at)
        saved = pickle.loads(pickle.dumps(sched))
        assert saved.state_dict() == sched.state_dict() and repr(saved) == repr(sched), name
        jobs.append(("continue_schedule", (pickle.dumps(sched), stop_at, total)))
        expected.append((name, run_schedule(build(), 0, total)[stop_at:]))
    return jobs, expected


def test_schedules_resume_in_a_new_process(continued):
    for (name, lrs), got in continued["schedules"]:
        assert got == lrs, name


# ---------------------------------------------------------------------------------------------
# Estimators and fit_linear.


def _data(task, n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if task == "regression":
        return X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    if task == "multioutput":
        return X, X @ rng.normal(size=(d, 2))
    if task == "binary":
        return X, np.where(X[:, 0] + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    return X, np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])  # three classes


ESTIMATOR_CASES = {
    "classifier softmax adam": (
        "multiclass",
        lambda: gdcore.SGDClassifier(loss="log_loss", multi_class="softmax", optimizer="adam",
                                     learning_rate="constant", eta0=0.01, batch_size=4,
                                     average=True, random_state=0, num_threads=THREADS),
    ),
    "classifier hinge optimal elasticnet": (
        "binary",
        lambda: gdcore.SGDClassifier(penalty="elasticnet", random_state=3, num_threads=THREADS),
    ),
    "classifier ovr optimizer and schedule objects": (
        "multiclass",
        lambda: gdcore.SGDClassifier(loss="modified_huber", optimizer=optim.NAdam([np.zeros(1)]),
                                     learning_rate=schedules.CosineAnnealingLR(0.01, T_max=50),
                                     batch_size=8, random_state=2, num_threads=THREADS),
    ),
    "regressor invscaling": (
        "regression",
        lambda: gdcore.SGDRegressor(random_state=1, num_threads=THREADS),
    ),
    "regressor momentum l1 averaged": (
        "regression",
        lambda: gdcore.SGDRegressor(optimizer="momentum", penalty="l1", average=10,
                                    eta0=0.001, learning_rate="constant", batch_size=5,
                                    random_state=4, num_threads=THREADS),
    ),
}


def _partial_fit(est, X, y, calls, first):
    for k in range(calls):
        if first and k == 0 and isinstance(est, gdcore.SGDClassifier):
            est.partial_fit(X, y, classes=np.unique(y))
        else:
            est.partial_fit(X, y)
    return est


def estimator_checkpoints():
    stop_at, more = 3, 4
    jobs, expected = [], []
    for name, (task, build) in ESTIMATOR_CASES.items():
        X, y = _data(task)
        est = _partial_fit(build(), X, y, stop_at, first=True)
        jobs.append(("continue_estimator", (pickle.dumps(est), X, y, more)))
        full = _partial_fit(build(), X, y, stop_at + more, first=True)
        expected.append((name, full))
    return jobs, expected


def test_estimators_resume_bitwise_in_a_new_process(continued):
    for (name, full), (coef, intercept, t) in continued["estimators"]:
        assert_bitwise(coef, full.coef_, f"{name} coef_")
        assert_bitwise(intercept, full.intercept_, f"{name} intercept_")
        assert t == full.t_, name


@pytest.mark.parametrize("name", list(ESTIMATOR_CASES))
def test_estimator_pickles_unfitted_and_fitted(name):
    task, build = ESTIMATOR_CASES[name]
    X, y = _data(task)
    unfitted = build()
    loaded = pickle.loads(pickle.dumps(unfitted))
    assert repr(loaded) == repr(unfitted) and not hasattr(loaded, "coef_")
    fitted = _partial_fit(build(), X, y, 2, first=True)
    loaded = pickle.loads(pickle.dumps(fitted))
    assert_bitwise(loaded.coef_, fitted.coef_, f"{name} coef_")
    assert (loaded.predict(X) == fitted.predict(X)).all()
    # A fresh fit of the loaded estimator is a fresh fit: same as the original's.
    assert_bitwise(loaded.fit(X, y).coef_, build().fit(X, y).coef_, f"{name} refit")


FIT_CASES = {
    "softmax adam schedule": ("multiclass", dict(
        loss="log_loss", multiclass="softmax", optimizer="adam", lr=0.02, batch_size=16,
        schedule=schedules.Warmup(schedules.CosineAnnealingLR(0.02, T_max=40), 5))),
    "ovr nadam plateau": ("multiclass", dict(
        loss="hinge", optimizer="nadam", batch_size=7,
        schedule=schedules.ReduceLROnPlateau(0.01, patience=0))),
    "binary sgd validation elasticnet": ("binary", dict(
        loss="log_loss", optimizer="sgd", lr=0.05, batch_size=1, penalty="elasticnet",
        validation_fraction=0.2)),
    "multioutput momentum averaged": ("multioutput", dict(
        loss="squared_error", optimizer="momentum", lr=0.01, batch_size=None, average=5,
        penalty="l1")),
    "regression rmsprop centered": ("regression", dict(
        loss="huber", optimizer=optim.RMSprop([np.zeros(1)], centered=True, momentum=0.3),
        lr=0.01, batch_size=9)),
}  # fmt: skip


def fit_linear_checkpoints():
    stop_at, total = 3, 8
    jobs, expected = [], []
    for name, (task, options) in FIT_CASES.items():
        X, y = _data(task, n=80)
        options = dict(options, tol=None, random_state=5, num_threads=THREADS)
        first = gdcore.fit_linear(X, y, max_epochs=stop_at, **options)
        jobs.append(("continue_fit_linear",
                     (pickle.dumps(first.state), X, y, total - stop_at, options)))  # fmt: skip
        expected.append((name, gdcore.fit_linear(X, y, max_epochs=total, **options)))
    return jobs, expected


def test_fit_linear_resumes_bitwise_in_a_new_process(continued):
    for (name, full), (coef, intercept, counters) in continued["fit_linear"]:
        assert full.history.epochs == 8, name
        assert_bitwise(coef, full.coef, f"{name} coef")
        assert_bitwise(intercept, full.intercept, f"{name} intercept")
        assert_bitwise(counters, full.state["counters"], f"{name} counters")


def test_linear_fit_pickles_whole():
    X, y = _data("multiclass")
    fit = gdcore.fit_linear(X, y, loss="log_loss", multiclass="softmax", max_epochs=3, tol=None,
                            schedule=schedules.StepLR(0.01, step_size=5))  # fmt: skip
    loaded = pickle.loads(pickle.dumps(fit))
    assert_bitwise(loaded.decision_function(X), fit.decision_function(X), "decision_function")
    assert loaded.history == fit.history and loaded.task == fit.task
    assert (loaded.classes == fit.classes).all()
