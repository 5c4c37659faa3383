"""The twin of cpp/include/gdcore/mlp.hpp: multilayer perceptrons in NumPy.

``mlp_init``, ``mlp_forward``, ``mlp_gradient`` and ``train_mlp`` take the arguments of the
``gdcore._core`` functions of the same names and repeat their arithmetic step by step: the same
parameter layout ([W_1, b_1, ..., W_L, b_L], W_l fan_in x fan_out row-major), the same
activations written the same way, bias gradients summed row by row in order, losses summed in
float64, the same loop (snapshot, shuffle, divergence, tol). The matrix products are NumPy's
(BLAS), while the core's gemm uses fused multiply-adds on AVX2/AVX-512, so the two agree within
the mirror's tolerance rather than bitwise.

``fit_mlp`` is :func:`gdcore.mlp.fit_mlp` with this loop in place of the compiled one.
"""

from __future__ import annotations

import math

import numpy as np

from gdcore.reference import losses as ref_losses
from gdcore.reference.rng import shuffled_order
from gdcore.reference.train import StopRules, _optimizer_step

LEAKY_SLOPE = 0.01
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def layout(layer_sizes):
    """[(weight offset, bias offset, fan_in, fan_out)] per layer, and the buffer size."""
    out, off = [], 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        out.append((off, off + fan_in * fan_out, fan_in, fan_out))
        off += fan_in * fan_out + fan_out
    return out, off


