// Built-in test functions for minimize: value and analytic gradient in one pass.
//
// Each function is a stateless struct (its constants are members) with
//   T operator()(const T* x, std::size_t n, T* grad) const   // returns f(x), writes ∇f(x)
// so the minimize loop takes it as a template parameter: no virtual call per evaluation. Sums run
// in index order starting from 0 and every expression is written in the order the NumPy twin
// (src/gdcore/reference/functions.py, same names) repeats, so the two agree bit for bit.
//
// Known minimizers (checked by the tests):
//   quadratic   ½ Σ λ_i y_i², y = Rᵀx            min 0 at the origin
//   rosenbrock  Σ b (x_{i+1} - x_i²)² + (a - x_i)²   min 0 at (1, …, 1) for a = 1; (a, a²) in 2-D
//               (for n ≥ 4 there is also a local minimum near (-1, 1, …, 1))
//   beale       min 0 at (3, 0.5)
//   himmelblau  min 0 at (3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)
//   booth       min 0 at (1, 3)
//   saddle      x² - y²: no minimum (unbounded below); a saddle point at the origin
//   rastrigin   A n + Σ (x_i² - A cos(2π x_i))   min 0 at the origin, local minima near integers
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace gdcore {

namespace detail {
constexpr double kFunctionPi = 3.14159265358979323846;  // == Python's math.pi
}  // namespace detail

// Quadratic bowl f = ½ Σ λ_i y_i² with y = Rᵀx: eigenvalues λ_i = condition^(i / (n - 1)) spread
// geometrically from 1 to `condition` (λ = 1 in 1-D), and R the rotation by `angle` degrees in
// the plane of the first two coordinates (the identity elsewhere). Its gradient is R (λ ⊙ y).
//   y0 = c x0 + s x1,  y1 = c x1 - s x0,  y_i = x_i (i ≥ 2)
//   g0 = c λ0 y0 - s λ1 y1,  g1 = s λ0 y0 + c λ1 y1,  g_i = λ_i x_i
struct Quadratic {
  double condition = 10.0;
  double angle = 0.0;  // degrees

  static double eigenvalue(double condition, std::size_t i, std::size_t n) {
    if (n < 2) return 1.0;
    return std::pow(condition, static_cast<double>(i) / static_cast<double>(n - 1));
  }

  template <class T>
  T operator()(const T* x, std::size_t n, T* g) const {
    const double theta = angle * (detail::kFunctionPi / 180.0);
    const T c = T(std::cos(theta)), s = T(std::sin(theta));
    const T half = T(0.5);
    T f = T(0);
    std::size_t i = 0;
    if (n >= 2) {
      const T l0 = T(eigenvalue(condition, 0, n)), l1 = T(eigenvalue(condition, 1, n));
      const T y0 = c * x[0] + s * x[1];
      const T y1 = c * x[1] - s * x[0];
      const T ly0 = l0 * y0, ly1 = l1 * y1;
      f = f + half * (ly0 * y0);
      f = f + half * (ly1 * y1);
      g[0] = c * ly0 - s * ly1;
      g[1] = s * ly0 + c * ly1;
      i = 2;
    }
    for (; i < n; ++i) {
      const T li = T(eigenvalue(condition, i, n));
      const T lx = li * x[i];
      f = f + half * (lx * x[i]);
      g[i] = lx;
    }
    return f;
  }
};

// Rosenbrock's banana, chained over n ≥ 2 coordinates:
//   f = Σ_{i<n-1} b (x_{i+1} - x_i²)² + (a - x_i)²
//   g_i = [-4b x_i (x_{i+1} - x_i²) - 2 (a - x_i)]_{i<n-1} + [2b (x_i - x_{i-1}²)]_{i>0}
struct Rosenbrock {
  double a = 1.0;
  double b = 100.0;

  template <class T>
  T operator()(const T* x, std::size_t n, T* g) const {
    const T ta = T(a), tb = T(b), neg4b = T(-4.0 * b), two = T(2), twob = T(2.0 * b);
    T f = T(0);
    for (std::size_t i = 0; i < n; ++i) g[i] = T(0);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const T d = x[i + 1] - x[i] * x[i];
      const T e = ta - x[i];
      f = f + (tb * (d * d) + e * e);
      g[i] = g[i] + ((neg4b * x[i]) * d - two * e);
      g[i + 1] = g[i + 1] + twob * d;
    }
    return f;
  }
};

// Beale: f = t1² + t2² + t3² with t_k = c_k - x + x y^k, c = (1.5, 2.25, 2.625).
//   ∂f/∂x = 2 t1 (y - 1) + 2 t2 (y² - 1) + 2 t3 (y³ - 1)
//   ∂f/∂y = 2 t1 x + 2 t2 (2 x y) + 2 t3 (3 x y²)
struct Beale {
  template <class T>
  T operator()(const T* p, std::size_t, T* g) const {
    const T x = p[0], y = p[1], one = T(1), two = T(2), three = T(3);
    const T y2 = y * y, y3 = y2 * y;
    const T t1 = (T(1.5) - x) + x * y;
    const T t2 = (T(2.25) - x) + x * y2;
    const T t3 = (T(2.625) - x) + x * y3;
    g[0] = ((two * t1) * (y - one) + (two * t2) * (y2 - one)) + (two * t3) * (y3 - one);
    g[1] = ((two * t1) * x + (two * t2) * ((two * x) * y)) + (two * t3) * ((three * x) * y2);
    return (t1 * t1 + t2 * t2) + t3 * t3;
  }
};

