"""The twin of cpp/include/gdcore/train.hpp: the linear training loop in NumPy.

``train_linear`` takes exactly the arguments of ``gdcore._core.train_linear`` and repeats its
arithmetic in the same order, so the two produce the same parameters:

* a dot product x·w accumulates into 16 lanes (element j into lane j mod 16, in order), then
  adds the lanes pairwise: lane i += lane i+8, then +4, +2, +1;
* a batch's rows are split into the same chunks as the compiled loop's threads
  (:func:`gdcore.reference.parallel.batch_chunks`, the rule of the core's ``batch_chunks``
  written out); each chunk's gradient is summed row by row from zero, and the
  chunks are added in order;
* losses are summed in float64, row by row.

``fit_linear`` (the readable entry point) is :func:`gdcore.train.fit_linear` with this loop
in place of the compiled one. The learning-rate schedule object is the one the compiled loop
gets (its ``lr(t)`` and ``observe(metric)`` are mirrored on their own by
:mod:`gdcore.reference.schedules` and its tests).
"""

from __future__ import annotations

import math

import numpy as np

from gdcore.reference import losses as ref_losses
from gdcore.reference import optim as ref_optim
from gdcore.reference.parallel import batch_chunks
from gdcore.reference.rng import shuffled_order

LANES = 16


