"""Learning-rate schedules: hand tables, core == twin, torch / scikit-learn oracles, the driver,
and bad hyperparameters."""

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcore import _core
from gdcore import schedules as S
from gdcore.reference import schedules as R

T_RANGE = np.arange(301)


def rel_err(actual, expected) -> float:
    """Largest |a - e| / |e| (exact agreement required where e == 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    diff = np.abs(actual - expected)
    scale = np.abs(expected)
    zero = scale == 0
    assert np.all(diff[zero] == 0), "nonzero where the reference is exactly 0"
    return float(np.max(diff[~zero] / scale[~zero], initial=0.0))


class FakeOptimizer:
    """The driver's whole contract: param_groups, each a dict with an assignable "lr"."""

    def __init__(self, *lrs):
        self.param_groups = [{"lr": lr, "momentum": 0.9} for lr in lrs]

    def lrs(self):
        return [g["lr"] for g in self.param_groups]


# ---------------------------------------------------------------------------------------------
# 1. Exact tables worked out by hand from the formulas.

SQRT2 = math.sqrt(2.0)

TABLES = [
    # StepLR: lr · gamma^⌊t / step_size⌋
    (
        S.StepLR(0.1, step_size=3, gamma=0.5),
        [(0, 0.1), (2, 0.1), (3, 0.05), (5, 0.05), (6, 0.025)],
    ),
    # MultiStepLR: lr · gamma^(milestones passed)
    (
        S.MultiStepLR(1.0, milestones=[2, 5], gamma=0.1),
        [(0, 1.0), (1, 1.0), (2, 0.1), (4, 0.1), (5, 0.1 * 0.1)],
    ),
    # ExponentialLR: 2 · 0.5^3 = 0.25
    (S.ExponentialLR(2.0, gamma=0.5), [(0, 2.0), (1, 1.0), (3, 0.25)]),
    # ConstantLR: 0.3 · 0.5 for t < 2, then 0.3; defaults: plain constant
    (S.ConstantLR(0.3, factor=0.5, total_iters=2), [(0, 0.15), (1, 0.15), (2, 0.3), (100, 0.3)]),
    (S.ConstantLR(0.3), [(0, 0.3), (7, 0.3)]),
    # InverseScaling: 0.1 / (t + 1)^0.5 → 0.1, 0.1/2, 0.1/3
    (S.InverseScaling(0.1, power_t=0.5), [(0, 0.1), (3, 0.05), (8, 0.1 / 3)]),
    # OptimalLR alpha = 1/4: typw = √(1/√(1/4)) = √2, eta0 = √2, t0 = 1/(√2/4) = 2√2,
    # lr(t) = 1 / ((2√2 + t) / 4) = 4 / (2√2 + t)
    (S.OptimalLR(alpha=0.25), [(0, SQRT2), (1, 4 / (2 * SQRT2 + 1)), (10, 4 / (2 * SQRT2 + 10))]),
    # ... with dloss_at_init = 2: eta0 = √2/2, t0 = 4√2, lr(0) = 1/√2
    (S.OptimalLR(alpha=0.25, dloss_at_init=2.0), [(0, 1 / SQRT2), (4, 4 / (4 * SQRT2 + 4))]),
    # PolynomialLR T=4, power=2: (3/4)² = 0.5625, (2/4)² = 0.25, then 0 from t = 4 on
    (
        S.PolynomialLR(1.0, total_iters=4, power=2.0),
        [(0, 1.0), (1, 0.5625), (2, 0.25), (4, 0.0), (9, 0.0)],
    ),
    # Cosine T_max=4, eta_min=0.2: 0.2 + 0.8·(1 + cos(πt/4))/2; back to 1 at t = 2 T_max
    (
        S.CosineAnnealingLR(1.0, T_max=4, eta_min=0.2),
        [(0, 1.0), (1, 0.2 + 0.8 * (1 + SQRT2 / 2) / 2), (2, 0.6), (4, 0.2), (8, 1.0)],
    ),
    # Warm restarts T_0=2, T_mult=2: cycles [0,1], [2..5], [6..13]
    (
        S.CosineAnnealingWarmRestarts(1.0, T_0=2, T_mult=2),
        [(0, 1.0), (1, 0.5), (2, 1.0), (3, (1 + SQRT2 / 2) / 2), (4, 0.5), (6, 1.0), (10, 0.5)],
    ),
    # Warmup W=4, start 0.25 over a constant 0.4: 0.4·(0.25 + 0.75·t/4)
    (
        S.Warmup(S.ConstantLR(0.4), warmup_steps=4, start_factor=0.25),
        [(0, 0.1), (1, 0.4 * 0.4375), (2, 0.4 * 0.625), (4, 0.4), (50, 0.4)],
    ),
    # Warmup default start_factor 1/(W+1): 0.4·(t+1)/4 for W = 3
    (S.Warmup(S.ConstantLR(0.4), warmup_steps=3), [(0, 0.1), (1, 0.2), (2, 0.3), (3, 0.4)]),
    # Warmup in front of StepLR: the inner clock starts at t = W
    (
        S.Warmup(S.StepLR(1.0, step_size=2, gamma=0.5), 2, 0.5),
        [(0, 0.5), (1, 0.75), (2, 1.0), (4, 0.5)],
    ),
    # OneCycle linear, max 1, T=10, pct 0.3 → rise ends at step 2; initial 1/4, final 0.25/10
    (
        S.OneCycleLR(1.0, total_steps=10, pct_start=0.3, anneal_strategy="linear", div_factor=4.0,
                     final_div_factor=10.0),
        [(0, 0.25), (1, 0.625), (2, 1.0), (9, 0.025), (50, 0.025)],
    ),
    # ... cos: midpoint of the rise is the mean of 0.25 and 1; the end is exactly final
    (
        S.OneCycleLR(1.0, total_steps=10, pct_start=0.3, div_factor=4.0, final_div_factor=10.0),
        [(0, 0.25), (1, 0.625), (2, 1.0), (9, 0.025), (10, 0.025)],
    ),
]


