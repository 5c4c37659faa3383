"""Fuzzing every public entry point with hostile arrays and hyperparameters.

Arrays come in random shapes (0 and 1 included), dtypes (float16/32/64, ints, bool, object,
complex, non-native byte order), layouts (Fortran, transposed, sliced, negative strides,
read-only) and values (NaN, ±inf, huge, subnormal). Hyperparameters are drawn from the extremes
(0, negatives, 1e±300, NaN, inf, wrong types). The property, for every call:

* either a ValueError / TypeError (DivergenceError is a ValueError), or a documented warning
  (DivergenceWarning, ConvergenceWarning, DataConversionWarning) and a result;
* a result is correct: where the inputs are finite the model and its outputs are finite, and
  where it is cheap the result is held to a reference (the NumPy twin, NumPy itself, or the same
  call on plain contiguous copies of the inputs);
* never a crash (a crash takes the whole pytest process with it), never another exception type,
  never a silent NaN model, never an undocumented warning.

CI runs a few hundred examples (derandomized, see conftest.py); ``pytest --long
tests/test_fuzz.py`` multiplies every budget (>= 10,000 cases in all) and explores new examples.
The number of cases run is printed at the end of the session.

Estimators are found by looking through ``gdcore``'s namespace for classes with ``fit`` and
``predict``, so a new estimator is fuzzed as soon as it is exported.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conftest
import gdcore
from gdcore import linalg, losses, optim, schedules
from gdcore.linear_model import ConvergenceWarning, DataConversionWarning
from gdcore.minimize import FUNCTION_NAMES
from gdcore.reference import linalg as ref_linalg
from gdcore.reference import losses as ref_losses
from gdcore.reference import optim as ref_optim

# -- budgets ----------------------------------------------------------------------------------


def budget(n):
    """Hypothesis settings for a test worth ``n`` examples in CI (times the --long factor)."""
    return settings(
        max_examples=n * conftest.FUZZ["factor"],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.data_too_large],  # fmt: skip
    )


# -- the property -----------------------------------------------------------------------------

DOCUMENTED_WARNINGS = (gdcore.DivergenceWarning, ConvergenceWarning, DataConversionWarning)
# scikit-learn's own MLP warning, which the drop-in MLP estimators repeat word for word.
DOCUMENTED_MESSAGES = ("Got `batch_size` less than 1 or larger than sample size",)
REFUSALS = (ValueError, TypeError)


class Outcome:
    """What a call did: its value, or the refusal it raised, and the warnings it gave."""

    def __init__(self, value=None, error=None, warned=()):
        self.value, self.error, self.warned = value, error, list(warned)

    @property
    def ok(self):
        return self.error is None


def attempt(fn, *args, **kwargs) -> Outcome:
    """Call fn; a ValueError/TypeError is a refusal, any other exception fails the test, and so
    does any warning that is not documented."""
    conftest.FUZZ["cases"] += 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args, **kwargs)
        except REFUSALS as error:
            check_message(error)
            return Outcome(error=error, warned=[w.category for w in caught])
    conftest.FUZZ["accepted"] += 1
    stray = [w for w in caught if not issubclass(w.category, DOCUMENTED_WARNINGS)
             and not str(w.message).startswith(DOCUMENTED_MESSAGES)]  # fmt: skip
    assert not stray, f"undocumented warning(s): {[f'{w.category.__name__}: {w.message}' for w in stray]}"
    return Outcome(value=value, warned=[w.category for w in caught])


def check_message(error):
    """A refusal says something. pybind11's generic "incompatible function arguments" (a type
    the binding's signature does not take; it lists the signature, not the culprit) is counted,
    and the count is printed at the end with the others."""
    assert str(error).strip(), f"{type(error).__name__} without a message"
    if "incompatible function arguments" in str(error):
        conftest.FUZZ["generic"] += 1


def all_finite(*arrays):
    return all(np.isfinite(np.asarray(a, dtype=np.float64)).all() for a in arrays)


# -- strategies -------------------------------------------------------------------------------

FLOAT_DTYPES = ("float32", "float64")
ALL_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool", "object",
              "complex128", ">f8", ">f4")  # fmt: skip
LAYOUTS = ("c", "c", "c", "fortran", "transposed", "sliced", "negative", "readonly")
SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 3e38, -3e38,
                     1e-310, 5e-324, 1e-40, 65504.0, 1e5, -1e5])  # fmt: skip
EXTREMES = [0, 0.0, -0.0, 1, -1, -1e-300, 1e-300, 1e300, -1e300, math.nan, math.inf, -math.inf,
            2**63, -(2**63), 0.5, 0.999999, 1.0 - 1e-16, True, False, None, "bogus", 1 + 1j,
            np.float32(0.1), np.int64(3), [1.0], 5e-324]  # fmt: skip


def dims(low=0, high=6):
    return st.integers(low, high)


@st.composite
def values_for(draw, shape, *, special=None):
    """A float64 array of `shape`: normal values at a random scale, some replaced by specials."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 1e3, 1e-20, 1e20]))
    size = math.prod(shape)
    base = rng.standard_normal(size) * scale
    if special is None:
        special = draw(st.booleans())
    if special and size:
        count = draw(st.integers(1, max(1, min(size, 4))))
        where = rng.integers(0, size, count)
        base[where] = rng.choice(SPECIALS, count)
    return base.reshape(shape)