// Himmelblau: f = u² + v², u = x² + y - 11, v = x + y² - 7.
//   ∂f/∂x = 4 u x + 2 v,  ∂f/∂y = 2 u + 4 v y
struct Himmelblau {
  template <class T>
  T operator()(const T* p, std::size_t, T* g) const {
    const T x = p[0], y = p[1], two = T(2), four = T(4);
    const T u = (x * x + y) - T(11);
    const T v = (x + y * y) - T(7);
    g[0] = (four * u) * x + two * v;
    g[1] = two * u + (four * v) * y;
    return u * u + v * v;
  }
};

// Booth: f = u² + v², u = x + 2y - 7, v = 2x + y - 5.   ∇f = (2u + 4v, 4u + 2v)
struct Booth {
  template <class T>
  T operator()(const T* p, std::size_t, T* g) const {
    const T x = p[0], y = p[1], two = T(2), four = T(4);
    const T u = (x + two * y) - T(7);
    const T v = (two * x + y) - T(5);
    g[0] = two * u + four * v;
    g[1] = four * u + two * v;
    return u * u + v * v;
  }
};

// The saddle f = x² - y², ∇f = (2x, -2y).
struct Saddle {
  template <class T>
  T operator()(const T* p, std::size_t, T* g) const {
    const T x = p[0], y = p[1], two = T(2);
    g[0] = two * x;
    g[1] = -(two * y);
    return x * x - y * y;
  }
};

// Rastrigin: f = A n + Σ (x_i² - A cos(2π x_i)),  g_i = 2 x_i + 2πA sin(2π x_i).
// cos and sin are taken in double (the C library's, as Python's math module) and rounded to T.
struct Rastrigin {
  double A = 10.0;

  template <class T>
  T operator()(const T* x, std::size_t n, T* g) const {
    const T two_pi = T(2.0 * detail::kFunctionPi), ta = T(A), two = T(2);
    const T two_pi_a = T(2.0 * detail::kFunctionPi * A);
    T s = T(0);
    for (std::size_t i = 0; i < n; ++i) {
      const double arg = static_cast<double>(two_pi * x[i]);
      const T cs = T(std::cos(arg)), sn = T(std::sin(arg));
      s = s + (x[i] * x[i] - ta * cs);
      g[i] = two * x[i] + two_pi_a * sn;
    }
    return T(A * static_cast<double>(n)) + s;
  }
};

// ---------------------------------------------------------------------------------------------
// One built-in chosen at run time, dispatched once to its struct.

enum class FunctionKind { quadratic, rosenbrock, beale, himmelblau, booth, saddle, rastrigin };

inline FunctionKind function_from_name(const std::string& name) {
  if (name == "quadratic") return FunctionKind::quadratic;
  if (name == "rosenbrock") return FunctionKind::rosenbrock;
  if (name == "beale") return FunctionKind::beale;
  if (name == "himmelblau") return FunctionKind::himmelblau;
  if (name == "booth") return FunctionKind::booth;
  if (name == "saddle") return FunctionKind::saddle;
  if (name == "rastrigin") return FunctionKind::rastrigin;
  throw std::invalid_argument("unknown function '" + name +
                              "'; expected quadratic, rosenbrock, beale, himmelblau, booth, "
                              "saddle or rastrigin");
}

// The settings of every built-in; only the chosen kind's are read.
struct FunctionSpec {
  FunctionKind kind = FunctionKind::quadratic;
  Quadratic quadratic;
  Rosenbrock rosenbrock;
  Rastrigin rastrigin;
};

// Smallest and largest dimension a built-in accepts (0: any).
inline std::size_t function_min_dim(FunctionKind kind) {
  switch (kind) {
    case FunctionKind::quadratic: return 1;
    case FunctionKind::rastrigin: return 1;
    default: return 2;
  }
}
inline std::size_t function_max_dim(FunctionKind kind) {
  switch (kind) {
    case FunctionKind::quadratic:
    case FunctionKind::rosenbrock:
    case FunctionKind::rastrigin: return 0;
    default: return 2;
  }
}

// Call f(fn) with the concrete struct of the chosen built-in.
template <class F>
decltype(auto) with_function(const FunctionSpec& spec, F&& f) {
  switch (spec.kind) {
    case FunctionKind::quadratic: return f(spec.quadratic);
    case FunctionKind::rosenbrock: return f(spec.rosenbrock);
    case FunctionKind::beale: return f(Beale{});
    case FunctionKind::himmelblau: return f(Himmelblau{});
    case FunctionKind::booth: return f(Booth{});
    case FunctionKind::saddle: return f(Saddle{});
    case FunctionKind::rastrigin: return f(spec.rastrigin);
  }
  return f(spec.quadratic);
}

// Values (m) and gradients (m × n) of a built-in at m points (rows of x, m × n).
template <class T>
void evaluate_function(const FunctionSpec& spec, const T* x, std::size_t m, std::size_t n,
                       T* values, T* grads) {
  with_function(spec, [&](const auto& fn) {
    for (std::size_t r = 0; r < m; ++r) values[r] = fn(x + r * n, n, grads + r * n);
  });
}

}  // namespace gdcore
