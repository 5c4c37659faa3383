// The training loop of linear models: batch, stochastic and mini-batch gradient descent.
//
// A model has K heads over d features: head k predicts p_k = x·w_k + b_k. The parameters live in
// one buffer [W (K×d, row-major), b (K)], so one optimizer step updates them all. Heads are scored
// either independently (regression, binary classification, one-vs-rest, multi-output) or jointly
// (softmax cross-entropy).
//
// One step takes the next `batch_size` rows of the (shuffled) order and, row by row while the row
// is in cache: forward p = W x + b, loss and its derivative d = ∂loss/∂p (times the sample
// weight), then G += d xᵀ. The gradient is G / B plus the l2 penalty; the optimizer steps; the l1
// penalty is applied by cumulative truncation (Tsuruoka, Tsujii and Ananiadou 2009, as
// scikit-learn's SGD does). With several threads the rows of a batch are split into contiguous
// chunks, each summed into its own buffer, and the buffers are added in chunk order: results are
// deterministic for a given thread count, and a small batch stays on one thread.
//
// Every sum has a fixed order so that the NumPy twin (src/gdcore/reference/train.py) can repeat
// it exactly: a dot product accumulates into 16 lanes (element j into lane j mod 16, in order, and
// the last 16 elements as one more chunk when d is not a multiple of 16; see dot_rows), then adds
// the lanes pairwise (lane i += lane i+8, +4, +2, +1).
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <type_traits>
#include <vector>

#include "hardware.hpp"
#include "optimizers.hpp"
#include "parallel.hpp"
#include "rng.hpp"
#include "simd.hpp"

namespace gdcore {

inline constexpr std::size_t kDotLanes = 16;

// Batches with fewer multiply-adds than this (rows × features × heads) stay on one thread.
// Measured on the 2-vCPU Intel Xeon VM, quiet, logistic loss, d = 100, every batch split: two
// threads gave 0.74x (shuffled) / 0.63x (in order) at 64 rows, 1.09x / 0.91x at 128, 1.25x /
// 1.15x at 256, 1.49x / 1.36x at 512, 1.49x / 1.68x at 1024 and 1.65x / 1.76x at 4096 rows per
// epoch. The threshold sits between 128 and 256 rows of 100 features.
inline constexpr std::size_t kParallelBatchWork = std::size_t{1} << 14;

// The 16 lanes are held in GCC vectors as wide as the path's registers: one zmm of 16 floats
// (two of 8 doubles) on AVX-512, two ymm of 8 floats (four of 4 doubles) on AVX2, four xmm of 4
// floats (eight of 2 doubles) on the baseline. Lane j is the same element and every addition
// pairs the same lanes on every path, so the bits are the same. (Vectors wider than the path's
// registers would be right too, but GCC keeps them in memory: 64-byte vectors made the AVX2
// path's batch-256 logistic step ~3x slower than AVX-512's.)
template <Isa I>
inline constexpr std::size_t kLaneBytes = I == Isa::avx512 ? 64 : I == Isa::avx2 ? 32 : 16;

template <class T, std::size_t B>
struct VecOf {
  typedef T type __attribute__((vector_size(B)));
};
template <class T, std::size_t B>
using vec_t = typename VecOf<T, B>::type;
template <class T>
using lane_index_t = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;

namespace detail {
template <class V, class T>
GDCORE_INLINE V load_vec(const T* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}

// The low half of a vector plus its high half (lane i += lane i + width/2).
template <class H, class V>
GDCORE_INLINE H add_halves(const V& v) {
  H lo, hi;
  __builtin_memcpy(&lo, &v, sizeof(H));
  __builtin_memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(H), sizeof(H));
  return lo + hi;
}

// Lane i += lane i+8, then +4, +2, +1: the 16 lanes of one row (in vectors of B bytes) into its
// dot product.
template <class T, std::size_t B>
GDCORE_INLINE T reduce_lanes(const vec_t<T, B>* acc) {
  using V = vec_t<T, B>;
  constexpr std::size_t per = B / sizeof(T), nv = kDotLanes / per;
  T b[4];  // lanes 0-3 after +8 and +4
  if constexpr (per <= 4) {  // whole vectors pair up until four lanes are left
    V t[nv];
    for (std::size_t v = 0; v < nv; ++v) t[v] = acc[v];
    for (std::size_t count = nv; count * per > 4;) {
      count /= 2;
      for (std::size_t v = 0; v < count; ++v) t[v] = t[v] + t[v + count];
    }
    __builtin_memcpy(b, t, sizeof b);
  } else {  // 8 or 16 lanes a vector: pair the vectors, then halve within the last one
    V t = acc[0];
    if constexpr (nv == 2) t = t + acc[1];
    if constexpr (per == 16) {
      const auto q = add_halves<vec_t<T, B / 4>>(add_halves<vec_t<T, B / 2>>(t));
      __builtin_memcpy(b, &q, sizeof b);
    } else {
      const auto q = add_halves<vec_t<T, B / 2>>(t);
      __builtin_memcpy(b, &q, sizeof b);
    }
  }
  const T c0 = b[0] + b[2], c1 = b[1] + b[3];
  return c0 + c1;
}

// reduce_lanes of four rows of 16 floats in one zmm each, the same additions on the same pairs
// (so the same bits): each step adds the lanes of all four rows together in one vector after a
// shuffle that lines up the pairs, instead of four chains of extracts and scalar adds. At batch
// 256 the per-row reduction was ~15% of an in-cache logistic step.
GDCORE_INLINE void reduce_lanes_4(const vec_t<float, 64>& acc0, const vec_t<float, 64>& acc1,
                                  const vec_t<float, 64>& acc2, const vec_t<float, 64>& acc3,
                                  float* out, std::size_t out_stride) {
  using V = vec_t<float, 64>;
  using H = vec_t<float, 32>;
  using Q = vec_t<float, 16>;
  using I = vec_t<std::int32_t, 64>;
  using HI = vec_t<std::int32_t, 32>;
  using QI = vec_t<std::int32_t, 16>;
  // lane i += lane i+8: [row a lanes 0-7 | row b lanes 0-7] + [a 8-15 | b 8-15]
  const I lo8 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  const I hi8 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  const V s01 = __builtin_shuffle(acc0, acc1, lo8) + __builtin_shuffle(acc0, acc1, hi8);
  const V s23 = __builtin_shuffle(acc2, acc3, lo8) + __builtin_shuffle(acc2, acc3, hi8);
  // lane i += lane i+4: [r0 0-3 | r1 0-3 | r2 0-3 | r3 0-3] + [r0 4-7 | ...]
  const I lo4 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  const I hi4 = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
  const V b = __builtin_shuffle(s01, s23, lo4) + __builtin_shuffle(s01, s23, hi4);
  // c0 = b0 + b2, c1 = b1 + b3 for each row: [r0 c0 c1 | r1 c0 c1 | ...]
  H b_lo, b_hi;
  __builtin_memcpy(&b_lo, &b, sizeof(H));
  __builtin_memcpy(&b_hi, reinterpret_cast<const char*>(&b) + sizeof(H), sizeof(H));
  const HI first2 = {0, 1, 4, 5, 8, 9, 12, 13};
  const HI last2 = {2, 3, 6, 7, 10, 11, 14, 15};
  const H c = __builtin_shuffle(b_lo, b_hi, first2) + __builtin_shuffle(b_lo, b_hi, last2);
  // c0 + c1
  Q c_lo, c_hi;
  __builtin_memcpy(&c_lo, &c, sizeof(Q));
  __builtin_memcpy(&c_hi, reinterpret_cast<const char*>(&c) + sizeof(Q), sizeof(Q));
  const QI evens = {0, 2, 4, 6}, odds = {1, 3, 5, 7};
  const Q d = __builtin_shuffle(c_lo, c_hi, evens) + __builtin_shuffle(c_lo, c_hi, odds);
  for (std::size_t r = 0; r < 4; ++r) out[r * out_stride] = d[r];
}
}  // namespace detail

