// Multilayer perceptrons: dense layers, forward and backward passes, and the training loop.
//
// A network has L dense layers between sizes n_0 (inputs), n_1, ..., n_L (outputs). Layer l maps
// a row a_{l-1} (n_{l-1}) to z_l = a_{l-1} W_l + b_l (W_l is n_{l-1} x n_l, row-major, as
// scikit-learn's coefs_[l-1]); hidden layers apply the activation f, the output layer none (its
// z_L are the model's raw outputs, scored by the task's loss):
//   regression: L = ½ Σ_j (z_j - y_j)²                 dL/dz = z - y
//   binary:     L = log(1 + exp(-y z)), y = ±1          dL/dz = -y σ(-y z)     (logistic output)
//   softmax:    L = -log softmax(z)[y]                  dL/dz = softmax(z) - onehot(y)
// All parameters live in one buffer, layer after layer: [W_1, b_1, W_2, b_2, ..., W_L, b_L], so
// that one optimizer step (optimizers.hpp) updates every layer, as in train_linear (run in
// pieces inside the backward pass; see "The optimizer step" below).
//
// A step on a mini-batch of B rows (forward, then backward, in matrix form):
//   A_0 = the batch's rows of X (gathered in the shuffled order; read in place when consecutive)
//   A_l = f(A_{l-1} W_l + 1 b_lᵀ)                      (gemm, then bias and activation in place)
//   D_L = dL/dZ_L                                        (row by row)
//   dW_l = (1/B) A_{l-1}ᵀ D_l + (alpha/B) W_l            (gemm with alpha = 1/B)
//   db_l = (1/B) Σ_rows D_l                              (rows summed in order)
//   D_{l-1} = (D_l W_lᵀ) ⊙ f'(A_{l-1})                   (f' written in terms of the activation)
// The penalty is scikit-learn's MLP l2 term: alpha ‖W‖² / (2B) added to the batch's mean loss
// (biases are not penalized), so alpha means what it means in sklearn.neural_network.
//
// Threads. Every product is one gemm (gemm.hpp), which splits C among threads and never splits a
// sum: results are the same bits for any thread count. For the forward pass and D W^T, C's rows
// are the mini-batch rows, so this is the split of the mini-batch across threads; for the weight
// gradient, C is the weight matrix, so each thread owns a block of it and no per-thread gradient
// buffers need to be added up afterwards. gemm keeps products below ~512k multiply-adds per thread
// on one thread, so small batches never pay for waking threads; thin products (the 10-unit output
// layer's) count the values they move instead, 32 multiply-adds each, and split from batch ~100.
// Bias and activation (forward) and f' (backward) run as epilogues of the products that make
// their inputs: each thread applies them to its block of C while it is in its cache, so they are
// split like the products (at batch 128 on two threads, run serially after each product they
// took 2x their one-thread time, since the other core's blocks had to cross over). The loss and
// the bias gradients are O(B n) and stay serial.
//
// The optimizer step runs inside the backward pass (mlp_gradient's `step`): gemm hands each
// finished block of a weight gradient to an epilogue, which adds the l2 term and updates that
// block's weights and optimizer state on the thread that computed it, while the block is in
// that core's cache; each layer's input-gradient product, which reads the old W_l, runs first.
// Same bits as one step over the whole buffer afterwards (the optimizers are element-wise).
// Measured (784-256-256-10, Adam, float32): two-thread epochs 3-5% faster, one thread unchanged.
// An earlier attempt that split the weight-gradient products into column blocks of its own to
// the same end was 2-7% slower (it repacked D and cut more edge tiles); this one keeps the
// products as they were. At one thread and batch 32 the Adam step is ~23% of a step: it streams
// p, g, m and v from L3 (~0.58 ns per element for 4.3 MB), and in L2 it is bound by its square
// root and division (~0.31 ns), which wider vectors do not speed up.
// Two tries to hide that step behind the weight-gradient product (the FMA pipes run the product,
// the divider bounds Adam) were measured and not kept; both gave the same bits. Stepping each
// finished 12 x 32 tile inside the next tile's micro-kernel: 23-30% slower (its p, m, v rows
// lie 1 KiB apart and waited on L3 even with prefetches). Stepping each finished row of tiles
// (whole rows, the four arrays streaming forward) in pieces spread over the next row's k loop:
// 7-10% slower at batch 32, and as slow with the arrays made L1-resident. A standalone model of
// that loop (12 x 2 tile, 24 Adam pieces of 16 floats per tile) shows why: the product keeps
// both vector ports busy, and each piece's twelve other vector operations plus the square root
// and division's own port slots cost ~17 cycles inside the product against ~22 on its own, so
// there is little to win even before the bookkeeping.
//
// Rounding: the products use gemm's fused multiply-add on AVX2/AVX-512 paths, so the NumPy twin
// (src/gdcore/reference/mlp.py, which multiplies with NumPy's BLAS) agrees within the mirror's
// tolerance, not bitwise.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "gemm.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "parallel.hpp"
#include "rng.hpp"
#include "train.hpp"

