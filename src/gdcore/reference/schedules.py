r"""Learning-rate schedules in plain Python: the twin of ``cpp/include/gdcore/schedules.hpp``.

Each class has the name and constructor arguments of its C++ class (``gdcore._core.<Name>``) and
the defaults of :mod:`gdcore.schedules`; ``lr(t)`` is the learning rate of update ``t`` (updates
completed so far, 0 first). The formulas are written with the same order of operations as the
C++ core, which follows ``torch.optim.lr_scheduler``'s closed forms and scikit-learn's
``_sgd_fast.pyx.tp``; the tests hold the core to these within 1e-12 relative.

Only :class:`ReduceLROnPlateau` has mutable state (``observe(metric)``); :class:`Warmup` forwards
``observe`` and its state to the schedule it wraps. No input checks here: read
:mod:`gdcore.schedules` for the validated API.
"""

from __future__ import annotations

import bisect
import math

__all__ = [
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
]


class _Stateless:
    def observe(self, metric: float) -> None:
        """Only ReduceLROnPlateau reacts to a metric."""

    def state(self) -> list[float]:
        return []

    def set_state(self, state: list[float]) -> None:
        if len(state) != 0:
            raise ValueError(f"state must be empty, got {len(state)} values")


class ConstantLR(_Stateless):
    r"""lr(t) = lr · (factor + [t >= total_iters] · (1 - factor))"""

    def __init__(self, lr: float, factor: float = 1.0, total_iters: int = 0):
        self.base, self.factor, self.total_iters = lr, factor, total_iters

    def lr(self, t: int) -> float:
        return self.base * (self.factor + ((1.0 - self.factor) if t >= self.total_iters else 0.0))


