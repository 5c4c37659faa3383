"""Optimizers: exact tables, core == NumPy twin, PyTorch as outside oracle, state and errors."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from conftest import assert_mirrors

import gdcore
from gdcore import _core, optim
from gdcore.reference import optim as ref

DTYPES = [np.float32, np.float64]
STEPS = 200

# name -> (class, functional core, twin, state array names in functional order)
SPECS = {
    "sgd": (optim.SGD, optim.sgd_step, ref.sgd_step, ("momentum_buffer",)),
    "adagrad": (optim.Adagrad, optim.adagrad_step, ref.adagrad_step, ("sum",)),
    "rmsprop": (
        optim.RMSprop,
        optim.rmsprop_step,
        ref.rmsprop_step,
        ("square_avg", "grad_avg", "momentum_buffer"),
    ),
    "adam": (
        optim.Adam,
        optim.adam_step,
        ref.adam_step,
        ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    ),
    "adamax": (optim.Adamax, optim.adamax_step, ref.adamax_step, ("exp_avg", "exp_inf")),
    "nadam": (optim.NAdam, optim.nadam_step, ref.nadam_step, ("exp_avg", "exp_avg_sq")),
}

lrs = st.floats(0.0, 0.1)
decays = st.one_of(st.just(0.0), st.floats(0.0, 0.1))
betas = st.floats(0.0, 0.999)
epsilons = st.floats(1e-10, 1e-4)


@st.composite
def hyperparameters(draw, name):
    """Functional-form options for one optimizer, covering every branch of its kernel."""
    if name == "sgd":
        momentum = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99)))
        nesterov = momentum > 0 and draw(st.booleans())
        return dict(
            lr=draw(lrs),
            momentum=momentum,
            dampening=0.0 if nesterov else draw(st.floats(0.0, 0.9)),
            weight_decay=draw(decays),
            nesterov=nesterov,
            maximize=draw(st.booleans()),
        )
    if name == "adagrad":
        return dict(
            lr=draw(lrs),
            lr_decay=draw(decays),
            weight_decay=draw(decays),
            eps=draw(epsilons),
            maximize=draw(st.booleans()),
        )
    if name == "rmsprop":
        return dict(
            lr=draw(lrs),
            alpha=draw(st.floats(0.0, 0.999)),
            eps=draw(epsilons),
            weight_decay=draw(decays),
            momentum=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99))),
            centered=draw(st.booleans()),
            maximize=draw(st.booleans()),
        )
    common = dict(
        lr=draw(lrs),
        beta1=draw(betas),
        beta2=draw(betas),
        eps=draw(epsilons),
        weight_decay=draw(decays),
        maximize=draw(st.booleans()),
    )
    if name == "adam":
        common.update(amsgrad=draw(st.booleans()), decoupled_weight_decay=draw(st.booleans()))
    if name == "nadam":
        common.update(
            momentum_decay=draw(st.floats(0.0, 0.01)),
            decoupled_weight_decay=draw(st.booleans()),
        )
    return common


def run_functional(name, fn, param, grads, hyper):
    """Drive a functional form (core or twin) over a gradient sequence; return param and state."""
    names = SPECS[name][3]
    states = [np.zeros_like(param) for _ in names]
    mu_product = 1.0
    # Random options include unstable ones (e.g. RMSprop with alpha = 0 divides by eps): core and
    # twin must then overflow alike, so NumPy's overflow warnings are expected, not errors.
    with np.errstate(over="ignore", invalid="ignore"):
        for step, grad in enumerate(grads, start=1):
            if name == "nadam":
                mu_product = fn(param, grad, *states, step=step, mu_product=mu_product, **hyper)
            else:
                fn(param, grad, *states, step=step, **hyper)
    return param, dict(zip(names, states))


sizes = st.one_of(st.sampled_from([0, 1, 7, 4097]), st.integers(0, 300))


@pytest.mark.parametrize("name", list(SPECS))
@given(data=st.data(), n=sizes, dtype=st.sampled_from(DTYPES))
def test_core_mirrors_twin(name, data, n, dtype):
    _, core_fn, twin_fn, _ = SPECS[name]
    hyper = data.draw(hyperparameters(name))
    rng = np.random.default_rng(n)
    start = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal((STEPS, n)).astype(dtype)
    core_p, core_s = run_functional(name, core_fn, start.copy(), grads, hyper)
    twin_p, twin_s = run_functional(name, twin_fn, start.copy(), grads, hyper)
    assert_mirrors(core_p, twin_p, f"{name} param")
    for key in core_s:
        assert_mirrors(core_s[key], twin_s[key], f"{name} {key}")


# An unaligned start and a length that leaves a tail on every SIMD width.
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_unaligned_views_with_tails(name, dtype):
    _, core_fn, twin_fn, _ = SPECS[name]
    rng = np.random.default_rng(1)
    backing = rng.standard_normal(1 + 1003).astype(dtype)
    grads = rng.standard_normal((20, 1003)).astype(dtype)
    view = backing[1:]  # one element past the allocation's start: misaligned for every vector
    start = view.copy()
    core_p, _ = run_functional(name, core_fn, view, grads, {})
    twin_p, _ = run_functional(name, twin_fn, start, grads, {})
    assert core_p is view and not np.array_equal(view, backing[:0])
    assert_mirrors(core_p, twin_p, name)


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_class_mirrors_twin_with_groups(name, dtype):
    """The stateful classes (two groups with different options) equal the twin's loop."""
    cls, _, twin_fn, _ = SPECS[name]
    rng = np.random.default_rng(7)
    shapes = [(3, 5), (70_001,), (0,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(30)]
    options = {
        "sgd": [dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.01, weight_decay=0.1)],
        "adagrad": [dict(lr=0.05, lr_decay=0.01), dict(lr=0.1, weight_decay=0.01)],
        "rmsprop": [dict(lr=0.01, centered=True, momentum=0.5), dict(lr=0.001, alpha=0.3)],
        "adam": [dict(lr=0.01, amsgrad=True), dict(lr=0.02, weight_decay=0.1, betas=(0.3, 0.9))],
        "adamax": [dict(lr=0.01), dict(lr=0.003, weight_decay=0.05, maximize=True)],
        "nadam": [dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1), dict(lr=0.004)],
    }[name]
    groups = [{"params": params[:1], **options[0]}, {"params": params[1:], **options[1]}]
    copies = [p.copy() for p in params]
    opt = cls([dict(g) for g in groups])
    for g in grads:
        opt.step(g)
    for i, start in enumerate(copies):
        hyper = dict(options[0] if i == 0 else options[1])
        if "betas" in hyper:
            hyper["beta1"], hyper["beta2"] = hyper.pop("betas")
        expected, _ = run_functional(name, twin_fn, start, [g[i] for g in grads], hyper)
        assert_mirrors(params[i], expected, f"{name} params[{i}]")