namespace gdcore {

enum class Activation { identity, relu, leaky_relu, logistic, tanh };

// Slope of leaky ReLU for negative inputs (PyTorch's default).
inline constexpr double kLeakySlope = 0.01;

enum class MlpInit { glorot, he };

// Layer sizes and where each layer's parameters live in the flat buffer.
struct MlpShape {
  std::vector<std::size_t> sizes;  // n_0 (inputs), hidden sizes ..., n_L (outputs)
  Activation activation = Activation::relu;
  Task task = Task::regression;  // regression, binary or softmax

  std::size_t layers() const { return sizes.size() - 1; }
  std::size_t inputs() const { return sizes.front(); }
  std::size_t outputs() const { return sizes.back(); }
  std::size_t widest() const { return *std::max_element(sizes.begin(), sizes.end()); }
  // Offset of W_l (l = 1..L) in the buffer; b_l follows W_l.
  std::size_t weight_offset(std::size_t l) const {
    std::size_t off = 0;
    for (std::size_t i = 1; i < l; ++i) off += sizes[i - 1] * sizes[i] + sizes[i];
    return off;
  }
  std::size_t bias_offset(std::size_t l) const {
    return weight_offset(l) + sizes[l - 1] * sizes[l];
  }
  std::size_t size() const { return weight_offset(layers() + 1); }
};

// Initial parameters from SplitMix64(seed), drawn in buffer order (W_1, b_1, W_2, ...), each
// value = bound * (2u - 1) with u = (next() >> 11) * 2^-53 uniform in [0, 1):
//   glorot: scikit-learn's MLP initialization, bound = sqrt(6 / (fan_in + fan_out)) for weights
//           and biases alike, with 2 instead of 6 for the logistic activation;
//   he:     bound = sqrt(6 / fan_in) for the weights (He et al. 2015, uniform form), biases 0.
template <class T>
void mlp_init(const MlpShape& shape, MlpInit scheme, std::uint64_t seed, T* params) {
  SplitMix64 rng{seed};
  for (std::size_t l = 1; l <= shape.layers(); ++l) {
    const double fan_in = static_cast<double>(shape.sizes[l - 1]);
    const double fan_out = static_cast<double>(shape.sizes[l]);
    double bound, bias_bound;
    if (scheme == MlpInit::glorot) {
      const double factor = shape.activation == Activation::logistic ? 2.0 : 6.0;
      bound = bias_bound = std::sqrt(factor / (fan_in + fan_out));
    } else {
      bound = std::sqrt(6.0 / fan_in);
      bias_bound = 0.0;
    }
    T* W = params + shape.weight_offset(l);
    const std::size_t nw = shape.sizes[l - 1] * shape.sizes[l];
    for (std::size_t j = 0; j < nw; ++j) {
      const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
      W[j] = static_cast<T>(bound * (2.0 * u - 1.0));
    }
    T* b = params + shape.bias_offset(l);
    for (std::size_t j = 0; j < shape.sizes[l]; ++j) {
      if (bias_bound == 0.0) {
        b[j] = T(0);
      } else {
        const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
        b[j] = static_cast<T>(bias_bound * (2.0 * u - 1.0));
      }
    }
  }
}

namespace mlp_detail {

// z += b, then a = f(z), for a rows x n block of a matrix with row stride ld (b: the block's n
// biases). relu and leaky relu test z < 0 so that NaN passes through (a NaN hidden unit must not
// silently become 0 and hide divergence).
template <class T>
void bias_activation(T* __restrict z, std::size_t ld, const T* __restrict b, std::size_t rows,
                     std::size_t n, Activation f) {
  const T slope = T(kLeakySlope);
  for (std::size_t i = 0; i < rows; ++i) {
    T* __restrict r = z + i * ld;
    switch (f) {
      case Activation::identity:
#pragma omp simd
        for (std::size_t j = 0; j < n; ++j) r[j] = r[j] + b[j];
        break;
      case Activation::relu:
#pragma omp simd
        for (std::size_t j = 0; j < n; ++j) {
          const T v = r[j] + b[j];
          r[j] = v < T(0) ? T(0) : v;
        }
        break;
      case Activation::leaky_relu:
#pragma omp simd
        for (std::size_t j = 0; j < n; ++j) {
          const T v = r[j] + b[j];
          r[j] = v < T(0) ? slope * v : v;
        }
        break;
      case Activation::logistic:
        for (std::size_t j = 0; j < n; ++j) r[j] = T(1) / (T(1) + std::exp(-(r[j] + b[j])));
        break;
      case Activation::tanh:
        for (std::size_t j = 0; j < n; ++j) r[j] = std::tanh(r[j] + b[j]);
        break;
    }
  }
}

// d *= f'(z), with f' written in terms of a = f(z) (as scikit-learn's backward pass does).
template <class T>
void activation_backward(const T* __restrict a, T* __restrict d, std::size_t count, Activation f) {
  const T slope = T(kLeakySlope);
  switch (f) {
    case Activation::identity: break;
    case Activation::relu:
#pragma omp simd
      for (std::size_t j = 0; j < count; ++j) d[j] = a[j] > T(0) ? d[j] : T(0);
      break;
    case Activation::leaky_relu:
#pragma omp simd
      for (std::size_t j = 0; j < count; ++j) d[j] = a[j] > T(0) ? d[j] : d[j] * slope;
      break;
    case Activation::logistic:
#pragma omp simd
      for (std::size_t j = 0; j < count; ++j) d[j] = d[j] * (a[j] * (T(1) - a[j]));
      break;
    case Activation::tanh:
#pragma omp simd
      for (std::size_t j = 0; j < count; ++j) d[j] = d[j] * (T(1) - a[j] * a[j]);
      break;
  }
}

// A layer's bias and activation as the epilogue of its forward product (gemm.hpp): each thread
// applies them to the block of Z it computed. With `nonfinite` (the first layer in a checking
// epoch), column 0 of the raw products is checked first: see mlp_forward_rows.
template <class T>
struct BiasActivationEpilogue {
  T* z;
  std::size_t ld;
  const T* b;
  Activation f;
  std::atomic<bool>* nonfinite;
  void operator()(std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1) const {
    if (nonfinite && j0 == 0)
      for (std::size_t i = i0; i < i1; ++i)
        if (!std::isfinite(z[i * ld])) nonfinite->store(true, std::memory_order_relaxed);
    bias_activation(z + i0 * ld + j0, ld, b + j0, i1 - i0, j1 - j0, f);
  }
};

// D *= f'(A) as the epilogue of the product D_l W_l^T that makes D.
template <class T>
struct ActivationBackwardEpilogue {
  const T* a;
  T* d;
  std::size_t ld;
  Activation f;
  void operator()(std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1) const {
    for (std::size_t i = i0; i < i1; ++i)
      activation_backward(a + i * ld + j0, d + i * ld + j0, j1 - j0, f);
  }
};

// Per-row loss of the raw outputs z (rows x k) against targets y (rows x ky), and D = dL/dz.
template <class T>
void output_loss(Task task, const T* z, const T* y, std::size_t ky, std::size_t rows,
                 std::size_t k, T* D, T* row_loss) {
  switch (task) {
    case Task::regression: {
      const MultiSquaredError se;
      for (std::size_t i = 0; i < rows; ++i)
        row_loss[i] = se.loss_grad(z + i * k, y + i * ky, k, D + i * k);
      break;
    }
    case Task::binary: {
      const LogLoss ll;
      for (std::size_t i = 0; i < rows; ++i) {
        row_loss[i] = ll.loss(z[i], y[i * ky]);
        D[i] = ll.dloss(z[i], y[i * ky]);
      }
      break;
    }
    default: {
      const SoftmaxCrossEntropy ce;
      for (std::size_t i = 0; i < rows; ++i)
        row_loss[i] = ce.loss_grad(z + i * k, k, static_cast<std::size_t>(y[i * ky]), D + i * k);
      break;
    }
  }
}

// g += a w over a flat range: the l2 term of the weight gradient. Split among threads like the
// optimizers' element-wise kernels (each element by one thread, so the bits do not depend on
// the thread count); a serial pass over the 200k weights of a 784x256 layer would be the largest
// serial part of a two-thread step.
template <class T>
struct AddScaledBody {
  T* g;
  const T* w;
  T a;
  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    T* __restrict gs = g;
    const T* __restrict ws = w;
#pragma omp simd
    for (std::size_t j = begin; j < end; ++j) gs[j] = gs[j] + a * ws[j];
  }
};

}  // namespace mlp_detail