@pytest.mark.parametrize("schedule,table", TABLES, ids=[type(s).__name__ for s, _ in TABLES])
def test_hand_tables(schedule, table):
    for t, expected in table:
        assert schedule(t) == pytest.approx(expected, rel=1e-14, abs=1e-300), f"t={t}"
        assert schedule.lr_many(np.array([t]))[0] == schedule(t)


def test_plateau_hand_table():
    # min mode, abs threshold 0, patience 1, cooldown 1, factor 0.5, by hand:
    # 5 best · 4 best · 4 bad=1 · 4 bad=2>1 → 0.5, cooldown · 4 cooldown eats it · 4 bad=1 ·
    # 4 bad=2 → 0.25 · 3 best
    sched = S.ReduceLROnPlateau(1.0, factor=0.5, patience=1, threshold=0.0, threshold_mode="abs",
                                cooldown=1)
    seen = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 3]:
        sched.step(metric)
        seen.append(sched.get_last_lr()[0])
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    # min_lr: 0.5 → max(0.25, 0.3) = 0.3 → max(0.15, 0.3) = 0.3 (a change of 0 < eps: none)
    sched = S.ReduceLROnPlateau(1.0, factor=0.5, patience=0, min_lr=0.3)
    seen = []
    for metric in [1, 1, 1, 1]:
        sched.step(metric)
        seen.append(sched.get_last_lr()[0])
    assert seen == [1.0, 0.5, 0.3, 0.3]


# ---------------------------------------------------------------------------------------------
# 2. Core == twin over random hyperparameters, t = 0..300.

lrs = st.floats(1e-6, 10.0)
factors = st.floats(0.0, 1.0)
gammas = st.floats(0.05, 1.5)
small = st.integers(1, 60)


def _multistep(lr, raw, gamma):
    return {"lr": lr, "milestones": sorted(set(raw)), "gamma": gamma}


def _onecycle(max_lr, total_steps, pct_start, anneal, div, final_div, three_phase):
    if three_phase:
        pct_start = min(pct_start, 0.5)
    if pct_start * total_steps - 1.0 == 0.0:
        pct_start = pct_start * 0.999
    return dict(max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                anneal_strategy=anneal, div_factor=div, final_div_factor=final_div,
                three_phase=three_phase)