def test_defaults_are_pytorchs():
    w = [np.zeros(2)]
    assert optim.SGD(w).defaults["lr"] == 1e-3
    assert optim.Adagrad(w).defaults == dict(
        lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
        maximize=False,
    )  # fmt: skip
    assert optim.RMSprop(w).defaults["alpha"] == 0.99
    adam = optim.Adam(w).defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"]) == (
        1e-3, (0.9, 0.999), 1e-8, 0.0,
    )  # fmt: skip
    adamw = optim.AdamW(w).defaults
    assert adamw["weight_decay"] == 1e-2 and adamw["decoupled_weight_decay"] is True
    assert optim.Adamax(w).defaults["lr"] == 2e-3
    assert optim.NAdam(w).defaults["momentum_decay"] == 4e-3


# -- exact tables: one or two steps worked out by hand -------------------------------------------


def test_sgd_table():
    # p=1, g=0.5, lr=0.1: p = 1 - 0.1*0.5 = 0.95
    p = np.array([1.0])
    optim.sgd_step(p, np.array([0.5]), step=1, lr=0.1)
    assert p[0] == 0.95
    # momentum 0.9, two steps of g=1, lr=0.1: b1 = 1, p = -0.1; b2 = 0.9 + 1 = 1.9, p = -0.29
    p, b = np.array([0.0]), np.zeros(1)
    optim.sgd_step(p, np.array([1.0]), b, step=1, lr=0.1, momentum=0.9)
    optim.sgd_step(p, np.array([1.0]), b, step=2, lr=0.1, momentum=0.9)
    assert b[0] == pytest.approx(1.9, rel=1e-15)
    assert p[0] == pytest.approx(-0.29, rel=1e-15)
    # nesterov: step 1 d = g + 0.9*b = 1.9, p = -0.19
    p, b = np.array([0.0]), np.zeros(1)
    optim.sgd_step(p, np.array([1.0]), b, step=1, lr=0.1, momentum=0.9, nesterov=True)
    assert p[0] == pytest.approx(-0.19, rel=1e-15)