// Buffers of one fit, allocated once: the activations of every layer and two delta buffers for
// up to `rows` rows, and the gathered targets.
template <class T>
struct MlpWorkspace {
  // Every value is written before it is read (products overwrite, the gathers and the loss fill
  // what they use), so the buffers are not zeroed: at batch 512 zeroing them took ~0.3 ms of
  // every fit on one thread, and acts[0] is not even touched when the rows are read in place.
  std::vector<UninitializedBuffer<T>> acts;  // acts[l]: rows x n_l (acts[0]: gathered inputs)
  UninitializedBuffer<T> delta, delta_prev, targets, row_loss;
  // A block of rows of a weight gradient (see mlp_gradient: one thread, small batches).
  UninitializedBuffer<T> grad_block;
  std::size_t rows = 0;

  MlpWorkspace(const MlpShape& shape, std::size_t max_rows, std::size_t ky) : rows(max_rows) {
    acts.resize(shape.layers() + 1);
    for (std::size_t l = 0; l <= shape.layers(); ++l) acts[l].reset(max_rows * shape.sizes[l]);
    delta.reset(max_rows * shape.widest());
    delta_prev.reset(max_rows * shape.widest());
    targets.reset(max_rows * ky);
    row_loss.reset(max_rows);
    std::size_t block = 0;
    for (std::size_t l = 1; l <= shape.layers(); ++l)
      block = std::max(block, grad_block_rows(shape.sizes[l]) * shape.sizes[l]);
    grad_block.reset(block);
  }