SPECS = {
    "ConstantLR": st.fixed_dictionaries({"lr": lrs, "factor": factors, "total_iters": small}),
    "StepLR": st.fixed_dictionaries({"lr": lrs, "step_size": small, "gamma": gammas}),
    "MultiStepLR": st.builds(_multistep, lrs, st.lists(st.integers(0, 300), max_size=6), gammas),
    "ExponentialLR": st.fixed_dictionaries({"lr": lrs, "gamma": st.floats(0.9, 1.01)}),
    "InverseScaling": st.fixed_dictionaries({"lr": lrs, "power_t": st.floats(-1.0, 2.0)}),
    "OptimalLR": st.fixed_dictionaries(
        {"alpha": st.floats(1e-7, 10.0), "dloss_at_init": st.none() | st.floats(-3.0, 5.0)}
    ),
    "PolynomialLR": st.fixed_dictionaries({"lr": lrs, "total_iters": st.integers(1, 400),
                                           "power": st.floats(0.0, 4.0)}),
    "CosineAnnealingLR": st.fixed_dictionaries({"lr": lrs, "T_max": st.integers(1, 400),
                                                "eta_min": st.floats(0.0, 1e-2)}),
    "CosineAnnealingWarmRestarts": st.fixed_dictionaries(
        {"lr": lrs, "T_0": st.integers(1, 50), "T_mult": st.integers(1, 4),
         "eta_min": st.floats(0.0, 1e-2)}
    ),
    "OneCycleLR": st.builds(_onecycle, lrs, st.integers(1, 400), st.floats(0.01, 0.99),
                            st.sampled_from(["cos", "linear"]), st.floats(1.0, 100.0),
                            st.floats(1.0, 1e5), st.booleans()),
}


def _pair(name, kw):
    """(core schedule, twin) from one set of hyperparameters; the Python API builds the core."""
    kw = dict(kw)
    twin = getattr(R, name)(**kw)
    if name == "OptimalLR":
        api = S.OptimalLR(None, kw["alpha"], dloss_at_init=kw["dloss_at_init"])
    else:
        first = kw.pop("max_lr" if name == "OneCycleLR" else "lr")
        api = getattr(S, name)(first, **kw)
    return api, twin


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_core_matches_twin(name, data):
    api, twin = _pair(name, data.draw(SPECS[name]))
    expected = [twin.lr(int(t)) for t in T_RANGE]
    assert rel_err(api.lr_many(T_RANGE), expected) <= 1e-12


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_warmup_core_matches_twin(data):
    name = data.draw(st.sampled_from(sorted(SPECS)))
    api_inner, twin_inner = _pair(name, data.draw(SPECS[name]))
    warmup_steps = data.draw(st.integers(0, 80))
    start_factor = data.draw(st.none() | st.floats(0.0, 1.0))
    api = S.Warmup(api_inner, warmup_steps, start_factor)
    twin = R.Warmup(twin_inner, warmup_steps, start_factor)
    assert rel_err(api.lr_many(T_RANGE), [twin.lr(int(t)) for t in T_RANGE]) <= 1e-12


@settings(max_examples=30, deadline=None)
@given(
    lr=lrs,
    mode=st.sampled_from(["min", "max"]),
    factor=st.floats(0.01, 0.99),
    patience=st.integers(0, 5),
    threshold=st.floats(0.0, 0.1),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    cooldown=st.integers(0, 4),
    min_lr=st.floats(0.0, 1e-3),
    metrics=st.lists(st.floats(-10.0, 10.0) | st.just(math.nan), min_size=1, max_size=300),
)
def test_plateau_core_matches_twin(lr, mode, factor, patience, threshold, threshold_mode,
                                   cooldown, min_lr, metrics):
    kw = dict(mode=mode, factor=factor, patience=patience, threshold=threshold,
              threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr)
    api = S.ReduceLROnPlateau(lr, **kw)
    twin = R.ReduceLROnPlateau(lr, **kw)
    for t, metric in enumerate(metrics):
        api.step(metric)
        twin.observe(metric)
        assert api.lr_at(t) == twin.lr(t)
        assert api._core.state() == twin.state()


# ---------------------------------------------------------------------------------------------
# 3. Outside oracles: torch.optim.lr_scheduler and scikit-learn.

N_TORCH = 240
BASES = (0.1, 0.03)