// x·w for R rows at once, each in the fixed lane order: element j < 16⌊d/16⌋ goes into lane
// j mod 16, in order. When d is not a multiple of 16 (and d ≥ 16), the last 16 elements
// x[d-16 .. d) form one more chunk, element d-16+i into lane i, with w's part that the full
// chunks already covered replaced by zeros (those lanes add x·0 = ±0, which changes no value):
// a whole vector instead of a scalar tail. Below 16 features element j goes into lane j.
// The R rows share each load of w and keep R independent chains of additions in flight; every
// row's result is the same bits as alone. B: bytes of the lane vectors (kLaneBytes of a path).
// `ahead` (R entries, or null): rows to prefetch, a line of each per 64 bytes of the products,
// so the requests go out spread through the arithmetic rather than in a burst (see
// BatchBody::predict_block).
template <class T, std::size_t R, std::size_t B = 64>
GDCORE_INLINE void dot_rows(const T* const* x, const T* __restrict w, std::size_t d, T* out,
                            std::size_t out_stride, const RowsAhead* ahead = nullptr) {
  using V = vec_t<T, B>;
  using Index = lane_index_t<T>;
  using Mask = vec_t<Index, B>;
  constexpr std::size_t per = B / sizeof(T);  // lanes per vector
  constexpr std::size_t nv = kDotLanes / per;  // vectors per 16 lanes
  V acc[R][nv] = {};
  const std::size_t full = d / kDotLanes * kDotLanes;
  const std::size_t bytes = d * sizeof(T);
  std::size_t line = 0;  // the next line of the rows ahead to prefetch, in bytes
  for (std::size_t c = 0; c < full; c += kDotLanes) {
    if (ahead)
      for (; line < bytes && line < (c + kDotLanes) * sizeof(T); line += 64)
        for (std::size_t r = 0; r < R; ++r) prefetch_line(ahead[r], line);
    for (std::size_t v = 0; v < nv; ++v) {
      const V wv = detail::load_vec<V>(w + c + v * per);
      for (std::size_t r = 0; r < R; ++r)
        acc[r][v] = acc[r][v] + detail::load_vec<V>(x[r] + c + v * per) * wv;
    }
  }
  if (ahead)
    for (; line < bytes; line += 64)
      for (std::size_t r = 0; r < R; ++r) prefetch_line(ahead[r], line);
  const std::size_t rem = d - full;
  if (rem != 0 && d >= kDotLanes) {
    const std::size_t base = d - kDotLanes;
    const std::size_t skip = kDotLanes - rem;  // lanes whose elements a full chunk already had
    for (std::size_t v = 0; v < nv; ++v) {
      Mask lane;
      for (std::size_t i = 0; i < per; ++i) lane[i] = static_cast<Index>(v * per + i);
      const Mask keep = lane >= static_cast<Index>(skip);
      const V wv = keep ? detail::load_vec<V>(w + base + v * per) : V{};
      for (std::size_t r = 0; r < R; ++r)
        acc[r][v] = acc[r][v] + detail::load_vec<V>(x[r] + base + v * per) * wv;
    }
  } else if (rem != 0) {
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t j = 0; j < rem; ++j)
        acc[r][j / per][j % per] = acc[r][j / per][j % per] + x[r][j] * w[j];
  }
  if constexpr (std::is_same_v<T, float> && R == 4 && B == 64) {
    detail::reduce_lanes_4(acc[0][0], acc[1][0], acc[2][0], acc[3][0], out, out_stride);
  } else {
    for (std::size_t r = 0; r < R; ++r) out[r * out_stride] = detail::reduce_lanes<T, B>(acc[r]);
  }
}

template <class T, std::size_t B = 64>
GDCORE_INLINE T dot_lanes(const T* x, const T* __restrict w, std::size_t d,
                          const RowsAhead* ahead = nullptr) {
  T out;
  const T* rows[1] = {x};
  dot_rows<T, 1, B>(rows, w, d, &out, 1, ahead);
  return out;
}

// An element-wise loop over [0, d) in vectors of B bytes, then the elements left in one vector
// each of B/2, B/4, ... 16 bytes where they fill one, then one by one: body(v, j) is called with
// a value of the vector type (or T itself for the last elements) to load, compute and store
// elements j, j+1, ... of that width. The same operations on the same elements whatever the
// widths, so the same bits. (d = 100 floats on AVX-512: six zmm and one xmm, where the
// compiler's own loop left a scalar tail of four that took about as long as the six zmm. A last
// whole vector over [d-16, d) with the done lanes masked was slower: its load overlaps the store
// just before it, and waits for it.)
using detail::load_vec;
template <class V, class T>
GDCORE_INLINE void store_vec(T* p, const V& v) {
  __builtin_memcpy(p, &v, sizeof(V));
}

template <class T, std::size_t B, class Body>
GDCORE_INLINE void elementwise_lanes(std::size_t d, const Body& body) {
  std::size_t j = 0;
  for (; j + B / sizeof(T) <= d; j += B / sizeof(T)) body(vec_t<T, B>{}, j);
  if constexpr (B >= 64)
    if (j + 32 / sizeof(T) <= d) {
      body(vec_t<T, 32>{}, j);
      j += 32 / sizeof(T);
    }
  if constexpr (B >= 32)
    if (j + 16 / sizeof(T) <= d) {
      body(vec_t<T, 16>{}, j);
      j += 16 / sizeof(T);
    }
  for (; j < d; ++j) body(T{}, j);
}

// g += a0 x0 + a1 x1 + a2 x2 + a3 x3, element by element in that order (((g + a0 x0) + a1 x1)
// + ...).
template <class T, std::size_t B>
GDCORE_INLINE void add_rows_4(T* __restrict g, T a0, const T* __restrict x0, T a1,
                              const T* __restrict x1, T a2, const T* __restrict x2, T a3,
                              const T* __restrict x3, std::size_t d) {
  elementwise_lanes<T, B>(d, [&](auto v, std::size_t j) {
    using V = decltype(v);
    store_vec<V>(g + j, (((load_vec<V>(g + j) + a0 * load_vec<V>(x0 + j)) + a1 * load_vec<V>(x1 + j)) +
                        a2 * load_vec<V>(x2 + j)) +
                           a3 * load_vec<V>(x3 + j));
  });
}

// Rows processed together by the batch kernel: as many as keep the accumulators in about half
// the vector registers (four float rows or two double rows of one zmm or two ymm each; two
// float rows or one double row of four or eight xmm on the baseline).
template <class T, std::size_t B>
inline constexpr std::size_t kDotRows =
    B == 64 ? (sizeof(T) == 4 ? 4 : 2)
            : std::max<std::size_t>(1, 8 / (kDotLanes * sizeof(T) / B));

enum class Penalty { none, l2, l1, elasticnet };

enum class Task { regression, binary, ovr, softmax };

// What a score means: R² for regression, accuracy otherwise.
inline bool task_is_classifier(Task task) { return task != Task::regression; }

// Row indices of X, borrowed: a pointer and a count (a std::vector converts implicitly). The
// loops read them and copy them only where they shuffle, so a fit does not allocate and fill
// another n indices (a fresh 1.6 MB for 200,000 rows, page faults included) just to read them.
struct Rows {
  const std::int64_t* ptr = nullptr;
  std::size_t count = 0;
  Rows() = default;
  Rows(const std::int64_t* p, std::size_t n) : ptr(p), count(n) {}
  Rows(const std::vector<std::int64_t>& v) : ptr(v.data()), count(v.size()) {}  // NOLINT
  const std::int64_t* data() const { return ptr; }
  const std::int64_t* begin() const { return ptr; }
  const std::int64_t* end() const { return ptr + count; }
  std::size_t size() const { return count; }
  bool empty() const { return count == 0; }
  std::int64_t operator[](std::size_t i) const { return ptr[i]; }
};

template <class T>
struct LinearData {
  const T* X = nullptr;  // n × d, row-major
  std::size_t n = 0;
  std::size_t d = 0;
  const T* Y = nullptr;  // n × ky: targets, ±1 labels per head, or a class index (softmax)
  std::size_t ky = 1;
  const T* sample_weight = nullptr;  // n weights (class weights folded in), or null for ones
};