def test_adam_first_step_moves_by_lr():
    # After one step m = (1-b1) g, v = (1-b2) g^2; bias correction makes m̂/√v̂ = sign(g):
    # p = -lr * g / (|g| + eps*...) ≈ -lr * sign(g).
    p = np.zeros(3)
    g = np.array([2.0, -0.5, 1e-3])
    optim.adam_step(p, g, np.zeros(3), np.zeros(3), step=1, lr=0.01, eps=1e-12)
    np.testing.assert_allclose(p, [-0.01, 0.01, -0.01], rtol=1e-8)


def test_adagrad_table():
    # s = 0 + 2^2 = 4, p = 1 - 0.1 * 2 / (2 + 0) = 0.9 (eps tiny)
    p, s = np.array([1.0]), np.zeros(1)
    optim.adagrad_step(p, np.array([2.0]), s, step=1, lr=0.1, eps=1e-300)
    assert (p[0], s[0]) == (0.9, 4.0)


def test_rmsprop_table():
    # v = 0.5*0 + 0.5*4 = 2, p = 1 - 0.1 * 2 / √2 = 1 - 0.1√2
    p, v = np.array([1.0]), np.zeros(1)
    optim.rmsprop_step(p, np.array([2.0]), v, step=1, lr=0.1, alpha=0.5, eps=1e-300)
    assert v[0] == 2.0
    assert p[0] == pytest.approx(1 - 0.1 * math.sqrt(2), rel=1e-15)


def test_adamax_table():
    # m = 0.1*2 = 0.2, u = max(0, 2 + eps) = 2, clr = lr/(1-0.9) -> p = -0.01*10*0.2/2 = -0.01
    p, m, u = np.zeros(1), np.zeros(1), np.zeros(1)
    optim.adamax_step(p, np.array([2.0]), m, u, step=1, lr=0.01, eps=0.0 + 1e-300)
    assert u[0] == 2.0
    assert p[0] == pytest.approx(-0.01, rel=1e-14)


def test_nadam_mu_product_table():
    # mu_1 = 0.9 (1 - 0.5 * 0.96^(1*0.004))
    mu1 = 0.9 * (1 - 0.5 * 0.96**0.004)
    out = optim.nadam_step(np.zeros(1), np.ones(1), np.zeros(1), np.zeros(1), step=1)
    assert out == pytest.approx(mu1, rel=1e-15)


# -- every SIMD path and thread count gives the same bits ---------------------------------------


def _adam_run(n, dtype, **kw):
    rng = np.random.default_rng(5)
    p = rng.standard_normal(n).astype(dtype)
    opt = optim.Adam([p], lr=0.01, amsgrad=True, weight_decay=0.01, **kw)
    for _ in range(5):
        opt.step([rng.standard_normal(n).astype(dtype)])
    return p


@pytest.mark.parametrize("dtype", DTYPES)
def test_simd_paths_agree_bitwise(dtype):
    paths = ["baseline", "avx2", "avx512"]
    best = _core.detected_simd_path()
    usable = paths[: paths.index(best) + 1]
    before = _core.simd_path()
    try:
        results = {}
        for path in usable:
            _core.set_simd_path(path)
            results[path] = _adam_run(1037, dtype)
    finally:
        _core.set_simd_path(before)
    for path in usable:
        assert np.array_equal(results[path], results["baseline"]), path


