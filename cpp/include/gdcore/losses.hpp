// Loss functions of the linear trainer and their derivatives with respect to the prediction.
//
// A loss is a stateless struct used as a template parameter (no virtual call per sample):
//
//   struct SomeLoss {
//     static constexpr bool kClassifier;        // labels y in {-1, +1}; else y is a real target
//     double parameter;                          // hyperparameters as double, cast to T inside
//     template <class T> T loss(T p, T y) const;   // L(p, y)
//     template <class T> T dloss(T p, T y) const;  // dL/dp
//   };
//
// Names, definitions and the side taken at each kink follow scikit-learn's SGD losses
// (sklearn/linear_model/_sgd_fast.pyx.tp and, for squared_error, huber and log_loss,
// sklearn/_loss/_loss.pyx.tp), written with the same operations in the same order, so a double
// computed here equals scikit-learn's. Everything is computed in the array's own precision T.
// The NumPy twin of every kernel here lives in src/gdcore/reference/losses.py under the same name.
//
// Notation: p prediction (w·x + b), y target or label, z = p y the margin, r = p - y the residual.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "parallel.hpp"
#include "simd.hpp"
#include "vmath.hpp"

namespace gdcore {

// ---------------------------------------------------------------------------------------------
// Regression losses

// L = ½ (p - y)²        dL/dp = p - y
struct SquaredError {
  static constexpr bool kClassifier = false;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    return T(0.5) * (p - y) * (p - y);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    return p - y;
  }
};

// a = |y - p|
// L = ½ a²                 if a <= epsilon      dL/dp = r                      if |r| <= epsilon
//   = epsilon (a - ½ epsilon) otherwise                = epsilon sign(r)        otherwise
// At |r| = epsilon both pieces agree (value and slope); the quadratic side is the one taken.
struct Huber {
  static constexpr bool kClassifier = false;
  double epsilon = 0.1;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T eps = T(epsilon);
    const T a = std::fabs(y - p);
    return a <= eps ? T(0.5) * (a * a) : eps * (a - T(0.5) * eps);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T eps = T(epsilon);
    const T r = p - y;
    if (std::fabs(r) <= eps) return r;
    return r >= T(0) ? eps : -eps;
  }
};

// L = max(0, |y - p| - epsilon)
// dL/dp = -1 if y - p > epsilon, +1 if p - y > epsilon, else 0: the flat side is taken at
// |r| = epsilon (strict inequalities, as scikit-learn).
struct EpsilonInsensitive {
  static constexpr bool kClassifier = false;
  double epsilon = 0.1;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T excess = std::fabs(y - p) - T(epsilon);
    return excess > T(0) ? excess : T(0);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T eps = T(epsilon);
    if (y - p > eps) return T(-1);
    if (p - y > eps) return T(1);
    return T(0);
  }
};

// L = max(0, |y - p| - epsilon)²
// with d = y - p: dL/dp = -2 (d - epsilon) if d > epsilon, 2 (-d - epsilon) if d < -epsilon,
// else 0 (both sides give 0 at the kink).
struct SquaredEpsilonInsensitive {
  static constexpr bool kClassifier = false;
  double epsilon = 0.1;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T excess = std::fabs(y - p) - T(epsilon);
    return excess > T(0) ? excess * excess : T(0);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T eps = T(epsilon);
    const T d = y - p;
    if (d > eps) return T(-2) * (d - eps);
    if (d < -eps) return T(2) * (-d - eps);
    return T(0);
  }
};

// ---------------------------------------------------------------------------------------------
// Classification losses (y in {-1, +1}; other values are used as they are, as scikit-learn does)