def with_dtype(values, dtype):
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):
        if dtype == object:
            return values.astype(object)
        if dtype.kind == "c":
            return (values + 0.5j).astype(dtype)
        if dtype.kind in "iu":
            return np.nan_to_num(values, nan=0, posinf=7, neginf=-7).clip(-1e9, 1e9).astype(dtype)
        if dtype.kind == "b":
            return values > 0
        return values.astype(dtype)


def with_layout(a, layout):
    """The same values as `a`, laid out in memory as `layout` says."""
    if layout == "c" or a.ndim == 0:
        return np.ascontiguousarray(a)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "sliced":
        big = np.zeros((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        return big[::2]
    if layout == "negative":
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "readonly":
        b = np.array(a)
        b.flags.writeable = False
        return b
    raise AssertionError(layout)


@st.composite
def arrays(draw, shape, dtypes=ALL_DTYPES, layouts=LAYOUTS, special=None):
    """An array of `shape` with a random dtype, layout and values (see the module docstring)."""
    values = draw(values_for(shape, special=special))
    dtype = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(layouts))
    return with_layout(with_dtype(values, dtype), layout)


def canonical(*arrays):
    """Inputs that every entry point must accept as they are: one native float dtype, C order,
    writeable."""
    dtypes = {a.dtype for a in arrays}
    return len(dtypes) == 1 and all(
        a.dtype in (np.float32, np.float64) and a.dtype.isnative and a.flags.c_contiguous
        and a.flags.writeable for a in arrays
    )  # fmt: skip


def extreme():
    return st.sampled_from(EXTREMES)


def plausible(low=0.0, high=1.0):
    return st.one_of(st.floats(low, high, allow_nan=False, allow_infinity=False), extreme())


class Case:
    """One example's inputs: a third of the examples are hostile (any dtype, layout, wrong
    shapes, extreme hyperparameters); the others are well-formed (one float dtype, C order,
    plausible hyperparameters, values still NaN/inf/huge/subnormal where `special` allows), so
    that the results, not only the refusals, get checked."""

    def __init__(self, data):
        self.data = data
        self.hostile = data.draw(st.integers(0, 2), "hostile") == 0
        self.dtype = data.draw(st.sampled_from(FLOAT_DTYPES), "dtype")

    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label)

    def array(self, shape, label, special=None, wrong=None):
        """An array of `shape`; when hostile, sometimes of the `wrong` shape instead."""
        if not self.hostile:
            return with_dtype(self.draw(values_for(shape, special=special), label), self.dtype)
        if wrong is not None and self.draw(st.integers(0, 3), label + " wrong shape") == 0:
            shape = wrong
        return self.draw(arrays(shape, special=special), label)

    def real(self, low, high, label):
        if self.hostile:
            return self.draw(plausible(low, high), label)
        return self.draw(st.floats(low, high, allow_nan=False, allow_infinity=False), label)

    def pick(self, good, bad=(), label=None):
        """One of `good`, or when hostile one of `good + bad`."""
        return self.draw(st.sampled_from(list(good) + (list(bad) if self.hostile else [])), label)


# -- optimizers: functional steps against the NumPy twin ------------------------------------------

# name: (state array names in the signature order, the options and their plausible ranges)
STEPS = {
    "sgd_step": (("momentum_buffer",), {"lr": (0, 1), "momentum": (0, 1), "dampening": (0, 1),
                                         "weight_decay": (0, 1), "nesterov": None, "maximize": None}),
    "adagrad_step": (("sum",), {"lr": (0, 1), "lr_decay": (0, 1), "weight_decay": (0, 1),
                                "eps": (0, 1), "maximize": None}),
    "rmsprop_step": (("square_avg", "grad_avg", "momentum_buffer"),
                     {"lr": (0, 1), "alpha": (0, 1), "eps": (0, 1), "weight_decay": (0, 1),
                      "momentum": (0, 1), "centered": None, "maximize": None}),
    "adam_step": (("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                  {"lr": (0, 1), "beta1": (0, 1), "beta2": (0, 1), "eps": (0, 1),
                   "weight_decay": (0, 1), "amsgrad": None, "maximize": None,
                   "decoupled_weight_decay": None}),
    "adamax_step": (("exp_avg", "exp_inf"), {"lr": (0, 1), "beta1": (0, 1), "beta2": (0, 1),
                                             "eps": (0, 1), "weight_decay": (0, 1),
                                             "maximize": None}),
    "nadam_step": (("exp_avg", "exp_avg_sq"),
                   {"lr": (0, 1), "beta1": (0, 1), "beta2": (0, 1), "eps": (0, 1),
                    "weight_decay": (0, 1), "momentum_decay": (0, 1), "maximize": None,
                    "decoupled_weight_decay": None, "mu_product": (0, 1)}),
}  # fmt: skip