def test_set_simd_path_rejects_unknown():
    with pytest.raises(ValueError, match="unknown SIMD path"):
        _core.set_simd_path("sse9")


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(dtype):
    n = 300_001  # well above the per-thread threshold, so two threads really split it
    one = _adam_run(n, dtype, num_threads=1)
    two = _adam_run(n, dtype, num_threads=2)
    assert np.array_equal(one, two)


def test_team_policy_does_not_change_bits():
    # The engine runs each step on its threads or on the calling thread (TeamChooser, by
    # speed); the updates are element-wise, so every choice gives the same bits. 40 steps: the
    # adaptive choice runs its first window on one thread, then tries the team.
    before = _core.team_policy()
    results = {}
    try:
        for policy in ("team", "serial", "adaptive"):
            _core.set_team_policy(policy)
            rng = np.random.default_rng(8)
            p = rng.standard_normal(100_003).astype(np.float32)
            opt = optim.Adam([p], lr=0.01, weight_decay=0.01, num_threads=2)
            for _ in range(40):
                opt.step([rng.standard_normal(p.size).astype(np.float32)])
            bad = rng.standard_normal(p.size).astype(np.float32)
            bad[77_777] = np.nan
            with pytest.raises(ValueError, match="flat index 77777"):
                opt.step([bad])
            results[policy] = p
    finally:
        _core.set_team_policy(before)
    assert np.array_equal(results["serial"], results["team"])
    assert np.array_equal(results["adaptive"], results["team"])


# -- convergence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda w: optim.SGD([w], lr=0.1, momentum=0.9),
        lambda w: optim.Adam([w], lr=0.05),
        lambda w: optim.RMSprop([w], lr=0.01),
        lambda w: optim.Adagrad([w], lr=0.5),
        lambda w: optim.NAdam([w], lr=0.05),
        lambda w: optim.Adamax([w], lr=0.05),
    ],
)
def test_converges_on_a_quadratic(make):
    # f(w) = ½ (w - c)ᵀ A (w - c), minimum at c.
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    a = q @ np.diag([1.0, 2.0, 3.0, 4.0, 5.0]) @ q.T
    c = rng.standard_normal(5)
    w = np.zeros(5)
    opt = make(w)
    for k in range(3000):
        if k == 2000:  # adaptive steps hover at about lr around the minimum: settle them
            opt.param_groups[0]["lr"] *= 0.01
        opt.step([a @ (w - c)])
    np.testing.assert_allclose(w, c, atol=1e-3)


def test_maximize_climbs():
    w = np.zeros(1)
    opt = optim.SGD([w], lr=0.1, maximize=True)
    for _ in range(200):
        opt.step([-(w - 3.0)])  # gradient of -(w-3)^2/2, maximum at 3
    assert w[0] == pytest.approx(3.0, abs=1e-6)


# -- PyTorch as the outside oracle --------------------------------------------------------------

TORCH_CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, weight_decay=0.01)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, momentum_decay=0.01)),
]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls_name,options", TORCH_CASES)
def test_matches_torch_optim(torch, cls_name, options, dtype):
    rng = np.random.default_rng(11)
    shapes = [(17, 3), (1000,)]
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(STEPS)]
    # torch keeps NAdam's mu_product in the default dtype; float64 runs use float64 throughout.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        tparams = [torch.nn.Parameter(torch.from_numpy(s.copy())) for s in start]
        topt = getattr(torch.optim, cls_name)(tparams, foreach=False, **options)
        params = [s.copy() for s in start]
        opt = getattr(optim, cls_name)(params, **options)
        for g in grads:
            for tp, gi in zip(tparams, g):
                tp.grad = torch.from_numpy(gi.copy())
            topt.step()
            opt.step(g)
    finally:
        torch.set_default_dtype(previous)
    # PyTorch fuses some multiply-adds (FMA) where gdcore rounds twice, so agreement is to a
    # few ulps per step rather than bitwise.
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    for p, tp in zip(params, tparams):
        expected = tp.detach().numpy()
        scale = np.max(np.abs(expected))
        assert np.max(np.abs(p - expected)) <= rtol * scale


# -- state: groups, schedules' handle, state_dict, resume ---------------------------------------


