r"""Optimizers with PyTorch's update rules, run by gdcore's compiled core.

Parameters are NumPy arrays updated in place; gradients are passed to :meth:`Optimizer.step`::

    w = np.zeros(10)
    opt = gdcore.optim.Adam([w], lr=1e-2)
    for _ in range(100):
        opt.step([grad_of_loss(w)])

Each class follows the algorithm of its ``torch.optim`` namesake (same hyperparameters, same
defaults, same order of operations), so the same gradients give the same numbers. All parameters
of an optimizer are updated by one call into the core, one fused pass per array.

Each optimizer also has a functional form (``sgd_step``, ``adam_step``, ...) for callers who keep
their own state; those functions are the public face of the kernels, and
:mod:`gdcore.reference.optim` holds their NumPy twins with the same names and arguments.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "sgd_step",
    "adagrad_step",
    "rmsprop_step",
    "adam_step",
    "adamax_step",
    "nadam_step",
]

_Rule = Callable[[Any], Any]


def _nonneg(name: str) -> _Rule:
    return lambda v: check.real(name, v, low=0.0)


def _positive(name: str) -> _Rule:
    return lambda v: check.real(name, v, low=0.0, low_open=True)


def _flag(name: str) -> _Rule:
    return lambda v: check.flag(name, v)


def _unit(name: str) -> _Rule:
    return lambda v: check.real(name, v, low=0.0, high=1.0, high_open=True)


def _betas(v):
    return check.betas("betas", v)


# Hyperparameter rules per optimizer family; the functional forms use the same ones.
_SGD_RULES = {
    "lr": _nonneg("lr"),
    "momentum": _nonneg("momentum"),
    "dampening": lambda v: check.real("dampening", v, low=0.0, high=1.0),
    "weight_decay": _nonneg("weight_decay"),
    "nesterov": _flag("nesterov"),
    "maximize": _flag("maximize"),
}
_ADAGRAD_RULES = {
    "lr": _nonneg("lr"),
    "lr_decay": _nonneg("lr_decay"),
    "weight_decay": _nonneg("weight_decay"),
    "initial_accumulator_value": _nonneg("initial_accumulator_value"),
    "eps": _positive("eps"),
    "maximize": _flag("maximize"),
}
_RMSPROP_RULES = {
    "lr": _nonneg("lr"),
    "alpha": lambda v: check.real("alpha", v, low=0.0, high=1.0),
    "eps": _positive("eps"),
    "weight_decay": _nonneg("weight_decay"),
    "momentum": _nonneg("momentum"),
    "centered": _flag("centered"),
    "maximize": _flag("maximize"),
}
_ADAM_RULES = {
    "lr": _nonneg("lr"),
    "betas": _betas,
    "eps": _positive("eps"),
    "weight_decay": _nonneg("weight_decay"),
    "amsgrad": _flag("amsgrad"),
    "maximize": _flag("maximize"),
    "decoupled_weight_decay": _flag("decoupled_weight_decay"),
}
_ADAMAX_RULES = {
    "lr": _nonneg("lr"),
    "betas": _betas,
    "eps": _positive("eps"),
    "weight_decay": _nonneg("weight_decay"),
    "maximize": _flag("maximize"),
}
_NADAM_RULES = {
    "lr": _nonneg("lr"),
    "betas": _betas,
    "eps": _positive("eps"),
    "weight_decay": _nonneg("weight_decay"),
    "momentum_decay": _nonneg("momentum_decay"),
    "maximize": _flag("maximize"),
    "decoupled_weight_decay": _flag("decoupled_weight_decay"),
}


# State arrays that accumulate squares (or, for Adamax, magnitudes): never negative, and a
# negative one makes the next step's square root NaN.
_SUMS_OF_SQUARES = frozenset({"sum", "square_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf"})


def _check_sgd_combination(group: dict) -> None:
    if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
        raise ValueError("nesterov=True requires momentum > 0 and dampening == 0")


class _ParamList(list):
    """A group's parameter arrays: readable as a list, never changed in place (the core holds
    views of exactly these arrays; add more with ``add_param_group``)."""

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("a group's params cannot be changed; use add_param_group")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self):
        return (list, (list(self),))


class ParamGroup(dict):
    """One parameter group: a dict whose changes are validated and reach the core at once.

    ``opt.param_groups[0]["lr"] = 0.01`` is how a schedule (or a user) changes the learning
    rate; ``update``, ``|=`` and ``setdefault`` are validated the same way, all of their values
    before any is applied. Every option is required, so ``pop``, ``popitem``, ``clear`` and
    ``del`` raise TypeError. A bad value raises before anything changes.
    """

    __slots__ = ("_owner", "_index")

    def __init__(self, owner: "Optimizer", index: int, values: dict):
        values = dict(values)
        if "params" in values:
            values["params"] = _ParamList(values["params"])
        super().__init__(values)
        self._owner = owner
        self._index = index

    def _change(self, changes: dict) -> None:
        if "params" in changes:
            raise ValueError("a group's params cannot be replaced; use add_param_group")
        candidate = dict(self)
        for key, value in changes.items():
            candidate[key] = self._owner._check_option(key, value)
        self._owner._check_group(candidate)
        for key in changes:
            super().__setitem__(key, candidate[key])
        self._owner._group_changed(self._index)

    def __setitem__(self, key, value):
        self._change({key: value})

    def update(self, *args, **kwargs):
        self._change(dict(*args, **kwargs))

    def __ior__(self, other):
        self._change(dict(other))
        return self

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def _refuse_removal(self, key=None) -> None:
        what = f"{key!r} is" if key is not None else "every option is"
        raise TypeError(
            f"parameter group options cannot be removed: {what} required (assign a new value "
            "instead)"
        )

    def __delitem__(self, key):
        self._refuse_removal(key)

    def pop(self, key, *default):
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        self._refuse_removal(key)

    def popitem(self):
        self._refuse_removal()

    def clear(self):
        self._refuse_removal()

    def __reduce__(self):
        return (dict, (dict(self),))


class Optimizer:
    """Base class: parameter groups, state, and the core engine that steps them.

    Subclasses declare ``_kind`` (the core's family), ``_rules`` (validation per option),
    ``_state_names`` (state arrays in the core's order) and ``_needed_states``.
    """

    _kind: str = ""
    _rules: dict[str, _Rule] = {}
    _state_names: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict, *, num_threads=None, check_finite=True):
        self.defaults = {k: self._check_option(k, v) for k, v in defaults.items()}
        self._check_group(self.defaults)
        self._num_threads = check.num_threads(num_threads)
        self._check_finite = check.flag("check_finite", check_finite)
        self.param_groups: list[ParamGroup] = []
        self._params: list[np.ndarray] = []
        self._group_of: list[int] = []
        self._states: list[list[np.ndarray | None]] = []
        self._steps = np.zeros(0, dtype=np.int64)
        self._mu_products = np.ones(0, dtype=np.float64)
        groups = self._as_groups(params)
        if not groups:
            raise ValueError("params is empty: the optimizer needs at least one array")
        for group in groups:
            self._append_group(group)
        self._rebuild_engine()

    # -- construction -------------------------------------------------------------------------

    @staticmethod
    def _as_groups(params) -> list[dict]:
        if isinstance(params, np.ndarray):
            return [{"params": [params]}]
        if isinstance(params, dict):
            raise TypeError("params must be an array, a list of arrays or a list of group dicts")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(
                "params must be a NumPy array, a list of arrays or a list of group dicts, "
                f"got {type(params).__name__}"
            ) from None
        if items and all(isinstance(item, dict) for item in items):
            return [dict(item) for item in items]
        if any(isinstance(item, dict) for item in items):
            raise TypeError("params mixes arrays and group dicts")
        return [{"params": items}] if items else []

    def _append_group(self, group: dict) -> None:
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        arrays = group["params"]
        arrays = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)
        if not arrays:
            raise ValueError(f"parameter group {len(self.param_groups)} has no params")
        values = dict(self.defaults)
        for key, value in group.items():
            if key != "params":
                values[key] = self._check_option(key, value)
        self._check_group(values)
        seen = {id(p) for p in self._params}
        base = len(self._params)
        for offset, p in enumerate(arrays):
            name = f"params[{base + offset}]"
            if not isinstance(p, np.ndarray):
                raise TypeError(f"{name} must be a NumPy array, got {type(p).__name__}")
            if p.dtype not in (np.float32, np.float64) or not p.dtype.isnative:
                raise TypeError(f"{name} must have dtype float32 or float64, got {p.dtype}")
            if not p.flags.c_contiguous:
                raise ValueError(
                    f"{name} must be C-contiguous because it is updated in place; pass "
                    "np.ascontiguousarray(x) and keep using that array"
                )
            if not p.flags.writeable:
                raise ValueError(f"{name} is read-only; it is updated in place")
            if id(p) in seen:
                raise ValueError(f"{name} appears more than once among the parameters")
            seen.add(id(p))
        index = len(self.param_groups)
        values["params"] = arrays
        self.param_groups.append(ParamGroup(self, index, values))
        for p in arrays:
            self._params.append(p)
            self._group_of.append(index)
            self._states.append([None] * len(self._state_names))
        self._steps = np.concatenate([self._steps, np.zeros(len(arrays), dtype=np.int64)])
        self._mu_products = np.concatenate([self._mu_products, np.ones(len(arrays))])
        self._ensure_states(index)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (others come from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        self._append_group(dict(param_group))
        self._rebuild_engine()

    def _check_option(self, key: str, value):
        rule = self._rules.get(key)
        if rule is None:
            known = ", ".join(sorted(self._rules))
            raise ValueError(f"unknown option {key!r} for {type(self).__name__}; known: {known}")
        return rule(value)

    def _check_group(self, group: dict) -> None:
        """Checks that involve several options at once; subclasses extend it."""

    def _needed_states(self, group: dict) -> tuple[bool, ...]:
        return (True,) * len(self._state_names)

    def _initial_state(self, name: str, param: np.ndarray, group: dict) -> np.ndarray:
        return np.zeros_like(param)

    def _ensure_states(self, group_index: int) -> bool:
        """Create the state arrays a group's options now need; True if any was created."""
        group = self.param_groups[group_index]
        needed = self._needed_states(group)
        created = False
        for i, p in enumerate(self._params):
            if self._group_of[i] != group_index:
                continue
            for k, name in enumerate(self._state_names):
                if needed[k] and self._states[i][k] is None:
                    self._states[i][k] = self._initial_state(name, p, group)
                    created = True
        return created

    def _rebuild_engine(self) -> None:
        self._engine = _core.OptimizerEngine(
            self._kind,
            list(self._params),
            list(self._group_of),
            [list(row) for row in self._states],
            self._steps,
            self._mu_products,
            len(self.param_groups),
            self._num_threads,
            self._check_finite,
        )
        for index, group in enumerate(self.param_groups):
            self._engine.set_group(index, group)

    def _group_changed(self, index: int) -> None:
        if self._ensure_states(index):
            self._rebuild_engine()
        else:
            self._engine.set_group(index, self.param_groups[index])

    # -- stepping -----------------------------------------------------------------------------

    def step(self, grads) -> None:
        """Update every parameter in place from its gradient.

        ``grads`` is a list with one array per parameter, in the order the parameters were
        given (a single array is accepted when there is one parameter). Each gradient must have
        its parameter's shape and dtype; a non-contiguous one is copied. With ``check_finite``
        (the default) a NaN or infinity in any gradient raises ValueError before anything is
        updated.
        """
        self._engine.step(grads)

    @property
    def num_threads(self) -> int | None:
        """Threads this optimizer uses; None follows gdcore.set_num_threads / OpenMP."""
        return self._num_threads or None

    @num_threads.setter
    def num_threads(self, value) -> None:
        self._num_threads = check.num_threads(value)
        self._engine.num_threads = self._num_threads

    # -- state --------------------------------------------------------------------------------

    @property
    def params(self) -> list[np.ndarray]:
        """All parameter arrays, in step order."""
        return list(self._params)

    @property
    def state(self) -> list[dict]:
        """Per parameter: its step count and its state arrays (the live arrays, not copies)."""
        out = []
        for i, row in enumerate(self._states):
            entry: dict[str, Any] = {"step": int(self._steps[i])}
            if self._kind == "nadam":
                entry["mu_product"] = float(self._mu_products[i])
            for name, array in zip(self._state_names, row):
                if array is not None:
                    entry[name] = array
            out.append(entry)
        return out

    def state_dict(self) -> dict:
        """A deep copy of the optimizer's state, in torch.optim's layout.

        ``{"state": {index: {"step": int, <state arrays>...}}, "param_groups": [{options...,
        "params": [indices]}]}``. Loading it into an optimizer over arrays holding the same
        values resumes bit-identically.
        """
        groups = []
        for index, group in enumerate(self.param_groups):
            entry = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            entry["params"] = [i for i, g in enumerate(self._group_of) if g == index]
            groups.append(entry)
        state = {}
        for i, entry in enumerate(self.state):
            state[i] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in entry.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options, step counts and state arrays saved by :meth:`state_dict`.

        Everything is checked first (group layout, shapes, dtypes, options, and the values: every
        state array finite, the accumulated squares non-negative, step counts int64 integers,
        NAdam's momentum product in [0, 1]); on any mismatch a ValueError naming the field is
        raised and the optimizer is unchanged.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) for g in groups):
            raise ValueError("state_dict['param_groups'] must be a list of dicts")
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict has {len(groups)} parameter groups, the optimizer has "
                f"{len(self.param_groups)}"
            )
        new_options = []
        for index, saved in enumerate(groups):
            expected = [i for i, g in enumerate(self._group_of) if g == index]
            if list(saved.get("params", [])) != expected:
                raise ValueError(f"param_groups[{index}] holds other parameters than this group")
            options = {k: self._check_option(k, v) for k, v in saved.items() if k != "params"}
            merged = {k: v for k, v in self.param_groups[index].items() if k != "params"}
            merged.update(options)
            self._check_group(merged)
            new_options.append(merged)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            kind = type(saved_state).__name__
            raise ValueError(f"state_dict['state'] must be a dict, got {kind}")
        arrays: dict[tuple[int, int], np.ndarray] = {}
        steps = np.zeros_like(self._steps)
        mus = np.ones_like(self._mu_products)
        for i, p in enumerate(self._params):
            entry = saved_state.get(i, saved_state.get(str(i)))
            if entry is None:
                raise ValueError(f"state_dict has no state for parameter {i}")
            if not isinstance(entry, dict):
                raise ValueError(f"state[{i}] must be a dict, got {type(entry).__name__}")
            # The next step adds 1 to the count in an int64.
            steps[i] = check.integer(f"state[{i}]['step']", entry.get("step", 0), low=0,
                                     high=check.INT64_MAX - 1)  # fmt: skip
            if self._kind == "nadam":
                # Π_t is a product of factors in [0, 1): it starts at 1 and only shrinks.
                mus[i] = check.real(f"state[{i}]['mu_product']", entry.get("mu_product", 1.0),
                                    low=0.0, high=1.0)  # fmt: skip
            for k, name in enumerate(self._state_names):
                if name not in entry:
                    continue
                field = f"state[{i}][{name!r}]"
                value = np.asarray(entry[name])
                if value.shape != p.shape or value.dtype != p.dtype:
                    raise ValueError(
                        f"{field} has shape {value.shape} and dtype {value.dtype}, "
                        f"expected {p.shape} and {p.dtype}"
                    )
                bad = _core.first_nonfinite(value)
                if bad < value.size:
                    raise ValueError(
                        f"{field} contains a non-finite value ({value.reshape(-1)[bad]} at flat "
                        f"index {bad}); nothing was loaded"
                    )
                if name in _SUMS_OF_SQUARES and (value < 0).any():
                    at = int(np.argmax(value.reshape(-1) < 0))
                    raise ValueError(
                        f"{field} holds a negative value ({value.reshape(-1)[at]} at flat index "
                        f"{at}); it accumulates squares (or magnitudes) and is never negative; "
                        "nothing was loaded"
                    )
                arrays[(i, k)] = value
        # Everything checked: apply. Arrays are copied into place so the core's views stay valid.
        for index, options in enumerate(new_options):
            dict.update(self.param_groups[index], options)
        for i in range(len(self._params)):
            for k in range(len(self._state_names)):
                if (i, k) in arrays:
                    if self._states[i][k] is None:
                        self._states[i][k] = np.array(arrays[(i, k)], copy=True)
                    else:
                        np.copyto(self._states[i][k], arrays[(i, k)])
        self._steps[:] = steps
        self._mu_products[:] = mus
        for index in range(len(self.param_groups)):
            self._ensure_states(index)
        self._rebuild_engine()

    # -- pickling -----------------------------------------------------------------------------

    def __getstate__(self) -> dict:
        """What pickle (and ``copy.deepcopy``) saves: everything but the core engine.

        Saved: the defaults, every group's options and which parameters it holds, the
        parameter arrays themselves, every state array, the per-parameter step counts (and
        NAdam's momentum products), ``num_threads`` and ``check_finite``. Loading rebuilds the
        engine over the loaded arrays, so the next step continues bit-identically. The loaded
        optimizer updates the loaded arrays (``opt.params``): pickle the model's arrays and the
        optimizer in one ``pickle.dump((w, opt), f)`` so that they are the same objects again
        after loading.
        """
        state = {k: v for k, v in self.__dict__.items() if k not in ("_engine", "param_groups")}
        state["param_groups"] = [
            {k: v for k, v in group.items() if k != "params"} for group in self.param_groups
        ]
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        options = state.pop("param_groups")
        self.__dict__.update(state)
        self.param_groups = []
        for index, values in enumerate(options):
            members = [p for p, g in zip(self._params, self._group_of) if g == index]
            self.param_groups.append(ParamGroup(self, index, {**values, "params": members}))
        self._rebuild_engine()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum (PyTorch's ``torch.optim.SGD``).

    .. math::
        d &= \pm g + \lambda p \\
        b &= d \text{ on the first step, else } \mu b + (1 - \tau) d \\
        d &= d + \mu b \text{ (nesterov) or } b \\
        p &= p - \gamma d

    with lr γ, momentum μ, dampening τ, weight_decay λ, and −g under ``maximize``.
    """

    _kind = "sgd"
    _rules = _SGD_RULES
    _state_names = ("momentum_buffer",)

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults, num_threads=num_threads, check_finite=check_finite)

    def _check_group(self, group):
        _check_sgd_combination(group)

    def _needed_states(self, group):
        return (group["momentum"] != 0,)


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``).

    .. math::
        d &= \pm g + \lambda p, \qquad \tilde\gamma = \gamma / (1 + (t - 1)\eta) \\
        s &= s + d^2 \\
        p &= p - \tilde\gamma\, d / (\sqrt{s} + \epsilon)

    with lr γ, lr_decay η, weight_decay λ; s starts at initial_accumulator_value.
    """

    _kind = "adagrad"
    _rules = _ADAGRAD_RULES
    _state_names = ("sum",)

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults, num_threads=num_threads, check_finite=check_finite)

    def _initial_state(self, name, param, group):
        return np.full_like(param, group["initial_accumulator_value"])


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``).

    .. math::
        d &= \pm g + \lambda p \\
        v &= \alpha v + (1 - \alpha) d^2 \\
        r &= \sqrt{\max(v - a^2, 0)} \text{ with } a = \mathrm{lerp}(a, d, 1 - \alpha)
             \text{ (centered), else } \sqrt{v} \\
        b &= \mu b + d / (r + \epsilon),\ p = p - \gamma b
             \text{ (momentum), else } p = p - \gamma d / (r + \epsilon)

    Centered: v − a² is a variance; where rounding makes it slightly negative PyTorch returns
    NaN, gdcore clamps it at 0 (the only place the two differ).
    """

    _kind = "rmsprop"
    _rules = _RMSPROP_RULES
    _state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults, num_threads=num_threads, check_finite=check_finite)

    def _needed_states(self, group):
        return (True, group["centered"], group["momentum"] > 0)


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``); AdamW with ``decoupled_weight_decay=True``.

    .. math::
        d &= \pm g + \lambda p \quad\text{or, decoupled, } p = (1 - \gamma\lambda) p \\
        m &= \mathrm{lerp}(m, d, 1 - \beta_1), \qquad v = \beta_2 v + (1 - \beta_2) d^2 \\
        \hat v &= \max(\hat v, v) \text{ (amsgrad) else } v \\
        p &= p - \frac{\gamma}{1 - \beta_1^t}\, m \Big/
             \Big(\sqrt{\hat v} / \sqrt{1 - \beta_2^t} + \epsilon\Big)
    """

    _kind = "adam"
    _rules = _ADAM_RULES
    _state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults, num_threads=num_threads, check_finite=check_finite)

    def _needed_states(self, group):
        return (True, True, group["amsgrad"])


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``).

    The decay shrinks the parameters directly, ``p = (1 - γλ) p``, instead of adding λp to the
    gradient; the default weight_decay is 1e-2.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            num_threads=num_threads,
            check_finite=check_finite,
        )