@st.composite
def step_options(draw, spec, case):
    options = {}
    for name, bounds in spec.items():
        if not draw(st.integers(0, 2)):
            continue  # the default
        if bounds is None:
            options[name] = case.pick([True, False], EXTREMES, name)
        elif name == "beta2" and not case.hostile:
            options[name] = draw(st.floats(0, 0.9999))  # beta2 < 1, or the twin's bias correction is 1/0
        else:
            options[name] = case.real(*bounds, name) if name != "eps" or case.hostile else draw(st.floats(1e-12, 1))
    return options


@budget(60)
@given(data=st.data(), name=st.sampled_from(sorted(STEPS)))
def test_functional_steps(data, name):
    states, spec = STEPS[name]
    case = Case(data)
    n = case.draw(dims(0, 40), "n")
    shape = case.pick([(n,), (n, 3), (3, n)], [()], "shape")
    wrong = (n + 1,) if len(shape) == 1 else (n + 1, n)

    def array(label, positive=False):
        a = case.array(shape, label, special=False if not case.hostile else None, wrong=wrong)
        return np.abs(a) if positive and a.dtype.kind == "f" else a

    param = array("param")
    grad = array("grad")
    state_arrays = [array(s, positive="sq" in s or s in ("sum", "exp_inf")) for s in states]
    if case.draw(st.integers(0, 4), "optional state None") == 0:
        state_arrays[-1] = None
    options = case.draw(step_options(spec, case), "options")
    step = case.draw(st.integers(1, 5), "step") if not case.hostile else case.draw(
        st.one_of(st.integers(1, 5), st.sampled_from([0, -1, 2**62, 2**64, 1.5, True])), "step")

    twin_args = [np.array(a) if isinstance(a, np.ndarray) else a for a in [param, grad, *state_arrays]]
    outcome = attempt(getattr(optim, name), param, grad, *state_arrays, step=step, **options)
    if not outcome.ok:
        return
    # Accepted: the same update as the twin's, on the arrays as they were.
    assert canonical(param, grad, *[s for s in state_arrays if s is not None]), (
        "the core updated arrays it should have refused"
    )
    if name == "nadam_step":
        options = dict(options, mu_product=options.get("mu_product", 1.0))
    twin_options = {k: (float(v) if isinstance(v, (np.floating, np.integer)) and not isinstance(v, np.bool_) else v)
                    for k, v in options.items()}  # fmt: skip
    with np.errstate(all="ignore"):
        expected = getattr(ref_optim, name)(*twin_args, step=int(step), **twin_options)
    conftest.assert_mirrors(param, twin_args[0], f"{name} param")
    for label, got, want in zip(states, state_arrays, twin_args[2:]):
        if got is not None:
            conftest.assert_mirrors(got, want, f"{name} {label}")
    if name == "nadam_step":
        assert outcome.value == pytest.approx(expected, rel=1e-12, nan_ok=True)


# -- optimizers: the classes, on hostile layouts and options -----------------------------------

OPTIMIZER_CLASSES = [getattr(optim, n) for n in optim.__all__
                     if inspect.isclass(getattr(optim, n)) and getattr(optim, n) is not optim.Optimizer]  # fmt: skip


@budget(40)
@given(data=st.data(), cls=st.sampled_from(OPTIMIZER_CLASSES))
def test_optimizer_classes(data, cls):
    case = Case(data)
    n = case.draw(dims(0, 30), "n")
    params = [case.array((n,), "param", special=False), case.array((2, 3), "param2", special=False)]
    params = params[: case.draw(st.integers(1, 2), "how many")]
    names = [p for p in inspect.signature(cls).parameters if p not in ("params", "num_threads")]
    options = {}
    for name in case.draw(st.lists(st.sampled_from(names), max_size=3, unique=True), "options"):
        if name == "betas":
            options[name] = case.pick([(0.9, 0.999), (0.0, 0.0), (0.5, 0.9999)],
                                      [(2.0, 0.5), (math.nan, 0.9), 0.9, "x"], name)  # fmt: skip
        elif name in ("nesterov", "amsgrad", "maximize", "centered", "decoupled_weight_decay",
                      "foreach", "check_finite"):
            options[name] = case.pick([True, False], EXTREMES, name)
        else:
            options[name] = case.real(1e-12, 1.0, name)
    built = attempt(cls, params, **options)
    if not built.ok:
        return
    opt = built.value
    # each parameter on its own: as torch's, one optimizer may hold float32 and float64 ones
    assert all(canonical(p) for p in params), "the optimizer took parameters it cannot update in place"
    # a copy fed plain contiguous gradients is the reference: layout must not change the bits
    copies = [p.copy() for p in params]
    twin = cls(copies, **options)
    for _ in range(case.draw(st.integers(1, 3), "steps")):
        grads = [case.array(p.shape, "grad", wrong=(p.size + 1,)) for p in params]
        if case.hostile and case.draw(st.integers(0, 5), "wrong count") == 0:
            grads = grads[:-1]
        before = [p.copy() for p in params]
        stepped = attempt(opt.step, grads if len(grads) != 1 else grads[0])
        if not stepped.ok:
            for p, b in zip(params, before):
                assert np.array_equal(p, b, equal_nan=True), "a refused step changed the parameters"
            continue
        plain = [np.ascontiguousarray(g, dtype=p.dtype) for g, p in zip(grads, params)]
        assert all(g.dtype == p.dtype for g, p in zip(grads, params)), "a gradient of the wrong dtype was accepted"
        if options.get("check_finite", True) is True:
            assert all(np.isfinite(g).all() for g in plain), "a non-finite gradient passed check_finite"
        twin.step(plain)
        for p, c in zip(params, copies):
            assert np.array_equal(p, c, equal_nan=True), "the step depends on the gradient's layout"