struct TrainSettings {
  std::size_t heads = 1;
  Task task = Task::regression;
  std::size_t batch_size = 1;
  std::int64_t max_epochs = 5;
  double tol = -std::numeric_limits<double>::infinity();  // -inf: no tolerance stop
  std::int64_t n_iter_no_change = 5;
  bool early_stopping = false;  // judge epochs by the validation score instead of the loss
  bool shuffle = true;
  std::uint64_t seed = 0;
  Penalty penalty = Penalty::none;
  double alpha = 0.0;
  double l1_ratio = 0.15;
  bool fit_intercept = true;
  double target_loss = -std::numeric_limits<double>::infinity();
  std::int64_t record_every = 0;  // 0: no parameter path
  std::int64_t average = 0;       // > 0: average the parameters from the update with this count on
  int threads = 0;
  // scikit-learn's two guards for its SGD (the estimators turn them on): each row's loss
  // derivative clipped to [-max_dloss, max_dloss] (kept in the Head, see clip_dloss), and, for
  // plain SGD, an l2 part of the step that never carries a weight past zero: when
  // lr · alpha_l2 > 1 the l2 coefficient of that step is 1 / lr (w shrinks to 0, not to -w).
  double max_dloss = std::numeric_limits<double>::infinity();
  bool floor_l2_shrink = false;
  // Passive-aggressive steps (scikit-learn's learning_rate="pa1" / "pa2"; stochastic plain SGD
  // only, see StochasticSgdStep): 0 off, 1 PA-I, 2 PA-II; the optimizer's lr is C.
  int passive_aggressive = 0;
};

// Everything a fit changes, owned by the caller so a later fit (partial_fit, warm start, a
// resumed run) continues exactly where this one stopped.
template <class T>
struct TrainState {
  T* params = nullptr;             // K*d + K
  T* opt_state[3] = {nullptr, nullptr, nullptr};
  std::int64_t opt_step = 0;       // optimizer updates so far
  double mu_product = 1.0;         // NAdam's running product
  std::int64_t t = 0;              // schedule clock: updates so far
  std::int64_t epoch = 0;          // epochs so far (seeds the shuffle)
  double l1_u = 0.0;               // l1 penalty each weight could have received so far
  T* l1_q = nullptr;               // l1 penalty each weight did receive (K*d)
  T* averaged = nullptr;           // running mean of the parameters (K*d + K), when averaging
};

// bad_input: a prediction of the fit's first epoch was not finite with finite parameters, so a
// row of X holds NaN or infinity (or its values overflow); the caller scans X to name the row.
enum class Status { max_epochs, converged, target_reached, diverged, interrupted, bad_input };

struct TrainResult {
  std::vector<double> loss;       // per epoch: mean (weighted) loss seen during it + penalty
                                  // (one-vs-rest: divided by the number of heads)
  std::vector<double> lr;         // per epoch: the last learning rate used
  std::vector<double> val_loss;   // per epoch, when there is a validation set
  std::vector<double> val_score;  // per epoch: R² or accuracy on the validation set
  std::vector<double> path;       // params every record_every steps (row-major, K*d+K each)
  std::int64_t epochs = 0;
  Status status = Status::max_epochs;
  std::int64_t bad_step = -1;     // the update whose result was not finite
  double bad_lr = 0.0;
};

// A loss derivative clipped to [-c, c] (c = +inf: unchanged, NaN included), as scikit-learn's
// SGD clips at 1e12 so that one huge early step cannot overflow the next prediction.
template <class T>
GDCORE_INLINE T clip_dloss(T v, double c) {
  const T cap = T(c);
  return v < -cap ? -cap : (v > cap ? cap : v);
}

// Per-row loss and derivatives for the K heads; see IndependentHeads / SoftmaxHead. The
// derivatives come clipped to max_dloss (TrainSettings::max_dloss).
//
// positive_weight (one-vs-rest heads, or null): head h weighs the rows of its own class
// (y[h] > 0) by positive_weight[h] and the others by 1, as scikit-learn weighs each binary
// problem of its one-vs-rest classifier by class_weight; the row's sample weight multiplies
// that. (One head, binary, takes class weights folded into the sample weights instead.)
template <class Loss>
struct IndependentHeads {
  static constexpr bool kScalar = true;  // one loss per head: loss.loss / loss.dloss per value
  Loss loss;
  double max_dloss = std::numeric_limits<double>::infinity();
  const double* positive_weight = nullptr;
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    return clip_dloss(loss.dloss(p, y), max_dloss);
  }
  template <class T>
  GDCORE_INLINE T eval(const T* p, const T* y, std::size_t k, T* dp) const {
    T total = T(0);
    if (positive_weight != nullptr) {
      for (std::size_t h = 0; h < k; ++h) {
        const T w = y[h] > T(0) ? T(positive_weight[h]) : T(1);
        total = total + w * loss.loss(p[h], y[h]);
        dp[h] = w * dloss(p[h], y[h]);
      }
      return total;
    }
    for (std::size_t h = 0; h < k; ++h) {
      total = total + loss.loss(p[h], y[h]);
      dp[h] = dloss(p[h], y[h]);
    }
    return total;
  }
};

template <class Softmax>
struct SoftmaxHead {
  static constexpr bool kScalar = false;
  Softmax softmax;
  double max_dloss = std::numeric_limits<double>::infinity();
  template <class T>
  GDCORE_INLINE T eval(const T* p, const T* y, std::size_t k, T* dp) const {
    const T total = softmax.loss_grad(p, k, static_cast<std::size_t>(y[0]), dp);
    for (std::size_t h = 0; h < k; ++h) dp[h] = clip_dloss(dp[h], max_dloss);
    return total;
  }
};

namespace detail {

inline constexpr std::size_t kMaxStackHeads = 16;
inline constexpr std::size_t kBlockRows = 16;

// Rows [begin, end) of `order` into one gradient buffer (K*d + K) and a loss sum. Rows go in
// blocks of kBlockRows: the predictions of a block first, then its losses and derivatives in one
// vectorizable loop (a loss with exp/log costs little per row that way), then its gradient, row
// by row, while the block's rows are still in L1.
template <class T, class Head>
struct BatchBody {
  const LinearData<T>* data;
  const Head* head;
  const T* params;
  const std::int64_t* order;
  std::size_t order_size;  // rows of the order that may be prefetched (the epoch's; 0: none)
  std::size_t heads;
  T* grad;         // zeroed by the caller
  double* loss;    // weighted loss sum of these rows, then 1 if a prediction was not finite
  bool check_inputs;  // look for non-finite predictions (the first epoch checks X this way)
  // One chunk of a mini-batch split across threads: where it ends and the rows of the other
  // chunks after it (see rows_ahead); SIZE_MAX and 0 for a whole batch.
  std::size_t chunk_end = SIZE_MAX;
  std::size_t skip = 0;

  // One block of rows in flight: its rows, weights, predictions (then derivatives) and losses.
  struct Block {
    const T* xs[kBlockRows];
    T weights[kBlockRows];
    T rows_loss[kBlockRows];
    T* P;   // kBlockRows × k predictions
    T* DP;  // kBlockRows × k derivatives
    std::size_t m;  // rows in the block
  };

  // The first half of a block: its rows' predictions, losses and derivatives.
  template <Isa I>
  GDCORE_INLINE void predict_block(Block& blk, std::size_t r0, std::size_t end,
                                   bool& finite) const {
    constexpr std::size_t VB = kLaneBytes<I>;
    const std::size_t d = data->d, k = heads, ky = data->ky;
    const T* W = params;
    const T* b = params + k * d;
    T* P = blk.P;
    T* DP = blk.DP;
    const std::size_t m = std::min(kBlockRows, end - r0);
    blk.m = m;
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t row = static_cast<std::size_t>(order[r0 + i]);
      blk.xs[i] = data->X + row * d;
      blk.weights[i] = data->sample_weight ? data->sample_weight[row] : T(1);
    }
    // Shuffled rows defeat the hardware prefetcher: we ask for rows further on ourselves, each
    // group's rows ahead during the group's products, a line of each per 64 bytes of them.
    // Asking for the block's 16 rows at its start issued some 220 prefetches in a burst; the
    // core's few fill buffers then held them while the products' own reads from L2 waited
    // behind them. Spread out, shuffled batch-256 epochs took 8-10% less time, and spread
    // through the products instead of just before each group's, 5-8% less again (C++ harness,
    // 200,000 x 100 float32, runs alternated: 45 -> 40 -> 38-41 ns a row).
    constexpr std::size_t R = kDotRows<T, VB>;
    for (std::size_t h = 0; h < k; ++h) {
      std::size_t i = 0;
      for (; i + R <= m; i += R) {
        RowsAhead ahead[R];
        if (h == 0)
          for (std::size_t q = 0; q < R; ++q)
            ahead[q] = rows_ahead(data->X, d, order, order_size, r0 + i + q, chunk_end, skip);
        dot_rows<T, R, VB>(blk.xs + i, W + h * d, d, P + i * k + h, k, h == 0 ? ahead : nullptr);
      }
      for (; i < m; ++i) {
        RowsAhead ahead;
        if (h == 0) ahead = rows_ahead(data->X, d, order, order_size, r0 + i, chunk_end, skip);
        dot_rows<T, 1, VB>(blk.xs + i, W + h * d, d, P + i * k + h, k, h == 0 ? &ahead : nullptr);
      }
      for (i = 0; i < m; ++i) P[i * k + h] = P[i * k + h] + b[h];
    }
    if (check_inputs)
      for (std::size_t i = 0; i < m * k; ++i) finite = finite && std::isfinite(P[i]);
    T* rows_loss = blk.rows_loss;
    if constexpr (Head::kScalar) {
      if (k == 1) {
        T ys[kBlockRows];
        for (std::size_t i = 0; i < m; ++i)
          ys[i] = data->Y[static_cast<std::size_t>(order[r0 + i]) * ky];
        if (m == kBlockRows) {  // a full block: one vector loop (same operations, same bits)
#pragma omp simd
          for (std::size_t i = 0; i < kBlockRows; ++i) {
            rows_loss[i] = head->loss.loss(P[i], ys[i]);
            DP[i] = head->dloss(P[i], ys[i]);
          }
        } else {  // a short batch (stochastic steps): no vector set-up for one or two rows
          for (std::size_t i = 0; i < m; ++i) {
            rows_loss[i] = head->loss.loss(P[i], ys[i]);
            DP[i] = head->dloss(P[i], ys[i]);
          }
        }
        return;
      }
    }
    for (std::size_t i = 0; i < m; ++i)
      rows_loss[i] = head->eval(P + i * k, data->Y + static_cast<std::size_t>(order[r0 + i]) * ky,
                                k, DP + i * k);
  }

