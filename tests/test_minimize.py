"""gdcore.minimize: convergence to known optima, core == twin, Python callables, divergence,
Ctrl-C and bad input."""

import math
import os
import time
import warnings

import numpy as np
import pytest
from conftest import assert_mirrors, interrupt_after

from gdcore import functions, optim, schedules
from gdcore.minimize import minimize
from gdcore.reference import functions as ref_functions
from gdcore.reference.minimize import minimize_api as ref_minimize

# -- convergence to known optima -------------------------------------------------------------------


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.15), ("momentum", 0.05), ("adam", 0.1)])
def test_bowl_converges_to_the_origin(optimizer, lr):
    r = minimize("quadratic", [3.0, -2.0], optimizer=optimizer, lr=lr, condition=10.0, angle=30.0,
                 max_iter=5000, tol=1e-8)  # fmt: skip
    assert r.converged and r.status == "converged", r.message
    # ‖∇f‖ = ‖H x‖ >= λ_min ‖x‖ with λ_min = 1: within tol of the minimum.
    assert np.linalg.norm(r.x) <= 1e-8
    assert np.linalg.norm(r.grad) <= 1e-8
    assert r.path.shape == (r.n_iter + 1, 2) and r.losses.shape == (r.n_iter + 1,)
    assert np.array_equal(r.path[0], [3.0, -2.0]) and np.array_equal(r.path[-1], r.x)
    assert r.losses[-1] == r.fun
    assert f"converged after {r.n_iter} steps" in r.message


def test_rosenbrock_with_adam():
    r = minimize("rosenbrock", [-1.5, 2.0], optimizer="adam", lr=0.02, max_iter=5000)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [1.0, 1.0], atol=1e-5)
    assert r.fun < 1e-10


def test_rosenbrock_in_five_dimensions():
    r = minimize("rosenbrock", np.full(5, -0.5), optimizer="adam", lr=0.01, max_iter=20000)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, np.ones(5), atol=1e-4)


def test_booth_with_sgd():
    r = minimize("booth", [0.0, 0.0], optimizer="sgd", lr=0.05, max_iter=1000)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [1.0, 3.0], atol=1e-6)


def test_beale_and_himmelblau():
    r = minimize("beale", [1.0, 1.0], optimizer="adam", lr=0.01, max_iter=20000)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [3.0, 0.5], atol=1e-4)
    # From each quadrant, plain gradient descent walks into that quadrant's minimum.
    for start, end in zip([(2, 2), (-2, 2), (-2, -2), (2, -2)], functions.MINIMIZERS["himmelblau"]):
        r = minimize("himmelblau", start, optimizer="sgd", lr=0.01, max_iter=2000)
        assert r.converged, r.message
        np.testing.assert_allclose(r.x, end, atol=1e-5)


def test_rastrigin_finds_the_nearest_local_minimum():
    r = minimize("rastrigin", [0.1, -0.2], optimizer="sgd", lr=0.002, max_iter=5000)
    assert r.converged and np.linalg.norm(r.x) < 1e-7
    r = minimize("rastrigin", [2.1, 0.9], optimizer="sgd", lr=0.002, max_iter=5000)
    assert r.converged and r.fun > 1.0  # a local minimum near (2, 1), not the global one
    np.testing.assert_allclose(r.x, [2, 1], atol=0.05)


def test_saddle():
    # On the stable axis (y = 0) the y-gradient is exactly 0 forever: gradient descent walks into
    # the saddle point and stops there as "converged" — ‖∇f‖ = 0 cannot tell a saddle from a
    # minimum.
    r = minimize("saddle", [1.0, 0.0], optimizer="sgd", lr=0.1, max_iter=1000)
    assert r.converged and np.linalg.norm(r.x) < 1e-6 and r.x[1] == 0.0
    # A hair off the axis, y grows by (1 + 2 lr) each step: x shrinks by (1 - 2 lr) meanwhile,
    # the path bends away from the saddle and f falls without bound.
    r = minimize("saddle", [1.0, 1e-8], optimizer="sgd", lr=0.1, max_iter=150)
    assert r.status == "max_iter" and not r.converged
    np.testing.assert_allclose(r.path[1:, 1] / r.path[:-1, 1], 1.2, rtol=1e-12)
    np.testing.assert_allclose(r.path[1:, 0] / r.path[:-1, 0], 0.8, rtol=1e-12)
    assert np.all(np.diff(r.losses) < 0) and r.fun < -1e6
    # Left running, y² overflows: the loop stops with the last finite point.
    r = minimize("saddle", [1.0, 1e-8], optimizer="sgd", lr=0.1, max_iter=10_000)
    assert r.status == "diverged" and np.all(np.isfinite(r.x)) and np.isfinite(r.fun)
    assert "the value stopped being finite" in r.message