# -- losses against the twin -------------------------------------------------------------------


@st.composite
def out_pair(draw, shapes, dtype, hostile=True):
    """None, or a pair of output arrays, sometimes (hostile) of the wrong shape, dtype or layout."""
    kind = draw(st.sampled_from(["none", "none", "good"] + (["bad"] if hostile else [])))
    if kind == "none":
        return None
    if kind == "good":
        return tuple(np.empty(s, dtype) for s in shapes)
    return tuple(draw(arrays(s if draw(st.booleans()) else (s[0] + 1,) + tuple(s[1:]) if s else (1,),
                             special=False)) for s in shapes)  # fmt: skip


@budget(50)
@given(data=st.data(), loss=st.sampled_from(losses.LOSSES + ("bogus",)))
def test_loss_values(data, loss):
    case = Case(data)
    shape = case.draw(st.sampled_from([(0,), (1,), (7,), (2, 3), (40,), ()]), "shape")
    p = case.array(shape, "p")
    y = case.array(shape, "y", wrong=(3,))
    epsilon = case.real(0, 2, "epsilon")
    out = case.draw(out_pair((p.shape, p.shape), p.dtype, case.hostile), "out")
    got = attempt(losses.loss_values, loss, p, y, epsilon=epsilon, out=out)
    if not got.ok:
        return
    value, slope = got.value
    want = ref_losses.loss_values_api(loss, p, y, epsilon=float(epsilon))
    conftest.assert_mirrors(value, want[0], f"{loss} loss")
    conftest.assert_mirrors(slope, want[1], f"{loss} dloss")


@budget(40)
@given(data=st.data())
def test_softmax_cross_entropy(data):
    case = Case(data)
    n, k = case.draw(dims(0, 6), "n"), case.draw(dims(1, 5) if not case.hostile else dims(0, 5), "k")
    logits = case.array((n, k), "logits")
    good = st.lists(st.integers(0, max(k - 1, 0)), min_size=n, max_size=n).map(np.array)
    labels = case.draw(good if not case.hostile else st.one_of(
        good, st.lists(st.integers(-2, 6), min_size=n, max_size=n).map(np.array),
        arrays((n,)), arrays((n + 1,))), "labels")  # fmt: skip
    out = case.draw(out_pair(((n,), (n, k)), logits.dtype, case.hostile), "out")
    got = attempt(losses.softmax_cross_entropy, logits, labels, out=out)
    if not got.ok:
        return
    assert labels.size == 0 or (labels.min() >= 0 and labels.max() < k), "labels out of range accepted"
    assert k > 0 or n == 0, "a softmax over zero classes was accepted"
    want = ref_losses.softmax_cross_entropy(np.asarray(logits), labels)
    conftest.assert_mirrors(got.value[0], want[0], "softmax loss")
    conftest.assert_mirrors(got.value[1], want[1], "softmax gradient")


@budget(25)
@given(data=st.data())
def test_multi_squared_error(data):
    case = Case(data)
    n, k = case.draw(dims(0, 6), "n"), case.draw(dims(0, 5), "k")
    p = case.array((n, k), "p")
    y = case.array((n, k), "y", wrong=(n, k + 1))
    out = case.draw(out_pair(((n,), (n, k)), p.dtype, case.hostile), "out")
    got = attempt(losses.multi_squared_error, p, y, out=out)
    if got.ok:
        want = ref_losses.multi_squared_error(np.asarray(p), np.asarray(y))
        conftest.assert_mirrors(got.value[0], want[0], "multi squared loss")
        conftest.assert_mirrors(got.value[1], want[1], "multi squared gradient")


# -- gemm / matmul -------------------------------------------------------------------------------