// L = log(1 + exp(-z)), z = p y
//   evaluated as log1p(exp(-|z|)) + max(-z, 0): exp never sees a positive argument, so no
//   margin overflows (|z| = 1e4 gives 0 or |z| in float32 and float64), and log1p keeps full
//   relative precision where the loss is tiny (z large), unlike log(1 + e).
// dL/dp = -y / (1 + exp(z)) = -y s, s = sigmoid(-z)
//   evaluated as s = e / (1 + e) for z >= 0 and 1 / (1 + e) for z < 0, e = exp(-|z|).
// scikit-learn's HalfBinomialLoss (labels 0/1) is the same function of (p, 2y - 1); it cuts over to
// asymptotic forms at fixed margins and loses relative precision in the loss for large positive
// margins (it subtracts y p from log1pexp(p)); gdcore has no cut-offs.
// exp and log1p are gdcore's own (vmath.hpp, within 2-3 ulp) so that loops over samples vectorize;
// the twin computes them the same way (reference/vmath.py), bit for bit.
struct LogLoss {
  static constexpr bool kClassifier = true;
  // The loss is finite exactly when z = p y is (log1p of e^-|z| in (0, 1], plus max(-z, 0)), so
  // a stochastic step may check that instead and compute the value later, for 16 rows at once
  // (see StochasticSgdStep): its exp and log1p then leave the step's chain of dependencies.
  static constexpr bool kDeferrableLoss = true;
  template <class T>
  GDCORE_INLINE static bool loss_finite(T p, T y) {
    return std::isfinite(p * y);
  }
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T z = p * y;
    const T e = exp_nonpositive(-std::fabs(z));
    const T neg_z = -z;
    return log1p_unit(e) + (neg_z > T(0) ? neg_z : T(0));
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T z = p * y;
    const T e = exp_nonpositive(-std::fabs(z));
    const T s = (z >= T(0) ? e : T(1)) / (T(1) + e);
    return -y * s;
  }
};

// L = threshold - z if z <= threshold, else 0      dL/dp = -y if z <= threshold, else 0
// The kink z = threshold counts as active (gradient -y), as in scikit-learn.
struct Hinge {
  static constexpr bool kClassifier = true;
  double threshold = 1.0;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T t = T(threshold);
    const T z = p * y;
    return z <= t ? t - z : T(0);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T z = p * y;
    return z <= T(threshold) ? -y : T(0);
  }
};

// m = threshold - z
// L = m² if m > 0, else 0      dL/dp = -2 y m if m > 0, else 0 (0 at the kink from both sides)
struct SquaredHinge {
  static constexpr bool kClassifier = true;
  double threshold = 1.0;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T m = T(threshold) - p * y;
    return m > T(0) ? m * m : T(0);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T m = T(threshold) - p * y;
    return m > T(0) ? T(-2) * y * m : T(0);
  }
};

// L = 0 if z >= 1, (1 - z)² if -1 <= z < 1, -4 z if z < -1
// dL/dp = 0, 2 (1 - z) (-y), -4 y on the same pieces; the loss is continuously differentiable, so
// the sides taken at z = ±1 (z >= 1 flat, z = -1 quadratic, as scikit-learn) agree.
struct ModifiedHuber {
  static constexpr bool kClassifier = true;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T z = p * y;
    if (z >= T(1)) return T(0);
    if (z >= T(-1)) return (T(1) - z) * (T(1) - z);
    return T(-4) * z;
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T z = p * y;
    if (z >= T(1)) return T(0);
    if (z >= T(-1)) return T(2) * (T(1) - z) * -y;
    return T(-4) * y;
  }
};

// Hinge with threshold 0: L = -z if z <= 0 (written 0 - z, so L(0) is +0), dL/dp = -y if z <= 0.
// A zero margin counts as a mistake, so training from w = 0 moves.
struct Perceptron {
  static constexpr bool kClassifier = true;
  template <class T>
  GDCORE_INLINE T loss(T p, T y) const {
    const T z = p * y;
    return z <= T(0) ? T(0) - z : T(0);
  }
  template <class T>
  GDCORE_INLINE T dloss(T p, T y) const {
    const T z = p * y;
    return z <= T(0) ? -y : T(0);
  }
};

// ---------------------------------------------------------------------------------------------
// Choosing a loss at run time: one switch per fit, then templates.

enum class LossKind {
  squared_error,
  huber,
  epsilon_insensitive,
  squared_epsilon_insensitive,
  log_loss,
  hinge,
  squared_hinge,
  modified_huber,
  perceptron,
};

struct LossName {
  const char* name;
  LossKind kind;
  bool classifier;
};