# -- the core mirrors the twin ---------------------------------------------------------------------

CASES = [
    ("rosenbrock", [-1.5, 2.0], {}),
    ("beale", [1.0, 1.0], {}),
    ("himmelblau", [0.0, 0.0], {}),
    ("booth", [0.0, 0.0], {}),
    ("rastrigin", [0.3, -0.2, 0.4], {}),
    ("quadratic", [1.0, 2.0, 3.0, 4.0], {"condition": 50.0, "angle": 20.0}),
    ("saddle", [1.0, 1e-3], {}),
]
OPTIMIZERS = [
    ("sgd", 1e-3, {}),
    ("momentum", 1e-3, {}),
    ("nesterov", 1e-3, {}),
    ("adagrad", 0.1, {}),
    ("rmsprop", 0.01, {"centered": True, "momentum": 0.5}),
    ("adam", 0.01, {"amsgrad": True}),
    ("adamw", 0.01, {}),
    ("adamax", 0.01, {}),
    ("nadam", 0.01, {}),
]


def _same(a, b):
    assert a.status == b.status and a.n_iter == b.n_iter and a.message == b.message
    assert_mirrors(a.x, b.x, "x")
    assert_mirrors(a.path, b.path, "path")
    assert_mirrors(a.losses, b.losses, "losses")
    assert_mirrors(a.grad, b.grad, "grad")


