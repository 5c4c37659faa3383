"""The built-in test functions: exact tables, known minima, finite differences, core == twin."""

import math

import numpy as np
import pytest
from conftest import assert_mirrors
from hypothesis import given
from hypothesis import strategies as st

from gdcore import functions
from gdcore.reference import functions as ref_functions

# -- exact tables: (name, options, point, value, gradient), worked by hand ---------------------------

TABLE = [
    ("rosenbrock", {}, [1.0, 1.0], 0.0, [0.0, 0.0]),
    ("rosenbrock", {}, [0.0, 0.0], 1.0, [-2.0, 0.0]),
    ("rosenbrock", {}, [-1.0, 1.0], 4.0, [-4.0, 0.0]),
    ("rosenbrock", {}, [1.0, 2.0], 100.0, [-400.0, 200.0]),
    ("rosenbrock", {}, [0.0, 0.0, 0.0], 2.0, [-2.0, -2.0, 0.0]),
    ("rosenbrock", {}, [1.0, 1.0, 1.0, 1.0], 0.0, [0.0, 0.0, 0.0, 0.0]),
    ("rosenbrock", {"a": 2.0, "b": 1.0}, [2.0, 4.0], 0.0, [0.0, 0.0]),
    ("beale", {}, [3.0, 0.5], 0.0, [0.0, 0.0]),
    ("beale", {}, [0.0, 0.0], 14.203125, [-12.75, 0.0]),
    ("himmelblau", {}, [3.0, 2.0], 0.0, [0.0, 0.0]),
    ("himmelblau", {}, [0.0, 0.0], 170.0, [-14.0, -22.0]),
    ("booth", {}, [1.0, 3.0], 0.0, [0.0, 0.0]),
    ("booth", {}, [0.0, 0.0], 74.0, [-34.0, -38.0]),
    ("saddle", {}, [1.0, 2.0], -3.0, [2.0, -4.0]),
    ("saddle", {}, [0.0, 0.0], 0.0, [0.0, 0.0]),
    ("rastrigin", {}, [0.0, 0.0], 0.0, [0.0, 0.0]),
    ("rastrigin", {}, [1.0, 0.0], 1.0, [2.0, 0.0]),
    ("rastrigin", {}, [0.5, 0.0], 20.25, [1.0, 0.0]),
    ("rastrigin", {"A": 1.0}, [0.0, 0.0, 0.0], 0.0, [0.0, 0.0, 0.0]),
    ("quadratic", {}, [1.0, 1.0], 5.5, [1.0, 10.0]),
    ("quadratic", {"condition": 4.0}, [2.0, -1.0], 4.0, [2.0, -4.0]),
    ("quadratic", {"condition": 100.0}, [1.0, 1.0, 1.0], 55.5, [1.0, 10.0, 100.0]),
    ("quadratic", {}, [3.0], 4.5, [3.0]),
    ("quadratic", {"angle": 90.0}, [1.0, 0.0], 5.0, [10.0, 0.0]),
    # Turned by 45°: (1, 1) lies on the flat axis (λ = 1), (-1, 1) on the steep one (λ = 3).
    ("quadratic", {"condition": 3.0, "angle": 45.0}, [1.0, 1.0], 1.0, [1.0, 1.0]),
    ("quadratic", {"condition": 3.0, "angle": 45.0}, [-1.0, 1.0], 3.0, [-3.0, 3.0]),
]


@pytest.mark.parametrize("name,options,point,value,grad", TABLE)
@pytest.mark.parametrize("twin", [False, True], ids=["core", "twin"])
def test_exact_table(name, options, point, value, grad, twin):
    module = ref_functions if twin else functions
    f, g = module.evaluate(name, np.array(point), **options)
    # sin(2π), cos(π/2) and friends are a few ulps off zero; everything else is exact.
    assert f == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(g, grad, rtol=1e-12, atol=1e-12)
    assert np.shape(g) == (len(point),)


@pytest.mark.parametrize("name", functions.FUNCTION_NAMES)
def test_known_minimizers(name):
    points = functions.minimizers(name)
    if name == "saddle":
        assert points.shape == (0, 2)
        return
    values, grads = functions.evaluate(name, points)
    # Himmelblau's last three minimizers are known to 6 decimals only.
    assert np.all(np.abs(values) < 1e-9)
    assert np.all(np.abs(grads) < 1e-3)
    assert np.array_equal(points, np.asarray(functions.MINIMIZERS[name]).reshape(-1, 2))