  // The second half: the block's weighted losses into the sum, and its gradient, G += d xᵀ row
  // after row; four rows share one pass over G (the same additions in the same order as one row
  // at a time, with a quarter of the loads and stores of G).
  template <Isa I>
  GDCORE_INLINE void add_block(const Block& blk, double& sum) const {
    constexpr std::size_t VB = kLaneBytes<I>;
    const std::size_t d = data->d, k = heads, m = blk.m;
    T* G = grad;
    T* Gb = grad + k * d;
    const T* DP = blk.DP;
    const T* weights = blk.weights;
    for (std::size_t i = 0; i < m; ++i)
      sum += static_cast<double>(weights[i] * blk.rows_loss[i]);
    for (std::size_t h = 0; h < k; ++h) {
      T* __restrict g = G + h * d;
      std::size_t i = 0;
      for (; i + 4 <= m; i += 4) {
        const T a0 = weights[i] * DP[i * k + h], a1 = weights[i + 1] * DP[(i + 1) * k + h];
        const T a2 = weights[i + 2] * DP[(i + 2) * k + h], a3 = weights[i + 3] * DP[(i + 3) * k + h];
        add_rows_4<T, VB>(g, a0, blk.xs[i], a1, blk.xs[i + 1], a2, blk.xs[i + 2], a3,
                          blk.xs[i + 3], d);
        Gb[h] = (((Gb[h] + a0) + a1) + a2) + a3;
      }
      for (; i < m; ++i) {
        const T a = weights[i] * DP[i * k + h];
        const T* __restrict x = blk.xs[i];
        elementwise_lanes<T, VB>(d, [&](auto v, std::size_t j) {
          using V = decltype(v);
          store_vec<V>(g + j, load_vec<V>(g + j) + a * load_vec<V>(x + j));
        });
        Gb[h] = Gb[h] + a;
      }
    }
  }

  // Two blocks in flight: the next block's predictions and losses are issued before this
  // block's gradient, so the latency of its exp/log/division chain overlaps the gradient's
  // arithmetic instead of stalling it. The gradient still adds the blocks in order (same bits).
  template <Isa I>
  GDCORE_INLINE void run(std::size_t begin, std::size_t end) const {
    const std::size_t k = heads;
    T stack[4 * kBlockRows * kMaxStackHeads];
    std::vector<T> heap(k > kMaxStackHeads ? 4 * kBlockRows * k : 0);
    T* buffers = k > kMaxStackHeads ? heap.data() : stack;
    const std::size_t per = kBlockRows * (k > kMaxStackHeads ? k : kMaxStackHeads);
    Block blocks[2];
    for (std::size_t q = 0; q < 2; ++q) {
      blocks[q].P = buffers + 2 * q * per;
      blocks[q].DP = buffers + (2 * q + 1) * per;
    }
    double sum = 0.0;
    bool finite = true;
    std::size_t cur = 0;
    if (begin < end) predict_block<I>(blocks[0], begin, end, finite);
    for (std::size_t r0 = begin; r0 < end; r0 += kBlockRows) {
      const std::size_t next = r0 + kBlockRows;
      if (next < end) predict_block<I>(blocks[cur ^ 1], next, end, finite);
      add_block<I>(blocks[cur], sum);
      cur ^= 1;
    }
    loss[0] = sum;
    loss[1] = finite ? 0.0 : 1.0;
  }
};

// Whether a head's loss value may be computed after the step (see LogLoss::kDeferrableLoss).
template <class Head, class = void>
struct DeferrableLoss : std::false_type {};
template <class Head>
struct DeferrableLoss<
    Head, std::void_t<decltype(std::decay_t<decltype(std::declval<Head>().loss)>::kDeferrableLoss)>>
    : std::bool_constant<Head::kScalar &&
                         std::decay_t<decltype(std::declval<Head>().loss)>::kDeferrableLoss> {};

// One stochastic step of plain SGD (no momentum) without a gradient buffer: the row's loss and
// derivatives first, then, if the loss is finite, every parameter in one pass:
//   g = 0 + d x_j (+ l2 p),  d' = ±g (+ weight_decay p),  p = p + (-lr) d'
// which are the operations batch_gradient, the l2 term and sgd_step perform for a batch of one
// row, in the same order, so the bits are those of the general path.
template <class T, class Head>
struct StochasticSgdStep {
  const LinearData<T>* data;
  const Head* head;
  T* params;
  const std::int64_t* order;
  std::size_t order_size;
  std::size_t heads;
  T l2, sign, weight_decay, neg_lr;
  bool fit_intercept;
  double* loss;  // the row's weighted loss; the parameters stay as they were when not finite
  bool check_inputs;
  bool* nonfinite_input;  // set when check_inputs and a prediction is not finite
  // With one head whose loss is deferrable: when not null and the loss is finite, the row's
  // prediction, target and weight go to deferred[0..2] and *was_deferred is set, instead of its
  // loss to *loss (then 0), for the caller to compute the weighted loss later: the same value.
  T* deferred;
  bool* was_deferred;
  // Passive-aggressive (1: PA-I, 2: PA-II, Crammer et al. 2006), with C = lr: head h steps by
  // tau_h = min(C, L_h / |x|²) (PA-I; 0 when |x|² = 0) or L_h / (|x|² + 1 / (2 C)) (PA-II)
  // instead of lr, L_h its loss before any class weight; the l2 part keeps lr (scikit-learn's
  // rule). Done as the usual step with the row's coefficient scaled by tau_h / lr.
  int passive_aggressive = 0;
  template <Isa I>
  GDCORE_INLINE void run(std::size_t r, std::size_t) const {
    const std::size_t d = data->d, k = heads;
    const RowsAhead ahead = rows_ahead(data->X, d, order, order_size, r);
    // The row's target too: a stochastic step waits on it, where a batch block reads its 16
    // targets together and their misses overlap (prefetching them there gained nothing shuffled
    // and cost ~5% in storage order). Shuffled batch-1 epochs of 200k x 100 float32: 14-16%
    // faster, 24% with sample weights, storage order unchanged (Xeon VM, 3 runs alternated).
    prefetch_row_value(data->Y, data->ky, order, order_size, r);
    if (data->sample_weight) prefetch_row_value(data->sample_weight, 1, order, order_size, r);
    const std::size_t row = static_cast<std::size_t>(order[r]);
    const T* __restrict x = data->X + row * d;
    const T weight = data->sample_weight ? data->sample_weight[row] : T(1);
    T p[kMaxStackHeads], dk[kMaxStackHeads];
    // The rows ahead are prefetched a line at a time through the first head's dot product.
    for (std::size_t h = 0; h < k; ++h)
      p[h] = dot_lanes<T, kLaneBytes<I>>(x, params + h * d, d, h == 0 ? &ahead : nullptr) +
             params[k * d + h];
    if (check_inputs) {
      for (std::size_t h = 0; h < k; ++h)
        if (!std::isfinite(p[h])) {
          *nonfinite_input = true;
          *loss = std::numeric_limits<double>::quiet_NaN();
          return;
        }
    }
    bool deferred_row = false;
    if constexpr (DeferrableLoss<Head>::value) {
      const T y = data->Y[row * data->ky];
      if (deferred && k == 1 && head->loss.loss_finite(p[0], y) && std::isfinite(weight)) {
        dk[0] = head->dloss(p[0], y);
        deferred[0] = p[0];
        deferred[1] = y;
        deferred[2] = weight;
        *loss = 0.0;
        *was_deferred = deferred_row = true;
      }
    }
    if (!deferred_row) {
      const T row_loss = head->eval(p, data->Y + row * data->ky, k, dk);
      *loss = static_cast<double>(weight * row_loss);
      if (!std::isfinite(*loss)) return;
    }
    T pa_scale[kMaxStackHeads];
    if constexpr (Head::kScalar) {  // (the binding refuses passive-aggressive softmax)
      if (passive_aggressive != 0) {
        const T sq = dot_lanes<T, kLaneBytes<I>>(x, x, d);
        const T c = -neg_lr;
        for (std::size_t h = 0; h < k; ++h) {
          const T l = head->loss.loss(p[h], data->Y[row * data->ky + h]);
          const T tau = passive_aggressive == 1 ? (sq == T(0) ? T(0) : std::min(c, l / sq))
                                                : l / (sq + T(0.5) / c);
          pa_scale[h] = tau / c;
        }
      }
    }
    for (std::size_t h = 0; h < k; ++h) {
      T* __restrict w = params + h * d;
      const T a = passive_aggressive != 0 ? (weight * dk[h]) * pa_scale[h] : weight * dk[h];
      constexpr std::size_t VB = kLaneBytes<I>;
      if (weight_decay != T(0)) {
        elementwise_lanes<T, VB>(d, [&](auto v, std::size_t j) {
          using V = decltype(v);
          const V wj = load_vec<V>(w + j);
          const V g = (T(0) + a * load_vec<V>(x + j)) + l2 * wj;
          store_vec<V>(w + j, wj + neg_lr * (g * sign + weight_decay * wj));
        });
      } else if (l2 != T(0)) {
        elementwise_lanes<T, VB>(d, [&](auto v, std::size_t j) {
          using V = decltype(v);
          const V wj = load_vec<V>(w + j);
          const V g = (T(0) + a * load_vec<V>(x + j)) + l2 * wj;
          store_vec<V>(w + j, wj + neg_lr * (g * sign));
        });
      } else {
        elementwise_lanes<T, VB>(d, [&](auto v, std::size_t j) {
          using V = decltype(v);
          store_vec<V>(w + j, load_vec<V>(w + j) + neg_lr * ((T(0) + a * load_vec<V>(x + j)) * sign));
        });
      }
      if (fit_intercept) {
        T* b = params + k * d + h;
        T step = (T(0) + a) * sign;
        if (weight_decay != T(0)) step = step + weight_decay * *b;
        *b = *b + neg_lr * step;
      }
    }
  }
};