@pytest.mark.parametrize("optimizer,lr,extra", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("fun,x0,options", CASES, ids=[c[0] for c in CASES])
def test_core_mirrors_twin(fun, x0, options, optimizer, lr, extra):
    kw = dict(optimizer=optimizer, lr=lr, max_iter=300, **options, **extra)
    _same(minimize(fun, x0, **kw), ref_minimize(fun, x0, **kw))


@pytest.mark.parametrize("fun,x0,options", CASES[:4], ids=[c[0] for c in CASES[:4]])
def test_core_mirrors_twin_in_float32_with_a_schedule(fun, x0, options):
    sched = schedules.make_schedule("cosine", 0.01, T_max=200)
    kw = dict(optimizer="adam", lr=0.01, schedule=sched, max_iter=200, **options)
    x0 = np.array(x0, dtype=np.float32)
    a, b = minimize(fun, x0, **kw), ref_minimize(fun, x0, **kw)
    assert a.x.dtype == np.float32 and a.path.dtype == np.float32
    _same(a, b)
    # The schedule was copied: a second run starts from the same state.
    _same(minimize(fun, x0, **kw), a)


def test_plateau_schedule_observes_the_value():
    sched = schedules.make_schedule("plateau", 0.5, patience=2, factor=0.5)
    kw = dict(optimizer="sgd", schedule=sched, max_iter=200)
    a, b = minimize("rastrigin", [0.45], **kw), ref_minimize("rastrigin", [0.45], **kw)
    _same(a, b)


def test_divergence_mirrors_twin():
    kw = dict(optimizer="sgd", lr=0.01, max_iter=200)
    _same(minimize("rosenbrock", [-3.0, 4.0], **kw), ref_minimize("rosenbrock", [-3.0, 4.0], **kw))


# -- Python functions ------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "nadam"])
@pytest.mark.parametrize("fun,x0,options", CASES, ids=[c[0] for c in CASES])
def test_python_function_gives_the_builtin_path(fun, x0, options, optimizer):
    kw = dict(optimizer=optimizer, lr=1e-3, max_iter=200)
    builtin = minimize(fun, x0, **options, **kw)
    twin = getattr(ref_functions, fun)

    def value(x):
        return twin(x, **options)[0]

    def gradient(x):
        return twin(x, **options)[1]

    separate = minimize(value, x0, grad=gradient, **kw)
    together = minimize(lambda x: twin(x, **options), x0, grad=True, **kw)
    for r in (separate, together):
        assert r.n_iter == builtin.n_iter and r.status == builtin.status
        assert_mirrors(r.path, builtin.path, "path")
        assert_mirrors(r.losses, builtin.losses, "losses")


def test_python_function_sees_a_copy_of_each_point():
    seen = []

    def fun(x):
        seen.append(x)
        return float(x @ x)

    r = minimize(fun, [1.0, -1.0], grad=lambda x: 2 * x, optimizer="sgd", lr=0.25, max_iter=3)
    assert np.array_equal(np.array(seen), r.path) and r.path.shape == (4, 2)
    r = minimize(fun, [1.0, -1.0], grad=lambda x: 2 * x, optimizer="sgd", lr=0.5)
    assert r.converged and r.n_iter == 1 and np.array_equal(r.x, [0.0, 0.0])  # x - ½ 2x = 0


def test_python_function_errors_propagate():
    def fun(x):
        if x[0] < 0.5:
            raise RuntimeError("boom")
        return float(x @ x)

    with pytest.raises(RuntimeError, match="boom"):
        minimize(fun, [1.0], grad=lambda x: 2 * x, optimizer="sgd", lr=0.1)
    with pytest.raises(TypeError, match="fun must return a scalar"):
        minimize(lambda x: x, [1.0], grad=lambda x: x)
    with pytest.raises(ValueError, match=r"the gradient has shape \(3,\) but x0 has shape \(2,\)"):
        minimize(lambda x: 0.0, [1.0, 2.0], grad=lambda x: np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a ComplexWarning and a step on the real parts
        for run in (minimize, ref_minimize):
            with pytest.raises(TypeError, match="the gradient must be real, got dtype complex128"):
                run(lambda x: 0.0, [1.0], grad=lambda x: x + 0.5j)
    with pytest.raises(TypeError, match=r"fun must return \(value, gradient\)"):
        minimize(lambda x: 0.0, [1.0, 2.0], grad=True)
    with pytest.raises(ValueError, match="fun's value is not finite at x0"):
        minimize(lambda x: np.inf, [1.0], grad=lambda x: x)


def test_optimizer_object_and_record_off():
    opt = optim.SGD([np.zeros(1)], lr=0.05, momentum=0.5)
    a = minimize("booth", [0.0, 0.0], optimizer=opt, record=False)
    b = minimize("booth", [0.0, 0.0], optimizer="sgd", lr=0.05, momentum=0.5)
    assert a.path is None and a.losses is None
    assert np.array_equal(a.x, b.x) and a.n_iter == b.n_iter


def test_defaults_and_x0_untouched():
    x0 = np.array([-1.5, 2.0])
    r = minimize("rosenbrock", x0)  # adam, lr 0.01, 1000 updates, tol 1e-6
    assert np.array_equal(x0, [-1.5, 2.0])
    assert r.n_iter == 1000 and r.status == "max_iter"
    assert r.path.shape == (1001, 2)
    assert "stopped after max_iter=1000 steps" in r.message
    r = minimize("booth", [1.0, 3.0])
    assert r.converged and r.n_iter == 0 and r.path.shape == (1, 2)
    r = minimize("booth", [0.0, 0.0], tol=None, max_iter=10)
    assert r.n_iter == 10 and not r.converged


# -- divergence ------------------------------------------------------------------------------------


def test_divergence_keeps_the_last_finite_point():
    r = minimize("rosenbrock", [-1.5, 2.0], optimizer="sgd", lr=1.0, max_iter=1000)
    assert r.status == "diverged" and not r.converged
    assert np.all(np.isfinite(r.x)) and np.isfinite(r.fun) and np.all(np.isfinite(r.grad))
    step = r.n_iter + 1
    assert f"diverged at step {step} (lr 1)" in r.message
    assert np.array_equal(r.x, r.path[-1]) and r.path.shape == (step, 2)
    assert np.all(np.isfinite(r.path)) and np.all(np.isfinite(r.losses))


def test_divergence_of_the_point():
    # The first step overshoots to -inf before f is evaluated there.
    r = minimize("quadratic", [1e10, 1e10], optimizer="sgd", lr=1e300, condition=1.0)
    assert r.status == "diverged" and r.n_iter == 0
    assert "diverged at step 1 (lr 1e+300): the point stopped being finite" in r.message
    assert np.array_equal(r.x, [1e10, 1e10]) and r.fun == 1e20


# -- Ctrl-C ----------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to self needs POSIX")
@pytest.mark.parametrize("python", [False, True], ids=["builtin", "python"])
def test_ctrl_c_stops_within_half_a_second(python):
    sent = interrupt_after(0.3)
    if python:
        args = (ref_functions.rastrigin, [0.3, 0.2]), dict(grad=True)
    else:
        args = ("rastrigin", [0.3, 0.2]), {}
    with pytest.raises(KeyboardInterrupt) as err:
        minimize(*args[0], **args[1], optimizer="sgd", lr=1e-6, max_iter=10**12, tol=None,
                 record=False)  # fmt: skip
    assert time.perf_counter() - sent["at"] < 0.5
    result = err.value.result
    assert result.status == "interrupted" and result.n_iter > 0 and np.all(np.isfinite(result.x))


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,kw,error,match",
    [
        (("ackley", [0.0, 0.0]), {}, ValueError, "fun must be one of 'quadratic'"),
        ((42, [0.0, 0.0]), {}, TypeError, "fun must be a built-in function name or a callable"),
        (("beale", [0.0, 0.0, 0.0]), {}, ValueError, "x0 has 3 coordinates but beale takes exactly 2"),
        (("rosenbrock", [0.0]), {}, ValueError, "x0 has 1 coordinates but rosenbrock takes at least 2"),
        (("booth", [0.0, np.nan]), {}, ValueError, r"x0 contains NaN or infinity \(first at 1\)"),
        (("booth", [[0.0, 1.0]]), {}, ValueError, "x0 must be 1-D"),
        (("booth", []), {}, ValueError, "x0 is empty"),
        (("booth", ["a", "b"]), {}, TypeError, "x0 must hold real numbers"),
        (("booth", [0.0, 0.0]), dict(lr=-1.0), ValueError, "lr must be > 0"),
        (("booth", [0.0, 0.0]), dict(lr=0.0), ValueError, "lr must be > 0"),
        (("booth", [0.0, 0.0]), dict(lr="big"), TypeError, "lr must be a real number"),
        (("booth", [0.0, 0.0]), dict(lr=np.inf), ValueError, "lr must be finite"),
        (("booth", [0.0, 0.0]), dict(optimizer="lbfgs"), ValueError, "unknown optimizer 'lbfgs'"),
        (("booth", [0.0, 0.0]), dict(max_iter=-1), ValueError, "max_iter must be >= 0"),
        (("booth", [0.0, 0.0]), dict(max_iter=1.5), TypeError, "max_iter must be an int"),
        (("booth", [0.0, 0.0]), dict(tol=-1.0), ValueError, "tol must be >= 0"),
        (("booth", [0.0, 0.0]), dict(record=1), TypeError, "record must be a bool"),
        (("booth", [0.0, 0.0]), dict(bogus=1), TypeError, r"unknown option\(s\) 'bogus'"),
        (("booth", [0.0, 0.0]), dict(momentum=-0.5, optimizer="sgd"), ValueError, "momentum"),
        (("quadratic", [0.0, 0.0]), dict(condition=-1.0), ValueError, "condition must be > 0"),
        (("booth", [0.0, 0.0]), dict(grad=lambda x: x), TypeError, "grad must be None for a built-in"),
        ((lambda x: 0.0, [0.0]), {}, TypeError, "grad is required with a Python function"),
        ((lambda x: 0.0, [0.0]), dict(grad=3), TypeError, "grad must be a callable or True"),
        (("booth", [0.0, 0.0]), dict(schedule=3), TypeError, "schedule must be a gdcore.schedules"),
        (("rosenbrock", [1e200, 1e200]), {}, ValueError, "fun's value is not finite at x0"),
    ],
)
def test_bad_input(args, kw, error, match):
    with pytest.raises(error, match=match):
        minimize(*args, **kw)
    with pytest.raises(error, match=match):
        ref_minimize(*args, **kw)


def test_gradient_norm_past_the_squares_range():
    # condition 1e308: the gradient at (1, 1) has a component near 1e308, whose square overflows;
    # the norm is summed again scaled by the largest component, finite, as math.hypot's.
    kw = dict(condition=1e308, lr=1e-320, max_iter=3)
    core = minimize("quadratic", [1.0, 1.0], **kw)
    twin = ref_minimize("quadratic", [1.0, 1.0], **kw)
    want = math.hypot(*core.grad)  # NumPy's norm squares without scaling: it overflows here
    assert 1e307 < want < np.inf
    assert core.message == twin.message
    assert f"gradient norm {want:.3g}" in core.message and "inf" not in core.message
    # an infinite component is an infinite norm; ordinary gradients are unchanged
    from gdcore.reference.minimize import gradient_norm

    assert gradient_norm([np.inf, 1.0]) == np.inf
    assert gradient_norm([3.0, 4.0]) == 5.0
