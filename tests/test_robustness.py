"""Bad input gets a clear error and loses nothing: the audit's findings on optimizer groups and
checkpoints, aliased gemm outputs, integers past the core's types, lr given twice, schedules that
overflow, raw core entry points, and initial parameters that are not finite."""

import math
import subprocess
import sys
import time

import numpy as np
import pytest

import gdcore
from gdcore import _core, optim
from gdcore import schedules as S
from gdcore.linalg import gemm
from gdcore.mlp import fit_mlp

INT64_MAX = 2**63 - 1


def data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ np.arange(1.0, d + 1)


# -- optimizer parameter groups: every change validated, nothing removable -------------------------


def sgd(lr=0.1):
    p = np.zeros(4)
    return p, optim.SGD([p], lr=lr)


@pytest.mark.parametrize(
    "change",
    [
        lambda g: g.__ior__({"lr": -5.0}),
        lambda g: g.update({"lr": -5.0}),
        lambda g: g.update(lr=math.nan),
        lambda g: g.update({"momentum": 0.5, "lr": -5.0}),  # the valid key is not applied alone
        lambda g: g.setdefault("bogus", 1.0),
    ],
)
def test_param_group_changes_are_validated_before_anything_changes(change):
    p, opt = sgd()
    group = opt.param_groups[0]
    before = dict(group)
    with pytest.raises(ValueError, match="lr|bogus"):
        change(group)
    assert dict(group) == before
    opt.step([np.ones(4)])
    np.testing.assert_array_equal(p, -0.1)  # downhill, at the old rate


def test_param_group_in_place_or_reaches_the_core():
    p, opt = sgd()
    group = opt.param_groups[0]
    group |= {"lr": 0.5}
    assert group is opt.param_groups[0] and group["lr"] == 0.5
    opt.step([np.ones(4)])
    np.testing.assert_array_equal(p, -0.5)


@pytest.mark.parametrize(
    "remove",
    [
        lambda g: g.pop("lr"),
        lambda g: g.pop("lr", 1.0),
        lambda g: g.popitem(),
        lambda g: g.clear(),
        lambda g: g.__delitem__("lr"),
    ],
)
def test_param_group_options_cannot_be_removed(remove):
    p, opt = sgd()
    before = dict(opt.param_groups[0])
    with pytest.raises(TypeError, match="cannot be removed"):
        remove(opt.param_groups[0])
    assert dict(opt.param_groups[0]) == before
    opt.step([np.ones(4)])
    np.testing.assert_array_equal(p, -0.1)


def test_param_group_pop_of_a_missing_key_behaves_as_a_dict():
    _, opt = sgd()
    assert opt.param_groups[0].pop("bogus", 7) == 7
    with pytest.raises(KeyError):
        opt.param_groups[0].pop("bogus")


def test_param_group_params_list_cannot_grow_silently():
    _, opt = sgd()
    params = opt.param_groups[0]["params"]
    with pytest.raises(TypeError, match="add_param_group"):
        params.append(np.zeros(2))
    with pytest.raises(TypeError, match="add_param_group"):
        params[0] = np.zeros(4)
    assert len(params) == 1 and isinstance(params, list)


# -- load_state_dict checks values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,field,value,match",
    [
        (optim.Adam, "exp_avg_sq", np.full(4, np.nan), "exp_avg_sq.*non-finite"),
        (optim.Adam, "exp_avg_sq", np.full(4, -1.0), "exp_avg_sq.*negative"),
        (optim.Adam, "exp_avg", np.array([0.0, np.inf, 0.0, 0.0]), "exp_avg.*non-finite"),
        (optim.RMSprop, "square_avg", np.full(4, -1.0), "square_avg.*negative"),
        (optim.Adagrad, "sum", np.full(4, -1.0), "'sum'.*negative"),
        (optim.Adamax, "exp_inf", np.full(4, -1.0), "exp_inf.*negative"),
        (optim.Adam, "step", 2**63, r"step.*<= 9223372036854775806"),
        (optim.Adam, "step", INT64_MAX, r"step"),
        (optim.NAdam, "mu_product", 2.0, r"mu_product.*<= 1"),
        (optim.NAdam, "mu_product", math.nan, r"mu_product.*finite"),
    ],
)
def test_load_state_dict_refuses_bad_values(cls, field, value, match):
    p = np.zeros(4)
    opt = cls([p], lr=0.1)
    opt.step([np.ones(4)])
    saved = opt.state_dict()
    bad = opt.state_dict()
    bad["state"][0][field] = value
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    for name, array in saved["state"][0].items():  # unchanged
        np.testing.assert_array_equal(after["state"][0][name], array)
    opt.step([np.ones(4)])
    assert np.isfinite(p).all()