class StepLR(_Stateless):
    r"""lr(t) = lr · gamma^⌊t / step_size⌋"""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.base, self.step_size, self.gamma = lr, step_size, gamma

    def lr(self, t: int) -> float:
        return self.base * math.pow(self.gamma, t // self.step_size)


class MultiStepLR(_Stateless):
    r"""lr(t) = lr · gamma^(number of milestones <= t)"""

    def __init__(self, lr: float, milestones, gamma: float = 0.1):
        self.base, self.milestones, self.gamma = lr, list(milestones), gamma

    def lr(self, t: int) -> float:
        return self.base * math.pow(self.gamma, bisect.bisect_right(self.milestones, t))


class ExponentialLR(_Stateless):
    r"""lr(t) = lr · gamma^t"""

    def __init__(self, lr: float, gamma: float):
        self.base, self.gamma = lr, gamma

    def lr(self, t: int) -> float:
        return self.base * math.pow(self.gamma, t)


class InverseScaling(_Stateless):
    r"""lr(t) = eta0 / (t + 1)^power_t   (scikit-learn "invscaling"; eta0 is ``lr``)"""

    def __init__(self, lr: float, power_t: float = 0.25):
        self.base, self.power_t = lr, power_t

    def lr(self, t: int) -> float:
        return self.base / math.pow(t + 1, self.power_t)


class OptimalLR(_Stateless):
    r"""scikit-learn "optimal"::

        typw = √(1 / √alpha)
        eta0 = typw / max(1, dloss_at_init)      (dloss_at_init None means 1)
        t0   = 1 / (eta0 · alpha)
        lr(t) = 1 / (alpha · ((t0 + (t + 1)) - 1))
    """

    def __init__(self, alpha: float = 1e-4, dloss_at_init: float | None = None):
        self.alpha = alpha
        self.dloss_at_init = 1.0 if dloss_at_init is None else dloss_at_init
        typw = math.sqrt(1.0 / math.sqrt(alpha))
        eta0 = typw / max(1.0, self.dloss_at_init)
        self.t0 = 1.0 / (eta0 * alpha)

    def lr(self, t: int) -> float:
        t_sklearn = float(t + 1)  # scikit-learn counts updates from 1
        return 1.0 / (self.alpha * (self.t0 + t_sklearn - 1.0))


class PolynomialLR(_Stateless):
    r"""lr(t) = lr · (1 - min(total_iters, t) / total_iters)^power"""

    def __init__(self, lr: float, total_iters: int = 5, power: float = 1.0):
        self.base, self.total_iters, self.power = lr, total_iters, power

    def lr(self, t: int) -> float:
        done = min(self.total_iters, t)
        return self.base * math.pow(1.0 - done / self.total_iters, self.power)


class CosineAnnealingLR(_Stateless):
    r"""lr(t) = eta_min + (lr - eta_min) · (1 + cos(π t / T_max)) / 2"""

    def __init__(self, lr: float, T_max: int, eta_min: float = 0.0):
        self.base, self.T_max, self.eta_min = lr, T_max, eta_min

    def lr(self, t: int) -> float:
        angle = math.pi * t / self.T_max
        return self.eta_min + (self.base - self.eta_min) * (1.0 + math.cos(angle)) / 2.0


class CosineAnnealingWarmRestarts(_Stateless):
    r"""Cycles of lengths T_i = T_0 · T_mult^i; T_cur = t minus the finished cycles::

        lr(t) = eta_min + (lr - eta_min) · (1 + cos(π T_cur / T_i)) / 2
    """

    def __init__(self, lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0):
        self.base, self.T_0, self.T_mult, self.eta_min = lr, T_0, T_mult, eta_min

    def lr(self, t: int) -> float:
        t_cur, t_i = t, self.T_0
        if self.T_mult == 1:
            t_cur = t % self.T_0
        while t_cur >= t_i:  # Python ints: exact, no overflow
            t_cur -= t_i
            t_i *= self.T_mult
        angle = math.pi * t_cur / float(t_i)
        return self.eta_min + (self.base - self.eta_min) * (1.0 + math.cos(angle)) / 2.0


class Warmup:
    r"""Linear warm-up in front of ``inner``::

        t <  W:  lr(t) = inner.lr(0) · (start_factor + (1 - start_factor) · t / W)
        t >= W:  lr(t) = inner.lr(t - W)

    ``start_factor=None`` means ``1 / (W + 1)``, so lr(t) = inner.lr(0) · (t + 1) / (W + 1)
    up to rounding.
    """

    def __init__(self, inner, warmup_steps: int, start_factor: float | None = None):
        self.inner, self.warmup_steps = inner, warmup_steps
        self.start_factor = 1.0 / (warmup_steps + 1) if start_factor is None else start_factor

    def lr(self, t: int) -> float:
        if t >= self.warmup_steps:
            return self.inner.lr(t - self.warmup_steps)
        ramp = (1.0 - self.start_factor) * t / self.warmup_steps
        return self.inner.lr(0) * (self.start_factor + ramp)

    def observe(self, metric: float) -> None:
        self.inner.observe(metric)

    def state(self) -> list[float]:
        return self.inner.state()

    def set_state(self, state: list[float]) -> None:
        self.inner.set_state(state)


class OneCycleLR(_Stateless):
    r"""The 1cycle policy (learning rate only)::

        initial = max_lr / div_factor,  final = initial / final_div_factor,  T = total_steps
        phase ends: [pct_start·T - 1, T - 1]
                    three_phase: [pct_start·T - 1, 2·pct_start·T - 2, T - 1]
        inside a phase from step s to e:  p = (t - s) / (e - s)
          cos:    lr = end + (start - end) / 2 · (cos(π p) + 1)
          linear: lr = (end - start) · p + start
        t >= T - 1: the final lr is held
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ):
        self.total_steps = total_steps
        self.anneal_strategy = anneal_strategy
        initial = max_lr / div_factor
        final = initial / final_div_factor
        T = float(total_steps)
        if three_phase:
            self.phases = [
                (pct_start * T - 1.0, initial, max_lr),
                (2.0 * pct_start * T - 2.0, max_lr, initial),
                (T - 1.0, initial, final),
            ]
        else:
            self.phases = [(pct_start * T - 1.0, initial, max_lr), (T - 1.0, max_lr, final)]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
        return (end - start) * pct + start

    def lr(self, t: int) -> float:
        step = float(min(t, self.total_steps - 1))
        start_step = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(self.phases):
            if step <= end_step or i == len(self.phases) - 1:
                return self._anneal(start_lr, end_lr, (step - start_step) / (end_step - start_step))
            start_step = end_step
        raise AssertionError("unreachable")


class ReduceLROnPlateau:
    r"""Reduce the learning rate when a metric stops improving (stateful)::

        better(a) = a < best·(1 - threshold)  (min, rel)     a < best - threshold  (min, abs)
                    a > best·(1 + threshold)  (max, rel)     a > best + threshold  (max, abs)
        observe(a):  if better(a): best = a, bad = 0  else bad += 1      (NaN is never better)
                     if cooldown_left > 0: cooldown_left -= 1, bad = 0
                     if bad > patience:  new = max(lr·factor, min_lr); lr = new if lr - new > eps
                                         cooldown_left = cooldown, bad = 0
        lr(t) = the current lr, whatever t
    """

    def __init__(
        self,
        lr: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.current = lr
        self.best = math.inf if mode == "min" else -math.inf
        self.bad = 0
        self.cooldown_left = 0

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < self.best * (1.0 - self.threshold)
            return a < self.best - self.threshold
        if self.threshold_mode == "rel":
            return a > self.best * (self.threshold + 1.0)
        return a > self.best + self.threshold

    def observe(self, metric: float) -> None:
        if self._is_better(metric):
            self.best = metric
            self.bad = 0
        else:
            self.bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad = 0
        if self.bad > self.patience:
            reduced = max(self.current * self.factor, self.min_lr)
            if self.current - reduced > self.eps:
                self.current = reduced
            self.cooldown_left = self.cooldown
            self.bad = 0

    def lr(self, t: int) -> float:
        return self.current

    def state(self) -> list[float]:
        return [self.current, self.best, float(self.bad), float(self.cooldown_left)]

    def set_state(self, state: list[float]) -> None:
        self.current, self.best = state[0], state[1]
        self.bad, self.cooldown_left = int(state[2]), int(state[3])