def test_group_lr_change_reaches_the_core():
    w = np.zeros(1)
    opt = optim.SGD([w], lr=0.1)
    opt.step([np.ones(1)])
    opt.param_groups[0]["lr"] = 1.0
    opt.step([np.ones(1)])
    assert w[0] == pytest.approx(-1.1, rel=1e-15)


def test_turning_on_amsgrad_later_creates_its_state():
    w = np.zeros(4)
    opt = optim.Adam([w])
    assert "max_exp_avg_sq" not in opt.state[0]
    opt.param_groups[0]["amsgrad"] = True
    opt.step([np.ones(4)])
    assert np.all(opt.state[0]["max_exp_avg_sq"] > 0)


@pytest.mark.parametrize("name", list(SPECS))
def test_state_dict_resumes_bit_identically(name):
    cls = SPECS[name][0]
    rng = np.random.default_rng(2)
    grads = [[rng.standard_normal(50), rng.standard_normal((2, 3)).astype(np.float32)]
             for _ in range(20)]  # fmt: skip
    start = [rng.standard_normal(50), rng.standard_normal((2, 3)).astype(np.float32)]
    extra = {"sgd": dict(momentum=0.9), "rmsprop": dict(centered=True, momentum=0.1)}.get(name, {})

    straight = [s.copy() for s in start]
    opt = cls(straight, lr=0.01, **extra)
    for g in grads:
        opt.step(g)

    first = [s.copy() for s in start]
    opt1 = cls(first, lr=0.01, **extra)
    for g in grads[:8]:
        opt1.step(g)
    saved = pickle.loads(pickle.dumps(opt1.state_dict()))
    params_saved = pickle.loads(pickle.dumps(first))
    opt2 = cls(params_saved, lr=0.5, **extra)  # options come back from the state dict
    opt2.load_state_dict(saved)
    for g in grads[8:]:
        opt2.step(g)
    for a, b in zip(straight, params_saved):
        assert np.array_equal(a, b)


def test_state_dict_is_a_copy():
    w = np.zeros(3)
    opt = optim.Adam([w])
    saved = opt.state_dict()
    opt.step([np.ones(3)])
    assert saved["state"][0]["step"] == 0
    assert np.all(saved["state"][0]["exp_avg"] == 0)