  // Rows of a weight gradient with fan_out columns per block: 192 (16 tiles of 12 rows) for up
  // to 256 columns, fewer for wider layers so that a block stays ~192 KiB of float32 (L2).
  static std::size_t grad_block_rows(std::size_t fan_out) {
    const std::size_t rows = (192 * 256 / std::max<std::size_t>(fan_out, 1)) / 24 * 24;
    return std::min<std::size_t>(192, std::max<std::size_t>(24, rows));
  }
};

// Forward pass of `rows` rows whose inputs are in ws.acts[0] (or at `input`, row stride n_0, when
// given): every layer's activations, the raw outputs in ws.acts[L]. With `nonfinite_input`, the
// first layer's products x·W_1[:, 0] are checked: with finite weights one is not finite exactly
// when its row of inputs holds NaN or infinity (or overflows), which then sets the flag (the
// later layers are still computed; their values mean nothing).
template <class T>
void mlp_forward_rows(const MlpShape& shape, const T* params, const T* input, std::size_t rows,
                      MlpWorkspace<T>& ws, int threads, bool* nonfinite_input = nullptr) {
  const T* prev = input ? input : ws.acts[0].data();
  std::atomic<bool> nonfinite{false};
  for (std::size_t l = 1; l <= shape.layers(); ++l) {
    const std::size_t fan_in = shape.sizes[l - 1], fan_out = shape.sizes[l];
    T* out = ws.acts[l].data();
    const Activation f = l == shape.layers() ? Activation::identity : shape.activation;
    const mlp_detail::BiasActivationEpilogue<T> epilogue{
        out, fan_out, params + shape.bias_offset(l), f,
        l == 1 && nonfinite_input ? &nonfinite : nullptr};
    gemm<T>(false, false, rows, fan_out, fan_in, T(1), prev, fan_in,
            params + shape.weight_offset(l), fan_out, T(0), out, fan_out, threads, epilogue);
    prev = out;
  }
  if (nonfinite.load()) *nonfinite_input = true;
}

// Raw outputs (n x n_L) of the network for the n rows of X (row-major, n x n_0), in blocks of
// `block` rows so that the activations stay small.
template <class T>
void mlp_forward(const MlpShape& shape, const T* params, const T* X, std::size_t n, T* out,
                 int threads, bool* nonfinite_input = nullptr) {
  constexpr std::size_t block = 1024;
  MlpWorkspace<T> ws(shape, std::min(block, std::max<std::size_t>(n, 1)), 1);
  const std::size_t k = shape.outputs();
  for (std::size_t r0 = 0; r0 < n; r0 += block) {
    const std::size_t m = std::min(block, n - r0);
    mlp_forward_rows(shape, params, X + r0 * shape.inputs(), m, ws, threads, nonfinite_input);
    std::copy(ws.acts[shape.layers()].data(), ws.acts[shape.layers()].data() + m * k, out + r0 * k);
  }
}

// Sum of squares of every weight (not the biases), in double. Element j of a layer goes into
// lane j mod 8 (eight independent sums, so the loop vectorizes: one chain of dependent double
// additions took 0.3 ms per step for 784-256-256-10, as long as the whole Adam step); the lanes
// are then added in order, and the layers in order. Only the reported loss reads it.
template <class T>
double mlp_weight_norm2(const MlpShape& shape, const T* params) {
  constexpr std::size_t kLanes = 8;
  double total = 0.0;
  for (std::size_t l = 1; l <= shape.layers(); ++l) {
    const T* __restrict W = params + shape.weight_offset(l);
    const std::size_t nw = shape.sizes[l - 1] * shape.sizes[l];
    double lane[kLanes] = {};
    const std::size_t full = nw / kLanes * kLanes;
    for (std::size_t j = 0; j < full; j += kLanes)
      for (std::size_t i = 0; i < kLanes; ++i) {
        const double w = static_cast<double>(W[j + i]);
        lane[i] += w * w;
      }
    for (std::size_t j = full; j < nw; ++j) {
      const double w = static_cast<double>(W[j]);
      lane[j - full] += w * w;
    }
    double sum = 0.0;
    for (std::size_t i = 0; i < kLanes; ++i) sum += lane[i];
    total += sum;
  }
  return total;
}