def assert_product_close(got, want, bound, k):
    """A matrix product to the accuracy its summation order allows: entries within
    4 (k + 2) eps * bound of NumPy's, where bound is the product of the absolute values."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    finite = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), finite), "non-finite entries differ from NumPy's"
    if not finite.any():
        return
    tol = 4 * (k + 2) * np.finfo(got.dtype).eps * bound + np.finfo(got.dtype).tiny
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert (err[finite] <= tol[finite]).all(), f"max error {err[finite].max():.3g}"


def abs_product(A, B):
    with np.errstate(all="ignore"):
        return np.abs(np.asarray(A, np.float64)) @ np.abs(np.asarray(B, np.float64))


@budget(40)
@given(data=st.data())
def test_gemm(data):
    case = Case(data)
    m, k, n = case.draw(dims(0, 9)), case.draw(dims(0, 9)), case.draw(dims(0, 9))
    trans_a, trans_b = case.draw(st.booleans()), case.draw(st.booleans())
    A = case.array((k, m) if trans_a else (m, k), "A", special=case.draw(st.integers(0, 4)) == 0)
    if not case.hostile and trans_a and case.draw(st.booleans()):
        A = np.ascontiguousarray(A.T).T  # a transposed view: read without a copy
    B = case.array((n, k) if trans_b else (k, n), "B", special=False)
    C = case.array((m, n), "C", special=False, wrong=(m + 1, n))
    alpha = case.real(-2, 2, "alpha")
    beta = case.pick([0.0, 1.0, case.real(-2, 2, "beta")], [math.nan, "x"], "beta")
    C0 = np.array(C)
    got = attempt(linalg.gemm, A, B, C, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
    if not got.ok:
        return
    assert A.dtype == B.dtype == C.dtype and C.flags.c_contiguous and C.flags.writeable
    want = ref_linalg.gemm(np.array(A), np.array(B), C0, alpha=float(alpha), beta=float(beta),
                           trans_a=trans_a, trans_b=trans_b)  # fmt: skip
    opA, opB = (A.T if trans_a else A), (B.T if trans_b else B)
    with np.errstate(all="ignore"):
        bound = abs(float(alpha)) * abs_product(opA, opB) + (abs(float(beta)) * np.abs(C0) if beta else 0)
    assert_product_close(C, want, bound, opA.shape[1])


@budget(25)
@given(data=st.data())
def test_matmul(data):
    case = Case(data)
    m, k, n = case.draw(dims(0, 7)), case.draw(dims(0, 7)), case.draw(dims(0, 7))
    A = case.array((m, k), "A", wrong=(m,))
    B = case.array((k, n), "B", wrong=(k + 1, n))
    got = attempt(linalg.matmul, A, B)
    if not got.ok:
        return
    assert A.dtype.kind in "fiub" and B.dtype.kind in "fiub", f"matmul accepted {A.dtype} @ {B.dtype}"
    with np.errstate(all="ignore"):  # NumPy's own product warns about 0 · inf
        want = ref_linalg.matmul(A, B)
    assert_product_close(got.value, want, abs_product(A, B), A.shape[1])


# -- schedules -----------------------------------------------------------------------------------


@budget(40)
@given(data=st.data(), name=st.sampled_from(schedules.SCHEDULE_NAMES + ("bogus",)))
def test_schedules(data, name):
    cls = schedules._BY_NAME.get(name)
    case = Case(data)
    names = [p for p in inspect.signature(cls).parameters][1:] if cls else ["x"]
    kw = {}
    for key in case.draw(st.lists(st.sampled_from(names), max_size=3, unique=True), "keys"):
        if case.hostile:
            kw[key] = case.draw(st.one_of(st.integers(-3, 100), plausible(0, 2),
                                          st.lists(st.integers(-2, 50), max_size=4)), key)  # fmt: skip
        elif key == "milestones":
            kw[key] = sorted(set(case.draw(st.lists(st.integers(1, 50), max_size=4), key)))
        elif key in ("mode", "threshold_mode", "anneal_strategy"):
            continue
        else:
            kw[key] = case.draw(st.one_of(st.integers(1, 100), st.floats(0.01, 2)), key)
    lr = case.real(0, 1, "lr")
    warmup = case.pick([0, 0, 3], [-1, 2**70], "warmup_steps")
    built = attempt(schedules.make_schedule, name, lr, warmup_steps=warmup, **kw)
    if not built.ok:
        return
    sched = built.value
    ts = data.draw(st.lists(st.one_of(st.integers(0, 10**6), st.sampled_from([2**62, 2**63 - 1])),
                            min_size=1, max_size=5), "t")  # fmt: skip
    for t in ts:
        got = attempt(sched.lr_at, t)
        assert got.ok, f"lr_at({t}) refused: {got.error}"
        # a growing schedule (gamma > 1, power_t < 0) may overflow to +inf, never to NaN
        assert got.value >= 0, f"{name}{kw}: lr({t}) = {got.value}"
    many = attempt(sched.lr_many, np.array(ts))
    assert many.ok and np.array_equal(many.value, [sched.lr_at(t) for t in ts])
    bad = attempt(sched.lr_many, data.draw(arrays((3,))))
    if bad.ok:
        assert (bad.value >= 0).all()
    for metric in data.draw(st.lists(st.one_of(plausible(-1, 1), st.none()), max_size=3), "metrics"):
        attempt(sched.step, metric)
        assert all(v >= 0 for v in sched.get_last_lr())


# -- minimize ------------------------------------------------------------------------------------

OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adamax",
                   "nadam")  # fmt: skip


@budget(40)
@given(data=st.data(), fun=st.sampled_from(FUNCTION_NAMES + ("python", "python-bad", "bogus")))  # fmt: skip
def test_minimize(data, fun):
    case = Case(data)
    size = case.draw(dims(1, 3) if not case.hostile else dims(0, 5), "size")
    if fun in ("beale", "himmelblau", "booth", "saddle") and not case.hostile:
        size = 2
    x0 = case.array((size,), "x0", wrong=(size, 2))
    kw = dict(
        optimizer=case.pick(OPTIMIZER_NAMES, ["bogus"], "optimizer"),
        lr=case.pick([None, case.real(1e-6, 1, "lr"), 100.0], EXTREMES, "lr"),
        max_iter=case.pick([0, 1, case.draw(st.integers(2, 50), "max_iter")], [-1, 2.5, None], "max_iter"),
        tol=case.pick([None, 1e-6], EXTREMES, "tol"),
    )
    grad = None
    # The objectives square in float64: a float32 point of ~1e20 (lr=100 for a few steps) would
    # make NumPy warn of overflow inside this test's own function, not inside gdcore.
    def square(x):  # the user's objective: where it overflows, its inf is gdcore's to handle
        with np.errstate(over="ignore"):
            return float(np.sum(np.square(x, dtype=np.float64)))

    if fun == "python":
        fun, grad = square, (lambda x: 2 * x)
    elif fun == "python-bad":
        # a gradient of the wrong shape, dtype or values
        bad = case.array((size,), "bad grad", wrong=(size + 1,))
        fun, grad = square, (lambda x: bad)
    got = attempt(gdcore.minimize, fun, x0, grad, **kw)
    if not got.ok:
        return
    result = got.value
    assert np.isfinite(result.x).all(), f"minimize returned a non-finite point: {result}"
    assert math.isfinite(result.fun), f"minimize returned a non-finite value: {result}"
    assert result.x.shape == np.asarray(x0).shape


# -- fit_linear ----------------------------------------------------------------------------------


@st.composite
def targets(draw, n, classification, case):
    if classification:
        kinds = ["int", "str", "float", "bool"] + (["one", "hostile"] if case.hostile else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "hostile":
            return case.array((n,), "y", wrong=(n + 1,))
        k = 1 if kind == "one" else draw(st.integers(2, 4))
        labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=int)
        if kind != "one" and n >= k:
            labels[:k] = np.arange(k)  # every class present
        return {"int": labels, "one": labels, "str": np.array(["a", "b", "c", "d"])[labels],
                "float": labels * 1.5 - 1.0, "bool": labels % 2 == 0}[kind]  # fmt: skip
    shape = case.pick([(n,), (n,), (n, 2)], [(n + 1,)], "y shape")
    return case.array(shape, "y", special=case.hostile and draw(st.integers(0, 4)) == 0)


def fit_options(case, n):
    """fit_linear's keywords: plausible ones, or (hostile) anything."""
    good = {
        "optimizer": st.sampled_from(OPTIMIZER_NAMES),
        "lr": st.one_of(st.floats(1e-6, 1), st.sampled_from([10.0, 1e6])),
        "batch_size": st.one_of(st.integers(1, 20), st.none()),
        "max_epochs": st.integers(1, 4),
        "alpha": st.floats(0, 1), "l1_ratio": st.floats(0, 1), "epsilon": st.floats(0, 2),
        "penalty": st.sampled_from(["l2", "l1", "elasticnet", None]),
        "schedule": st.sampled_from([None, "invscaling", "cosine", "plateau", "exponential"]),
        "multiclass": st.sampled_from(["ovr", "softmax"]),
        "average": st.one_of(st.booleans(), st.integers(0, 5)),
        "tol": st.one_of(st.none(), st.floats(0, 1)), "num_threads": st.sampled_from([None, 1, 2]),
        "sample_weight": values_for((n,), special=False).map(np.abs),
        "validation_fraction": st.floats(0.2, 0.5), "record_every": st.integers(0, 3),
    }  # fmt: skip
    kw = {}
    for key in case.draw(st.lists(st.sampled_from(sorted(good)), max_size=4, unique=True), "keys"):
        if case.hostile and case.draw(st.booleans(), key + " hostile"):
            kw[key] = case.draw(extreme() if key != "sample_weight" else arrays((n,)), key)
        else:
            kw[key] = case.draw(good[key], key)
    return kw