// scikit-learn's names, in LossKind's order.
inline constexpr std::array<LossName, 9> kLossNames{{
    {"squared_error", LossKind::squared_error, SquaredError::kClassifier},
    {"huber", LossKind::huber, Huber::kClassifier},
    {"epsilon_insensitive", LossKind::epsilon_insensitive, EpsilonInsensitive::kClassifier},
    {"squared_epsilon_insensitive", LossKind::squared_epsilon_insensitive,
     SquaredEpsilonInsensitive::kClassifier},
    {"log_loss", LossKind::log_loss, LogLoss::kClassifier},
    {"hinge", LossKind::hinge, Hinge::kClassifier},
    {"squared_hinge", LossKind::squared_hinge, SquaredHinge::kClassifier},
    {"modified_huber", LossKind::modified_huber, ModifiedHuber::kClassifier},
    {"perceptron", LossKind::perceptron, Perceptron::kClassifier},
}};

inline const char* loss_name(LossKind kind) {
  for (const LossName& entry : kLossNames)
    if (entry.kind == kind) return entry.name;
  return "?";
}

inline LossKind loss_from_name(const std::string& name) {
  std::string valid;
  for (const LossName& entry : kLossNames) {
    if (name == entry.name) return entry.kind;
    valid += valid.empty() ? "" : ", ";
    valid += entry.name;
  }
  throw std::invalid_argument("unknown loss '" + name + "'; valid names: " + valid);
}

// Call f(Loss{...}) with the concrete loss struct. epsilon is read by huber, epsilon_insensitive
// and squared_epsilon_insensitive; hinge and squared_hinge get scikit-learn's threshold 1.
template <class F>
void with_loss(LossKind kind, double epsilon, F&& f) {
  switch (kind) {
    case LossKind::squared_error: f(SquaredError{}); return;
    case LossKind::huber: f(Huber{epsilon}); return;
    case LossKind::epsilon_insensitive: f(EpsilonInsensitive{epsilon}); return;
    case LossKind::squared_epsilon_insensitive: f(SquaredEpsilonInsensitive{epsilon}); return;
    case LossKind::log_loss: f(LogLoss{}); return;
    case LossKind::hinge: f(Hinge{1.0}); return;
    case LossKind::squared_hinge: f(SquaredHinge{1.0}); return;
    case LossKind::modified_huber: f(ModifiedHuber{}); return;
    case LossKind::perceptron: f(Perceptron{}); return;
  }
  throw std::invalid_argument("unknown LossKind " + std::to_string(static_cast<int>(kind)));
}

// ---------------------------------------------------------------------------------------------
// Multi-output losses: one row of k values per sample.

// L = -log softmax(x)[label] = (m - x[label]) + log Σ_j exp(x[j] - m),  m = max_j x[j]
// dL/dx[j] = exp(x[j] - m) / Σ - [j == label]
// Every exponent is <= 0 and the sum is >= 1, so logits of any size stay finite. The sum runs
// j = 0, 1, ..., k-1 in order (the twin sums columns in the same order). exp and log are
// vmath.hpp's (exp_nonpositive flushes terms below e^-708, e^-87 in float, to 0), as in the
// log loss: the twin computes them the same way. Needs k >= 1 and label < k (checked by the
// callers).
struct SoftmaxCrossEntropy {
  template <class T>
  T loss_grad(const T* logits, std::size_t k, std::size_t label, T* dlogits) const {
    T m = logits[0];
    for (std::size_t j = 1; j < k; ++j)
      if (logits[j] > m) m = logits[j];
    T sum = T(0);
    for (std::size_t j = 0; j < k; ++j) {
      const T e = exp_nonpositive(logits[j] - m);
      dlogits[j] = e;
      sum = sum + e;
    }
    for (std::size_t j = 0; j < k; ++j) dlogits[j] = dlogits[j] / sum;
    dlogits[label] = dlogits[label] - T(1);
    return (m - logits[label]) + log_at_least_one(sum);
  }
};

// L = ½ Σ_j (p[j] - y[j])²  (summed j = 0..k-1 in order)      dL/dp[j] = p[j] - y[j]
struct MultiSquaredError {
  template <class T>
  T loss_grad(const T* p, const T* y, std::size_t k, T* d) const {
    T sum = T(0);
    for (std::size_t j = 0; j < k; ++j) {
      const T r = p[j] - y[j];
      d[j] = r;
      sum = sum + r * r;
    }
    return T(0.5) * sum;
  }
};