class Adamax(Optimizer):
    r"""Adamax, Adam with the infinity norm (PyTorch's ``torch.optim.Adamax``).

    .. math::
        d &= \pm g + \lambda p, \qquad m = \mathrm{lerp}(m, d, 1 - \beta_1) \\
        u &= \max(\beta_2 u, |d| + \epsilon) \\
        p &= p - \frac{\gamma}{1 - \beta_1^t}\, m / u
    """

    _kind = "adamax"
    _rules = _ADAMAX_RULES
    _state_names = ("exp_avg", "exp_inf")

    def __init__(
        self,
        params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, num_threads=num_threads, check_finite=check_finite)


class NAdam(Optimizer):
    r"""NAdam, Adam with Nesterov momentum (PyTorch's ``torch.optim.NAdam``).

    .. math::
        \mu_t &= \beta_1 (1 - \tfrac12 \cdot 0.96^{t\psi}), \qquad \Pi_t = \Pi_{t-1}\mu_t \\
        m &= \mathrm{lerp}(m, d, 1 - \beta_1), \qquad v = \beta_2 v + (1 - \beta_2) d^2, \qquad
        r = \sqrt{v / (1 - \beta_2^t)} + \epsilon \\
        p &= p - \gamma \frac{1 - \mu_t}{1 - \Pi_t}\frac{d}{r}
               - \gamma \frac{\mu_{t+1}}{1 - \Pi_t \mu_{t+1}}\frac{m}{r}

    with momentum_decay ψ; weight decay as in Adam (L2, or decoupled).
    """

    _kind = "nadam"
    _rules = _NADAM_RULES
    _state_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        num_threads: int | None = None,
        check_finite: bool = True,
    ):
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults, num_threads=num_threads, check_finite=check_finite)