@budget(40)
@given(data=st.data(), loss=st.sampled_from(losses.LOSSES))
def test_fit_linear(data, loss):
    case = Case(data)
    n, d = case.draw(dims(1, 12) if not case.hostile else dims(0, 12), "n"), case.draw(dims(1, 4) if not case.hostile else dims(0, 4), "d")
    X = case.array((n, d), "X", special=case.hostile and case.draw(st.integers(0, 4)) == 0)
    y = case.draw(targets(n, loss in losses.CLASSIFICATION_LOSSES, case), "y")
    kw = fit_options(case, n)
    kw.setdefault("max_epochs", 3)
    kw["on_divergence"] = case.pick(["warn", "raise"], ["bogus"], "on_divergence")
    got = attempt(gdcore.fit_linear, X, y, loss=loss, **kw)
    if not got.ok:
        return
    fit = got.value
    assert all_finite(fit.coef, fit.intercept), f"fit_linear returned a non-finite model: {fit.coef}"
    Xf = np.asarray(X, dtype=fit.coef.dtype)
    with np.errstate(all="ignore"):
        want = Xf @ fit.coef.T + fit.intercept
    got = attempt(fit.decision_function, Xf)
    if not got.ok:  # refused only where the scores do leave the dtype's range
        assert "overflows" in str(got.error) and not all_finite(want), got.error
        return
    assert all_finite(got.value), "finite data and model gave non-finite scores"
    assert np.allclose(np.asarray(got.value).reshape(want.shape), want, rtol=1e-5, atol=1e-6)