def test_load_state_dict_mismatch_changes_nothing():
    w = np.zeros(3)
    opt = optim.Adam([w])
    opt.step([np.ones(3)])
    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = np.zeros(4)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(4,\)"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["state"][0]["step"] == before["state"][0]["step"]
    assert np.array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])
    other = optim.Adam([np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="other parameters"):
        other.load_state_dict(opt.state_dict())


# -- threads ------------------------------------------------------------------------------------


def test_thread_settings():
    before = _core.get_num_threads()
    try:
        gdcore.set_num_threads(1)
        assert gdcore.get_num_threads() == 1
        gdcore.set_num_threads(None)
        assert gdcore.get_num_threads() == _core.omp_max_threads()
    finally:
        gdcore.set_num_threads(None)
    assert gdcore.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be >= 0"):
        gdcore.set_num_threads(-1)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        optim.SGD([np.zeros(1)], num_threads=0)


def test_threadpoolctl_sees_and_limits_the_openmp_runtime():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    apis = {info["user_api"] for info in threadpoolctl.threadpool_info()}
    assert "openmp" in apis
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert gdcore.get_num_threads() == 1


def test_show_config_names_the_simd_path(capsys):
    gdcore.show_config()
    out = capsys.readouterr().out
    assert _core.simd_path() in out
    assert "omp_max_threads" in out and gdcore.__version__ in out


# -- bad input: a clear error naming the argument, and nothing changed --------------------------


def test_nonfinite_gradient_changes_nothing():
    w = np.arange(4.0)
    v = np.ones(3, dtype=np.float32)
    opt = optim.Adam([w, v], lr=0.1)
    opt.step([np.ones(4), np.ones(3, dtype=np.float32)])
    before = opt.state_dict()
    w_before, v_before = w.copy(), v.copy()
    with pytest.raises(ValueError, match=r"grads\[1\] contains a non-finite value \(.*nan.* at flat index 2\)"):
        opt.step([np.ones(4), np.array([1, 1, np.nan], dtype=np.float32)])
    with pytest.raises(ValueError, match=r"grads\[0\] .*inf"):
        opt.step([np.array([0, np.inf, 0, 0.0]), np.ones(3, dtype=np.float32)])
    assert np.array_equal(w, w_before) and np.array_equal(v, v_before)
    assert opt.state_dict()["state"][0]["step"] == before["state"][0]["step"]
    with pytest.raises(ValueError, match="grad contains a non-finite value"):
        optim.sgd_step(w, np.array([np.nan, 0, 0, 0]), step=1)
    assert np.array_equal(w, w_before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_first_nonfinite_finds_the_first_bad_value_with_any_thread_count(dtype, threads):
    # 200,003 elements: up to four thread blocks of ~50k and 8,192-element scan blocks with a tail
    n = 200_003
    x = np.linspace(-1.0, 1.0, n).astype(dtype)
    assert _core.first_nonfinite(x, num_threads=threads) == n == ref.first_nonfinite(x)
    # the ends, a scan-block edge, thread-block edges, and two bad values (the first one counts)
    for bad in [0, 1, 8191, 8192, 50_047, 50_048, 50_049, 100_096, 150_143, n - 1]:
        for value in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[bad] = value
            assert _core.first_nonfinite(y, num_threads=threads) == bad
            assert ref.first_nonfinite(y, num_threads=threads) == bad
            y[min(n - 1, bad + 60_000)] = np.nan
            assert _core.first_nonfinite(y, num_threads=threads) == bad == ref.first_nonfinite(y)
    assert _core.first_nonfinite(np.zeros(0, dtype=dtype), num_threads=threads) == 0
    assert ref.first_nonfinite(np.zeros(0, dtype=dtype)) == 0


@given(
    n=st.integers(0, 3000),
    bad=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from([np.nan, np.inf, -np.inf])), max_size=3),
    threads=st.integers(1, 4),
    f32=st.booleans(),
)
def test_first_nonfinite_mirrors_twin(n, bad, threads, f32):
    x = np.arange(n, dtype=np.float32 if f32 else np.float64)
    for where, value in bad:
        if n:
            x[int(where * n)] = value
    assert _core.first_nonfinite(x, num_threads=threads) == ref.first_nonfinite(x, num_threads=threads)


def test_threaded_check_rejects_a_large_gradient_and_changes_nothing():
    w = np.zeros(300_000, dtype=np.float32)
    opt = optim.Adam([w], lr=0.1, num_threads=4)
    g = np.ones_like(w)
    g[299_999] = np.inf
    g[123_457] = np.nan
    with pytest.raises(ValueError, match=r"grads\[0\] contains a non-finite value \(.*nan.* at flat index 123457\)"):
        opt.step([g])
    assert not w.any() and opt.state_dict()["state"][0]["step"] == 0


def test_check_finite_off_lets_nan_through():
    w = np.zeros(2)
    optim.SGD([w], lr=0.1, check_finite=False).step([np.array([np.nan, 1.0])])
    assert np.isnan(w[0]) and w[1] == -0.1


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda w: optim.SGD([w], lr=-0.1), ValueError, "lr must be >= 0"),
        (lambda w: optim.SGD([w], lr=float("nan")), ValueError, "lr must be finite"),
        (lambda w: optim.SGD([w], lr="0.1"), TypeError, "lr must be a real number"),
        (lambda w: optim.SGD([w], nesterov=True), ValueError, "nesterov=True requires"),
        (lambda w: optim.Adam([w], betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be < 1"),
        (lambda w: optim.Adam([w], betas=(-0.1, 0.9)), ValueError, r"betas\[0\] must be >= 0"),
        (lambda w: optim.Adam([w], betas=0.9), TypeError, "betas must be a pair"),
        (lambda w: optim.Adam([w], eps=0.0), ValueError, "eps must be > 0"),
        (lambda w: optim.RMSprop([w], eps=-1e-8), ValueError, "eps must be > 0"),
        (lambda w: optim.Adagrad([w], lr_decay=-1), ValueError, "lr_decay must be >= 0"),
        (lambda w: optim.Adam([w], amsgrad=1), TypeError, "amsgrad must be a bool"),
        (lambda w: optim.Adam([w], foo=1), TypeError, "foo"),
        (lambda w: optim.Adam([{"params": [w], "foo": 1}]), ValueError, "unknown option 'foo'"),
        (lambda w: optim.Adam([]), ValueError, "params is empty"),
        (lambda w: optim.Adam([w, w]), ValueError, "appears more than once"),
        (lambda w: optim.Adam([[1.0, 2.0]]), TypeError, r"params\[0\] must be a NumPy array"),
        (lambda w: optim.Adam([np.zeros(3, int)]), TypeError, "float32 or float64, got int64"),
        (lambda w: optim.Adam([np.zeros((3, 4))[:, 1]]), ValueError, "C-contiguous"),
        (lambda w: optim.Adam([np.zeros(3, ">f8")]), TypeError, "float32 or float64"),
    ],
)
def test_bad_options_and_params(make, error, match):
    with pytest.raises(error, match=match):
        make(np.zeros(3))


