"""The mirror's rule, checked: every callable of ``gdcore._core`` has a NumPy twin in
``gdcore.reference`` with the same name and the same parameters, and the twins added as thin
adapters give the core's values.

How the parameters are read:

* core (pybind11) functions carry no ``__text_signature__`` and ``inspect.signature`` refuses
  them, so the first line of ``__doc__`` is parsed: pybind11 writes it as
  ``name(a: type, b: type = default, *, c: type) -> result``. The text between the name's "("
  and its matching ")" is split at commas outside brackets (types such as
  ``Sequence[SupportsInt | SupportsIndex]`` hold commas); each piece's leading word is the
  parameter's name, and a lone ``*`` makes the rest keyword-only. A function with several
  overloads (a doc starting "Overloaded function.") is refused with a message, as none exists.
* core classes: the same, on ``__init__.__doc__``, without ``self``; then every method and
  property of the core class must exist on the twin (except the per-class list below), and
  methods present on both must take the same parameters.
* twins: ``inspect.signature``.

Names and order are compared, and whether each parameter is keyword-only; types and defaults
are not (the twins take NumPy arrays and Python numbers where the core takes buffers).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import itertools
import pkgutil
import re

import numpy as np
import pytest

from conftest import assert_mirrors

import gdcore
import gdcore.reference
from gdcore import _core, optim, schedules
from gdcore.minimize import _prepare
from gdcore.reference import functions as ref_functions
from gdcore.reference import losses as ref_losses
from gdcore.reference import minimize as ref_minimize
from gdcore.reference import optim as ref_optim
from gdcore.reference import parallel as ref_parallel

# Callables of _core with no twin, and why.
EXEMPT = {
    # settings and introspection: they read or set process state; there is no arithmetic to mirror
    "get_num_threads": "setting",
    "set_num_threads": "setting",
    "omp_max_threads": "introspection",
    "simd_path": "introspection",
    "set_simd_path": "setting",
    "detected_simd_path": "introspection",
    "team_policy": "introspection",
    "set_team_policy": "setting",
    "loss_names": "introspection: the names gdcore.losses lists",
    # helpers of the Python layer and of tests, not kernels
    "_schedule_from_spec": "rebuilds a schedule object from its saved spec (persistence)",
    "_simulate_team_choice": "drives TeamChooser with given timings for tests; a speed choice",
    # the abstract base of the schedules: built only through its subclasses, which have twins
    "Schedule": "abstract base class",
    # a hardware probe: it times dependent FMAs to measure the CPU's peak; nothing to mirror
    "fma_peak_probe": "hardware probe",
}

# Core names whose same-name twin does not take the core's arguments yet, with the temporary
# twin that does (none now; the test below fails while an entry is stale).
PENDING: dict[str, str] = {}

# Methods of core classes that their twins leave out.
METHOD_EXEMPT = {
    # the API's conveniences on every schedule: copy() for the loops' private copies, kind and
    # spec() for saving, lr_many(t0, n) for plotting; the twins' lr/observe/state are the maths
    "schedule": {"copy", "kind", "spec", "lr_many"},
}


def _reference_modules():
    return [
        importlib.import_module(f"gdcore.reference.{info.name}")
        for info in pkgutil.iter_modules(gdcore.reference.__path__)
    ]


def _twins():
    """name -> [(module, object)] for every name bound in a gdcore.reference module to an object
    that module defines (imports of other modules' objects are not twins)."""
    found: dict[str, list] = {}
    for module in _reference_modules():
        for name, obj in vars(module).items():
            if callable(obj) and getattr(obj, "__module__", None) == module.__name__:
                found.setdefault(name, []).append((module.__name__, obj))
    return found


TWINS = _twins()
CORE_CALLABLES = sorted(
    name for name in dir(_core) if not name.startswith("__") and callable(getattr(_core, name))
)
CHECKED = [name for name in CORE_CALLABLES if name not in EXEMPT]


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


def _doc_parameters(doc: str | None, name: str) -> list[tuple[str, bool]]:
    """[(parameter, keyword_only)] from pybind11's signature line ``name(...) -> ...``."""
    assert doc, f"{name}: no __doc__ to read the signature from"
    line = doc.lstrip().splitlines()[0]
    assert not line.startswith("Overloaded"), f"{name}: overloaded; compare each overload by hand"
    assert line.startswith(name + "("), f"{name}: unexpected signature line {line!r}"
    depth = 0
    for end, ch in enumerate(line[len(name) :], len(name)):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            break
    params, keyword_only = [], False
    for part in _split_top_level(line[len(name) + 1 : end]):
        part = part.strip()
        if part == "*":
            keyword_only = True
        elif part != "/":
            params.append((re.match(r"\**(\w+)", part).group(1), keyword_only))
    return params


def _core_parameters(name: str) -> list[tuple[str, bool]]:
    obj = getattr(_core, name)
    if isinstance(obj, type):
        params = _doc_parameters(obj.__init__.__doc__, "__init__")
        assert params[:1] == [("self", False)], params
        return params[1:]
    return _doc_parameters(obj.__doc__, name)


def _twin_parameters(obj) -> list[tuple[str, bool]]:
    out = []
    for p in inspect.signature(obj).parameters.values():
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        out.append((prefix + p.name, p.kind == p.KEYWORD_ONLY))
    return out


def _twin_of(name: str):
    """The one twin named `name` (its temporary name while PENDING)."""
    if name in PENDING:
        return getattr(ref_losses, PENDING[name])
    twins = TWINS.get(name, [])
    assert twins, f"_core.{name} has no twin named {name} in any gdcore.reference module"
    assert len(twins) == 1, f"_core.{name} has several twins: {[m for m, _ in twins]}"
    return twins[0][1]


# -- names and parameters --------------------------------------------------------------------------


def test_exemptions_name_callables_of_the_core():
    stale = [name for name in list(EXEMPT) + list(PENDING) if name not in CORE_CALLABLES]
    assert not stale, f"exempt or pending but not in _core (remove them): {stale}"
    assert not set(EXEMPT) & set(PENDING)


@pytest.mark.parametrize("name", CHECKED)
def test_twin_has_the_core_name_and_parameters(name):
    twin = _twin_of(name)
    core = getattr(_core, name)
    assert isinstance(twin, type) == isinstance(core, type), f"{name}: class vs function"
    assert _twin_parameters(twin) == _core_parameters(name), f"{name}: (parameter, keyword-only)"


@pytest.mark.parametrize("name", [n for n in CHECKED if isinstance(getattr(_core, n), type)])
def test_twin_class_has_the_core_methods(name):
    core, twin = getattr(_core, name), _twin_of(name)
    skip = METHOD_EXEMPT["schedule"] if issubclass(core, _core.Schedule) else set()
    for method in sorted(set(dir(core)) - skip):
        if method.startswith("_"):
            continue
        attr = getattr(core, method)
        assert hasattr(twin, method), f"{name}.{method} has no twin"
        if isinstance(attr, property):
            assert isinstance(getattr(twin, method), property), f"{name}.{method}: not a property"
            continue
        want = _doc_parameters(attr.__doc__, method)
        assert want[:1] == [("self", False)], want
        got = _twin_parameters(getattr(twin, method))
        assert got == [("self", False)] + want[1:], f"{name}.{method}: (parameter, keyword-only)"


def test_pending_twins_are_still_pending():
    # An entry whose same-name twin now takes the core's arguments must leave PENDING.
    for name in sorted(PENDING):
        twins = TWINS.get(name, [])
        done = len(twins) == 1 and _twin_parameters(twins[0][1]) == _core_parameters(name)
        assert not done, f"{name}: its twin takes the core's arguments now; drop it from PENDING"


def test_the_signature_parser():
    doc = ("f(a: object, b: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "
           "*, c: typing.SupportsFloat = 1.0, d: bool = False) -> None\n\nText.")  # fmt: skip
    assert _doc_parameters(doc, "f") == [("a", False), ("b", False), ("c", True), ("d", True)]
    assert _doc_parameters("g() -> int", "g") == []
    assert _core_parameters("batch_chunks") == [
        ("rows", False), ("d", False), ("heads", False), ("num_threads", False)
    ]  # fmt: skip


# -- the adapters give the core's values -----------------------------------------------------------

DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ref_losses.LOSSES)
def test_loss_values_kernel(kind, dtype):
    rng = np.random.default_rng(7)
    p = rng.normal(scale=3.0, size=(5, 40)).astype(dtype)
    if kind in ref_losses.CLASSIFICATION_LOSSES:
        y = np.where(rng.random(p.shape) < 0.5, -1.0, 1.0).astype(dtype)
    else:
        y = rng.normal(scale=3.0, size=p.shape).astype(dtype)
    got = (np.empty_like(p), np.empty_like(p))
    want = (np.empty_like(p), np.empty_like(p))
    assert _core.loss_values(kind, 0.3, p, y, *got) is None
    assert _twin_of("loss_values")(kind, 0.3, p, y, *want) is None
    assert_mirrors(got[0], want[0], f"{kind} loss")
    assert_mirrors(got[1], want[1], f"{kind} dloss")