// Predictions of the K heads for rows [begin, end) of `order`, into out (rows × K).
template <class T>
struct PredictBody {
  const LinearData<T>* data;
  const T* params;
  const std::int64_t* order;
  std::size_t heads;
  T* out;
  template <Isa I>
  GDCORE_INLINE void run(std::size_t begin, std::size_t end) const {
    const std::size_t d = data->d, k = heads;
    for (std::size_t r = begin; r < end; ++r) {
      const T* x = data->X + static_cast<std::size_t>(order[r]) * d;
      for (std::size_t h = 0; h < k; ++h)
        out[r * k + h] = dot_lanes<T, kLaneBytes<I>>(x, params + h * d, d) + params[k * d + h];
    }
  }
};

}  // namespace detail

// How many row chunks a batch of `rows` is split into: 1 below kParallelBatchWork, else one per
// thread as long as each chunk keeps at least half that work. The cap keeps many threads from
// cutting a batch into slivers: on the 16-core Xeon (device machine, 2026-12-04), batch 256 of
// 100 features ran 1.26x faster than one thread with 2 threads but only 1.06x with 16 (chunks of
// 16 rows cost more to start and join than they compute). Two threads split exactly as before.
// The NumPy twin asks the same question.
inline std::size_t batch_chunks(std::size_t rows, std::size_t d, std::size_t heads, int threads) {
  const std::size_t want = static_cast<std::size_t>(resolve_threads(threads));
  const std::size_t work = rows * d * heads;
  if (want <= 1 || work < kParallelBatchWork) return 1;
  return std::min({want, rows, work / (kParallelBatchWork / 2)});
}

// Gradient of the mean weighted loss over rows order[begin:end) (no penalty); returns the
// weighted loss sum. `scratch` holds one buffer per chunk beyond the first. `threads` sets the
// chunks (and so the bits); `team` how many threads run them: all chunks on the calling thread
// when 1, one thread per chunk when 0 (TeamChooser's choice; the result is the same).
template <class T, class Head>
double batch_gradient(const LinearData<T>& data, const Head& head, const T* params,
                      const std::int64_t* order, std::size_t order_size, std::size_t begin,
                      std::size_t end,
                      std::size_t heads, int threads, T* grad, std::vector<T>& scratch,
                      bool check_inputs = false, bool* nonfinite_input = nullptr, int team = 0) {
  const std::size_t size = heads * data.d + heads;
  const std::size_t rows = end - begin;
  const std::size_t chunks = batch_chunks(rows, data.d, heads, threads);
  std::fill(grad, grad + size, T(0));
  double loss = 0.0;
  bool finite = true;
  if (chunks == 1) {
    double out[2];
    run_dispatched(detail::BatchBody<T, Head>{&data, &head, params, order, order_size, heads, grad,
                                              out, check_inputs},
                   begin, end);
    loss = out[0];
    finite = out[1] == 0.0;
  } else {
    // Each chunk sums into its own buffer, 64-byte aligned and a cache line apart from the next,
    // so no thread writes a line another reads (the parameters) or writes: shared lines cost
    // more than the second thread gains.
    constexpr std::size_t kLine = 64 / sizeof(T);
    const std::size_t stride = (size + kLine - 1) / kLine * kLine + kLine;
    scratch.assign(chunks * stride + kLine, T(0));
    T* base = scratch.data();
    while (reinterpret_cast<std::uintptr_t>(base) % 64 != 0) ++base;
    std::vector<double> losses(chunks * 8, 0.0);  // one cache line per chunk's loss
    const std::size_t per = (rows + chunks - 1) / chunks;
    const int run = team == 1 ? 1 : static_cast<int>(chunks);
#pragma omp parallel for num_threads(run) schedule(static, 1) if (run > 1)
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t lo = begin + std::min(rows, c * per);
      const std::size_t hi = begin + std::min(rows, (c + 1) * per);
      // A thread per chunk prefetches on into its chunk of the next batch; one thread running
      // them all reads on into the next chunk, as an unsplit batch does.
      const std::size_t chunk_end = run > 1 ? hi : SIZE_MAX;
      const std::size_t skip = run > 1 ? rows - (hi - lo) : 0;
      run_dispatched(detail::BatchBody<T, Head>{&data, &head, params, order, order_size, heads,
                                                base + c * stride, &losses[c * 8], check_inputs,
                                                chunk_end, skip},
                     lo, hi);
    }
    std::copy(base, base + size, grad);
    for (std::size_t c = 1; c < chunks; ++c) {
      const T* part = base + c * stride;
      for (std::size_t j = 0; j < size; ++j) grad[j] = grad[j] + part[j];
    }
    for (std::size_t c = 0; c < chunks; ++c) {
      loss += losses[c * 8];
      finite = finite && losses[c * 8 + 1] == 0.0;
    }
  }
  if (nonfinite_input && !finite) *nonfinite_input = true;
  if (rows > 1) {  // dividing by 1 changes nothing: skip it for stochastic steps
    const T count = T(static_cast<double>(rows));
    for (std::size_t j = 0; j < size; ++j) grad[j] = grad[j] / count;
  }
  return loss;
}

// The penalty term of the objective: alpha (½ (1 - l1_ratio) ‖W‖² + l1_ratio ‖W‖₁).
template <class T>
double penalty_value(const TrainSettings& s, const T* W, std::size_t count) {
  if (s.penalty == Penalty::none || s.alpha == 0.0) return 0.0;
  const double l1 = s.penalty == Penalty::l2 ? 0.0 : (s.penalty == Penalty::l1 ? 1.0 : s.l1_ratio);
  double sq = 0.0, ab = 0.0;
  for (std::size_t j = 0; j < count; ++j) {
    const double w = static_cast<double>(W[j]);
    sq += w * w;
    ab += std::fabs(w);
  }
  return s.alpha * (0.5 * (1.0 - l1) * sq + l1 * ab);
}

