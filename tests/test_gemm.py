"""gdcore.linalg.gemm: the core against exact products, the NumPy twin, itself across threads and
SIMD paths, and its argument checks.

Tolerances. Each element of the product is a dot product of length k summed in order (in blocks
of 256 whose partial sums, scaled by alpha, are added to C in order). The classic bound for such
a sum (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5) is

    |computed - exact| <= gamma_(k+3) * (|alpha| |op(A)| |op(B)| + |beta| |C|),  gamma_n = n u / (1 - n u)

with u = 2**-24 (float32) or 2**-53 (float64): k - 1 additions and k products (one rounding each,
or one per fused multiply-add), alpha's product, beta's product and the final add. This is a
worst case, element by element and relative to |A||B| rather than to |AB| (which may cancel), so
it holds for every input. Against the exact product (computed in long double from the float
data) the core must meet it; against the twin (NumPy/BLAS, bounded the same way) the difference
is at most twice it. For k = 257 this is 3.1e-5 |A||B| in float32 and 5.8e-14 in float64.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gdcore import _core, linalg
from gdcore.reference import linalg as twin

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 2, 7, 11, 12, 13, 31, 33, 64, 65, 257]  # 0, 1, tails of the 12x32 / 6x16 tiles


def random_problem(rng, m, n, k, dtype, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    return a, b, c


def error_bound(a, b, c, alpha, beta, trans_a, trans_b):
    """gamma_(k+3) * (|alpha| |op(A)||op(B)| + |beta| |C|), element by element, in float64."""
    op_a = (a.T if trans_a else a).astype(np.float64)
    op_b = (b.T if trans_b else b).astype(np.float64)
    k = op_a.shape[1]
    u = np.finfo(a.dtype).eps / 2
    gamma = (k + 3) * u / (1 - (k + 3) * u)
    return gamma * (abs(alpha) * (np.abs(op_a) @ np.abs(op_b)) + abs(beta) * np.abs(c))


def exact(a, b, c, alpha, beta, trans_a, trans_b):
    op_a = (a.T if trans_a else a).astype(np.longdouble)
    op_b = (b.T if trans_b else b).astype(np.longdouble)
    out = np.longdouble(alpha) * (op_a @ op_b)
    if beta != 0:
        out += np.longdouble(beta) * c.astype(np.longdouble)
    return out


@given(
    m=st.sampled_from(SIZES) | st.integers(0, 80),
    n=st.sampled_from(SIZES) | st.integers(0, 80),
    k=st.sampled_from(SIZES) | st.integers(0, 300),
    dtype=st.sampled_from(DTYPES),
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    alpha=st.sampled_from([1.0, -1.0, 0.5, 3.0]),
    beta=st.sampled_from([0.0, 1.0, -0.25, 2.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_core_within_bound_of_exact_and_twin(m, n, k, dtype, trans_a, trans_b, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    a, b, c = random_problem(rng, m, n, k, dtype, trans_a, trans_b)
    bound = error_bound(a, b, c, alpha, beta, trans_a, trans_b)
    args = dict(alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
    core = linalg.gemm(a, b, c.copy(), **args)
    mirror = twin.gemm(a, b, c.copy(), **args)
    assert core.dtype == dtype and core.shape == (m, n)
    truth = exact(a, b, c, alpha, beta, trans_a, trans_b)
    assert np.all(np.abs(core.astype(np.longdouble) - truth) <= bound)
    assert np.all(np.abs(core.astype(np.float64) - mirror.astype(np.float64)) <= 2 * bound)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan_in_c(dtype):
    rng = np.random.default_rng(0)
    a, b, _ = random_problem(rng, 37, 45, 300, dtype, False, False)
    c = np.full((37, 45), np.nan, dtype)
    linalg.gemm(a, b, c, beta=0.0)
    assert np.all(np.isfinite(c))
    assert np.array_equal(np.isfinite(twin.gemm(a, b, np.full_like(c, np.nan))), np.isfinite(c))


@pytest.mark.parametrize("dtype", DTYPES)
def test_k_zero_scales_c(dtype):
    c = np.arange(6, dtype=dtype).reshape(2, 3)
    a, b = np.empty((2, 0), dtype), np.empty((0, 3), dtype)
    assert np.array_equal(linalg.gemm(a, b, c.copy(), beta=2.0), 2 * c)
    assert np.array_equal(linalg.gemm(a, b, np.full_like(c, np.nan), beta=0.0), np.zeros_like(c))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_in_a_propagate(dtype):
    a = np.ones((13, 5), dtype)
    a[3, 2] = np.nan
    a[7, 1] = np.inf
    b = np.ones((5, 33), dtype)
    out = linalg.gemm(a, b, np.zeros((13, 33), dtype))
    expected = twin.gemm(a, b, np.zeros((13, 33), dtype))
    assert np.array_equal(out, expected, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
# A square-ish product, and thin ones (an MLP's 10-unit output layer at batch 128) that split
# by their work in values moved rather than multiply-adds.
@pytest.mark.parametrize("m,n,k", [(301, 157, 600), (128, 256, 10), (256, 10, 128)])
def test_threads_give_identical_bits(dtype, trans_a, trans_b, m, n, k):
    rng = np.random.default_rng(1)
    a, b, c = random_problem(rng, m, n, k, dtype, trans_a, trans_b)
    args = dict(alpha=0.5, beta=1.5, trans_a=trans_a, trans_b=trans_b)
    one = linalg.gemm(a, b, c.copy(), num_threads=1, **args)
    for threads in (2, 3, 4):
        assert np.array_equal(linalg.gemm(a, b, c.copy(), num_threads=threads, **args), one)


@pytest.mark.parametrize("dtype", DTYPES)
def test_result_does_not_depend_on_the_thread_grid(dtype):
    # Splitting C by rows or by columns must give the same bits: compare a wide and a tall product
    # (the split follows the shape) with the corresponding slices computed alone.
    rng = np.random.default_rng(2)
    a, b, _ = random_problem(rng, 40, 900, 700, dtype, False, False)
    full = linalg.gemm(a, b, np.empty((40, 900), dtype), num_threads=2)
    left = linalg.gemm(a, np.ascontiguousarray(b[:, :450]), np.empty((40, 450), dtype), num_threads=1)
    # Columns 0..449 see the same packed values and the same order of k.
    assert np.array_equal(full[:, :450], left)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [50, 64, 72, 128])
@pytest.mark.parametrize("trans_a", [False, True])
def test_narrow_and_wide_tiles_give_identical_bits(dtype, m, trans_a):
    # C with at most one vector of columns uses a taller, narrower tile (16 rows where m is a
    # multiple of 16 but not of 24, as 64 and 128; else 24 rows, with an edge tile at 50); each
    # element still sees the same operations in the same order.
    rng = np.random.default_rng(8)
    a, b, c = random_problem(rng, m, 40, 300, dtype, trans_a, False)
    args = dict(beta=0.5, trans_a=trans_a, num_threads=1)
    wide = linalg.gemm(a, b, c.copy(), **args)
    for n in (16, 10, 8, 3):
        narrow = linalg.gemm(a, np.ascontiguousarray(b[:, :n]), c[:, :n].copy(), **args)
        assert np.array_equal(narrow, wide[:, :n]), n


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_b", [False, True])
def test_few_rows_give_the_bits_of_many_rows(dtype, trans_b):
    # A product with few rows (an MLP's mini-batch) may use 8-row tiles and read B where it is
    # instead of a packed copy; each element still sees the same operations in the same order,
    # so its rows equal the same rows of a tall product (12-row tiles, packed B). n = 300 leaves
    # a partial panel (packed even in place); k = 600 spans three blocks of 256.
    rng = np.random.default_rng(9)
    a, b, c = random_problem(rng, 400, 300, 600, dtype, False, trans_b)
    args = dict(alpha=0.75, beta=-0.5, trans_b=trans_b, num_threads=1)
    tall = linalg.gemm(a, b, c.copy(), **args)
    for rows in (8, 32, 40, 64, 80, 96, 128, 192):
        few = linalg.gemm(np.ascontiguousarray(a[:rows]), b, c[:rows].copy(), **args)
        assert np.array_equal(few, tall[:rows]), rows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [29, 32, 100])
def test_a_read_in_place_gives_the_bits_of_packed_a(dtype, m):
    # op(A) = A (unit column stride) is read where it is by full tiles; op(A) = (A^T)^T is packed
    # first. Same tiles, same operations: the same bits, with edge tiles (29, 100) and without.
    rng = np.random.default_rng(12)
    a, b, c = random_problem(rng, m, 70, 300, dtype, False, False)
    args = dict(alpha=0.5, beta=0.25, num_threads=1)
    in_place = linalg.gemm(a, b, c.copy(), **args)
    packed = linalg.gemm(np.ascontiguousarray(a.T), b, c.copy(), trans_a=True, **args)
    assert np.array_equal(in_place, packed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_simd_paths_agree_within_bound(dtype):
    best = _core.detected_simd_path()
    paths = ["baseline", "avx2", "avx512"]
    paths = paths[: paths.index(best) + 1]
    rng = np.random.default_rng(3)
    results = {}
    before = _core.simd_path()
    try:
        for trans_a, trans_b in [(False, False), (True, True)]:
            a, b, c = random_problem(rng, 70, 95, 530, dtype, trans_a, trans_b)
            args = dict(alpha=-0.75, beta=0.5, trans_a=trans_a, trans_b=trans_b)
            bound = error_bound(a, b, c, args["alpha"], args["beta"], trans_a, trans_b)
            truth = exact(a, b, c, args["alpha"], args["beta"], trans_a, trans_b)
            for path in paths:
                _core.set_simd_path(path)
                results[path] = linalg.gemm(a, b, c.copy(), **args)
                assert np.all(np.abs(results[path].astype(np.longdouble) - truth) <= bound), path
            for path in paths[1:]:
                diff = np.abs(results[path].astype(np.float64) - results["baseline"])
                assert np.all(diff <= 2 * bound), path
    finally:
        _core.set_simd_path(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fortran_ordered_operands_equal_the_transpose_flag(dtype):
    rng = np.random.default_rng(4)
    a, b, _ = random_problem(rng, 29, 41, 67, dtype, True, True)  # stored k x m and n x k
    flagged = linalg.gemm(a, b, np.empty((29, 41), dtype), trans_a=True, trans_b=True)
    viewed = linalg.gemm(a.T, b.T, np.empty((29, 41), dtype))  # F-ordered views, no copy
    assert np.array_equal(flagged, viewed)
    # A transpose of a transposed view undoes it.
    again = linalg.gemm(a.T.T, b.T.T, np.empty((29, 41), dtype), trans_a=True, trans_b=True)
    assert np.array_equal(flagged, again)


def test_strided_operands_are_copied():
    rng = np.random.default_rng(5)
    big = rng.standard_normal((40, 60))
    a, b = big[::2, ::3], big[1::2, 1::3].T  # neither C- nor F-contiguous
    out = linalg.gemm(a, b, np.empty((20, 20)))
    bound = error_bound(a, b, np.zeros((20, 20)), 1.0, 0.0, False, False)
    assert np.all(np.abs(out - a @ b) <= 2 * bound)


def test_matmul_dtypes_and_values():
    rng = np.random.default_rng(6)
    a32 = rng.standard_normal((33, 17)).astype(np.float32)
    b32 = rng.standard_normal((17, 7)).astype(np.float32)
    out = linalg.matmul(a32, b32)
    assert out.dtype == np.float32
    assert np.array_equal(out.shape, (33, 7))
    bound = error_bound(a32, b32, np.zeros((33, 7), np.float32), 1.0, 0.0, False, False)
    assert np.all(np.abs(out.astype(np.float64) - twin.matmul(a32, b32)) <= 2 * bound)
    ints = linalg.matmul([[1, 2], [3, 4]], [[5], [6]])
    assert ints.dtype == np.float64 and np.array_equal(ints, [[17.0], [39.0]])
    assert linalg.matmul(a32, b32.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize(
    "shapes,match",
    [
        (((3, 4), (5, 2), (3, 2)), r"A is 3 x 4 but B is 5 x 2"),
        (((3, 4), (4, 2), (3, 3)), r"C has shape \(3, 3\) but A @ B is \(3, 2\)"),
        (((3, 4), (4,), (3, 2)), r"B must be 2-D"),
        (((3, 4, 1), (4, 2), (3, 2)), r"A must be 2-D"),
        (((3, 4), (4, 2), (6,)), r"C must be 2-D"),
    ],
)
def test_shape_errors_name_the_argument(shapes, match):
    a, b, c = (np.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        linalg.gemm(a, b, c)


def test_transposed_shape_error_names_the_transpose():
    with pytest.raises(ValueError, match=r"A.T is 4 x 3 but B is 4 x 2"):
        linalg.gemm(np.zeros((3, 4)), np.zeros((4, 2)), np.zeros((4, 2)), trans_a=True)


def test_type_and_layout_errors():
    a, b = np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32)
    with pytest.raises(TypeError, match="B has dtype float64 but C has dtype float32"):
        linalg.gemm(a, b.astype(np.float64), np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="A must have dtype float32 or float64"):
        linalg.gemm(a.astype(np.int64), b, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="C must be C-contiguous"):
        linalg.gemm(a, b, np.zeros((2, 2), np.float32).T)
    readonly = np.zeros((2, 2), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="C is read-only"):
        linalg.gemm(a, b, readonly)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        linalg.gemm(a, b, np.zeros((2, 2), np.float32), alpha="1")
    with pytest.raises(TypeError, match="trans_a must be a bool"):
        linalg.gemm(a, b, np.zeros((2, 2), np.float32), trans_a=1)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        linalg.gemm(a, b, np.zeros((2, 2), np.float32), num_threads=0)


@pytest.mark.torch
def test_agrees_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a, b, c = random_problem(rng, 128, 256, 784, np.float32, False, True)
    ours = linalg.gemm(a, b, c.copy(), alpha=2.0, beta=-1.0, trans_b=True)
    theirs = torch.addmm(torch.from_numpy(c), torch.from_numpy(a), torch.from_numpy(b).T, beta=-1.0, alpha=2.0)
    bound = error_bound(a, b, c, 2.0, -1.0, False, True)
    assert np.all(np.abs(ours.astype(np.float64) - theirs.numpy()) <= 2 * bound)