# The other functional trainers (gdcore.fit_mlp, being written now): fuzzed from their signature
# as soon as they are exported.
TRAINERS = [getattr(gdcore, name) for name in ("fit_mlp",) if hasattr(gdcore, name)]


@pytest.mark.skipif(not TRAINERS, reason="no functional trainer besides fit_linear is exported yet")
@budget(30)
@given(data=st.data(), classification=st.booleans())
def test_other_trainers(data, classification):
    case = Case(data)
    trainer = case.draw(st.sampled_from(TRAINERS), "trainer")
    n, d = case.draw(dims(1, 12) if not case.hostile else dims(0, 12), "n"), case.draw(dims(1, 4) if not case.hostile else dims(0, 4), "d")
    X = case.array((n, d), "X", special=case.hostile and case.draw(st.integers(0, 4)) == 0)
    y = case.draw(targets(n, classification, case), "y")
    params = inspect.signature(trainer).parameters
    kw = {}
    for key in ("max_epochs", "max_iter"):
        if key in params:
            kw[key] = case.draw(st.integers(1, 3), key)
    if "loss" in params and classification:
        kw["loss"] = "log_loss"
    if case.hostile:
        names = [p for p in params if p not in ("X", "y")]
        for key in case.draw(st.lists(st.sampled_from(names), max_size=3, unique=True), "keys"):
            kw[key] = case.draw(extreme(), key)
    got = attempt(trainer, X, y, **kw)
    if not got.ok:
        return
    result = got.value
    fields = result if isinstance(result, dict) else getattr(result, "__dict__", {})
    learned = []
    for value in fields.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, np.ndarray) and item.dtype.kind == "f":
                learned.append(item)
    assert all(np.isfinite(a).all() for a in learned), f"{trainer.__name__} returned a non-finite model"


# -- estimators, found in gdcore's namespace -----------------------------------------------------


def estimator_classes():
    found = []
    # __all__ too: gdcore may load some estimators lazily (module __getattr__), unseen by dir()
    for name in sorted(set(dir(gdcore)) | set(getattr(gdcore, "__all__", ()))):
        obj = getattr(gdcore, name)
        if inspect.isclass(obj) and callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None)):
            found.append(obj)
    return found


ESTIMATORS = estimator_classes()


def is_classifier(cls):
    return getattr(cls, "_estimator_type", None) == "classifier" or cls.__name__.endswith("Classifier")


def fitted_arrays(est):
    """The learned arrays: every public attribute ending in '_' that holds floats."""
    for key, value in vars(est).items():
        if not key.endswith("_") or key.startswith("_"):
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, np.ndarray) and item.dtype.kind == "f":
                yield key, item