# ---------------------------------------------------------------------------------------------
# Functional forms: one array and its state, updated in place by the core. ``step`` is the step
# number after this update (1 for the first). Their NumPy twins in gdcore.reference.optim take
# exactly the same arguments.


def _checked(rules: dict, **options):
    return {k: rules[k](v) for k, v in options.items()}


def _step_number(step) -> int:
    return check.integer("step", step, low=1)


def sgd_step(
    param,
    grad,
    momentum_buffer=None,
    *,
    step,
    lr=1e-3,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
):
    """One SGD update of ``param`` in place (see :class:`SGD`); on step 1 the momentum buffer
    is overwritten with the first direction, as PyTorch creates it."""
    o = _checked(
        _SGD_RULES,
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        weight_decay=weight_decay,
        nesterov=nesterov,
        maximize=maximize,
    )
    _check_sgd_combination(o)
    _core.sgd_step(param, grad, momentum_buffer, step=_step_number(step), **o)


def adagrad_step(
    param, grad, sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False
):
    """One Adagrad update of ``param`` and ``sum`` in place (see :class:`Adagrad`)."""
    o = _checked(
        _ADAGRAD_RULES,
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
    )
    _core.adagrad_step(param, grad, sum, step=_step_number(step), **o)


def rmsprop_step(
    param,
    grad,
    square_avg,
    grad_avg=None,
    momentum_buffer=None,
    *,
    step,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
    maximize=False,
):
    """One RMSprop update in place (see :class:`RMSprop`); ``grad_avg`` is needed when
    centered, ``momentum_buffer`` when momentum > 0."""
    o = _checked(
        _RMSPROP_RULES,
        lr=lr,
        alpha=alpha,
        eps=eps,
        weight_decay=weight_decay,
        momentum=momentum,
        centered=centered,
        maximize=maximize,
    )
    _core.rmsprop_step(
        param, grad, square_avg, grad_avg, momentum_buffer, step=_step_number(step), **o
    )


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq=None,
    *,
    step,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
):
    """One Adam (or AdamW, with ``decoupled_weight_decay``) update in place (see :class:`Adam`)."""
    b1, b2 = check.betas("(beta1, beta2)", (beta1, beta2))
    o = _checked(
        _ADAM_RULES,
        lr=lr,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
    )
    _core.adam_step(
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=_step_number(step),
        beta1=b1, beta2=b2, **o,
    )  # fmt: skip