def test_minimizers_in_more_dimensions():
    assert np.array_equal(functions.minimizers("rosenbrock", 5), np.ones((1, 5)))
    assert np.array_equal(functions.minimizers("rosenbrock", 2, a=2.0), [[2.0, 4.0]])
    assert np.array_equal(functions.minimizers("rastrigin", 3), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="closed form"):
        functions.minimizers("rosenbrock", 3, a=2.0)
    with pytest.raises(ValueError, match="dim must be 2 for beale"):
        functions.minimizers("beale", 3)


def test_named_functions_equal_evaluate():
    x = np.array([0.3, -1.2])
    for name in functions.FUNCTION_NAMES:
        f1, g1 = getattr(functions, name)(x)
        f2, g2 = functions.evaluate(name, x)
        f3, g3 = getattr(ref_functions, name)(x)
        assert f1 == f2 == f3
        assert np.array_equal(g1, g2) and np.array_equal(g1, g3)


# -- finite differences ----------------------------------------------------------------------------

DIMS = {"quadratic": 3, "rosenbrock": 4, "rastrigin": 3}
OPTIONS = {"quadratic": {"condition": 25.0, "angle": 30.0}}


@pytest.mark.parametrize("name", functions.FUNCTION_NAMES)
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    n = DIMS.get(name, 2)
    x = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n)))
    options = OPTIONS.get(name, {})
    _, g = functions.evaluate(name, x, **options)
    h = 1e-6
    fd = np.empty(n)
    for i in range(n):
        step = np.zeros(n)
        step[i] = h
        fd[i] = (functions.evaluate(name, x + step, **options)[0]
                 - functions.evaluate(name, x - step, **options)[0]) / (2 * h)  # fmt: skip
    scale = 1.0 + float(np.max(np.abs(g)))
    assert np.max(np.abs(fd - g)) <= 1e-5 * scale * max(1.0, float(np.max(np.abs(x))) ** 4)


# -- core == twin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", functions.FUNCTION_NAMES)
@given(data=st.data())
def test_core_mirrors_twin(name, dtype, data):
    n = DIMS.get(name, 2)
    rows = data.draw(st.integers(1, 5))
    X = np.array(
        data.draw(st.lists(st.floats(-5, 5), min_size=rows * n, max_size=rows * n)), dtype=dtype
    ).reshape(rows, n)
    options = OPTIONS.get(name, {})
    f, g = functions.evaluate(name, X, **options)
    rf, rg = ref_functions.evaluate(name, X, **options)
    assert_mirrors(f, rf, f"{name} value")
    assert_mirrors(g, rg, f"{name} gradient")
    # A batch is its rows one by one.
    f0, g0 = functions.evaluate(name, X[0], **options)
    assert f0 == f[0] and np.array_equal(g0, g[0])
    assert np.asarray(f0).dtype == dtype


def test_float32_is_kept_and_ints_become_float64():
    f, g = functions.evaluate("booth", np.array([0.5, 0.25], dtype=np.float32))
    assert f.dtype == np.float32 and g.dtype == np.float32
    f, g = functions.evaluate("booth", [1, 3])
    assert g.dtype == np.float64 and f == 0.0


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,x,options,error,match",
    [
        ("ackley", [0.0, 0.0], {}, ValueError, "name must be one of"),
        ("beale", [0.0, 0.0, 0.0], {}, ValueError, "x has 3 coordinates but beale takes exactly 2"),
        ("rosenbrock", [0.0], {}, ValueError, "rosenbrock takes at least 2"),
        ("booth", [0.0, 0.0], {"a": 1.0}, TypeError, "unknown option 'a' for the booth function"),
        ("quadratic", [0.0, 0.0], {"condition": 0.0}, ValueError, "condition must be > 0"),
        ("quadratic", [0.0, 0.0], {"angle": math.inf}, ValueError, "angle must be finite"),
        ("rastrigin", ["a", "b"], {}, TypeError, "x must hold real numbers"),
        ("rastrigin", np.zeros((2, 2, 2)), {}, ValueError, r"x must be a point \(n,\) or points"),
    ],
)
def test_bad_input(name, x, options, error, match):
    with pytest.raises(error, match=match):
        functions.evaluate(name, x, **options)