def _splitmix_block(seed: int, start: int, count: int) -> np.ndarray:
    """Draws start+1 .. start+count of SplitMix64(seed), vectorized: the state after i draws is
    seed + i * golden (mod 2^64), and each output is a function of its state alone."""
    i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + i * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform(seed, start, count, bound):
    u = (_splitmix_block(seed, start, count) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return bound * (2.0 * u - 1.0)


def mlp_init(params, layer_sizes, activation, scheme, seed):
    """Fill params in place as the core does (glorot: scikit-learn's; he: uniform He)."""
    drawn = 0
    for w_off, b_off, fan_in, fan_out in layout(layer_sizes)[0]:
        nw = fan_in * fan_out
        if scheme == "glorot":
            factor = 2.0 if activation in ("logistic", "sigmoid") else 6.0
            bound = bias_bound = math.sqrt(factor / (fan_in + fan_out))
        elif scheme == "he":
            bound, bias_bound = math.sqrt(6.0 / fan_in), 0.0
        else:
            raise ValueError(f"unknown init {scheme!r}")
        params[w_off : w_off + nw] = _uniform(seed, drawn, nw, bound)
        drawn += nw
        if bias_bound == 0.0:
            params[b_off : b_off + fan_out] = 0
        else:
            params[b_off : b_off + fan_out] = _uniform(seed, drawn, fan_out, bias_bound)
            drawn += fan_out
    return params


def activate(Z, activation):
    """f(Z) as the core computes it (relu/leaky relu keep NaN)."""
    T = Z.dtype.type
    if activation == "identity":
        return Z
    if activation == "relu":
        return np.where(Z < T(0), T(0), Z)
    if activation == "leaky_relu":
        return np.where(Z < T(0), T(LEAKY_SLOPE) * Z, Z)
    with np.errstate(over="ignore"):
        if activation in ("logistic", "sigmoid"):
            return T(1) / (T(1) + np.exp(-Z))
        if activation == "tanh":
            return np.tanh(Z)
    raise ValueError(f"unknown activation {activation!r}")


def activation_backward(A, D, activation):
    """D ⊙ f'(Z), with f' written in terms of A = f(Z)."""
    T = A.dtype.type
    if activation == "identity":
        return D
    if activation == "relu":
        return np.where(A > T(0), D, T(0))
    if activation == "leaky_relu":
        return np.where(A > T(0), D, D * T(LEAKY_SLOPE))
    if activation in ("logistic", "sigmoid"):
        return D * (A * (T(1) - A))
    return D * (T(1) - A * A)


def _forward(X, params, layer_sizes, activation):
    """Every layer's activations [A_0 = X, A_1, ..., A_L = raw outputs]."""
    layers, _ = layout(layer_sizes)
    acts = [X]
    with np.errstate(over="ignore", invalid="ignore"):
        for index, (w_off, b_off, fan_in, fan_out) in enumerate(layers):
            W = params[w_off : w_off + fan_in * fan_out].reshape(fan_in, fan_out)
            Z = acts[-1] @ W + params[b_off : b_off + fan_out]
            acts.append(activate(Z, "identity" if index == len(layers) - 1 else activation))
    return acts


def mlp_forward(X, params, layer_sizes, activation, num_threads=0):
    """The network's raw outputs (n_samples, n_outputs)."""
    return _forward(np.asarray(X), np.asarray(params), layer_sizes, activation)[-1]


def output_loss(task, Z, Y):
    """Per-row loss and dL/dZ of the raw outputs (the core's output_loss)."""
    if task == "regression":
        return ref_losses.multi_squared_error(Z, Y.reshape(Z.shape))
    if task == "binary":
        loss, d = ref_losses.log_loss(Z[:, 0], Y.reshape(-1), 0.0, Z.dtype.type)
        return loss, d.reshape(-1, 1)
    return ref_losses.softmax_cross_entropy(Z, Y.reshape(-1).astype(np.int64))


def _row_sum(D):
    """Σ over rows, row by row in order (the core's bias-gradient loop)."""
    total = np.zeros(D.shape[1], dtype=D.dtype)
    for row in D:
        total = total + row
    return total


def _weight_norm2(params, layer_sizes) -> float:
    total = 0.0
    for w_off, _, fan_in, fan_out in layout(layer_sizes)[0]:
        w = params[w_off : w_off + fan_in * fan_out].astype(np.float64)
        total += float(np.dot(w, w))
    return total


def mlp_gradient(X, Y, rows, params, grad, layer_sizes, activation, task, alpha, num_threads=0):
    """The core's mlp_gradient: grad of the mean loss over X[rows] + alpha‖W‖²/(2B), in place;
    returns the summed loss of the rows (without the penalty)."""
    rows = np.asarray(rows, dtype=np.int64)
    T = X.dtype.type
    B = len(rows)
    ky = layer_sizes[-1] if task == "regression" else 1
    Yr = np.asarray(Y).reshape(X.shape[0], ky)[rows]
    acts = _forward(X[rows], params, layer_sizes, activation)
    with np.errstate(over="ignore", invalid="ignore"):
        row_loss, D = output_loss(task, acts[-1], Yr)
        loss = 0.0
        for value in row_loss:
            loss += float(value)
        scale = T(1.0 / B)
        l2 = T(alpha / B)
        layers, _ = layout(layer_sizes)
        for index in range(len(layers) - 1, -1, -1):
            w_off, b_off, fan_in, fan_out = layers[index]
            W = params[w_off : w_off + fan_in * fan_out].reshape(fan_in, fan_out)
            gW = scale * (acts[index].T @ D)
            if alpha != 0.0:
                gW = gW + l2 * W
            grad[w_off : w_off + fan_in * fan_out] = gW.reshape(-1)
            grad[b_off : b_off + fan_out] = _row_sum(D) * scale
            if index > 0:
                D = activation_backward(acts[index], D @ W.T, activation)
    return loss


def mlp_evaluate(X, Y, rows, params, layer_sizes, activation, task):
    """Mean loss and score (R² averaged over outputs, or accuracy) over X[rows]."""
    ky = layer_sizes[-1] if task == "regression" else 1
    Yr = np.asarray(Y).reshape(X.shape[0], ky)[rows]
    P = mlp_forward(X[rows], params, layer_sizes, activation)
    with np.errstate(over="ignore", invalid="ignore"):
        row_loss, _ = output_loss(task, P, Yr)
    m = len(rows)
    mean_loss = sum(float(v) for v in row_loss) / m
    if task == "regression":
        y64, p64 = Yr.astype(np.float64), P.astype(np.float64)
        res = ((y64 - p64) ** 2).sum(axis=0)
        tot = ((y64 - y64.mean(axis=0)) ** 2).sum(axis=0)
        r2 = np.where(tot > 0, 1.0 - res / np.where(tot > 0, tot, 1.0), (res == 0) * 1.0)
        return mean_loss, float(r2.mean())
    if task == "binary":
        hit = (P[:, 0] > 0) == (Yr[:, 0] > 0)
    else:
        hit = np.argmax(P, axis=1) == Yr[:, 0].astype(np.int64)
    return mean_loss, float(hit.mean())


def inputs_finite(X, rows, params, layer_sizes) -> bool:
    """Whether the first layer's products x·W_1[:, 0] of these rows are finite: with finite
    weights, false exactly when a row holds NaN or infinity (or overflows); train_mlp's first
    epoch checks X this way."""
    d, width = layer_sizes[0], layer_sizes[1]
    column = params[: d * width].reshape(d, width)[:, 0]
    return bool(np.isfinite((X[rows] * column).sum(axis=1)).all())


def train_mlp(
    X, Y, train_rows, valid_rows, params, opt_state, counters, floats, *, layer_sizes,
    activation, task, optimizer, optimizer_options, schedule, batch_size, max_epochs, tol,
    n_iter_no_change, early_stopping, shuffle, seed, alpha, target_loss, record_every,
    num_threads,
):  # fmt: skip
    """The NumPy twin of ``gdcore._core.train_mlp`` (same arguments, same in-place updates)."""
    _, size = layout(layer_sizes)
    train_rows = np.asarray(train_rows, dtype=np.int64)
    valid_rows = np.asarray(valid_rows, dtype=np.int64)
    n_train = len(train_rows)
    batch = max(1, min(batch_size, n_train))
    base_lr = optimizer_options.get("lr", 1e-3)
    grad = np.zeros(size, dtype=params.dtype)
    result = dict(loss=[], lr=[], val_loss=[], val_score=[], path=[], epochs=0,
                  status="max_epochs", bad_step=-1, bad_lr=0.0, interrupt=None)  # fmt: skip
    if record_every > 0:
        result["path"].append(params.astype(np.float64).copy())
    stop_rules = StopRules(tol, n_iter_no_change, early_stopping, target_loss)
    lr = base_lr
    order = train_rows.copy()
    for epoch in range(max_epochs):
        check_inputs = epoch == 0  # the first epoch checks X as it goes
        bad_input = False
        snapshot = (
            params.copy(),
            [None if s is None else s.copy() for s in opt_state],
            counters.copy(),
            floats.copy(),
        )
        if shuffle:
            order = shuffled_order(train_rows, seed, int(counters[2]))
        loss_sum = 0.0
        diverged = False
        for begin in range(0, n_train, batch):
            rows = order[begin : begin + batch]
            if check_inputs and not inputs_finite(X, rows, params, layer_sizes):
                bad_input = True
                result["bad_step"], result["bad_lr"] = int(counters[1]), lr
                break
            penalty = 0.5 * alpha * _weight_norm2(params, layer_sizes) if alpha != 0.0 else 0.0
            batch_loss = mlp_gradient(
                X, Y, rows, params, grad, layer_sizes, activation, task, alpha
            )
            if not math.isfinite(batch_loss):
                diverged = True
                result["bad_step"], result["bad_lr"] = int(counters[1]), lr
                break
            loss_sum += batch_loss + penalty
            lr = schedule.lr(int(counters[1])) if schedule is not None else base_lr
            counters[0] += 1
            options = dict(optimizer_options, lr=lr)
            floats[0] = _optimizer_step(
                optimizer, options, params, grad, opt_state, int(counters[0]), float(floats[0])
            )
            counters[1] += 1
            if record_every > 0 and counters[1] % record_every == 0:
                result["path"].append(params.astype(np.float64).copy())
        if check_inputs and not bad_input and not diverged and len(valid_rows):
            if not inputs_finite(X, valid_rows, params, layer_sizes):
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
            counters[...] = snapshot[2]
            floats[...] = snapshot[3]
            result["status"] = "bad_input" if bad_input else "diverged"
            break
        counters[2] += 1
        result["epochs"] += 1
        epoch_loss = loss_sum / n_train
        result["loss"].append(epoch_loss)
        result["lr"].append(lr)
        vloss = vscore = None
        if len(valid_rows):
            vloss, vscore = mlp_evaluate(X, Y, valid_rows, params, layer_sizes, activation, task)
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


def fit_mlp(X, y, **kwargs):
    """:func:`gdcore.fit_mlp` run by this NumPy loop instead of the compiled one."""
    from gdcore import mlp

    return mlp.fit_mlp(X, y, _kernel=train_mlp, **kwargs)