def _torch_lrs(torch, make, steps=N_TORCH, metrics=None):
    """The lr of each group at each update when a torch scheduler drives a dummy SGD."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in BASES]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASES)], lr=BASES[0])
    sched = make(opt)
    seen = []
    for k in range(steps):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()  # no gradients: a no-op, but torch wants it before sched.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
    return np.array(seen)


def _ours(make, steps=N_TORCH, metrics=None):
    fake = FakeOptimizer(*BASES)
    sched = make(fake)
    seen = []
    for k in range(steps):
        seen.append(fake.lrs())
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
    return np.array(seen)


# (ours, torch's, tolerance relative to the base lr). torch's recursive get_lr forms multiply
# the previous lr each step, so they drift from the closed forms at rounding level.
TORCH_CASES = {
    "constant": (lambda o: S.ConstantLR(o, factor=0.25, total_iters=7),
                 lambda o, L: L.ConstantLR(o, factor=0.25, total_iters=7), 1e-13),
    "step": (lambda o: S.StepLR(o, step_size=17, gamma=0.7),
             lambda o, L: L.StepLR(o, step_size=17, gamma=0.7), 1e-13),
    "multistep": (lambda o: S.MultiStepLR(o, milestones=[3, 50, 51, 200], gamma=0.5),
                  lambda o, L: L.MultiStepLR(o, milestones=[3, 50, 51, 200], gamma=0.5), 1e-13),
    "exponential": (lambda o: S.ExponentialLR(o, gamma=0.985),
                    lambda o, L: L.ExponentialLR(o, gamma=0.985), 1e-12),
    "polynomial": (lambda o: S.PolynomialLR(o, total_iters=150, power=1.7),
                   lambda o, L: L.PolynomialLR(o, total_iters=150, power=1.7), 1e-12),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=90, eta_min=1e-3),
               lambda o, L: L.CosineAnnealingLR(o, T_max=90, eta_min=1e-3), 1e-12),
    "cosine_restarts": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=3, eta_min=1e-4),
                        lambda o, L: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=3,
                                                                   eta_min=1e-4), 1e-15),
    "cosine_restarts_1": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=13),
                          lambda o, L: L.CosineAnnealingWarmRestarts(o, T_0=13), 1e-15),
    "onecycle_cos": (lambda o: S.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=N_TORCH),
                     lambda o, L: L.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=N_TORCH,
                                               cycle_momentum=False), 1e-15),
    "onecycle_linear_3": (
        lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=N_TORCH, pct_start=0.25,
                               anneal_strategy="linear", three_phase=True, div_factor=10.0),
        lambda o, L: L.OneCycleLR(o, max_lr=0.4, total_steps=N_TORCH, pct_start=0.25,
                                  anneal_strategy="linear", three_phase=True, div_factor=10.0,
                                  cycle_momentum=False), 1e-15),
    "warmup_cosine": (
        lambda o: S.Warmup(S.CosineAnnealingLR(o, T_max=150), warmup_steps=20, start_factor=0.1),
        lambda o, L: L.SequentialLR(
            o, [L.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=20),
                L.CosineAnnealingLR(o, T_max=150)], milestones=[20]), 1e-12),
}


@pytest.mark.torch
@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_torch_oracle(case):
    torch = pytest.importorskip("torch")
    ours_make, torch_make, rtol = TORCH_CASES[case]
    expected = _torch_lrs(torch, lambda o: torch_make(o, torch.optim.lr_scheduler))
    actual = _ours(ours_make)
    for g, base in enumerate(BASES):
        scale = max(base, float(np.max(expected[:, g])))
        err = float(np.max(np.abs(actual[:, g] - expected[:, g])))
        assert err <= rtol * scale, f"group {g}: max error {err:.3g} > {rtol:g} x {scale:.3g}"


def _scripted_metrics(n=N_TORCH):
    # Improves, stalls (reductions), improves a little (below/above threshold), gets worse, NaN.
    rng = np.random.default_rng(7)
    seq = []
    value = 10.0
    for k in range(n):
        phase = (k // 25) % 4
        if phase == 0:
            value *= 0.9
        elif phase == 2:
            value *= 0.9999  # below a 1e-3 relative threshold: no improvement
        seq.append(value + (0.5 if phase == 3 else 0.0) * rng.random())
    seq[100] = math.nan
    return seq


@pytest.mark.torch
@pytest.mark.parametrize(
    "kw",
    [
        dict(mode="min", factor=0.5, patience=3, threshold=1e-3, threshold_mode="rel", cooldown=2,
             min_lr=[1e-3, 1e-4]),
        dict(mode="min", factor=0.3, patience=0, threshold=0.05, threshold_mode="abs", cooldown=0),
        dict(mode="max", factor=0.7, patience=2, threshold=1e-2, threshold_mode="rel", cooldown=4,
             min_lr=2e-3, eps=1e-3),
        dict(mode="max", factor=0.5, patience=5, threshold=0.0, threshold_mode="abs", cooldown=1),
    ],
)
def test_torch_oracle_plateau(kw):
    torch = pytest.importorskip("torch")
    metrics = _scripted_metrics()
    if kw["mode"] == "max":
        metrics = [-m for m in metrics]
    expected = _torch_lrs(
        torch, lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), metrics=metrics
    )
    actual = _ours(lambda o: S.ReduceLROnPlateau(o, **kw), metrics=metrics)
    assert len(np.unique(expected[:, 0])) >= 3, "the script must trigger reductions"
    np.testing.assert_array_equal(actual, expected)


def _sklearn_etas(n=200, **kw):
    """Learning rates scikit-learn's SGD uses, read back from its updates end to end.

    One sample with x = 0 and alternating y = ±10 per partial_fit call: the intercept moves by
    -eta · (intercept - y) (squared loss, no penalty), so eta = (b_old - b_new) / (b_old - y).
    sklearn keeps its update counter t_ across partial_fit calls.
    """
    from sklearn.linear_model import SGDRegressor

    est = SGDRegressor(penalty=None, shuffle=False, fit_intercept=True, **kw)
    X = np.zeros((1, 1))
    b = 0.0
    etas = []
    for k in range(n):
        y = 10.0 if k % 2 == 0 else -10.0
        est.partial_fit(X, np.array([y]))
        b_new = float(est.intercept_[0])
        etas.append((b - b_new) / (b - y))
        b = b_new
    return np.array(etas)


@pytest.mark.parametrize("eta0,power_t", [(0.05, 0.3), (0.2, 0.5), (0.01, 1.0)])
def test_sklearn_oracle_invscaling(eta0, power_t):
    pytest.importorskip("sklearn")
    expected = _sklearn_etas(learning_rate="invscaling", eta0=eta0, power_t=power_t)
    ours = S.make_schedule("invscaling", eta0, power_t=power_t).lr_many(np.arange(expected.size))
    assert rel_err(ours, expected) <= 1e-12


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_sklearn_oracle_optimal(alpha):
    # alpha >= 0.5 keeps eta <= ~1.2 so the read-back intercepts stay well conditioned.
    pytest.importorskip("sklearn")
    expected = _sklearn_etas(learning_rate="optimal", alpha=alpha)
    ours = S.make_schedule("optimal", alpha=alpha).lr_many(np.arange(expected.size))
    assert rel_err(ours, expected) <= 1e-12


# ---------------------------------------------------------------------------------------------
# 4. The driver: groups, resume, pickling.


def test_driver_sets_every_group():
    opt = FakeOptimizer(0.1, 0.01)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    assert sched.base_lrs == [0.1, 0.01] and sched.last_epoch == 0
    seen = []
    for _ in range(5):
        seen.append(opt.lrs())
        sched.step()
    assert seen == [[0.1, 0.01], [0.1, 0.01], [0.05, 0.005], [0.05, 0.005], [0.025, 0.0025]]
    assert sched.last_epoch == 5 and sched.get_last_lr() == opt.lrs()
    assert opt.param_groups[0]["momentum"] == 0.9 and "initial_lr" not in opt.param_groups[0]
    # construction sets lr(0) at once
    opt = FakeOptimizer(0.1, 0.01)
    S.Warmup(S.ConstantLR(opt), warmup_steps=3, start_factor=0.5)
    assert opt.lrs() == [0.05, 0.005]
    # OneCycle peaks: the groups' lr, or max_lr
    opt = FakeOptimizer(0.1, 0.01)
    assert S.OneCycleLR(opt, total_steps=10).base_lrs == [0.1, 0.01]
    assert opt.lrs() == pytest.approx([0.1 / 25, 0.01 / 25], rel=1e-14)
    assert S.OneCycleLR(FakeOptimizer(0.1, 0.01), max_lr=1.0, total_steps=10).base_lrs == [1.0, 1.0]


RESUME_CASES = {
    "plateau": lambda o: S.ReduceLROnPlateau(o, patience=1, cooldown=2, factor=0.5,
                                             min_lr=[0.0, 1e-3]),
    "warmup_plateau": lambda o: S.Warmup(S.ReduceLROnPlateau(o, patience=0, factor=0.7), 5),
    "onecycle": lambda o: S.OneCycleLR(o, total_steps=60, three_phase=True),
    "cosine_restarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2),
    "optimal": lambda o: S.OptimalLR(o, alpha=0.01),
}


def _run(sched, opt, metrics):
    seen = []
    for m in metrics:
        sched.step(m)
        seen.append(opt.lrs())
    return seen


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_state_dict_resume_is_bit_identical(case):
    make = RESUME_CASES[case]
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.6] * 4
    opt = FakeOptimizer(0.1, 0.01)
    sched = make(opt)
    _run(sched, opt, metrics[:20])
    at_20 = opt.lrs()
    saved = copy.deepcopy(sched.state_dict())
    rest = _run(sched, opt, metrics[20:])

    fresh_opt = FakeOptimizer(0.1, 0.01)
    fresh = make(fresh_opt)
    fresh.load_state_dict(saved)
    assert fresh.last_epoch == 20 and fresh_opt.lrs() == at_20
    assert _run(fresh, fresh_opt, metrics[20:]) == rest

    # A schedule built on the optimizer mid-run (its lr already scheduled) resumes the same.
    mid_opt = FakeOptimizer(0.1, 0.01)
    mid = make(mid_opt)
    _run(mid, mid_opt, metrics[:20])
    late = make(mid_opt)
    late.load_state_dict(copy.deepcopy(saved))
    assert _run(late, mid_opt, metrics[20:]) == rest


def test_pickle_and_copy_continue_identically():
    opt = FakeOptimizer(0.1, 0.01)
    sched = S.Warmup(S.ReduceLROnPlateau(opt, patience=0, factor=0.5), 2)
    for m in [3.0, 2.0, 2.0, 2.0]:
        sched.step(m)
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.state_dict() == sched.state_dict()
    metrics = [2.0, 1.0, 1.0, 1.0, 1.0]
    assert _run(clone, clone.optimizer, metrics) == _run(sched, opt, metrics)

    core = S.ReduceLROnPlateau(1.0, patience=0)._core
    core.observe(1.0)
    core.observe(2.0)
    for other in (pickle.loads(pickle.dumps(core)), copy.copy(core), copy.deepcopy(core),
                  core.copy()):
        assert type(other) is _core.ReduceLROnPlateau
        assert other.state() == core.state() and other.spec == core.spec
        other.observe(5.0)
        assert other.state() != core.state()  # an independent copy
    warm = S.Warmup(S.CosineAnnealingLR(0.3, T_max=9), 4)._core
    back = pickle.loads(pickle.dumps(warm))
    assert type(back) is _core.Warmup
    np.testing.assert_array_equal(back.lr_many(T_RANGE), warm.lr_many(T_RANGE))


def test_standalone_schedule_steps_and_makes():
    sched = S.make_schedule("cosine", 0.1, T_max=10, warmup_steps=2, warmup_start_factor=0.5)
    assert isinstance(sched, S.Warmup) and sched.optimizer is None
    assert sched.get_last_lr() == [0.05]
    sched.step()
    assert sched.get_last_lr() == [sched(1)] == [0.1 * (0.5 + 0.5 * 1 / 2)]
    assert S.SCHEDULE_NAMES == ("constant", "step", "multistep", "exponential", "invscaling",
                                "optimal", "polynomial", "cosine", "cosine_restarts",
                                "onecycle", "plateau")
    for name in S.SCHEDULE_NAMES:
        kw = {"step": {"step_size": 3}, "multistep": {"milestones": [2]},
              "exponential": {"gamma": 0.9}, "cosine": {"T_max": 5},
              "cosine_restarts": {"T_0": 5}, "onecycle": {"total_steps": 20}}.get(name, {})
        first = None if name == "optimal" else 0.1
        sched = S.make_schedule(name, first, **kw)
        assert sched.kind == name == sched._core.kind
        assert np.all(np.isfinite(sched.lr_many(T_RANGE)))


def test_plateau_metric_forms():
    torch = pytest.importorskip("torch")
    sched = S.ReduceLROnPlateau(1.0, patience=0)
    sched.step(np.float32(1.0))
    sched.step(np.array(2.0))
    sched.step(torch.tensor(3.0))
    assert sched.get_last_lr() == [0.1 * 0.1]


# ---------------------------------------------------------------------------------------------
# 5. Bad input: the error names the argument.

BAD = [
    (lambda: S.StepLR(0.1, step_size=0), ValueError, "step_size"),
    (lambda: S.StepLR(0.1, step_size=2.0), TypeError, "step_size"),
    (lambda: S.StepLR(0.1, step_size=2, gamma=0.0), ValueError, "gamma"),
    (lambda: S.StepLR(0.1, step_size=2, gamma=-0.5), ValueError, "gamma"),
    (lambda: S.StepLR(-0.1, step_size=2), ValueError, "lr"),
    (lambda: S.StepLR(math.nan, step_size=2), ValueError, "lr"),
    (lambda: S.StepLR("0.1", step_size=2), TypeError, "lr_or_optimizer"),
    (lambda: S.StepLR(FakeOptimizer(0.1, -1.0), step_size=2), ValueError, "param_groups[1]"),
    (lambda: S.MultiStepLR(0.1, milestones=[5, 3]), ValueError, "milestones"),
    (lambda: S.MultiStepLR(0.1, milestones=[3, 3]), ValueError, "milestones"),
    (lambda: S.MultiStepLR(0.1, milestones=[-1]), ValueError, "milestones[0]"),
    (lambda: S.MultiStepLR(0.1, milestones=5), TypeError, "milestones"),
    (lambda: S.ExponentialLR(0.1, gamma=math.inf), ValueError, "gamma"),
    (lambda: S.ConstantLR(0.1, factor=1.5), ValueError, "factor"),
    (lambda: S.ConstantLR(0.1, total_iters=-1), ValueError, "total_iters"),
    (lambda: S.InverseScaling(0.1, power_t=math.nan), ValueError, "power_t"),
    (lambda: S.OptimalLR(alpha=0.0), ValueError, "alpha"),
    (lambda: S.OptimalLR(0.1), TypeError, "alpha"),
    (lambda: S.OptimalLR(alpha=1e-4, dloss_at_init=math.inf), ValueError, "dloss_at_init"),
    (lambda: S.PolynomialLR(0.1, total_iters=0), ValueError, "total_iters"),
    (lambda: S.PolynomialLR(0.1, power=-1.0), ValueError, "power"),
    (lambda: S.CosineAnnealingLR(0.1, T_max=0), ValueError, "T_max"),
    (lambda: S.CosineAnnealingLR(0.1, T_max=10, eta_min=-1e-3), ValueError, "eta_min"),
    (lambda: S.CosineAnnealingWarmRestarts(0.1, T_0=0), ValueError, "T_0"),
    (lambda: S.CosineAnnealingWarmRestarts(0.1, T_0=5, T_mult=0), ValueError, "T_mult"),
    (lambda: S.CosineAnnealingWarmRestarts(0.1, T_0=5, T_mult=1.5), TypeError, "T_mult"),
    (lambda: S.Warmup(0.1, 5), TypeError, "inner"),
    (lambda: S.Warmup(S.ConstantLR(0.1), -1), ValueError, "warmup_steps"),
    (lambda: S.Warmup(S.ConstantLR(0.1), 5, start_factor=1.5), ValueError, "start_factor"),
    (lambda: S.OneCycleLR(0.1, total_steps=100, pct_start=0.0), ValueError, "pct_start"),
    (lambda: S.OneCycleLR(0.1, total_steps=100, pct_start=1.0), ValueError, "pct_start"),
    (lambda: S.OneCycleLR(0.1, total_steps=10, pct_start=0.1), ValueError, "pct_start"),
    (lambda: S.OneCycleLR(0.1, total_steps=100, pct_start=0.6, three_phase=True), ValueError,
     "pct_start"),
    (lambda: S.OneCycleLR(0.1, total_steps=0), ValueError, "total_steps"),
    (lambda: S.OneCycleLR(0.1), ValueError, "total_steps"),
    (lambda: S.OneCycleLR(0.1, epochs=2, steps_per_epoch=0), ValueError, "steps_per_epoch"),
    (lambda: S.OneCycleLR(0.1, total_steps=10, anneal_strategy="cosine"), ValueError,
     "anneal_strategy"),
    (lambda: S.OneCycleLR(0.1, total_steps=10, div_factor=0.0), ValueError, "div_factor"),
    (lambda: S.OneCycleLR(0.1, total_steps=10, three_phase=1), TypeError, "three_phase"),
    (lambda: S.OneCycleLR(0.1, max_lr=0.2, total_steps=10), ValueError, "max_lr"),
    (lambda: S.OneCycleLR(FakeOptimizer(0.1, 0.2), max_lr=[0.1], total_steps=10), ValueError,
     "max_lr"),
    (lambda: S.ReduceLROnPlateau(0.1, factor=1.0), ValueError, "factor"),
    (lambda: S.ReduceLROnPlateau(0.1, factor=0.0), ValueError, "factor"),
    (lambda: S.ReduceLROnPlateau(0.1, mode="minimum"), ValueError, "mode"),
    (lambda: S.ReduceLROnPlateau(0.1, threshold_mode="relative"), ValueError, "threshold_mode"),
    (lambda: S.ReduceLROnPlateau(0.1, patience=-1), ValueError, "patience"),
    (lambda: S.ReduceLROnPlateau(0.1, cooldown=-2), ValueError, "cooldown"),
    (lambda: S.ReduceLROnPlateau(0.1, threshold=-1.0), ValueError, "threshold"),
    (lambda: S.ReduceLROnPlateau(0.1, min_lr=-1.0), ValueError, "min_lr"),
    (lambda: S.ReduceLROnPlateau(0.1, eps=math.nan), ValueError, "eps"),
    (lambda: S.ReduceLROnPlateau(FakeOptimizer(0.1, 0.2), min_lr=[0.0]), ValueError, "min_lr"),
    (lambda: S.ReduceLROnPlateau(0.1).step(), TypeError, "metric"),
    (lambda: S.ReduceLROnPlateau(0.1).step("1.0"), TypeError, "metric"),
    (lambda: S.ConstantLR(0.1).lr_at(-1), ValueError, "t"),
    (lambda: S.ConstantLR(0.1).lr_at(1.0), TypeError, "t"),
    (lambda: S.ConstantLR(0.1).lr_many(np.array([0.5])), TypeError, "t"),
    (lambda: S.ConstantLR(0.1).lr_many(np.array([[0, -3]])), ValueError, "t"),
    (lambda: S.ConstantLR(0.1).lr_at(0, group=1), ValueError, "group"),
    (lambda: S.make_schedule("cyclic", 0.1), ValueError, "name"),
    (lambda: S.make_schedule("constant", 0.1, warmup_start_factor=0.5), ValueError,
     "warmup_steps"),
    # the C++ constructors guard too (std::invalid_argument → ValueError)
    (lambda: _core.StepLR(0.1, 0, 0.5), ValueError, "step_size"),
    (lambda: _core.CosineAnnealingLR(0.1, 10, math.nan), ValueError, "eta_min"),
    (lambda: _core.ReduceLROnPlateau(0.1, "min", 0.1, 1, 0.0, "abs", 0, 0.0, 0.0).set_state([1.0]),
     ValueError, "state"),
    (lambda: _core.OneCycleLR(0.1, 10, 0.3, "cosx", 25.0, 1e4, False), ValueError,
     "anneal_strategy"),
]


@pytest.mark.parametrize("make,error,name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_argument(make, error, name):
    with pytest.raises(error, match=name.replace("[", r"\[").replace("]", r"\]")):
        make()


def test_load_state_dict_refuses_another_schedule():
    saved = S.StepLR(0.1, step_size=3).state_dict()
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(0.1, step_size=4).load_state_dict(saved)
    with pytest.raises(ValueError, match="'step'"):
        S.ExponentialLR(0.1, gamma=0.9).load_state_dict(saved)
    with pytest.raises(ValueError, match="groups"):
        S.StepLR(FakeOptimizer(0.1, 0.2), step_size=3).load_state_dict(saved)