namespace mlp_detail {
// mlp_gradient without an update: it only computes the gradient.
struct NoStep {
  bool begin(double) const { return false; }
  void operator()(const std::pair<std::size_t, std::size_t>*, std::size_t) const {}
  template <class T>
  void segment(std::size_t, std::size_t, const T*) const {}
};

// The parameter ranges of rows [i0, i1) x columns [j0, j1) of a fan_in x fan_out weight matrix
// at `offset` in the buffer: one range for whole rows, else one per row (into `out`).
inline std::size_t block_ranges(std::size_t offset, std::size_t fan_out, std::size_t i0,
                                std::size_t i1, std::size_t j0, std::size_t j1,
                                std::vector<std::pair<std::size_t, std::size_t>>& out) {
  out.clear();
  if (j0 == 0 && j1 == fan_out) {
    out.emplace_back(offset + i0 * fan_out, offset + i1 * fan_out);
  } else {
    for (std::size_t i = i0; i < i1; ++i)
      out.emplace_back(offset + i * fan_out + j0, offset + i * fan_out + j1);
  }
  return out.size();
}
}  // namespace mlp_detail

// Gradient (into grad, the buffer's layout) of the mean loss over the rows order[0:rows) of
// (X, Y) plus the l2 term alpha ‖W‖² / (2 rows). Returns the summed loss of the rows (without the
// penalty); non-finite when the forward pass overflowed. With `nonfinite_input`, a row of inputs
// holding NaN or infinity sets the flag (see mlp_forward_rows) and the gradient is not computed.
//
// `step`, when given, also updates the parameters inside the backward pass: once the rows' loss
// is known, step.begin(loss) says whether to (a finite loss), and then step(ranges, count) is
// called on each finished block of each weight gradient, by the thread that computed it, from
// that thread (the optimizer must not start threads there), and on each layer's bias range from
// the calling thread. A block's gradient is then still in that core's cache (and W_l's values,
// which the product before it read), where one optimizer step over the whole buffer after the
// backward pass read all four arrays back from L3. Each layer's input-gradient product, which
// reads W_l, therefore runs before its weight-gradient product. The optimizers are element-wise,
// so the bits are those of the step after the pass.
//
// On one thread with at most kGradBlockBatch rows, each weight gradient is instead computed in
// blocks of rows (MlpWorkspace::grad_block_rows) into ws.grad_block, last block first, and
// step.segment(offset, n, g) updates the buffer's elements [offset, offset + n) from the
// gradient values g[0:n); `grad` then holds only the bias gradients. Each element's products
// and sums are the same, so the bits are too. Why: the gradient's 800 KiB for W_1 (784 x 256,
// float32) no longer cycle through L3 every step (read for ownership, written back), and the
// block updated last, W_1's first rows, is the one the next step's forward product reads first.
// Measured with a C++ step timer, 784-256-256-10, Adam, the variants alternated in one process:
// at batch 32 on one thread a step 3-4% faster (X W_1 and the W_1 update both faster), whole
// fits ~5% (old and new builds in ABBA order); at batch 128 within 1%, at batch 512 (products
// with more than one 256-deep block of k) 0.7% slower. On two threads, each thread stepping its
// half of the rows by blocks in one parallel region: batch 128 within 0.5%, batch 32 2.6%
// slower. So only one thread at batch <= 64 takes this path.
inline constexpr std::size_t kGradBlockBatch = 64;