// Mean weighted loss and score (R² averaged over heads, or accuracy) over rows `order`.
template <class T, class Head>
void evaluate(const LinearData<T>& data, const Head& head, const TrainSettings& s,
              const T* params, Rows rows, double* mean_loss,
              double* score, bool* nonfinite_input = nullptr) {
  const std::size_t k = s.heads, m = rows.size();
  std::vector<T> pred(m * k);
  run_dispatched(detail::PredictBody<T>{&data, params, rows.data(), k, pred.data()}, 0, m);
  if (nonfinite_input) {  // the first epoch checks the validation rows of X this way
    for (const T p : pred)
      if (!std::isfinite(p)) {
        *nonfinite_input = true;
        return;
      }
  }
  std::vector<T> dp(k);
  double loss = 0.0, weight = 0.0, correct = 0.0;
  std::vector<double> sum_y(k, 0.0), sum_yy(k, 0.0), sum_res(k, 0.0);
  for (std::size_t r = 0; r < m; ++r) {
    const std::size_t row = static_cast<std::size_t>(rows[r]);
    const T* p = pred.data() + r * k;
    const T* y = data.Y + row * data.ky;
    const double sw = data.sample_weight ? static_cast<double>(data.sample_weight[row]) : 1.0;
    loss += sw * static_cast<double>(head.eval(p, y, k, dp.data()));
    weight += sw;
    switch (s.task) {
      case Task::regression:
        for (std::size_t h = 0; h < k; ++h) {
          const double yv = static_cast<double>(y[h]), res = yv - static_cast<double>(p[h]);
          sum_y[h] += sw * yv;
          sum_yy[h] += sw * yv * yv;
          sum_res[h] += sw * res * res;
        }
        break;
      case Task::binary: correct += sw * (((p[0] > T(0)) == (y[0] > T(0))) ? 1.0 : 0.0); break;
      case Task::ovr: {
        const std::size_t guess = static_cast<std::size_t>(std::max_element(p, p + k) - p);
        correct += sw * (y[guess] > T(0) ? 1.0 : 0.0);
        break;
      }
      case Task::softmax: {
        const std::size_t guess = static_cast<std::size_t>(std::max_element(p, p + k) - p);
        correct += sw * (guess == static_cast<std::size_t>(y[0]) ? 1.0 : 0.0);
        break;
      }
    }
  }
  *mean_loss = weight > 0 ? loss / weight : 0.0;
  if (s.task == Task::regression) {
    double r2 = 0.0;
    for (std::size_t h = 0; h < k; ++h) {
      const double mean = sum_y[h] / weight;
      const double total = sum_yy[h] - weight * mean * mean;
      // No weight (every validation row weighs 0): nothing to score, 0 as for accuracy.
      r2 += !(weight > 0) ? 0.0
            : total > 0   ? 1.0 - sum_res[h] / total
                          : (sum_res[h] == 0 ? 1.0 : 0.0);
    }
    *score = r2 / static_cast<double>(k);
  } else {
    *score = weight > 0 ? correct / weight : 0.0;
  }
}

// n values left uninitialized (std::vector would zero them, one thread touching every page), for
// buffers that are written before they are read. The storage starts on a 64-byte cache line:
// `new T[n]` gave 16-byte alignment, so when gemm split a product's C (an MLP's activations, at
// 1 KiB a row) into column blocks for two threads, the line at each block's edge on every row
// was written by both cores. Measured on the 2-vCPU Xeon, batch-128 MLP step on two threads
// (C++ phase timer, three process pairs alternated): 768-821 -> 709-783 us, X W_1 238 -> 210 us.
template <class T>
class UninitializedBuffer {
  static_assert(std::is_trivially_default_constructible_v<T>, "values are left uninitialized");
  static constexpr std::align_val_t kAlign{64};
  struct Free {
    void operator()(T* p) const { ::operator delete[](p, kAlign); }
  };

 public:
  UninitializedBuffer() = default;
  explicit UninitializedBuffer(std::size_t n) { reset(n); }
  void reset(std::size_t n) {
    data_.reset(n ? static_cast<T*>(::operator new[](n * sizeof(T), kAlign)) : nullptr);
    size_ = n;
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](std::size_t i) { return data_.get()[i]; }
  const T& operator[](std::size_t i) const { return data_.get()[i]; }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

namespace detail {
template <class T>
struct CopyBody {
  const T* src;
  T* dst;
  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(T));
  }
};
}  // namespace detail

// Everything an epoch's steps change, copied at its start: a divergence rolls back to it.
// An MLP's parameters and Adam moments are megabytes, copied once per epoch, and the copy is
// split among the fit's threads. Fresh buffers would cost a page fault (and the kernel's zeroing)
// per 4 KiB on every fit, about as much as the copy itself (0.4 ms for 784-256-256-10 with
// Adam), so a thread keeps its snapshot buffers for its next fit, as gemm keeps its packing
// buffers, up to kKeptSnapshotBytes; a fit started while another runs on the same thread (from
// a signal handler) takes buffers of its own.
inline constexpr std::size_t kKeptSnapshotBytes = std::size_t{64} << 20;

template <class T>
class EpochSnapshot {
 public:
  // size: parameters (and averaged values); weights: l1_q's length; states: optimizer arrays.
  EpochSnapshot(std::size_t size, std::size_t weights, std::size_t states, int threads = 1)
      : size_(size), weights_(weights), threads_(threads), opt_(states) {
    const std::size_t bytes = (size * (2 + states) + weights) * sizeof(T);
    Kept& kept = kept_buffers();
    if (!kept.in_use && bytes <= kKeptSnapshotBytes) {
      kept.in_use = true;
      kept_ = &kept;
    }
  }
  ~EpochSnapshot() {
    if (!kept_) return;
    // Hand the buffers back for the next fit on this thread.
    give(kept_->slots[0], params_);
    for (std::size_t i = 0; i < opt_.size(); ++i) give(kept_->slots[1 + i], opt_[i]);
    give(kept_->slots[4], l1_q_);
    give(kept_->slots[5], averaged_);
    kept_->in_use = false;
  }
  EpochSnapshot(const EpochSnapshot&) = delete;
  EpochSnapshot& operator=(const EpochSnapshot&) = delete;

  void take(const TrainState<T>& s) {
    copy_in(params_, 0, s.params, size_);
    for (std::size_t i = 0; i < opt_.size(); ++i)
      copy_in(opt_[i], 1 + static_cast<int>(i), s.opt_state[i], size_);
    copy_in(l1_q_, 4, s.l1_q, weights_);
    copy_in(averaged_, 5, s.averaged, size_);
    counters_ = s;
  }

  void restore(TrainState<T>& s) const {
    copy_out(params_, s.params, size_);
    for (std::size_t i = 0; i < opt_.size(); ++i) copy_out(opt_[i], s.opt_state[i], size_);
    copy_out(l1_q_, s.l1_q, weights_);
    copy_out(averaged_, s.averaged, size_);
    s = counters_;  // the counters (the pointers are the same)
  }

 private:
  using Buffer = std::unique_ptr<T[]>;

  struct Sized {
    Buffer data;
    std::size_t capacity = 0;
  };
  // to = from's buffer (when from has one), from left empty.
  static void give(Sized& to, Sized& from) {
    if (!from.data) return;
    to.data = std::move(from.data);
    to.capacity = from.capacity;
    from.capacity = 0;
  }
  struct Kept {
    Sized slots[6];  // params, three optimizer states, l1_q, averaged
    bool in_use = false;
  };
  static Kept& kept_buffers() {
    thread_local Kept kept;
    return kept;
  }

  // The buffer of `slot` (its kept one when it is large enough), for n values.
  void acquire(Sized& saved, int slot, std::size_t n) {
    if (saved.capacity >= n) return;
    if (kept_ && kept_->slots[slot].capacity >= n) {
      give(saved, kept_->slots[slot]);
      return;
    }
    saved.data.reset(new T[n]);
    saved.capacity = n;
  }
  void copy_in(Sized& saved, int slot, const T* from, std::size_t n) {
    if (!from) return;
    acquire(saved, slot, n);
    parallel_for_dispatched(n, threads_, detail::CopyBody<T>{from, saved.data.get()});
  }
  void copy_out(const Sized& saved, T* to, std::size_t n) const {
    if (to && saved.data)
      parallel_for_dispatched(n, threads_, detail::CopyBody<T>{saved.data.get(), to});
  }

