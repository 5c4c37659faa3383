// PLACEHOLDER until the losses work lands: only squared_error, hinge and softmax.
#pragma once
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include "simd.hpp"
namespace gdcore {
struct SquaredError {
  template <class T> GDCORE_INLINE T loss(T p, T y) const { T r = p - y; return T(0.5) * r * r; }
  template <class T> GDCORE_INLINE T dloss(T p, T y) const { return p - y; }
};
struct Hinge {
  double threshold = 1.0;
  template <class T> GDCORE_INLINE T loss(T p, T y) const { T z = p * y; return z <= T(threshold) ? T(threshold) - z : T(0); }
  template <class T> GDCORE_INLINE T dloss(T p, T y) const { T z = p * y; return z <= T(threshold) ? -y : T(0); }
};
enum class LossKind { squared_error, hinge, log_loss };
inline LossKind loss_from_name(const std::string& n) { if (n == "squared_error") return LossKind::squared_error; if (n=="hinge") return LossKind::hinge; throw std::invalid_argument("loss"); }
template <class F> void with_loss(LossKind k, double, F&& f) { if (k == LossKind::hinge) f(Hinge{}); else f(SquaredError{}); }
struct SoftmaxCrossEntropy {
  template <class T> T loss_grad(const T* z, std::size_t k, std::size_t label, T* dz) const {
    T m = z[0]; for (std::size_t i = 1; i < k; ++i) m = z[i] > m ? z[i] : m;
    T s = T(0); for (std::size_t i = 0; i < k; ++i) { dz[i] = std::exp(z[i] - m); s = s + dz[i]; }
    for (std::size_t i = 0; i < k; ++i) dz[i] = dz[i] / s;
    dz[label] = dz[label] - T(1);
    return std::log(s) - (z[label] - m);
  }
};
}