template <class T, class Step = mlp_detail::NoStep>
double mlp_gradient(const MlpShape& shape, const T* X, const T* Y, std::size_t ky,
                    const std::int64_t* order, std::size_t rows, const T* params, double alpha,
                    T* grad, MlpWorkspace<T>& ws, int threads, bool* nonfinite_input = nullptr,
                    const Step& step = Step{}) {
  const std::size_t d = shape.inputs(), L = shape.layers(), k = shape.outputs();
  // Consecutive rows (an unshuffled epoch) are read where they are; others are gathered.
  bool consecutive = true;
  for (std::size_t i = 1; consecutive && i < rows; ++i) consecutive = order[i] == order[0] + std::int64_t(i);
  const T* A0 = ws.acts[0].data();
  const T* targets = ws.targets.data();
  if (consecutive) {
    A0 = X + static_cast<std::size_t>(order[0]) * d;
    targets = Y + static_cast<std::size_t>(order[0]) * ky;
  } else {
    for (std::size_t i = 0; i < rows; ++i) {
      const std::size_t row = static_cast<std::size_t>(order[i]);
      std::copy(X + row * d, X + row * d + d, ws.acts[0].data() + i * d);
      std::copy(Y + row * ky, Y + row * ky + ky, ws.targets.data() + i * ky);
    }
  }
  mlp_forward_rows<T>(shape, params, A0, rows, ws, threads, nonfinite_input);
  if (nonfinite_input && *nonfinite_input) return std::numeric_limits<double>::quiet_NaN();
  T* D = ws.delta.data();
  mlp_detail::output_loss(shape.task, ws.acts[L].data(), targets, ky, rows, k, D,
                          ws.row_loss.data());
  double loss = 0.0;
  for (std::size_t i = 0; i < rows; ++i) loss += static_cast<double>(ws.row_loss[i]);
  const bool stepping = step.begin(loss);
  const bool by_blocks = stepping && rows <= kGradBlockBatch && resolve_threads(threads) == 1;
  const T scale = T(1.0 / static_cast<double>(rows));
  const T l2 = T(alpha / static_cast<double>(rows));
  T* Dprev = ws.delta_prev.data();
  for (std::size_t l = L; l >= 1; --l) {
    const std::size_t fan_in = shape.sizes[l - 1], fan_out = shape.sizes[l];
    const T* W = params + shape.weight_offset(l);
    T* gW = grad + shape.weight_offset(l);
    T* gb = grad + shape.bias_offset(l);
    const T* Aprev = l == 1 ? A0 : ws.acts[l - 1].data();
    std::fill(gb, gb + fan_out, T(0));
    for (std::size_t i = 0; i < rows; ++i) {
      const T* __restrict r = D + i * fan_out;
#pragma omp simd
      for (std::size_t j = 0; j < fan_out; ++j) gb[j] = gb[j] + r[j];
    }
#pragma omp simd
    for (std::size_t j = 0; j < fan_out; ++j) gb[j] = gb[j] * scale;
    if (l > 1)  // before W_l's update below
      gemm<T>(false, true, rows, fan_in, fan_out, T(1), D, fan_out, W, fan_out, T(0), Dprev,
              fan_in, threads,
              mlp_detail::ActivationBackwardEpilogue<T>{Aprev, Dprev, fan_in, shape.activation});
    const std::size_t w_offset = shape.weight_offset(l);
    if (by_blocks) {
      // Blocks of rows of dW_l in ws.grad_block, the last block first; each finished piece of a
      // block gets the l2 term and the step from there (the ranges are the buffer's, the
      // gradient values sit at the same place relative to the block's start).
      const std::size_t block = MlpWorkspace<T>::grad_block_rows(fan_out);
      T* g = ws.grad_block.data();
      for (std::size_t b = (fan_in + block - 1) / block; b-- > 0;) {
        const std::size_t i0 = b * block, n_rows = std::min(block, fan_in - i0);
        const std::size_t origin = w_offset + i0 * fan_out;
        const auto finish_rows = [&](std::size_t r0, std::size_t r1, std::size_t j0,
                                     std::size_t j1) {
          thread_local std::vector<std::pair<std::size_t, std::size_t>> ranges;
          const std::size_t count =
              mlp_detail::block_ranges(origin, fan_out, r0, r1, j0, j1, ranges);
          for (std::size_t q = 0; q < count; ++q) {
            const std::size_t n = ranges[q].second - ranges[q].first;
            T* piece = g + (ranges[q].first - origin);
            if (alpha != 0.0) {
              const std::pair<std::size_t, std::size_t> all{0, n};
              run_elementwise(0, LocalRanges{&all, 1},
                              mlp_detail::AddScaledBody<T>{piece, params + ranges[q].first, l2});
            }
            step.segment(ranges[q].first, n, static_cast<const T*>(piece));
          }
        };
        gemm<T>(true, false, n_rows, fan_out, rows, scale, Aprev + i0, fan_in, D, fan_out, T(0),
                g, fan_out, 1, finish_rows);
      }
    } else {
      // Each finished block of dW_l: the l2 term (alpha/B) W, then the step, while it is in
      // cache.
      const auto finish_block = [&](std::size_t i0, std::size_t i1, std::size_t j0,
                                    std::size_t j1) {
        if (alpha == 0.0 && !stepping) return;
        thread_local std::vector<std::pair<std::size_t, std::size_t>> ranges;
        const std::size_t count =
            mlp_detail::block_ranges(w_offset, fan_out, i0, i1, j0, j1, ranges);
        if (alpha != 0.0)  // ranges are offsets in the buffer: grad and params at the same place
          run_elementwise(0, LocalRanges{ranges.data(), count},
                          mlp_detail::AddScaledBody<T>{grad, params, l2});
        if (stepping) step(ranges.data(), count);
      };
      gemm<T>(true, false, fan_in, fan_out, rows, scale, Aprev, fan_in, D, fan_out, T(0), gW,
              fan_out, threads, finish_block);
    }
    if (stepping) {
      const std::pair<std::size_t, std::size_t> bias{shape.bias_offset(l),
                                                     shape.bias_offset(l) + fan_out};
      step(&bias, 1);
    }
    if (l > 1) std::swap(D, Dprev);
  }
  return loss;
}