  std::size_t size_, weights_;
  int threads_;
  Kept* kept_ = nullptr;
  Sized params_, l1_q_, averaged_;
  std::vector<Sized> opt_;
  TrainState<T> counters_;
};

// The buffer an epoch's shuffled order is written into. A fresh one costs a page fault per
// 4 KiB at its first epoch (for 200,000 rows, 1.6 MB: about 0.5 ms on the VM, 1% of a
// five-epoch fit), so a thread keeps it for its next fit, as it keeps its snapshot buffers, up
// to kKeptSnapshotBytes; a fit started while another runs on the same thread takes its own.
class OrderBuffer {
 public:
  explicit OrderBuffer(std::size_t n) {
    Kept& kept = kept_buffer();
    if (n != 0 && !kept.in_use && n * sizeof(std::int64_t) <= kKeptSnapshotBytes) {
      kept.in_use = true;
      kept_ = &kept;
      if (kept.buffer.size() < n) kept.buffer.reset(n);
      data_ = kept.buffer.data();
    } else if (n != 0) {
      own_.reset(n);
      data_ = own_.data();
    }
  }
  ~OrderBuffer() {
    if (kept_) kept_->in_use = false;
  }
  OrderBuffer(const OrderBuffer&) = delete;
  OrderBuffer& operator=(const OrderBuffer&) = delete;
  std::int64_t* data() { return data_; }

 private:
  struct Kept {
    UninitializedBuffer<std::int64_t> buffer;
    bool in_use = false;
  };
  static Kept& kept_buffer() {
    thread_local Kept kept;
    return kept;
  }
  Kept* kept_ = nullptr;
  UninitializedBuffer<std::int64_t> own_;
  std::int64_t* data_ = nullptr;
};

// After an epoch's steps: the status that ends the fit there, or max_epochs to go on.
// interrupted keeps the last completed step; bad_input (a row of X not finite) and diverged (a
// loss or a parameter not finite) roll back to the epoch's start.
template <class T>
Status epoch_outcome(bool interrupted, bool nonfinite_input, bool diverged,
                     const EpochSnapshot<T>& snapshot, TrainState<T>& state, std::size_t size,
                     double lr, TrainResult& result) {
  if (interrupted) return Status::interrupted;
  if (nonfinite_input) {
    snapshot.restore(state);
    return Status::bad_input;
  }
  if (diverged || first_nonfinite(state.params, size) != size) {
    if (!diverged) {  // the steps' losses were finite: the last update made a parameter infinite
      result.bad_step = state.t - 1;
      result.bad_lr = lr;
    }
    snapshot.restore(state);
    return Status::diverged;
  }
  return Status::max_epochs;
}

// The first epoch found a validation row of X that is not finite, after the epoch was counted:
// the state goes back to the epoch's start, its history entries are removed, and the fit ends as
// bad_input (the caller names the row).
template <class T>
void undo_epoch_for_bad_input(const EpochSnapshot<T>& snapshot, TrainState<T>& state,
                              TrainResult& result, double lr) {
  snapshot.restore(state);
  result.epochs -= 1;
  result.loss.pop_back();
  result.lr.pop_back();
  result.bad_step = state.t;
  result.bad_lr = lr;
  result.status = Status::bad_input;
}

// Poll is called between steps about every 50 ms; returning true stops the fit (Ctrl-C).
using Poll = std::function<bool()>;

// Calls the poll about every 50 ms, looking at the clock once per `rows_per_look` rows.
class PollTimer {
 public:
  PollTimer(const Poll& poll, std::size_t rows_per_look)
      : poll_(poll), rows_per_look_(rows_per_look), last_(Clock::now()) {}

  // After `rows` more rows: true when the fit must stop.
  bool stop_after(std::size_t rows) {
    rows_ += rows;
    if (rows_ < rows_per_look_) return false;
    rows_ = 0;
    const auto now = Clock::now();
    if (now - last_ <= std::chrono::milliseconds(50)) return false;
    last_ = now;
    return poll_ && poll_();
  }

 private:
  using Clock = std::chrono::steady_clock;
  const Poll& poll_;
  std::size_t rows_per_look_, rows_ = 0;
  Clock::time_point last_;
};

// The stopping rules judged after each epoch: tol / n_iter_no_change on the epoch loss, or on the
// validation score with early_stopping; target_loss.
class StopRules {
 public:
  explicit StopRules(const TrainSettings& s) : s_(s) {}

  // The epoch's loss and, when there is a validation set, its score; returns the status that
  // ends the fit, or max_epochs to go on.
  Status after_epoch(double epoch_loss, const double* val_score) {
    if (val_score && s_.early_stopping) {
      no_improvement_ = (*val_score < best_score_ + s_.tol) ? no_improvement_ + 1 : 0;
      best_score_ = std::max(best_score_, *val_score);
    }
    if (!s_.early_stopping) {
      no_improvement_ = (epoch_loss > best_loss_ - s_.tol) ? no_improvement_ + 1 : 0;
      best_loss_ = std::min(best_loss_, epoch_loss);
    }
    if (epoch_loss <= s_.target_loss) return Status::target_reached;
    if (s_.tol > -std::numeric_limits<double>::infinity() && no_improvement_ >= s_.n_iter_no_change)
      return Status::converged;
    return Status::max_epochs;
  }

 private:
  const TrainSettings& s_;
  double best_loss_ = std::numeric_limits<double>::infinity();
  double best_score_ = -std::numeric_limits<double>::infinity();
  std::int64_t no_improvement_ = 0;
};

// A schedule that always answers the optimizer's own learning rate.
struct ConstantRate {
  double value;
  double lr(std::int64_t) const { return value; }
  void observe(double) {}
};

