r"""Learning-rate schedules computed by gdcore's compiled core.

A schedule gives the learning rate of update ``t`` (``t`` = updates completed so far, 0 for the
first). It can stand alone, given a base learning rate::

    sched = gdcore.schedules.CosineAnnealingLR(0.1, T_max=100)
    sched(0), sched(50)                     # 0.1, 0.05
    sched.lr_many(np.arange(100))           # the whole curve

or drive an optimizer the way ``torch.optim.lr_scheduler`` does: anything with
``param_groups`` (a list of dict-like groups whose ``"lr"`` can be assigned)::

    opt = gdcore.optim.SGD([w], lr=0.1)
    sched = gdcore.schedules.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(opt)
        sched.step()                        # ReduceLROnPlateau: sched.step(val_loss)

Bound to an optimizer, a schedule keeps one core schedule per parameter group, whose base is
that group's ``"lr"`` at construction (torch's ``initial_lr``; it is kept in ``base_lrs``, not
written into the group), sets every group's lr to ``lr(0)`` at once, and sets ``lr(t)`` on each
:meth:`LRSchedule.step`. ``state_dict()`` / ``load_state_dict()`` resume bit-identically.

The formulas live in ``cpp/include/gdcore/schedules.hpp`` (so the C++ training loop uses the same
objects, through the ``_core`` attribute); the docstrings here repeat them. Each class equals its
``torch.optim.lr_scheduler`` namesake's closed form or scikit-learn's ``learning_rate=`` option;
:mod:`gdcore.reference.schedules` holds plain-Python twins with the same names.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from gdcore import _core
from gdcore import _validate as check

__all__ = [
    "LRSchedule",
    "ConstantLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "InverseScaling",
    "OptimalLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "Warmup",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "make_schedule",
    "SCHEDULE_NAMES",
]

_INT64_MAX = 2**63 - 1

# ---------------------------------------------------------------------------------------------
# Hyperparameter checks: each returns the value in its canonical Python type or raises an error
# naming the argument.


_real = check.real


def _lr(name: str, value) -> float:
    return _real(name, value, low=0.0)


def _integer(name: str, value, *, low=None) -> int:
    return check.integer(name, value, low=low, high=_INT64_MAX)


_flag = check.flag
_choice = check.choice


def _metric(value) -> float:
    # torch accepts anything float() takes (a 0-d tensor included); NaN is allowed and counts as
    # "no improvement", as in torch.
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise TypeError(f"metric must be a real number, got {type(value).__name__} {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "__float__") and getattr(value, "ndim", None) == 0:
        return float(value)
    raise TypeError(
        f"metric must be a real number or a 0-d array, got {type(value).__name__} {value!r}"
    )


def _is_optimizer(obj) -> bool:
    return hasattr(obj, "param_groups")


# ---------------------------------------------------------------------------------------------


class LRSchedule:
    """Base class: binding to a base lr or an optimizer, the step counter, and checkpoints.

    Subclasses validate their hyperparameters, then call :meth:`_attach`; they implement
    ``_build(base, index)`` (the core schedule of one group) and ``hyperparameters()``.

    Attributes: ``optimizer`` (or None), ``base_lrs`` (one base per group, or one when
    standalone), ``last_epoch`` (updates completed: ``t`` of the lr now in force; 0 after
    construction, as in torch).
    """

    kind: str = ""
    _needs_metric = False
    _needs_lr = True

    optimizer: Any
    base_lrs: list
    last_epoch: int
    _cores: list

    # -- construction -------------------------------------------------------------------------

    def _attach(self, lr_or_optimizer, *, base_override=None) -> None:
        """Bind to a float base lr or to an optimizer's groups, build the core schedules."""
        if _is_optimizer(lr_or_optimizer):
            optimizer = lr_or_optimizer
            groups = list(optimizer.param_groups)
            if not groups:
                raise ValueError("optimizer has no param_groups")
            bases = [
                _lr(f"optimizer.param_groups[{i}]['lr']", group["lr"])
                for i, group in enumerate(groups)
            ]
        elif lr_or_optimizer is None:
            optimizer, bases = None, [None]
        elif isinstance(lr_or_optimizer, numbers.Real) and not isinstance(lr_or_optimizer, bool):
            optimizer, bases = None, [_lr("lr", lr_or_optimizer)]
        else:
            raise TypeError(
                "lr_or_optimizer must be a float learning rate or an optimizer with "
                f"param_groups, got {type(lr_or_optimizer).__name__} {lr_or_optimizer!r}"
            )
        if base_override is not None:
            bases = base_override(bases)
        if self._needs_lr and any(b is None for b in bases):
            raise TypeError(f"{type(self).__name__} needs a learning rate or an optimizer")
        self._setup(optimizer, bases)

    def _setup(self, optimizer, bases: list) -> None:
        cores = [self._build(base, i) for i, base in enumerate(bases)]
        for index, core in enumerate(cores):
            self._check_rates(core, index if len(cores) > 1 else None, self._probe_times())
        self.optimizer = optimizer
        self.base_lrs = list(bases)
        self._cores = cores
        self.last_epoch = 0
        self._apply()

    def _probe_times(self) -> list[int]:
        """Updates whose rate is checked at construction: where extreme hyperparameters first
        overflow (a growing schedule, gamma > 1, may still reach +inf later, as torch's does)."""
        return [0]

    def _check_rates(self, core, index, times) -> None:
        for t in times:
            lr = core.lr(t)
            if not (math.isfinite(lr) and lr >= 0):
                args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
                group = "" if index is None else f" (param group {index})"
                raise ValueError(
                    f"{type(self).__name__}({args}) gives the learning rate {lr} at t={t}"
                    f"{group}: these hyperparameters take it out of float64's range"
                )

    def _build(self, base, index: int):
        raise NotImplementedError

    def hyperparameters(self) -> dict:
        """The validated constructor arguments (what a checkpoint must agree with)."""
        raise NotImplementedError

    # -- driving --------------------------------------------------------------------------------

    def _apply(self) -> None:
        lrs = [core.lr(self.last_epoch) for core in self._cores]
        if self.optimizer is not None:
            groups = self.optimizer.param_groups
            if len(groups) != len(self._cores):
                raise ValueError(
                    f"the optimizer has {len(groups)} param_groups but this schedule was built "
                    f"for {len(self._cores)}"
                )
            # Checked before any group changes: an optimizer never gets an inf or NaN rate (a
            # growing schedule overflows after enough updates).
            for index, lr in enumerate(lrs):
                if not math.isfinite(lr):
                    raise ValueError(
                        f"{type(self).__name__}'s learning rate for param group {index} at "
                        f"t={self.last_epoch} is {lr}; the optimizer's rates were left as they were"
                    )
            for group, lr in zip(groups, lrs):
                group["lr"] = lr
        self._last_lr = lrs

    def step(self, metric=None) -> None:
        """Advance to the next update: report ``metric`` (if given), ``last_epoch += 1``, and set
        each group's lr to ``lr(last_epoch)``. Call it after the optimizer's step."""
        if metric is None:
            if self._needs_metric:
                raise TypeError(f"{type(self).__name__}.step needs the metric, got None")
        else:
            value = _metric(metric)
            for core in self._cores:
                core.observe(value)
        self.last_epoch += 1
        try:
            self._apply()
        except ValueError:
            self.last_epoch -= 1
            raise

    def get_last_lr(self) -> list[float]:
        """The learning rates in force now, one per group (one when standalone)."""
        return list(self._last_lr)

    def lr_at(self, t, group: int = 0) -> float:
        """The learning rate of update ``t`` for one group (ReduceLROnPlateau: the current lr)."""
        t = _integer("t", t, low=0)
        return self._cores[self._group(group)].lr(t)

    __call__ = lr_at

    def lr_many(self, t, group: int = 0) -> np.ndarray:
        """``lr_at`` for every element of an integer array (plots, tests)."""
        return self._cores[self._group(group)].lr_many(np.asarray(t))

    def _group(self, group) -> int:
        group = _integer("group", group, low=0)
        if group >= len(self._cores):
            raise ValueError(f"group must be < {len(self._cores)}, got {group}")
        return group

    @property
    def _core(self):
        """The core schedule of the first group (the one a C++ training loop takes)."""
        return self._cores[0]

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume: the step counter, the bases and the core states."""
        return {
            "kind": self.kind,
            "hyperparameters": self.hyperparameters(),
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "core_states": [core.state() for core in self._cores],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from :meth:`state_dict`; the optimizer's groups get the lr in force at once.

        The hyperparameters must equal this schedule's (a checkpoint of another schedule is
        refused rather than silently mixed).
        """
        expected = {"kind", "hyperparameters", "last_epoch", "base_lrs", "core_states"}
        if not isinstance(state_dict, dict) or set(state_dict) != expected:
            raise ValueError(f"state_dict must be a dict with keys {sorted(expected)}")
        if state_dict["kind"] != self.kind:
            raise ValueError(
                f"state_dict is of a {state_dict['kind']!r} schedule, this one is {self.kind!r}"
            )
        mine = self.hyperparameters()
        theirs = state_dict["hyperparameters"]
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                raise ValueError(
                    f"state_dict has {key}={theirs.get(key)!r} but this schedule has "
                    f"{key}={mine.get(key)!r}"
                )
        bases = list(state_dict["base_lrs"])
        states = list(state_dict["core_states"])
        if len(bases) != len(self._cores) or len(states) != len(self._cores):
            raise ValueError(
                f"state_dict is for {len(bases)} groups, this schedule has {len(self._cores)}"
            )
        last_epoch = _integer("state_dict['last_epoch']", state_dict["last_epoch"], low=0)
        bases = [b if b is None and not self._needs_lr else _lr(f"state_dict['base_lrs'][{i}]", b)
                 for i, b in enumerate(bases)]  # fmt: skip
        cores = [self._build(base, i) for i, base in enumerate(bases)]
        for i, (core, state) in enumerate(zip(cores, states)):
            values = []
            for k, v in enumerate(state):  # ±inf is a state (the best metric before any)
                name = f"state_dict['core_states'][{i}][{k}]"
                if isinstance(v, bool) or not isinstance(v, numbers.Real):
                    raise TypeError(f"{name} must be a real number, got {type(v).__name__} {v!r}")
                if math.isnan(v):
                    raise ValueError(f"{name} is NaN; nothing was loaded")
                values.append(float(v))
            core.set_state(values)
            lr = core.lr(last_epoch)
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(
                    f"state_dict['core_states'][{i}] gives the learning rate {lr} at "
                    f"last_epoch={last_epoch}; nothing was loaded"
                )
        previous = self.base_lrs, self._cores, self.last_epoch
        self.base_lrs, self._cores, self.last_epoch = bases, cores, last_epoch
        try:
            self._apply()
        except ValueError:
            self.base_lrs, self._cores, self.last_epoch = previous
            raise

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch})"