def adamax_step(
    param,
    grad,
    exp_avg,
    exp_inf,
    *,
    step,
    lr=2e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    maximize=False,
):
    """One Adamax update in place (see :class:`Adamax`)."""
    b1, b2 = check.betas("(beta1, beta2)", (beta1, beta2))
    o = _checked(_ADAMAX_RULES, lr=lr, eps=eps, weight_decay=weight_decay, maximize=maximize)
    _core.adamax_step(
        param, grad, exp_avg, exp_inf, step=_step_number(step), beta1=b1, beta2=b2, **o
    )


def nadam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    *,
    step,
    mu_product=1.0,
    lr=2e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
    maximize=False,
    decoupled_weight_decay=False,
) -> float:
    """One NAdam update in place (see :class:`NAdam`); returns the new momentum product
    Π_t, to pass back as ``mu_product`` on the next step (start from 1.0)."""
    b1, b2 = check.betas("(beta1, beta2)", (beta1, beta2))
    o = _checked(
        _NADAM_RULES,
        lr=lr,
        eps=eps,
        weight_decay=weight_decay,
        momentum_decay=momentum_decay,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
    )
    mu_product = check.real("mu_product", mu_product)
    return _core.nadam_step(
        param, grad, exp_avg, exp_avg_sq, step=_step_number(step), mu_product=mu_product,
        beta1=b1, beta2=b2, **o,
    )  # fmt: skip