def dot_lanes(rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x·w for every row of `rows`, in the fixed lane order."""
    n, d = rows.shape
    acc = np.zeros((n, LANES), dtype=rows.dtype)
    full = d // LANES * LANES
    for c in range(0, full, LANES):
        acc = acc + rows[:, c : c + LANES] * w[c : c + LANES]
    rem = d - full
    if rem and d >= LANES:
        # The last 16 elements as one more chunk, element d-16+i into lane i; the lanes whose
        # elements a full chunk already had multiply by zero.
        tail = w[d - LANES :].copy()
        tail[: LANES - rem] = 0
        acc = acc + rows[:, d - LANES :] * tail
    elif rem:
        acc[:, :rem] = acc[:, :rem] + rows[:, :rem] * w[:rem]
    h = LANES // 2
    while h > 0:
        acc[:, :h] = acc[:, :h] + acc[:, h : 2 * h]
        h //= 2
    return acc[:, 0].copy()


def sequential_sum(values: np.ndarray) -> np.ndarray:
    """Σ over axis 0 in row order, starting from zero (as `g = g + v` in a loop)."""
    start = np.zeros((1,) + values.shape[1:], dtype=values.dtype)
    return np.add.accumulate(np.concatenate([start, values]), axis=0)[-1]


def float_sum(values) -> float:
    """Σ of float64 values in order, starting from 0.0."""
    total = 0.0
    for v in np.asarray(values, dtype=np.float64).ravel():
        total += float(v)
    return total


def predict_heads(X, params, rows, heads):
    d = X.shape[1]
    W = params[: heads * d].reshape(heads, d)
    b = params[heads * d :]
    block = X[rows]
    return np.stack([dot_lanes(block, W[h]) + b[h] for h in range(heads)], axis=1)


def clip_dloss(values, cap):
    """Loss derivatives clipped to [-cap, cap], as train.hpp's clip_dloss (NaN stays NaN)."""
    return np.where(values < -cap, -cap, np.where(values > cap, cap, values))


def head_eval(task, loss, epsilon, P, Yrows, max_dloss=math.inf, positive_weight=None):
    """Per-row loss (summed over heads in order) and derivatives, as the C++ heads compute them:
    derivatives clipped to [-max_dloss, max_dloss]; with positive_weight (one-vs-rest), head h
    weighs its own class's rows (y > 0) by positive_weight[h], both loss and derivative."""
    T = P.dtype.type
    cap = T(max_dloss)
    if task == "softmax":
        labels = Yrows[:, 0].astype(np.int64)
        values, derivs = ref_losses.softmax_cross_entropy(P, labels)
        return values, clip_dloss(derivs, cap)
    values, derivs = ref_losses.loss_values_api(loss, P, Yrows, epsilon=epsilon)
    derivs = clip_dloss(derivs, cap)
    if positive_weight is not None:
        w = np.where(Yrows > 0, np.asarray(positive_weight, dtype=np.float64).astype(P.dtype), T(1))
        values, derivs = w * values, w * derivs
    total = np.full(P.shape[0], T(0), dtype=P.dtype)
    for h in range(P.shape[1]):
        total = total + values[:, h]
    return total, derivs


def passive_aggressive_scale(x, P, Yrows, loss, epsilon, mode, lr):
    """tau_h / lr for one row (train.hpp's StochasticSgdStep): PA-I tau = min(C, L / |x|²)
    (0 when |x|² = 0), PA-II tau = L / (|x|² + 1 / (2 C)), C = lr, L_h the unweighted loss."""
    T = x.dtype.type
    sq = dot_lanes(x[None, :], x)[0]
    c = T(lr)
    values, _ = ref_losses.loss_values_api(loss, P, Yrows, epsilon=epsilon)
    scale = np.empty(P.shape[1], dtype=x.dtype)
    for h in range(P.shape[1]):
        ell = values[0, h]
        if mode == 1:
            tau = T(0) if sq == T(0) else min(c, ell / sq)
        else:
            tau = ell / (sq + T(0.5) / c)
        scale[h] = tau / c
    return scale


def batch_gradient(X, Y, sw, params, order, task, loss, epsilon, heads, chunks,
                   max_dloss=math.inf, positive_weight=None, passive_aggressive=0,
                   lr=None):  # fmt: skip
    """Gradient of the mean weighted loss over the rows `order` (no penalty), and the loss sum;
    each row's loss derivatives are clipped to [-max_dloss, max_dloss] before weighting."""
    T = X.dtype.type
    n_rows = len(order)
    d = X.shape[1]
    per = -(-n_rows // chunks)
    grad = None
    loss_sum = 0.0
    for c in range(chunks):
        part_rows = order[min(n_rows, c * per) : min(n_rows, (c + 1) * per)]
        P = predict_heads(X, params, part_rows, heads)
        weights = np.ones(len(part_rows), dtype=X.dtype) if sw is None else sw[part_rows]
        row_loss, dP = head_eval(task, loss, epsilon, P, Y[part_rows], max_dloss, positive_weight)
        dk = weights[:, None] * dP
        if passive_aggressive:  # one row: its coefficients scaled by tau_h / lr
            dk = dk * passive_aggressive_scale(X[part_rows[0]], P, Y[part_rows], loss, epsilon,
                                               passive_aggressive, lr)  # fmt: skip
        G = np.concatenate(
            [
                np.concatenate(
                    [sequential_sum(dk[:, h : h + 1] * X[part_rows]) for h in range(heads)]
                )
                if len(part_rows)
                else np.zeros(heads * d, dtype=X.dtype),
                sequential_sum(dk) if len(part_rows) else np.zeros(heads, dtype=X.dtype),
            ]
        )
        loss_sum += float_sum(weights * row_loss)
        grad = G if grad is None else grad + G
    return grad / T(float(n_rows)), loss_sum


class StopRules:
    """tol / n_iter_no_change on the epoch loss (or the validation score with early_stopping) and
    target_loss, judged after each epoch: train.hpp's StopRules."""

    def __init__(self, tol, n_iter_no_change, early_stopping, target_loss):
        self.tol, self.n_iter_no_change = tol, n_iter_no_change
        self.early_stopping, self.target_loss = early_stopping, target_loss
        self.best_loss, self.best_score, self.no_improvement = math.inf, -math.inf, 0

    def after_epoch(self, epoch_loss, val_score=None):
        """The status that ends the fit, or None to go on."""
        if val_score is not None and self.early_stopping:
            worse = val_score < self.best_score + self.tol
            self.no_improvement = self.no_improvement + 1 if worse else 0
            self.best_score = max(self.best_score, val_score)
        if not self.early_stopping:
            worse = epoch_loss > self.best_loss - self.tol
            self.no_improvement = self.no_improvement + 1 if worse else 0
            self.best_loss = min(self.best_loss, epoch_loss)
        if epoch_loss <= self.target_loss:
            return "target_reached"
        if self.tol > -math.inf and self.no_improvement >= self.n_iter_no_change:
            return "converged"
        return None


def penalty_value(penalty, alpha, l1_ratio, W) -> float:
    if penalty == "none" or alpha == 0.0:
        return 0.0
    l1 = {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)
    w = np.asarray(W, dtype=np.float64)
    sq = float_sum(w * w)
    ab = float_sum(np.abs(w))
    return alpha * (0.5 * (1.0 - l1) * sq + l1 * ab)


def evaluate(X, Y, sw, params, rows, task, loss, epsilon, heads, positive_weight=None):
    """Mean weighted loss and score (R² averaged over heads, or accuracy) over `rows`."""
    P = predict_heads(X, params, rows, heads)
    Yr = Y[rows]
    row_loss, _ = head_eval(task, loss, epsilon, P, Yr, positive_weight=positive_weight)
    w = np.ones(len(rows)) if sw is None else sw[rows].astype(np.float64)
    total_loss = float_sum(w * row_loss.astype(np.float64))
    weight = float_sum(w)
    mean_loss = total_loss / weight if weight > 0 else 0.0
    if task == "regression":
        r2 = 0.0
        for h in range(heads):
            y = Yr[:, h].astype(np.float64)
            res = y - P[:, h].astype(np.float64)
            sum_y = float_sum(w * y)
            sum_yy = float_sum(w * y * y)
            sum_res = float_sum(w * res * res)
            mean = sum_y / weight if weight > 0 else 0.0
            total = sum_yy - weight * mean * mean
            if not weight > 0:  # every row weighs 0: nothing to score
                continue
            r2 += 1.0 - sum_res / total if total > 0 else (1.0 if sum_res == 0 else 0.0)
        return mean_loss, r2 / heads
    if task == "binary":
        hit = (P[:, 0] > 0) == (Yr[:, 0] > 0)
    elif task == "ovr":
        guess = np.argmax(P, axis=1)
        hit = Yr[np.arange(len(rows)), guess] > 0
    else:
        hit = np.argmax(P, axis=1) == Yr[:, 0].astype(np.int64)
    correct = float_sum(w * hit)
    return mean_loss, correct / weight if weight > 0 else 0.0


def _optimizer_step(name, options, param, grad, states, step, mu_product):
    """The reference optimizer `name` on one flat buffer; returns NAdam's new mu_product."""
    o = {k: v for k, v in options.items()}
    if "betas" in o:
        o["beta1"], o["beta2"] = o.pop("betas")
    o.pop("initial_accumulator_value", None)
    s0, s1, s2 = states
    if name == "sgd":
        ref_optim.sgd_step(param, grad, s0, step=step, **o)
    elif name == "adagrad":
        ref_optim.adagrad_step(param, grad, s0, step=step, **o)
    elif name == "rmsprop":
        ref_optim.rmsprop_step(param, grad, s0, s1, s2, step=step, **o)
    elif name == "adam":
        ref_optim.adam_step(param, grad, s0, s1, s2, step=step, **o)
    elif name == "adamax":
        ref_optim.adamax_step(param, grad, s0, s1, step=step, **o)
    elif name == "nadam":
        return ref_optim.nadam_step(param, grad, s0, s1, step=step, mu_product=mu_product, **o)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    return mu_product


def train_linear(
    X, Y, sample_weight, train_rows, valid_rows, params, opt_state, l1_q, averaged, counters,
    floats, *, task, heads, loss, epsilon, optimizer, optimizer_options, schedule, batch_size,
    max_epochs, tol, n_iter_no_change, early_stopping, shuffle, seed, penalty, alpha, l1_ratio,
    fit_intercept, target_loss, record_every, average, num_threads, max_dloss=math.inf,
    floor_l2_shrink=False, positive_weight=None, passive_aggressive=0,
):  # fmt: skip
    """The NumPy twin of ``gdcore._core.train_linear`` (same arguments, same in-place updates)."""
    T = X.dtype.type
    n, d = X.shape
    k = heads
    Y2 = Y.reshape(n, -1)
    size = k * d + k
    weights = k * d
    stepped = size if fit_intercept else weights
    train_rows = np.asarray(train_rows, dtype=np.int64)
    valid_rows = np.asarray(valid_rows, dtype=np.int64)
    n_train = len(train_rows)
    batch = max(1, min(batch_size, n_train))
    l1_share = {"l1": 1.0, "elasticnet": l1_ratio}.get(penalty, 0.0)
    l2_alpha = alpha * (1.0 - l1_share) if penalty in ("l2", "elasticnet") else 0.0
    base_lr = optimizer_options.get("lr", 1e-3)
    # floor_l2_shrink: with plain SGD descending, a step's l2 coefficient is at most 1 / lr.
    floor_l2 = (
        floor_l2_shrink and optimizer == "sgd" and optimizer_options.get("momentum", 0.0) == 0.0
        and not optimizer_options.get("maximize", False) and l2_alpha != 0.0
    )  # fmt: skip
    states = [s[:stepped] if s is not None else None for s in opt_state]

    result = dict(loss=[], lr=[], val_loss=[], val_score=[], path=[], epochs=0,
                  status="max_epochs", bad_step=-1, bad_lr=0.0, interrupt=None)  # fmt: skip
    if record_every > 0:
        result["path"].append(params.astype(np.float64).copy())
    stop_rules = StopRules(tol, n_iter_no_change, early_stopping, target_loss)
    lr = base_lr
    order = train_rows.copy()
    for epoch in range(max_epochs):
        # The first epoch checks X as it goes: with finite parameters a prediction is not finite
        # only when its row holds NaN or infinity (or overflows); the fit then stops (bad_input)
        # before the row changes anything, and the caller names the row.
        check_inputs = epoch == 0
        bad_input = False
        snapshot = (
            params.copy(),
            [None if s is None else s.copy() for s in opt_state],
            None if l1_q is None else l1_q.copy(),
            counters.copy(),
            floats.copy(),
            None if averaged is None else averaged.copy(),
        )
        if shuffle:
            order = shuffled_order(train_rows, seed, int(counters[2]))
        loss_sum = 0.0
        diverged = False
        for begin in range(0, n_train, batch):
            rows = order[begin : begin + batch]
            if check_inputs and not np.isfinite(predict_heads(X, params, rows, k)).all():
                bad_input = True
                result["bad_step"], result["bad_lr"] = int(counters[1]), lr
                break
            chunks = batch_chunks(len(rows), d, k, num_threads)
            grad, batch_loss = batch_gradient(
                X, Y2, sample_weight, params, rows, task, loss, epsilon, k, chunks, max_dloss,
                positive_weight, passive_aggressive, base_lr,
            )
            if not math.isfinite(batch_loss):
                diverged = True
                result["bad_step"], result["bad_lr"] = int(counters[1]), lr
                break
            loss_sum += batch_loss
            lr = schedule.lr(int(counters[1])) if schedule is not None else base_lr
            l2_step = 1.0 / lr if floor_l2 and lr * l2_alpha > 1.0 else l2_alpha
            if l2_step != 0.0:
                grad[:weights] = grad[:weights] + T(l2_step) * params[:weights]
            counters[0] += 1
            options = dict(optimizer_options, lr=lr)
            floats[0] = _optimizer_step(
                optimizer, options, params[:stepped], grad[:stepped], states,
                int(counters[0]), float(floats[0]),
            )  # fmt: skip
            if l1_share != 0.0 and alpha != 0.0:
                floats[1] += lr * alpha * l1_share
                u = T(floats[1])
                z = params[:weights].copy()
                w = z.copy()
                pos, neg = z > 0, z < 0
                w[pos] = np.maximum(T(0), z[pos] - (u + l1_q[pos]))
                w[neg] = np.minimum(T(0), z[neg] + (u - l1_q[neg]))
                params[:weights] = w
                l1_q[...] = l1_q + (w - z)
            counters[1] += 1
            if averaged is not None and average > 0 and counters[1] >= average:
                count = T(float(counters[1] - average + 1))
                averaged[...] = averaged + (params - averaged) / count
            if record_every > 0 and counters[1] % record_every == 0:
                result["path"].append(params.astype(np.float64).copy())
        if check_inputs and not bad_input and not diverged and len(valid_rows):
            if not np.isfinite(predict_heads(X, params, valid_rows, k)).all():
                bad_input = True
                result["bad_step"], result["bad_lr"] = int(counters[1]), lr
        if not bad_input and not diverged and not np.all(np.isfinite(params)):
            diverged = True
            result["bad_step"], result["bad_lr"] = int(counters[1]) - 1, lr
        if diverged or bad_input:
            params[...] = snapshot[0]
            for s, saved in zip(opt_state, snapshot[1]):
                if s is not None:
                    s[...] = saved
            if l1_q is not None:
                l1_q[...] = snapshot[2]
            counters[...] = snapshot[3]
            floats[...] = snapshot[4]
            if averaged is not None:
                averaged[...] = snapshot[5]
            result["status"] = "bad_input" if bad_input else "diverged"
            break
        counters[2] += 1
        result["epochs"] += 1
        per_head = float(k) if task == "ovr" else 1.0  # one-vs-rest: the loss per head
        epoch_loss = (
            loss_sum / n_train + penalty_value(penalty, alpha, l1_ratio, params[:weights])
        ) / per_head
        result["loss"].append(epoch_loss)
        result["lr"].append(lr)
        vloss = vscore = None
        if len(valid_rows):
            vloss, vscore = evaluate(
                X, Y2, sample_weight, params, valid_rows, task, loss, epsilon, k, positive_weight
            )
            result["val_loss"].append(vloss)
            result["val_score"].append(vscore)
        if schedule is not None:
            schedule.observe(epoch_loss if vloss is None else vloss)
        stop = stop_rules.after_epoch(epoch_loss, vscore)
        if stop is not None:
            result["status"] = stop
            break
    result["path"] = (
        np.array(result["path"], dtype=np.float64) if result["path"] else np.zeros((0, size))
    )
    return result


def fit_linear(X, y, **kwargs):
    """:func:`gdcore.fit_linear` run by this NumPy loop instead of the compiled one."""
    from gdcore import train

    return train.fit_linear(X, y, _kernel=train_linear, **kwargs)