// Train the model in `state` on rows `train` of `data`; `valid` (possibly empty) is the held-out
// set scored after each epoch. `opt` carries the optimizer and its options; its learning rate is
// replaced at every step by `schedule.lr(t)`.
template <class T, class Head, class Schedule>
TrainResult train_linear(const LinearData<T>& data, Rows train, Rows valid, const Head& head,
                         const TrainSettings& s, OptimizerConfig opt, Schedule& schedule,
                         TrainState<T>& state, const Poll& poll) {
  TrainResult result;
  const std::size_t k = s.heads, d = data.d;
  const std::size_t size = k * d + k;
  const std::size_t weights = k * d;
  const std::size_t stepped = s.fit_intercept ? size : weights;
  const std::size_t n_train = train.size();
  const std::size_t batch = std::max<std::size_t>(1, std::min(s.batch_size, n_train));
  const double l1_share =
      s.penalty == Penalty::l1 ? 1.0 : (s.penalty == Penalty::elasticnet ? s.l1_ratio : 0.0);
  const double l2_alpha =
      (s.penalty == Penalty::l2 || s.penalty == Penalty::elasticnet) ? s.alpha * (1.0 - l1_share)
                                                                      : 0.0;
  const auto needed = opt.states_needed();
  const std::size_t n_states = state_count(opt.kind);

  std::vector<T> grad(size), scratch;
  // Stochastic steps of plain SGD skip the gradient buffer (detail::StochasticSgdUpdate).
  const bool plain_sgd = opt.kind == OptimizerKind::sgd && opt.sgd.momentum == 0.0;
  const bool fused_sgd = plain_sgd && k <= detail::kMaxStackHeads;
  // The l2 coefficient of a step at rate `rate`: alpha_l2, or 1 / rate where floor_l2_shrink
  // caps it (plain SGD descending: then w - rate (g + w / rate) = -rate g, w's part goes to 0).
  const bool floor_l2 = s.floor_l2_shrink && plain_sgd && !opt.sgd.maximize && l2_alpha != 0.0;
  const auto l2_at = [&](double rate) {
    return floor_l2 && rate * l2_alpha > 1.0 ? 1.0 / rate : l2_alpha;
  };
  // The epoch's order: the training rows themselves, or a shuffled copy of them.
  OrderBuffer shuffled(s.shuffle ? n_train : 0);
  const std::int64_t* order = s.shuffle ? shuffled.data() : train.data();
  EpochSnapshot<T> snapshot(size, weights, n_states);
  // Software prefetching of the rows ahead (rows_ahead) pays when X comes from memory, in a
  // shuffled order and even in storage order (the hardware prefetcher alone was ~10% slower on
  // the Xeon VM); when X fits in a core's L2 it only costs instructions, ~20% of a batch-256
  // step there. The kernels prefetch up to `prefetch_size` rows of the order, none when 0.
  constexpr std::size_t kCachedBytes = std::size_t{1} << 20;
  const std::size_t prefetch_size = data.n * data.d * sizeof(T) <= kCachedBytes ? 0 : n_train;

  auto record_path = [&] {
    result.path.insert(result.path.end(), state.params, state.params + size);
  };
  if (s.record_every > 0) record_path();

  StopRules stop_rules(s);
  PollTimer poll_timer(poll, 4096);
  double lr = opt.lr();
  // Split mini-batches run on the team or on this thread, whichever is faster now (same bits).
  TeamChooser& chooser = lasting_chooser<struct LinearSteps>(
      static_cast<int>(batch_chunks(batch, d, k, s.threads)), (batch * 1000003u + d) * 1009u + k);

  // Stochastic log-loss steps leave their loss value for later (StochasticSgdStep::deferred):
  // kBlockRows rows at a time, in one vector loop, added to the epoch's sum in row order, so the
  // sum is the same as added step by step.
  constexpr bool kDefer = detail::DeferrableLoss<Head>::value;
  T deferred[3 * detail::kBlockRows];  // prediction, target, weight per row
  std::size_t pending = 0;
  double loss_sum = 0.0;
  const auto add_deferred = [&] {
    if constexpr (kDefer) {
      T values[detail::kBlockRows];
      if (pending == detail::kBlockRows) {
#pragma omp simd
        for (std::size_t i = 0; i < detail::kBlockRows; ++i)
          values[i] = deferred[3 * i + 2] * head.loss.loss(deferred[3 * i], deferred[3 * i + 1]);
      } else {
        for (std::size_t i = 0; i < pending; ++i)
          values[i] = deferred[3 * i + 2] * head.loss.loss(deferred[3 * i], deferred[3 * i + 1]);
      }
      for (std::size_t i = 0; i < pending; ++i) loss_sum += static_cast<double>(values[i]);
    }
    pending = 0;
  };

  for (std::int64_t e = 0; e < s.max_epochs; ++e) {
    snapshot.take(state);

    if (s.shuffle) {
      std::copy(train.begin(), train.end(), shuffled.data());
      SplitMix64 rng = epoch_stream(s.seed, static_cast<std::uint64_t>(state.epoch));
      gdcore::shuffle(shuffled.data(), n_train, rng);
    }
    loss_sum = 0.0;
    bool diverged = false, interrupted = false;
    // The first epoch of a fit checks X as it goes: with finite parameters, a prediction is not
    // finite only when its row holds NaN or infinity (or overflows); then the fit stops
    // (bad_input) before that row changes anything, and the caller names the row. This spares a
    // separate pass over X, as long as an epoch of in-order reading at one thread.
    const bool check_inputs = e == 0;
    bool nonfinite_input = false;
    for (std::size_t begin = 0; begin < n_train; begin += batch) {
      const std::size_t end = std::min(n_train, begin + batch);
      // The rate of this update; schedules are pure functions of t (and of what observe() saw).
      const double next_lr = schedule.lr(state.t);
      const double l2_step = l2_at(next_lr);
      const bool stochastic = fused_sgd && end - begin == 1;
      double step_loss = 0.0;
      bool step_deferred = false;
      if (stochastic) {  // loss, and the update when the loss is finite, in one pass
        run_dispatched(detail::StochasticSgdStep<T, Head>{&data, &head, state.params, order,
                                                          prefetch_size, k, T(l2_step),
                                                          T(opt.sgd.maximize ? -1 : 1),
                                                          T(opt.sgd.weight_decay), T(-next_lr),
                                                          s.fit_intercept, &step_loss,
                                                          check_inputs, &nonfinite_input,
                                                          kDefer && k == 1 ? deferred + 3 * pending
                                                                           : nullptr,
                                                          &step_deferred, s.passive_aggressive},
                       begin, end);
      } else {
        // Only a split batch has a team to choose (and a step worth timing).
        using Clock = TeamChooser::Clock;
        const bool split = batch_chunks(end - begin, d, k, s.threads) > 1;
        const int team = split ? chooser.next() : 0;
        const Clock::time_point start = split ? Clock::now() : Clock::time_point{};
        step_loss = batch_gradient(data, head, state.params, order, prefetch_size, begin,
                                   end, k, s.threads, grad.data(), scratch, check_inputs,
                                   &nonfinite_input, team);
        if (split) chooser.done(start, Clock::now(), static_cast<double>(end - begin), team);
      }
      if (nonfinite_input) {
        result.bad_step = state.t;
        result.bad_lr = lr;
        break;
      }
      if (!std::isfinite(step_loss)) {
        diverged = true;
        result.bad_step = state.t;
        result.bad_lr = lr;
        break;
      }
      if (step_deferred) {
        if (++pending == detail::kBlockRows) add_deferred();
      } else {
        add_deferred();
        loss_sum += step_loss;
      }
      lr = next_lr;
      opt.set_lr(lr);
      state.opt_step += 1;
      if (!stochastic) {
        if (l2_step != 0.0) {
          const T a = T(l2_step);
          for (std::size_t j = 0; j < weights; ++j) grad[j] = grad[j] + a * state.params[j];
        }
        T* states[3] = {needed[0] ? state.opt_state[0] : nullptr,
                        needed[1] ? state.opt_state[1] : nullptr,
                        needed[2] ? state.opt_state[2] : nullptr};
        optimizer_step<T>(opt, state.params, grad.data(), states, stepped, state.opt_step,
                          &state.mu_product, 1);
      }
      if (l1_share != 0.0 && s.alpha != 0.0) {
        state.l1_u += lr * s.alpha * l1_share;
        const T u = T(state.l1_u);
        for (std::size_t j = 0; j < weights; ++j) {
          const T z = state.params[j];
          if (z > T(0)) {
            state.params[j] = std::max(T(0), z - (u + state.l1_q[j]));
          } else if (z < T(0)) {
            state.params[j] = std::min(T(0), z + (u - state.l1_q[j]));
          }
          state.l1_q[j] = state.l1_q[j] + (state.params[j] - z);
        }
      }
      state.t += 1;
      // Averaged SGD (Polyak-Ruppert, as scikit-learn's average=): from update number `average`
      // on, the running mean a = a + (p - a) / (updates since then).
      if (state.averaged && s.average > 0 && state.t >= s.average) {
        const T count = T(static_cast<double>(state.t - s.average + 1));
        T* __restrict a = state.averaged;
        for (std::size_t j = 0; j < size; ++j) a[j] = a[j] + (state.params[j] - a[j]) / count;
      }
      if (s.record_every > 0 && state.t % s.record_every == 0) record_path();
      if (poll_timer.stop_after(end - begin)) {
        interrupted = true;
        break;
      }
    }
    add_deferred();
    const Status outcome =
        epoch_outcome(interrupted, nonfinite_input, diverged, snapshot, state, size, lr, result);
    if (outcome != Status::max_epochs) {
      result.status = outcome;
      break;
    }

    state.epoch += 1;
    result.epochs += 1;
    // One-vs-rest heads are K binary problems: their loss is reported (and judged by tol) per
    // head, as scikit-learn judges each of its binary classifiers on its own.
    const double per_head = s.task == Task::ovr ? static_cast<double>(k) : 1.0;
    const double epoch_loss =
        (loss_sum / static_cast<double>(n_train) + penalty_value(s, state.params, weights)) /
        per_head;
    result.loss.push_back(epoch_loss);
    result.lr.push_back(lr);
    double vloss = 0.0, vscore = 0.0;
    if (!valid.empty()) {
      evaluate(data, head, s, state.params, valid, &vloss, &vscore,
               check_inputs ? &nonfinite_input : nullptr);
      if (nonfinite_input) {  // a validation row of X is not finite
        undo_epoch_for_bad_input(snapshot, state, result, lr);
        break;
      }
      result.val_loss.push_back(vloss);
      result.val_score.push_back(vscore);
    }
    schedule.observe(valid.empty() ? epoch_loss : vloss);
    const Status stop = stop_rules.after_epoch(epoch_loss, valid.empty() ? nullptr : &vscore);
    if (stop != Status::max_epochs) {
      result.status = stop;
      break;
    }
  }
  return result;
}

}  // namespace gdcore
