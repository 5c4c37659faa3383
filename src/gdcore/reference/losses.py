"""PLACEHOLDER until the losses work lands: only squared_error, hinge and softmax."""
import numpy as np
def loss_values(loss, p, y, *, epsilon=0.1):
    T = p.dtype.type
    if loss == "hinge":
        z = p * y
        return np.where(z <= T(1), T(1) - z, T(0)), np.where(z <= T(1), -y, T(0))
    r = p - y
    return T(0.5) * r * r, r
def softmax_cross_entropy(z, labels):
    T = z.dtype.type
    m = z[:, 0].copy()
    for i in range(1, z.shape[1]): m = np.where(z[:, i] > m, z[:, i], m)
    e = np.exp(z - m[:, None]); s = np.zeros(len(z), z.dtype)
    for i in range(z.shape[1]): s = s + e[:, i]
    dz = e / s[:, None]; r = np.arange(len(z)); dz[r, labels] = dz[r, labels] - T(1)
    return np.log(s) - (z[r, labels] - m), dz