@st.composite
def estimator_options(draw, cls, case):
    """A short fit; when hostile, a few constructor arguments at their extremes."""
    params = inspect.signature(cls).parameters
    options = {}
    for key in ("max_iter", "max_epochs", "n_iter"):
        if key in params:
            options[key] = draw(st.integers(1, 4))
    if "random_state" in params:
        options["random_state"] = 0
    if not case.hostile:
        for key, values in {"batch_size": [1, 4, None], "optimizer": ["sgd", "adam", "momentum"],
                            "learning_rate": ["optimal", "constant", "invscaling", "adaptive"],
                            "alpha": [1e-4, 1e-2, 0.0], "average": [False, True, 3],
                            "penalty": ["l2", "l1", "elasticnet", None], "early_stopping": [False, True]}.items():  # fmt: skip
            if key in params and draw(st.booleans()):
                options[key] = draw(st.sampled_from(values))
        if options.get("alpha") == 0.0 and options.get("learning_rate", "optimal") == "optimal":
            options["alpha"] = 1e-4
        return options
    names = sorted(p for p in params if p not in ("verbose",))
    for key in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        default = params[key].default
        options[key] = draw(st.one_of(extreme(), st.just(default),
                                      st.sampled_from([0.5, 1e-3, 10, "constant", "adam", 1])))  # fmt: skip
    return options


def check_predictions(est, X, classifier):
    n = X.shape[0]
    pred = attempt(est.predict, X)
    assert pred.ok, f"predict refused finite data: {pred.error!r}"
    assert len(pred.value) == n
    if classifier:
        assert set(np.asarray(pred.value).tolist()) <= set(np.asarray(est.classes_).tolist())
    else:
        assert all_finite(pred.value), "a fitted regressor predicted NaN/inf on finite data"
    if hasattr(est, "decision_function"):
        scores = attempt(est.decision_function, X)
        assert scores.ok and all_finite(scores.value) and len(scores.value) == n
    if hasattr(est, "predict_proba"):
        proba = attempt(est.predict_proba, X)
        if proba.ok:  # hinge & co. refuse it (AttributeError is not caught: hasattr says no)
            p = np.asarray(proba.value)
            assert p.shape == (n, len(est.classes_)) and all_finite(p)
            assert (p >= 0).all() and (p <= 1).all() and np.allclose(p.sum(axis=1), 1.0)


@budget(30)
@given(data=st.data(), cls=st.sampled_from(ESTIMATORS))
def test_estimators(data, cls):
    classifier = is_classifier(cls)
    case = Case(data)
    n, d = case.draw(dims(2, 12) if not case.hostile else dims(0, 12), "n"), case.draw(dims(1, 4) if not case.hostile else dims(0, 4), "d")
    X = case.array((n, d), "X", special=case.hostile and case.draw(st.integers(0, 4)) == 0)
    y = case.draw(targets(n, classifier, case), "y")
    options = case.draw(estimator_options(cls, case), "options")
    built = attempt(cls, **options)
    if not built.ok:
        return
    est = built.value
    method = data.draw(st.sampled_from(["fit", "partial_fit"] if hasattr(est, "partial_fit") else ["fit"]))
    kwargs = {}
    if method == "partial_fit" and classifier:
        kwargs["classes"] = case.pick([np.unique(y)], [None], "classes")
    if data.draw(st.integers(0, 4), "weights") == 0:
        kwargs["sample_weight"] = case.array((n,), "sample_weight", special=False, wrong=(n + 1,))
        if not case.hostile:
            kwargs["sample_weight"] = np.abs(kwargs["sample_weight"])
    fitted = attempt(getattr(est, method), X, y, **kwargs)
    if not fitted.ok:
        return
    learned = dict(fitted_arrays(est))
    assert learned, f"{cls.__name__}.{method} returned without a learned array"
    for key, value in learned.items():
        assert np.isfinite(value).all(), f"{cls.__name__}.{method} left {key} non-finite (silent NaN model)"
    Xf = np.asarray(X, dtype=np.float64)
    if n:
        check_predictions(est, Xf, classifier)
    # R² of one sample is undefined and squares of residuals beyond 1e154 overflow (scikit-learn
    # warns of both): score only where it is defined
    moderate = np.asarray(y).dtype.kind in "biuUS" or (np.abs(np.asarray(y, np.float64)) < 1e100).all()
    if n >= 2 and moderate and (classifier or (np.abs(est.predict(Xf)) < 1e100).all()):
        score = attempt(est.score, Xf, y)
        if score.ok:
            assert math.isfinite(score.value)
    # hostile data at prediction time: refused or answered, never a crash or a NaN answer
    Xbad = data.draw(arrays((data.draw(dims(0, 4)), data.draw(dims(0, 5)))), "X at predict")
    pred = attempt(est.predict, Xbad)
    if pred.ok and not classifier:
        assert all_finite(pred.value), "predict turned hostile X into NaN without refusing it"
    if pred.ok:
        assert Xbad.shape[1] == Xf.shape[1] and all_finite(Xbad.astype(np.complex128).real) or Xbad.dtype.kind == "b"


def test_estimators_are_discovered():
    """The namespace scan finds at least the two SGD estimators (and any added later)."""
    assert {gdcore.SGDClassifier, gdcore.SGDRegressor} <= set(ESTIMATORS)


def test_unfitted_estimators_refuse():
    for cls in ESTIMATORS:
        got = attempt(cls().predict, np.zeros((2, 2)))
        assert not got.ok, f"{cls.__name__}.predict before fit did not refuse"