def _softmax_inputs(rng, dtype):
    logits = rng.normal(scale=4.0, size=(50, 6)).astype(dtype)
    return logits, rng.integers(0, 6, size=50).astype(np.int64)


def _multi_squared_inputs(rng, dtype):
    return tuple(rng.normal(size=(2, 30, 4)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name, inputs, seed",
    [("softmax_loss_grad", _softmax_inputs, 8),
     ("multi_squared_loss_grad", _multi_squared_inputs, 9)],  # fmt: skip
)
def test_two_output_loss_kernels(name, inputs, seed, dtype):
    # (loss per row, derivative like the first input), written in place by core and twin alike
    first, second = inputs(np.random.default_rng(seed), dtype)
    rows = first.shape[0]
    got = (np.empty(rows, dtype), np.empty_like(first))
    want = (np.empty(rows, dtype), np.empty_like(first))
    assert getattr(_core, name)(first, second, *got) is None
    assert getattr(ref_losses, name)(first, second, *want) is None
    assert_mirrors(got[0], want[0], "loss")
    assert_mirrors(got[1], want[1], "derivative")


@pytest.mark.parametrize("dtype", DTYPES)
def test_vmath_kernels(dtype):
    low = -87.0 if dtype == np.float32 else -708.0
    x = np.linspace(low, 0.0, 3000).astype(dtype).reshape(30, 100)  # 2-D in, flat out
    exp = _core.vmath_exp_nonpositive(x)
    np.testing.assert_array_equal(exp, ref_losses.vmath_exp_nonpositive(x))
    t = np.linspace(0.0, 1.0, 3000).astype(dtype).reshape(3, 1000)
    np.testing.assert_array_equal(_core.vmath_log1p_unit(t), ref_losses.vmath_log1p_unit(t))
    u = np.geomspace(1.0, 1e30, 3000).astype(dtype).reshape(3, 1000)
    got = _core.vmath_log_at_least_one(u)
    assert got.shape == (3000,)
    np.testing.assert_array_equal(got, ref_losses.vmath_log_at_least_one(u))


FUNCTION_CASES = [
    ("quadratic", 3, {"condition": 20.0, "angle": 30.0}),
    ("rosenbrock", 4, {"a": 1.5, "b": 50.0}),
    ("beale", 2, {}),
    ("himmelblau", 2, {}),
    ("booth", 2, {}),
    ("saddle", 2, {}),
    ("rastrigin", 3, {"A": 5.0}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,n,options", FUNCTION_CASES, ids=[c[0] for c in FUNCTION_CASES])
def test_evaluate_function(name, n, options, dtype):
    X = np.random.default_rng(10).uniform(-2, 2, size=(6, n)).astype(dtype)
    for x in (X, X[0]):
        got = _core.evaluate_function(name, x, options)
        want = ref_functions.evaluate_function(name, x, options)
        assert isinstance(got, tuple) and isinstance(want, tuple)
        assert_mirrors(got[0], want[0], "value")
        assert_mirrors(got[1], want[1], "gradient")


def _minimize_both(fun, x0, **kw):
    """_core.minimize and its twin on the same validated arguments (fresh copies each)."""
    args = dict(grad=None, optimizer="adam", lr=0.01, schedule=None, max_iter=300, tol=1e-6,
                record=True, options={})  # fmt: skip
    args.update(kw)
    x, fun, grad, fun_opts, kind, opt, sched, max_iter, tol, record = _prepare(
        fun, x0, args["grad"], args["optimizer"], args["lr"], args["schedule"],
        args["max_iter"], args["tol"], args["record"], args["options"],
    )  # fmt: skip
    out = []
    for run in (_core.minimize, ref_minimize.minimize):
        point = x.copy()
        raw = run(
            fun, point, grad, function_options=fun_opts, optimizer=kind, optimizer_options=opt,
            schedule=None if sched is None else copy.copy(sched._core), max_iter=max_iter,
            tol=tol, record=record,
        )  # fmt: skip
        out.append((point, raw))
    return out


def _same_raw(core, twin):
    (x_core, a), (x_twin, b) = core, twin
    assert set(a) == set(b)
    for key in ("status", "n_iter", "bad_step", "bad"):
        assert a[key] == b[key], key
    assert a["bad_lr"] == pytest.approx(b["bad_lr"], rel=1e-12)
    assert_mirrors(x_core, x_twin, "x0 in place")
    for key in ("grad", "path", "losses"):
        assert_mirrors(a[key], b[key], key)
    assert_mirrors(np.array([a["fun"], a["grad_norm"]]), np.array([b["fun"], b["grad_norm"]]),
                   "fun, grad_norm")  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_minimize_kernel_on_builtins(dtype):
    x0 = np.array([-1.5, 2.0], dtype=dtype)
    _same_raw(*_minimize_both("rosenbrock", x0))
    _same_raw(*_minimize_both("booth", x0, optimizer="sgd", lr=0.02, record=False))
    sched = schedules.make_schedule("plateau", 0.5, patience=2, factor=0.5)
    _same_raw(*_minimize_both("rastrigin", x0[:1] / 4, optimizer="sgd", schedule=sched,
                              options={"A": 10.0}))  # fmt: skip
    diverged = _minimize_both("rosenbrock", np.array([-3.0, 4.0], dtype), optimizer="sgd")
    assert diverged[0][1]["status"] == "diverged"
    _same_raw(*diverged)


@pytest.mark.parametrize("dtype", DTYPES)
def test_minimize_kernel_on_python_functions(dtype):
    x0 = np.array([1.0, -2.0, 0.5], dtype=dtype)
    _same_raw(*_minimize_both(lambda x: float(x @ x), x0, grad=lambda x: 2 * x, optimizer="nadam"))
    _same_raw(*_minimize_both(lambda x: (float(x @ x), 2 * x), x0, grad=True, max_iter=50))

    def fails_on_the_third_step(x):  # sgd on x·x shrinks x[0] = 1 by 0.98 a step
        if x[0] < 0.95:
            raise RuntimeError("boom")
        return float(x @ x), 2 * x

    (x_core, a), (x_twin, b) = _minimize_both(
        fails_on_the_third_step, x0, grad=True, optimizer="sgd", lr=0.01
    )
    assert a["status"] == b["status"] == "interrupted" and a["n_iter"] == b["n_iter"] == 2
    assert type(a["interrupt"]) is type(b["interrupt"]) is RuntimeError
    assert_mirrors(x_core, x_twin, "x0 in place")


OPTIMIZERS = [
    (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    (optim.Adam, {"lr": 0.01, "amsgrad": True}),
    (optim.AdamW, {"lr": 0.01}),
    (optim.Adamax, {"lr": 0.02, "maximize": True}),
    (optim.NAdam, {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls,options", OPTIMIZERS, ids=[c[0].__name__ for c in OPTIMIZERS])
def test_optimizer_engine(cls, options, dtype):
    rng = np.random.default_rng(11)
    shapes = [(7,), (3, 5), (40,)]
    start = [rng.normal(size=s).astype(dtype) for s in shapes]
    # gdcore.optim lays out the state rows and the groups: two groups, the second with half the lr
    layout = cls([start[0], start[1]], **options)
    layout.add_param_group({"params": [start[2]], "lr": options["lr"] / 2})
    groups = [{k: v for k, v in g.items() if k != "params"} for g in layout.param_groups]

    def build(engine_cls):
        params = [p.copy() for p in start]
        states = [[None if s is None else s.copy() for s in row] for row in layout._states]
        steps, mu = np.zeros(3, dtype=np.int64), np.ones(3)
        engine = engine_cls(layout._kind, params, [0, 0, 1], states, steps, mu, 2, 0, True)
        for index, group in enumerate(groups):
            engine.set_group(index, group)
        return engine, (params, states, steps, mu)

    core, core_arrays = build(_core.OptimizerEngine)
    twin, twin_arrays = build(ref_optim.OptimizerEngine)
    for _ in range(25):
        grads = [rng.normal(size=s).astype(dtype) for s in shapes]
        core.step(grads)
        twin.step(grads)
    bad = [g.copy() for g in grads]
    bad[2][4] = np.nan
    for engine in (core, twin):
        with pytest.raises(ValueError, match=r"grads\[2\] contains a non-finite value"):
            engine.step(bad)
    (params, states, steps, mu), (tparams, tstates, tsteps, tmu) = core_arrays, twin_arrays
    assert steps.tolist() == tsteps.tolist() == [25, 25, 25]
    assert_mirrors(mu, tmu, "mu_products")
    for i in range(3):
        assert_mirrors(params[i], tparams[i], f"params[{i}]")
        for s, t in zip(states[i], tstates[i]):
            assert (s is None) == (t is None)
            if s is not None:
                assert_mirrors(s, t, f"states[{i}]")
    core.num_threads, twin.num_threads = -3, -3
    assert core.num_threads == twin.num_threads == 0


# -- the chunk rules -------------------------------------------------------------------------------


def test_chunk_constants_are_the_core_ones():
    assert ref_parallel.PARALLEL_BATCH_WORK == _core.PARALLEL_BATCH_WORK
    # MIN_ELEMENTS_PER_THREAD is not exposed; two threads split from 2 x that many values on
    n = ref_parallel.MIN_ELEMENTS_PER_THREAD
    assert _core.row_sum_chunks(2 * n - 1, 1, 2) == 1 and _core.row_sum_chunks(2 * n, 1, 2) == 2


ROWS = [0, 1, 2, 3, 7, 16, 100, 127, 128, 255, 256, 1000, 4096, 100_000]
WIDTHS = [0, 1, 7, 64, 100, 333, 1000]
THREADS = [-1, 0, 1, 2, 3, 4, 7, 16, 64]


@pytest.mark.parametrize("default", [None, 1, 3])
def test_chunk_rules_match_the_core(default):
    gdcore.set_num_threads(default)  # what num_threads <= 0 resolves to
    try:
        for rows, d, threads in itertools.product(ROWS, WIDTHS, THREADS):
            assert ref_parallel.row_sum_chunks(rows, d, threads) == _core.row_sum_chunks(
                rows, d, threads
            ), (rows, d, threads)
            for heads in (1, 2, 3, 10):
                assert ref_parallel.batch_chunks(rows, d, heads, threads) == _core.batch_chunks(
                    rows, d, heads, threads
                ), (rows, d, heads, threads)
    finally:
        gdcore.set_num_threads(None)