def test_load_state_dict_keeps_accepting_its_own_checkpoints():
    for cls in (optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam, optim.Adamax, optim.NAdam):
        p = np.zeros(4)
        opt = cls([p], lr=0.1)
        for _ in range(3):
            opt.step([np.linspace(-1, 1, 4)])
        opt.load_state_dict(opt.state_dict())


# -- raw optimizer kernels, engine and loops check hyperparameters ---------------------------------


ADAM_OK = dict(step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
               maximize=False, decoupled_weight_decay=False)  # fmt: skip


@pytest.mark.parametrize(
    "change,match",
    [
        ({"lr": -1.0}, "lr must be a finite number >= 0"),
        ({"lr": math.nan}, "lr must be"),
        ({"beta1": 1.5}, "beta1 must be"),
        ({"beta2": 1.0}, "beta2 must be"),
        ({"eps": -1e-8}, "eps must be a finite number > 0"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_raw_adam_step_checks_hyperparameters(change, match):
    p = np.zeros(3)
    with pytest.raises(ValueError, match=match):
        _core.adam_step(p, np.ones(3), np.zeros(3), np.zeros(3), None, **{**ADAM_OK, **change})
    np.testing.assert_array_equal(p, 0.0)


def test_raw_loops_and_engine_check_hyperparameters():
    with pytest.raises(ValueError, match="lr must be"):
        _core.minimize("booth", np.zeros(2), None, function_options={}, optimizer="sgd",
                       optimizer_options={"lr": -1.0}, schedule=None, max_iter=10, tol=0.0,
                       record=True)  # fmt: skip
    with pytest.raises(ValueError, match="momentum must be"):
        _core.sgd_step(np.zeros(2), np.ones(2), np.zeros(2), step=1, lr=0.1, momentum=-1.0,
                       dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)  # fmt: skip
    X, y = data(20, 2)
    kw = dict(layer_sizes=[2, 3, 1], activation="relu", task="regression", optimizer="sgd",
              optimizer_options={"lr": -1.0}, schedule=None, batch_size=4, max_epochs=2, tol=0.0,
              n_iter_no_change=1, early_stopping=False, shuffle=True, seed=0, alpha=0.0,
              target_loss=-1.0, record_every=0, num_threads=1)  # fmt: skip
    with pytest.raises(ValueError, match="lr must be"):
        _core.train_mlp(X, y.reshape(-1, 1), np.arange(20), np.zeros(0, np.int64), np.zeros(13),
                        [None] * 3, np.zeros(3, np.int64), np.array([1.0, 0.0]), **kw)  # fmt: skip
    p, opt = sgd()
    with pytest.raises(ValueError, match="dampening"):
        opt._engine.set_group(0, {"lr": 0.1, "dampening": 2.0})
    opt.step([np.ones(4)])
    np.testing.assert_array_equal(p, -0.1)


# -- gemm refuses an output that shares memory with an operand -------------------------------------


def run_isolated(code):
    """Run code in a fresh interpreter: a crash there fails the test instead of the session."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def test_gemm_refuses_aliased_output():
    A = np.random.default_rng(0).standard_normal((40, 40))
    for args, name in [((A, A, A), "A"), ((A, np.eye(40), A), "A"), ((np.eye(40), A, A), "B"),
                       ((A.T, np.eye(40), A), "A")]:  # fmt: skip
        before = A.copy()
        with pytest.raises(ValueError, match=f"C shares memory with {name}"):
            gemm(*args)
        np.testing.assert_array_equal(A, before)
    buf = np.zeros((8, 8))
    with pytest.raises(ValueError, match="C shares memory with A"):
        gemm(buf[:4], np.ones((8, 8)), buf[3:7])  # rows 3 overlap


def test_gemm_separate_parts_of_one_buffer_and_copied_operands():
    rng = np.random.default_rng(1)
    buf = rng.standard_normal((8, 4))
    A, C = buf[:4], buf[4:]
    want = 2 * A
    gemm(A, np.eye(4), C, alpha=2.0)
    np.testing.assert_array_equal(C, want)
    flat = rng.standard_normal(18)
    C = flat[:9].reshape(3, 3)
    strided = flat.reshape(3, 6)[:, ::2]  # overlaps C but is not contiguous: read from a copy
    want = strided @ np.eye(3)
    gemm(strided, np.eye(3), C)
    np.testing.assert_array_equal(C, want)


def test_raw_fma_probe_is_bounded_and_really_runs():
    out = run_isolated(  # unbounded, this call ran for centuries without answering Ctrl-C
        "from gdcore import _core as c\n"
        "try:\n    c.fma_peak_probe('float32', 2**62)\nexcept ValueError as e:\n    print(e)\n"
    )
    assert "iterations must be <=" in out
    with pytest.raises(ValueError, match="dtype"):
        _core.fma_peak_probe("float16", 10)
    start = time.perf_counter()
    flops = _core.fma_peak_probe("float64", 1 << 22)
    rate = flops / (time.perf_counter() - start)
    assert rate < 5e12, "the probe's FMAs were optimized away"


# -- integers past the core's types are refused by name --------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"max_epochs": 2**63},
        {"batch_size": 2**64},
        {"record_every": 2**63},
        {"num_threads": 2**31},
        {"n_iter_no_change": 2**63},
    ],
)
def test_fit_mlp_huge_integers_name_the_argument(kw):
    X, y = data()
    with pytest.raises(ValueError, match=f"{next(iter(kw))} must be <="):
        fit_mlp(X, y, hidden_layer_sizes=(2,), **kw)


@pytest.mark.parametrize(
    "kw",
    [{"max_epochs": 2**63}, {"batch_size": 2**64}, {"num_threads": 2**31}, {"record_every": 2**63}],
)
def test_fit_linear_huge_integers_name_the_argument(kw):
    X, y = data()
    with pytest.raises(ValueError, match=f"{next(iter(kw))} must be <="):
        gdcore.fit_linear(X, y, **kw)


def test_other_huge_integers_name_the_argument():
    with pytest.raises(ValueError, match="max_iter must be <="):
        gdcore.minimize("booth", [0.0, 0.0], max_iter=2**63)
    with pytest.raises(ValueError, match="num_threads must be <="):
        optim.Adam([np.zeros(2)], num_threads=2**31)
    with pytest.raises(ValueError, match="step must be <="):
        optim.sgd_step(np.zeros(2), np.ones(2), step=2**64)
    # a seed is reduced to 64 bits before it reaches the core, so any size is still taken
    X, y = data()
    fit_mlp(X, y, hidden_layer_sizes=(2,), max_epochs=1, random_state=2**70)


# -- the learning rate comes once: lr or optimizer_options["lr"] -----------------------------------


def test_fit_mlp_honours_optimizer_options_lr():
    X, y = data()
    kw = dict(hidden_layer_sizes=(3,), max_epochs=3, optimizer="sgd")
    via_options = fit_mlp(X, y, optimizer_options={"lr": 0.05}, **kw)
    via_lr = fit_mlp(X, y, lr=0.05, **kw)
    default = fit_mlp(X, y, **kw)
    np.testing.assert_array_equal(via_options.state["params"], via_lr.state["params"])
    assert not np.array_equal(via_options.state["params"], default.state["params"])
    explicit = fit_mlp(X, y, lr=1e-3, **kw)
    np.testing.assert_array_equal(default.state["params"], explicit.state["params"])
    same = fit_mlp(X, y, lr=0.05, optimizer_options={"lr": 0.05}, **kw)
    np.testing.assert_array_equal(same.state["params"], via_lr.state["params"])
    with pytest.raises(ValueError, match="lr is given twice"):
        fit_mlp(X, y, lr=0.1, optimizer_options={"lr": 0.05}, **kw)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        fit_mlp(X, y, optimizer_options={"lr": -1.0}, **kw)
    with pytest.raises(ValueError, match=r"optimizer_options\['lr'\] must be finite"):
        fit_mlp(X, y, optimizer_options={"lr": math.nan}, **kw)
    with pytest.raises(TypeError, match="optimizer_options must be a dict"):
        fit_mlp(X, y, optimizer_options=[("lr", 0.1)], **kw)


def test_fit_mlp_with_an_optimizer_object_uses_its_lr_unless_given():
    X, y = data()
    kw = dict(hidden_layer_sizes=(3,), max_epochs=3)
    own = fit_mlp(X, y, optimizer=optim.SGD([np.zeros(1)], lr=0.05), **kw)
    named = fit_mlp(X, y, optimizer="sgd", lr=0.05, **kw)
    np.testing.assert_array_equal(own.state["params"], named.state["params"])


def test_minimize_honours_optimizer_options():
    kw = dict(max_iter=5, optimizer="sgd")
    via_options = gdcore.minimize("booth", [0.0, 0.0], optimizer_options={"lr": 0.05}, **kw)
    via_lr = gdcore.minimize("booth", [0.0, 0.0], lr=0.05, **kw)
    np.testing.assert_array_equal(via_options.x, via_lr.x)
    mom = gdcore.minimize("booth", [0.0, 0.0], optimizer_options={"momentum": 0.5}, **kw)
    np.testing.assert_array_equal(mom.x, gdcore.minimize("booth", [0.0, 0.0], momentum=0.5, **kw).x)
    with pytest.raises(ValueError, match="lr is given twice"):
        gdcore.minimize("booth", [0.0, 0.0], lr=0.1, optimizer_options={"lr": 0.05}, **kw)
    with pytest.raises(ValueError, match="momentum is given twice"):
        gdcore.minimize("booth", [0.0, 0.0], momentum=0.1, optimizer_options={"momentum": 0.5},
                        **kw)  # fmt: skip
    with pytest.raises(ValueError, match="lr must be > 0"):
        gdcore.minimize("booth", [0.0, 0.0], optimizer_options={"lr": -1.0}, **kw)


# -- raw MLP entry points: sizes whose count wraps are refused -------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "c.mlp_init(np.zeros(1), [2, 2**63, 1], 'relu', 'glorot', 0)",
        "c.mlp_forward(np.zeros((2, 2)), np.zeros(1), [2, 2**63, 1], 'relu', 1)",
        "c.mlp_init(np.zeros(5), [2**32, 2**32, 1], 'relu', 'glorot', 0)",
    ],
)
def test_raw_mlp_layer_sizes_that_overflow_are_refused(call):
    out = run_isolated(
        "import numpy as np\nfrom gdcore import _core as c\n"
        f"try:\n    {call}\nexcept ValueError as e:\n    print('ValueError', e)\n"
    )
    assert "ValueError layer_sizes needs more parameters" in out


# -- initial parameters and points -----------------------------------------------------------------


def test_fit_mlp_init_with_extra_layers_names_init_and_shapes():
    X, y = data()
    coefs = [np.zeros((3, 2)), np.zeros((2, 1)), np.zeros((1, 1))]
    intercepts = [np.zeros(2), np.zeros(1), np.zeros(1)]
    with pytest.raises(ValueError, match=r"init has 3 weight matrices .* 2 of each: \(3, 2\)"):
        fit_mlp(X, y, hidden_layer_sizes=(2,), init=(coefs, intercepts))
    with pytest.raises(ValueError, match="init has 1 weight matrices"):
        fit_mlp(X, y, hidden_layer_sizes=(2,), init=(coefs[:1], intercepts[:1]))


@pytest.mark.parametrize("where", ["params", "opt_state"])
def test_fit_mlp_refuses_a_state_that_is_not_finite(where):
    X, y = data()
    fit = fit_mlp(X, y, hidden_layer_sizes=(2,), max_epochs=2)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in fit.state.items()}
    if where == "params":
        state["params"] = np.full_like(state["params"], np.nan)
    else:
        state["opt_state"] = [None if a is None else np.full_like(a, np.inf)
                              for a in state["opt_state"]]  # fmt: skip
    match = r"init\['(params|opt_state\[0\])'\] holds NaN or infinity"
    with pytest.raises(ValueError, match=match):
        fit_mlp(X, y, hidden_layer_sizes=(2,), max_epochs=2, init=state, on_divergence="warn")


def test_fit_mlp_refuses_non_finite_flat_init():
    X, y = data()
    with pytest.raises(ValueError, match="init contains NaN or infinity"):
        fit_mlp(X, y, hidden_layer_sizes=(2,), init=np.full(11, np.nan))


@pytest.mark.parametrize(
    "x,where", [([np.nan, 1.0], "index 0"), ([[0.0, 1.0], [1.0, np.inf]], "row 1")]
)
def test_evaluate_refuses_non_finite_points(x, where):
    with pytest.raises(ValueError, match=f"x contains NaN or infinity .* at {where}"):
        gdcore.functions.evaluate("booth", x)
    value, grad = gdcore.functions.evaluate("quadratic", [1e200, 1e200])  # overflow: reported inf
    assert value == math.inf


@pytest.mark.parametrize(
    "change,error,match",
    [
        (lambda s: s["opt_state"].__setitem__(1, np.full_like(s["params"], -1.0)), ValueError,
         r"init\['opt_state'\]\[1\] \(exp_avg_sq\) holds a negative value"),
        (lambda s: s.__setitem__("opt_state", [None]), ValueError, "list of 3 state arrays"),
        (lambda s: s.__setitem__("counters", np.full(3, INT64_MAX)), ValueError, "counters"),
        (lambda s: s.__setitem__("schedule", 5), TypeError, r"init\['schedule'\]"),
    ],
)
def test_fit_mlp_refuses_a_state_no_fit_could_have_left(change, error, match):
    X, y = data()
    fit = fit_mlp(X, y, hidden_layer_sizes=(2,), max_epochs=2)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in fit.state.items()}
    state["opt_state"] = list(state["opt_state"])
    change(state)
    with pytest.raises(error, match=match):
        fit_mlp(X, y, hidden_layer_sizes=(2,), max_epochs=2, init=state, on_divergence="warn")
    fit_mlp(X, y, hidden_layer_sizes=(2,), max_epochs=2, init=fit.state)  # its own state: fine

# -- schedules: derived rates stay finite ----------------------------------------------------------


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: S.OneCycleLR(0.1, total_steps=100, final_div_factor=1e-320), "final_div_factor"),
        (lambda: S.OneCycleLR(0.1, total_steps=100, div_factor=1e-320), "div_factor"),
        (lambda: S.OneCycleLR(1e308, total_steps=100, div_factor=0.5), "div_factor"),
        (lambda: S.OneCycleLR(0.1, total_steps=100, div_factor=1e300, final_div_factor=1e300),
         "final_div_factor"),
        (lambda: S.CosineAnnealingLR(1.7e308, T_max=10), "CosineAnnealingLR"),
        (lambda: S.CosineAnnealingLR(0.0, T_max=10, eta_min=1.7e308), "CosineAnnealingLR"),
        (lambda: S.CosineAnnealingWarmRestarts(1.7e308, T_0=3), "CosineAnnealingWarmRestarts"),
        (lambda: S.OptimalLR(alpha=1e300), "OptimalLR"),
        (lambda: S.Warmup(S.OneCycleLR(0.1, total_steps=10, div_factor=1e-320), 3), "div_factor"),
    ],
)
def test_schedules_refuse_hyperparameters_that_overflow(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_onecycle_refusal_leaves_the_optimizer_alone():
    p = np.zeros(2)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="final_div_factor"):
        S.OneCycleLR(opt, total_steps=10, final_div_factor=1e-320)
    assert opt.param_groups[0]["lr"] == 0.1
    sched = S.OneCycleLR(0.1, total_steps=100)
    assert all(math.isfinite(sched(t)) and sched(t) > 0 for t in (0, 29, 50, 99, 10**6))
    assert S.OneCycleLR(0.0, total_steps=10)(5) == 0.0  # a zero peak stays allowed


def test_growing_schedule_never_hands_an_optimizer_an_infinite_rate():
    p = np.zeros(2)
    opt = optim.SGD([p], lr=1.0)
    sched = S.ExponentialLR(opt, gamma=1e300)
    sched.step()
    assert opt.param_groups[0]["lr"] == 1e300
    with pytest.raises(ValueError, match="learning rate for param group 0 at t=2 is inf"):
        sched.step()
    assert opt.param_groups[0]["lr"] == 1e300 and sched.last_epoch == 1
    assert sched(2) == math.inf  # standalone, the curve still reports the overflow


def test_schedule_load_state_dict_refuses_nan_state():
    sched = S.ReduceLROnPlateau(0.1)
    state = sched.state_dict()
    state["core_states"] = [[math.nan] * len(state["core_states"][0])]
    with pytest.raises(ValueError, match="core_states"):
        sched.load_state_dict(state)
    assert sched.get_last_lr() == [0.1]
    state = sched.state_dict()
    state["base_lrs"] = [math.nan]
    with pytest.raises(ValueError, match="base_lrs"):
        sched.load_state_dict(state)