// Mean loss and score (R² averaged over outputs, or accuracy) of the rows `rows`; with
// `nonfinite_input`, rows of X holding NaN or infinity set the flag and nothing is scored.
template <class T>
void mlp_evaluate(const MlpShape& shape, const T* X, const T* Y, std::size_t ky,
                  Rows rows, const T* params, int threads,
                  double* mean_loss, double* score, bool* nonfinite_input = nullptr) {
  const std::size_t m = rows.size(), k = shape.outputs(), d = shape.inputs();
  std::vector<T> inputs(m * d), out(m * k), D(m * k), row_loss(m), targets(m * ky);
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t row = static_cast<std::size_t>(rows[i]);
    std::copy(X + row * d, X + row * d + d, inputs.data() + i * d);
    std::copy(Y + row * ky, Y + row * ky + ky, targets.data() + i * ky);
  }
  mlp_forward(shape, params, inputs.data(), m, out.data(), threads, nonfinite_input);
  if (nonfinite_input && *nonfinite_input) return;
  mlp_detail::output_loss(shape.task, out.data(), targets.data(), ky, m, k, D.data(), row_loss.data());
  double loss = 0.0, correct = 0.0;
  std::vector<double> sum_y(k, 0.0), sum_yy(k, 0.0), sum_res(k, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    loss += static_cast<double>(row_loss[i]);
    const T* p = out.data() + i * k;
    const T* y = targets.data() + i * ky;
    if (shape.task == Task::regression) {
      for (std::size_t h = 0; h < k; ++h) {
        const double yv = static_cast<double>(y[h]), res = yv - static_cast<double>(p[h]);
        sum_y[h] += yv;
        sum_yy[h] += yv * yv;
        sum_res[h] += res * res;
      }
    } else if (shape.task == Task::binary) {
      correct += ((p[0] > T(0)) == (y[0] > T(0))) ? 1.0 : 0.0;
    } else {
      const std::size_t guess = static_cast<std::size_t>(std::max_element(p, p + k) - p);
      correct += guess == static_cast<std::size_t>(y[0]) ? 1.0 : 0.0;
    }
  }
  const double count = static_cast<double>(m);
  *mean_loss = m ? loss / count : 0.0;
  if (shape.task == Task::regression) {
    double r2 = 0.0;
    for (std::size_t h = 0; h < k; ++h) {
      const double mean = sum_y[h] / count;
      const double total = sum_yy[h] - count * mean * mean;
      r2 += total > 0 ? 1.0 - sum_res[h] / total : (sum_res[h] == 0 ? 1.0 : 0.0);
    }
    *score = r2 / static_cast<double>(k);
  } else {
    *score = m ? correct / count : 0.0;
  }
}