// ---------------------------------------------------------------------------------------------
// Array kernels over n samples. Each element (or row) is computed by one thread with the same
// operations, and nothing is reduced across samples, so results do not depend on the thread count.

// Elements per thread below which waking a second thread does not pay for losses that call
// exp/log1p. log_loss costs about 30 ns an element on the 2-core EPYC (glibc exp + log1p), so
// 2048 elements (about 60 us) per thread repay even a sleeping thread's wake-up (about 50 us);
// measured (medians, machine shared with other builds): 4096 elements take 86-118 us on one
// thread and 65-74 us on two; 2048 take the same on one or two.
inline constexpr std::size_t kMinTranscendentalPerThread = std::size_t{1} << 11;

template <class Loss>
constexpr std::size_t min_elements_per_thread() {
  return std::is_same_v<Loss, LogLoss> ? kMinTranscendentalPerThread : kMinElementsPerThread;
}

template <class Loss, class T>
struct LossValuesBody {
  Loss loss;
  const T* p;
  const T* y;
  T* out_loss;
  T* out_dloss;

  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    const T* __restrict ps = p;
    const T* __restrict ys = y;
    T* __restrict ls = out_loss;
    T* __restrict ds = out_dloss;
#pragma omp simd
    for (std::size_t i = begin; i < end; ++i) {
      ls[i] = loss.template loss<T>(ps[i], ys[i]);
      ds[i] = loss.template dloss<T>(ps[i], ys[i]);
    }
  }
};

// out_loss[i] = L(p[i], y[i]), out_dloss[i] = dL/dp(p[i], y[i]) for i < n. Outputs must not
// overlap the inputs or each other.
template <class T>
void loss_values(LossKind kind, double epsilon, const T* p, const T* y, std::size_t n,
                 T* out_loss, T* out_dloss, int threads = 0) {
  with_loss(kind, epsilon, [&](auto loss) {
    using Loss = decltype(loss);
    LossValuesBody<Loss, T> body{loss, p, y, out_loss, out_dloss};
    parallel_for_dispatched(n, threads, body, min_elements_per_thread<Loss>());
  });
}

template <class T>
struct SoftmaxBody {
  const T* logits;
  const std::int64_t* labels;
  std::size_t k;
  T* out_loss;
  T* out_dlogits;

  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    const SoftmaxCrossEntropy ce;
    for (std::size_t i = begin; i < end; ++i)
      out_loss[i] = ce.loss_grad(logits + i * k, k, static_cast<std::size_t>(labels[i]),
                                 out_dlogits + i * k);
  }
};

// Row-wise softmax cross-entropy: logits and out_dlogits are n x k (C order), labels in [0, k).
template <class T>
void softmax_loss_grad(const T* logits, const std::int64_t* labels, std::size_t n, std::size_t k,
                       T* out_loss, T* out_dlogits, int threads = 0) {
  if (n == 0) return;
  SoftmaxBody<T> body{logits, labels, k, out_loss, out_dlogits};
  parallel_for_dispatched(n, threads, body,
                          std::max<std::size_t>(1, kMinTranscendentalPerThread / std::max<std::size_t>(k, 1)));
}

template <class T>
struct MultiSquaredBody {
  const T* p;
  const T* y;
  std::size_t k;
  T* out_loss;
  T* out_d;

  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    const MultiSquaredError se;
    for (std::size_t i = begin; i < end; ++i)
      out_loss[i] = se.loss_grad(p + i * k, y + i * k, k, out_d + i * k);
  }
};

// Row-wise ½ Σ (p - y)²: p, y and out_d are n x k (C order).
template <class T>
void multi_squared_loss_grad(const T* p, const T* y, std::size_t n, std::size_t k, T* out_loss,
                             T* out_d, int threads = 0) {
  MultiSquaredBody<T> body{p, y, k, out_loss, out_d};
  parallel_for_dispatched(n, threads, body,
                          std::max<std::size_t>(1, kMinElementsPerThread / std::max<std::size_t>(k, 1)));
}

}  // namespace gdcore