def test_read_only_param():
    w = np.zeros(3)
    w.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        optim.SGD([w])


def test_bad_option_assignment_changes_nothing():
    w = np.zeros(1)
    opt = optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="nesterov=True requires"):
        opt.param_groups[0]["momentum"] = 0.0
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9
    opt.step([np.ones(1)])
    assert w[0] == pytest.approx(-0.19, rel=1e-15)


@pytest.mark.parametrize(
    "grads,error,match",
    [
        ([np.zeros(4)], ValueError, r"grads\[0\] has shape \(4,\) but params\[0\] has shape \(3,\)"),
        ([np.zeros(3, np.float32)], TypeError, r"grads\[0\] has dtype float32 but params\[0\]"),
        ([np.zeros(3), np.zeros(3)], ValueError, "grads has 2 arrays but the optimizer has 1"),
        ([[0.0, 0.0, 0.0]], TypeError, r"grads\[0\] must be a NumPy array, got list"),
        ([np.zeros(3, dtype=complex)], TypeError, "float32 or float64, got complex128"),
        ("abc", TypeError, "grads must be a list of NumPy arrays, got str"),
    ],
)
def test_bad_gradients(grads, error, match):
    w = np.zeros(3)
    opt = optim.Adam([w])
    with pytest.raises(error, match=match):
        opt.step(grads)
    assert opt.state[0]["step"] == 0


def test_non_contiguous_gradient_is_copied_not_rejected():
    w = np.zeros(3)
    g = np.arange(6.0).reshape(3, 2)[:, 0]
    optim.SGD([w], lr=1.0).step([g])
    assert np.array_equal(w, -g)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda p, g: optim.adam_step(p, g, np.zeros(3), np.zeros(3), step=0), ValueError, "step must be >= 1"),
        (lambda p, g: optim.adam_step(p, g, np.zeros(2), np.zeros(3), step=1), ValueError, "exp_avg has shape"),
        (lambda p, g: optim.adam_step(p, g, np.zeros(3), None, step=1), ValueError, "exp_avg_sq is required"),
        (lambda p, g: optim.adam_step(p, g, np.zeros(3), np.zeros(3), step=1, amsgrad=True), ValueError, "max_exp_avg_sq is required"),
        (lambda p, g: optim.sgd_step(p, g, step=1, momentum=0.9), ValueError, "momentum_buffer is required"),
        (lambda p, g: optim.adam_step(p, g, np.zeros(3), np.zeros(3), step=1, beta1=1.5), ValueError, r"\(beta1, beta2\)\[0\] must be < 1"),
        (lambda p, g: optim.sgd_step(p, g[:2], step=1), ValueError, r"grad has shape \(2,\) but param"),
    ],
)  # fmt: skip
def test_functional_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(np.zeros(3), np.ones(3))


def test_schedule_drives_a_real_optimizer():
    from gdcore import schedules

    w = np.zeros(1)
    opt = optim.SGD([w], lr=1.0)
    sched = schedules.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step([np.ones(1)])
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert w[0] == -sum(lrs)
    # the core got every change: one more step at the current rate 0.25
    opt.step([np.ones(1)])
    assert w[0] == -sum(lrs) - 0.25