// Train the network in `state` (params: shape.size() values) on rows `train` of (X, Y); `valid`
// (possibly empty) is scored after each epoch. The structure is train_linear's: a snapshot at the
// start of each epoch for divergence (rollback to the last finite epoch), the per-epoch SplitMix64
// shuffle, Ctrl-C polling about every 50 ms, tol / n_iter_no_change on the epoch loss or the
// validation score, target_loss, record_every. Settings read: task, batch_size, max_epochs, tol,
// n_iter_no_change, early_stopping, shuffle, seed, alpha (scikit-learn's MLP l2), target_loss,
// record_every, threads. The epoch loss is scikit-learn's loss_curve_ entry: the batches' (mean
// loss + alpha ‖W‖² / (2B)), weighted by their sizes B, over the epoch's rows.
template <class T, class Schedule>
TrainResult train_mlp(const MlpShape& shape, const T* X, const T* Y, std::size_t ky,
                      Rows train, Rows valid, const TrainSettings& s,
                      OptimizerConfig opt, Schedule& schedule, TrainState<T>& state,
                      const Poll& poll) {
  TrainResult result;
  const std::size_t size = shape.size();
  const std::size_t n_train = train.size();
  const std::size_t batch = std::max<std::size_t>(1, std::min(s.batch_size, n_train));
  const auto needed = opt.states_needed();
  const std::size_t n_states = state_count(opt.kind);
  const int threads = resolve_threads(s.threads);

  MlpWorkspace<T> ws(shape, batch, ky);
  // Every step's mlp_gradient writes the part of it that the step reads (see there).
  UninitializedBuffer<T> grad(size);
  // The epoch's order: the training rows themselves, or a shuffled copy of them.
  OrderBuffer shuffled(s.shuffle ? n_train : 0);
  const std::int64_t* order = s.shuffle ? shuffled.data() : train.data();
  EpochSnapshot<T> snapshot(size, 0, n_states, threads);

  auto record_path = [&] {
    result.path.insert(result.path.end(), state.params, state.params + size);
  };
  if (s.record_every > 0) record_path();

  StopRules stop_rules(s);
  PollTimer poll_timer(poll, 256);
  double lr = opt.lr();
  // Each step on `threads` or on this thread, whichever is faster now: the products never split
  // a sum, so the bits are the same (parallel.hpp, TeamChooser).
  std::uint64_t shape_key = batch;
  for (std::size_t width : shape.sizes) shape_key = shape_key * 1000003u + width;
  TeamChooser& chooser = lasting_chooser<struct MlpSteps>(threads, shape_key);

  // The update inside mlp_gradient's backward pass (see there): begin() sets the step's rate and
  // count once the batch's loss is finite; each call updates some ranges of the buffer from the
  // calling thread. Every call starts from the same NAdam momentum product (advanced once per
  // step, after the pass).
  struct FitStep {
    OptimizerConfig* opt;
    Schedule* schedule;
    TrainState<T>* state;
    double* lr;
    T* const* states;
    const T* grad;
    std::size_t size;
    bool begin(double loss) const {
      if (!std::isfinite(loss)) return false;
      *lr = schedule->lr(state->t);
      opt->set_lr(*lr);
      state->opt_step += 1;
      return true;
    }
    void operator()(const std::pair<std::size_t, std::size_t>* ranges, std::size_t count) const {
      double mu_product = state->mu_product;
      optimizer_step<T>(*opt, state->params, grad, states, size, state->opt_step, &mu_product,
                        LocalRanges{ranges, count});
    }
    void segment(std::size_t offset, std::size_t n, const T* g) const {
      T* const shifted[3] = {states[0] ? states[0] + offset : nullptr,
                             states[1] ? states[1] + offset : nullptr,
                             states[2] ? states[2] + offset : nullptr};
      const std::pair<std::size_t, std::size_t> all{0, n};
      double mu_product = state->mu_product;
      optimizer_step<T>(*opt, state->params + offset, g, shifted, n, state->opt_step,
                        &mu_product, LocalRanges{&all, 1});
    }
  };

  for (std::int64_t e = 0; e < s.max_epochs; ++e) {
    snapshot.take(state);

    if (s.shuffle) {
      std::copy(train.begin(), train.end(), shuffled.data());
      SplitMix64 rng = epoch_stream(s.seed, static_cast<std::uint64_t>(state.epoch));
      gdcore::shuffle(shuffled.data(), n_train, rng);
    }
    double loss_sum = 0.0;
    bool diverged = false, interrupted = false;
    // The first epoch checks X as it goes (as train_linear's does): see mlp_forward_rows.
    const bool check_inputs = e == 0;
    bool nonfinite_input = false;
    for (std::size_t begin = 0; begin < n_train; begin += batch) {
      const std::size_t end = std::min(n_train, begin + batch);
      // The optimizer steps inside the backward pass (mlp_gradient's `step`), block by block,
      // once the batch's loss is known to be finite; its rate and step count are set first.
      T* states[3] = {needed[0] ? state.opt_state[0] : nullptr,
                      needed[1] ? state.opt_state[1] : nullptr,
                      needed[2] ? state.opt_state[2] : nullptr};
      const double penalty =
          s.alpha != 0.0 ? 0.5 * s.alpha * mlp_weight_norm2(shape, state.params) : 0.0;
      const FitStep step{&opt, &schedule, &state, &lr, states, grad.data(), size};
      const int team = chooser.next();
      const TeamChooser::Clock::time_point start = TeamChooser::Clock::now();
      const double batch_loss = mlp_gradient<T>(shape, X, Y, ky, order + begin,
                                                end - begin, state.params, s.alpha, grad.data(),
                                                ws, team,
                                                check_inputs ? &nonfinite_input : nullptr, step);
      chooser.done(start, TeamChooser::Clock::now(), static_cast<double>(end - begin), team);
      if (nonfinite_input) {
        result.bad_step = state.t;
        result.bad_lr = lr;
        break;
      }
      if (!std::isfinite(batch_loss)) {
        diverged = true;
        result.bad_step = state.t;
        result.bad_lr = lr;
        break;
      }
      loss_sum += batch_loss + penalty;
      // NAdam's momentum product advances once per step: a step over no elements does that.
      optimizer_step<T>(opt, state.params, grad.data(), states, 0, state.opt_step,
                        &state.mu_product, 1);
      state.t += 1;
      if (s.record_every > 0 && state.t % s.record_every == 0) record_path();
      if (poll_timer.stop_after(end - begin)) {
        interrupted = true;
        break;
      }
    }
    const Status outcome =
        epoch_outcome(interrupted, nonfinite_input, diverged, snapshot, state, size, lr, result);
    if (outcome != Status::max_epochs) {
      result.status = outcome;
      break;
    }

    state.epoch += 1;
    result.epochs += 1;
    const double epoch_loss = loss_sum / static_cast<double>(n_train);
    result.loss.push_back(epoch_loss);
    result.lr.push_back(lr);
    double vloss = 0.0, vscore = 0.0;
    if (!valid.empty()) {
      mlp_evaluate(shape, X, Y, ky, valid, state.params, threads, &vloss, &vscore,
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