# ---------------------------------------------------------------------------------------------


class ConstantLR(LRSchedule):
    r"""Constant learning rate, optionally scaled by ``factor`` for the first updates
    (torch ``ConstantLR``; the defaults give a plain constant)::

        lr(t) = lr · (factor + [t >= total_iters] · (1 - factor))
    """

    kind = "constant"

    def __init__(self, lr_or_optimizer, factor: float = 1.0, total_iters: int = 0):
        self.factor = _real("factor", factor, low=0.0, high=1.0)
        self.total_iters = _integer("total_iters", total_iters, low=0)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.ConstantLR(base, self.factor, self.total_iters)

    def hyperparameters(self):
        return {"factor": self.factor, "total_iters": self.total_iters}


class StepLR(LRSchedule):
    r"""Decay by ``gamma`` every ``step_size`` updates (torch ``StepLR``)::

        lr(t) = lr · gamma^⌊t / step_size⌋
    """

    kind = "step"

    def __init__(self, lr_or_optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = _integer("step_size", step_size, low=1)
        self.gamma = _real("gamma", gamma, low=0.0, low_open=True)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.StepLR(base, self.step_size, self.gamma)

    def hyperparameters(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class MultiStepLR(LRSchedule):
    r"""Decay by ``gamma`` at each milestone (torch ``MultiStepLR``; milestones strictly
    increasing)::

        lr(t) = lr · gamma^(number of milestones <= t)
    """

    kind = "multistep"

    def __init__(self, lr_or_optimizer, milestones, gamma: float = 0.1):
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(
                f"milestones must be a sequence of ints, got {type(milestones).__name__}"
            )
        values = [_integer(f"milestones[{i}]", m, low=0) for i, m in enumerate(milestones)]
        for i in range(1, len(values)):
            if values[i] <= values[i - 1]:
                raise ValueError(
                    f"milestones must be strictly increasing, got {values[i - 1]} then "
                    f"{values[i]} at milestones[{i}]"
                )
        self.milestones = values
        self.gamma = _real("gamma", gamma, low=0.0, low_open=True)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.MultiStepLR(base, self.milestones, self.gamma)

    def hyperparameters(self):
        return {"milestones": list(self.milestones), "gamma": self.gamma}


class ExponentialLR(LRSchedule):
    r"""Decay by ``gamma`` every update (torch ``ExponentialLR``)::

        lr(t) = lr · gamma^t
    """

    kind = "exponential"

    def __init__(self, lr_or_optimizer, gamma: float):
        self.gamma = _real("gamma", gamma, low=0.0, low_open=True)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.ExponentialLR(base, self.gamma)

    def hyperparameters(self):
        return {"gamma": self.gamma}


class InverseScaling(LRSchedule):
    r"""scikit-learn's ``learning_rate="invscaling"`` (the lr given here is sklearn's ``eta0``;
    sklearn counts updates from 1, so the first update uses ``eta0``)::

        lr(t) = eta0 / (t + 1)^power_t

    ``power_t`` defaults to 0.25 as in ``SGDRegressor`` (``SGDClassifier`` uses 0.5).
    """

    kind = "invscaling"

    def __init__(self, lr_or_optimizer, power_t: float = 0.25):
        self.power_t = _real("power_t", power_t)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.InverseScaling(base, self.power_t)

    def hyperparameters(self):
        return {"power_t": self.power_t}


class OptimalLR(LRSchedule):
    r"""scikit-learn's ``learning_rate="optimal"`` (Bottou's heuristic); the lr comes from
    ``alpha`` (the L2 strength), not from a base lr::

        typw = √(1 / √alpha)
        eta0 = typw / max(1, dloss_at_init)
        t0   = 1 / (eta0 · alpha)
        lr(t) = 1 / (alpha · ((t0 + (t + 1)) - 1))

    ``dloss_at_init`` is the loss derivative ``dloss(p=-typw, y=1)`` scikit-learn evaluates; it
    is at most 1 for every scikit-learn loss, so ``None`` (the default) means 1. Pass it for a
    custom loss whose derivative there exceeds 1. The ``(t0 + (t + 1)) - 1`` keeps sklearn's
    rounding (it counts updates from 1).

    The first argument is ``None`` (standalone) or an optimizer, whose groups' lr are replaced;
    a float is refused since it would be ignored. ``base_lrs`` holds None.
    """

    kind = "optimal"
    _needs_lr = False

    def __init__(self, lr_or_optimizer=None, alpha: float = 1e-4, *, dloss_at_init=None):
        if lr_or_optimizer is not None and not _is_optimizer(lr_or_optimizer):
            raise TypeError(
                "OptimalLR takes its learning rate from alpha: pass None or an optimizer as "
                f"lr_or_optimizer, got {type(lr_or_optimizer).__name__} {lr_or_optimizer!r}"
            )
        self.alpha = _real("alpha", alpha, low=0.0, low_open=True)
        self.dloss_at_init = (
            None if dloss_at_init is None else _real("dloss_at_init", dloss_at_init)
        )
        self._attach(lr_or_optimizer, base_override=lambda bases: [None] * len(bases))

    def _build(self, base, index):
        dloss = 1.0 if self.dloss_at_init is None else self.dloss_at_init
        return _core.OptimalLR(self.alpha, dloss)

    def hyperparameters(self):
        return {"alpha": self.alpha, "dloss_at_init": self.dloss_at_init}


class PolynomialLR(LRSchedule):
    r"""Polynomial decay to 0 over ``total_iters`` updates, then 0 (torch ``PolynomialLR``)::

        lr(t) = lr · (1 - min(total_iters, t) / total_iters)^power
    """

    kind = "polynomial"

    def __init__(self, lr_or_optimizer, total_iters: int = 5, power: float = 1.0):
        self.total_iters = _integer("total_iters", total_iters, low=1)
        self.power = _real("power", power, low=0.0)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.PolynomialLR(base, self.total_iters, self.power)

    def hyperparameters(self):
        return {"total_iters": self.total_iters, "power": self.power}


class CosineAnnealingLR(LRSchedule):
    r"""Cosine annealing from lr to ``eta_min`` over ``T_max`` updates (torch
    ``CosineAnnealingLR``, closed form; like torch it rises again after ``T_max``, with period
    ``2 T_max``)::

        lr(t) = eta_min + (lr - eta_min) · (1 + cos(π t / T_max)) / 2
    """

    kind = "cosine"

    def __init__(self, lr_or_optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = _integer("T_max", T_max, low=1)
        self.eta_min = _lr("eta_min", eta_min)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.CosineAnnealingLR(base, self.T_max, self.eta_min)

    def hyperparameters(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class CosineAnnealingWarmRestarts(LRSchedule):
    r"""Cosine annealing with warm restarts, SGDR (torch ``CosineAnnealingWarmRestarts``).
    Cycle ``i`` lasts ``T_i = T_0 · T_mult^i`` updates; ``T_cur`` counts updates since the last
    restart (found with exact integer arithmetic)::

        lr(t) = eta_min + (lr - eta_min) · (1 + cos(π T_cur / T_i)) / 2
    """

    kind = "cosine_restarts"

    def __init__(self, lr_or_optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0):
        self.T_0 = _integer("T_0", T_0, low=1)
        self.T_mult = _integer("T_mult", T_mult, low=1)
        self.eta_min = _lr("eta_min", eta_min)
        self._attach(lr_or_optimizer)

    def _build(self, base, index):
        return _core.CosineAnnealingWarmRestarts(base, self.T_0, self.T_mult, self.eta_min)

    def hyperparameters(self):
        return {"T_0": self.T_0, "T_mult": self.T_mult, "eta_min": self.eta_min}


class Warmup(LRSchedule):
    r"""Linear warm-up over ``warmup_steps`` updates in front of another schedule (torch
    ``LinearLR(start_factor, end_factor=1, total_iters=W)`` then ``inner``, as ``SequentialLR``
    with milestone W)::

        t <  W:  lr(t) = inner.lr(0) · (start_factor + (1 - start_factor) · t / W)
        t >= W:  lr(t) = inner.lr(t - W)

    ``start_factor=None`` (default) means ``1 / (W + 1)``: an even ramp
    ``lr(t) = inner.lr(0) · (t + 1) / (W + 1)`` (up to rounding) that reaches the full lr at
    ``t = W`` and never spends an update at lr 0. ``start_factor=0`` gives the ramp from 0.

    The warm-up takes ``inner``'s optimizer (or base lr) and hyperparameters and builds fresh
    core schedules from them; step only the Warmup, not ``inner``. ``step(metric)`` forwards the
    metric (a ReduceLROnPlateau inside needs it).
    """

    kind = "warmup"

    def __init__(self, inner: LRSchedule, warmup_steps: int, start_factor: float | None = None):
        if not isinstance(inner, LRSchedule):
            raise TypeError(
                f"inner must be a gdcore schedule (LRSchedule), got {type(inner).__name__}"
            )
        self.inner = inner
        self.warmup_steps = _integer("warmup_steps", warmup_steps, low=0)
        if start_factor is None:
            start_factor = 1.0 / (self.warmup_steps + 1)
        self.start_factor = _real("start_factor", start_factor, low=0.0, high=1.0)
        self._needs_metric = inner._needs_metric
        self._setup(inner.optimizer, inner.base_lrs)

    def _build(self, base, index):
        return _core.Warmup(self.inner._build(base, index), self.warmup_steps, self.start_factor)

    def hyperparameters(self):
        return {
            "warmup_steps": self.warmup_steps,
            "start_factor": self.start_factor,
            "inner": {"kind": self.inner.kind, **self.inner.hyperparameters()},
        }


class OneCycleLR(LRSchedule):
    r"""The 1cycle policy (torch ``OneCycleLR`` with ``cycle_momentum=False``: gdcore cycles
    the learning rate only, not momentum)::

        initial = max_lr / div_factor,  final = initial / final_div_factor,  T = total_steps
        phases end at [pct_start·T - 1, T - 1]: initial → max_lr → final
        three_phase:  [pct_start·T - 1, 2·pct_start·T - 2, T - 1]:
                      initial → max_lr → initial → final
        inside a phase from step s to e, p = (t - s) / (e - s) and
          cos:    lr = end + (start - end) / 2 · (cos(π p) + 1)
          linear: lr = (end - start) · p + start

    For ``t >= T - 1`` the final lr is held (torch raises after ``T`` steps).

    The peak is ``max_lr`` (a float, or one per group) or, when ``max_lr`` is None, the given lr
    or each group's lr. ``total_steps`` or ``epochs * steps_per_epoch`` sets ``T``.
    """

    kind = "onecycle"

    def __init__(
        self,
        lr_or_optimizer=None,
        max_lr=None,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ):
        if total_steps is not None:
            self.total_steps = _integer("total_steps", total_steps, low=1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _integer("epochs", epochs, low=1) * _integer(
                "steps_per_epoch", steps_per_epoch, low=1
            )
            _integer("total_steps (epochs * steps_per_epoch)", self.total_steps)
        else:
            raise ValueError("total_steps must be given, or both epochs and steps_per_epoch")
        self.pct_start = _real("pct_start", pct_start, low=0.0, high=1.0, low_open=True,
                               high_open=True)
        self.anneal_strategy = _choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = _real("div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = _real("final_div_factor", final_div_factor, low=0.0,
                                      low_open=True)
        self.three_phase = _flag("three_phase", three_phase)
        if self.pct_start * self.total_steps - 1.0 == 0.0:
            raise ValueError(
                f"pct_start * total_steps must not be 1 (a warm-up phase of length 0), got "
                f"pct_start={self.pct_start}, total_steps={self.total_steps}"
            )
        if self.three_phase and self.pct_start > 0.5:
            raise ValueError(
                f"pct_start must be <= 0.5 with three_phase=True, got {self.pct_start}"
            )
        if isinstance(lr_or_optimizer, numbers.Real) and max_lr is not None:
            raise ValueError("give the peak learning rate once: as lr_or_optimizer or as max_lr")
        if lr_or_optimizer is None:
            if max_lr is None:
                raise TypeError("OneCycleLR needs max_lr (or a learning rate or an optimizer)")
            if not isinstance(max_lr, numbers.Real):
                raise TypeError("max_lr must be a float when no optimizer is given")
        self._attach(lr_or_optimizer, base_override=lambda bases: self._peaks(max_lr, bases))

    @staticmethod
    def _peaks(max_lr, bases):
        if max_lr is None:
            return bases
        if isinstance(max_lr, (list, tuple)):
            if len(max_lr) != len(bases):
                raise ValueError(f"max_lr has {len(max_lr)} values but there are {len(bases)} "
                                 "param_groups")
            return [_lr(f"max_lr[{i}]", v) for i, v in enumerate(max_lr)]
        return [_lr("max_lr", max_lr)] * len(bases)

    def _build(self, base, index):
        # The phases interpolate between these three rates: each must be a finite float64, and
        # a positive peak must not make the others underflow to 0.
        initial = base / self.div_factor
        final = initial / self.final_div_factor
        where = f" (param group {index})" if index else ""
        if not math.isfinite(initial) or (base > 0 and initial == 0):
            raise ValueError(
                f"div_factor={self.div_factor!r} makes the initial learning rate max_lr / "
                f"div_factor = {base!r} / {self.div_factor!r} = {initial}{where}; it must be a "
                "finite number > 0"
            )
        if not math.isfinite(final) or (base > 0 and final == 0):
            raise ValueError(
                f"final_div_factor={self.final_div_factor!r} makes the final learning rate "
                f"initial / final_div_factor = {initial!r} / {self.final_div_factor!r} = "
                f"{final}{where}; it must be a finite number > 0"
            )
        return _core.OneCycleLR(base, self.total_steps, self.pct_start, self.anneal_strategy,
                                self.div_factor, self.final_div_factor, self.three_phase)

    def _probe_times(self):
        return [0, max(0, int(self.pct_start * self.total_steps) - 1), self.total_steps - 1]

    def hyperparameters(self):
        return {
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }


class ReduceLROnPlateau(LRSchedule):
    r"""Reduce the learning rate when a metric stops improving (torch ``ReduceLROnPlateau``);
    drive it with ``step(metric)``::

        better(a) = a < best·(1 - threshold)  (min, rel)     a < best - threshold  (min, abs)
                    a > best·(1 + threshold)  (max, rel)     a > best + threshold  (max, abs)
        step(a):  if better(a): best = a, bad = 0  else bad += 1      (NaN is never better)
                  if cooldown_left > 0: cooldown_left -= 1, bad = 0
                  if bad > patience:  new = max(lr·factor, min_lr); lr = new if lr - new > eps
                                      cooldown_left = cooldown, bad = 0
        lr(t) = the current lr, whatever t

    ``min_lr`` is a float or one per group. The state (lr, best, bad, cooldown_left) is in
    ``state_dict()``.
    """

    kind = "plateau"
    _needs_metric = True

    def __init__(
        self,
        lr_or_optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0.0,
        eps: float = 1e-8,
    ):
        self.mode = _choice("mode", mode, ("min", "max"))
        self.factor = _real("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = _integer("patience", patience, low=0)
        self.threshold = _real("threshold", threshold, low=0.0)
        self.threshold_mode = _choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = _integer("cooldown", cooldown, low=0)
        if isinstance(min_lr, (list, tuple)):
            self.min_lr = [_lr(f"min_lr[{i}]", v) for i, v in enumerate(min_lr)]
        else:
            self.min_lr = _lr("min_lr", min_lr)
        self.eps = _lr("eps", eps)
        self._attach(lr_or_optimizer, base_override=self._check_min_lr)

    def _check_min_lr(self, bases):
        if isinstance(self.min_lr, list) and len(self.min_lr) != len(bases):
            raise ValueError(
                f"min_lr has {len(self.min_lr)} values but there are {len(bases)} param_groups"
            )
        return bases

    def _build(self, base, index):
        min_lr = self.min_lr[index] if isinstance(self.min_lr, list) else self.min_lr
        return _core.ReduceLROnPlateau(base, self.mode, self.factor, self.patience,
                                       self.threshold, self.threshold_mode, self.cooldown,
                                       min_lr, self.eps)

    def hyperparameters(self):
        return {
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "eps": self.eps,
        }


# ---------------------------------------------------------------------------------------------

_BY_NAME: dict[str, type[LRSchedule]] = {
    "constant": ConstantLR,
    "step": StepLR,
    "multistep": MultiStepLR,
    "exponential": ExponentialLR,
    "invscaling": InverseScaling,
    "optimal": OptimalLR,
    "polynomial": PolynomialLR,
    "cosine": CosineAnnealingLR,
    "cosine_restarts": CosineAnnealingWarmRestarts,
    "onecycle": OneCycleLR,
    "plateau": ReduceLROnPlateau,
}

SCHEDULE_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def make_schedule(
    name: str, lr_or_optimizer=None, /, *, warmup_steps: int = 0, warmup_start_factor=None, **kw
) -> LRSchedule:
    """Build a schedule by name (the strings estimators accept as ``learning_rate=``).

    ``name`` is one of :data:`SCHEDULE_NAMES`: "constant", "step", "multistep", "exponential",
    "invscaling", "optimal", "polynomial", "cosine", "cosine_restarts", "onecycle", "plateau";
    ``kw`` are that class's hyperparameters. ``warmup_steps > 0`` wraps the result in
    :class:`Warmup` (with ``warmup_start_factor`` as its ``start_factor``).

    >>> make_schedule("invscaling", 0.01, power_t=0.5)(3)
    0.005
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
    cls = _BY_NAME.get(name)
    if cls is None:
        allowed = ", ".join(map(repr, SCHEDULE_NAMES))
        raise ValueError(f"name must be one of {allowed}, got {name!r}")
    schedule = cls(lr_or_optimizer, **kw)
    warmup_steps = _integer("warmup_steps", warmup_steps, low=0)
    if warmup_steps > 0:
        schedule = Warmup(schedule, warmup_steps, warmup_start_factor)
    elif warmup_start_factor is not None:
        raise ValueError("warmup_start_factor needs warmup_steps > 0")
    return schedule
