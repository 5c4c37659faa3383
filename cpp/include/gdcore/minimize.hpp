// minimize: gradient descent on a function of a point, with any gdcore optimizer.
//
// The loop, with x₀ the start and t counting updates (the NumPy twin, reference/minimize.py,
// repeats it step for step):
//   f, g = objective(x₀);  stop (converged) if ‖g‖ <= tol
//   for t = 1 … max_iter:
//     lr = schedule.lr(t - 1);  x = optimizer_step(x, g)             (state carried over)
//     x not finite                   -> diverged, x goes back to the previous point
//     f, g = objective(x); not finite -> diverged, x goes back to the previous point
//     record x and f;  schedule.observe(f)
//     stop (converged) if ‖g‖ <= tol
// ‖g‖ is the Euclidean norm summed in double in index order (scaled where squares overflow).
// The objective is a template parameter: a built-in (functions.hpp) costs no call through a
// pointer; the binding's Python callback is another objective. Ctrl-C is polled about every
// 50 ms.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "functions.hpp"
#include "optimizers.hpp"

namespace gdcore {

struct MinimizeSettings {
  std::int64_t max_iter = 1000;
  double tol = 1e-6;  // on the gradient norm; a negative value never stops early
  bool record = true;
};

enum class MinimizeStatus { converged, max_iter, diverged, interrupted };

// Why a divergence was declared: the point, the value or the gradient stopped being finite.
enum class Nonfinite { none, point, value, gradient };

template <class T>
struct MinimizeResult {
  std::vector<T> path;          // (n_iter + 1) × n when recorded, x₀ first
  std::vector<double> losses;   // n_iter + 1 when recorded
  std::vector<T> grad;          // ∇f at the returned point
  double fun = 0.0;             // f at the returned point
  double grad_norm = 0.0;
  std::int64_t n_iter = 0;      // updates kept
  MinimizeStatus status = MinimizeStatus::max_iter;
  std::int64_t bad_step = -1;   // the update whose result was not finite (0: the start)
  double bad_lr = 0.0;
  Nonfinite bad = Nonfinite::none;
};

// A built-in as an objective: never asks to stop.
template <class Fn>
struct BuiltinObjective {
  Fn fn;
  template <class T>
  bool operator()(const T* x, std::size_t n, T* grad, T* value) const {
    *value = fn(x, n, grad);
    return true;
  }
};

// A finite gradient whose squares overflow (components past 1e154) is summed again scaled by
// its largest component, so its norm is finite when it is below the largest double.
template <class T>
double gradient_norm(const T* g, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(g[i]);
    s += v * v;
  }
  if (!std::isinf(s)) return std::sqrt(s);
  double largest = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    largest = std::max(largest, std::fabs(static_cast<double>(g[i])));
  if (std::isinf(largest)) return largest;
  double scaled = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(g[i]) / largest;
    scaled += v * v;
  }
  return largest * std::sqrt(scaled);
}

// Called between updates about every 50 ms; true stops the loop (Ctrl-C).
using MinimizePoll = std::function<bool()>;

// Minimize from x[0:n] (updated in place to the returned point). `objective(x, n, g, &f)`
// returns false to stop the loop (status interrupted). `opt` carries the optimizer; its learning
// rate is replaced at every update by `schedule.lr(t - 1)`.
template <class T, class Objective, class Schedule>
MinimizeResult<T> minimize(Objective& objective, T* x, std::size_t n, const MinimizeSettings& s,
                           OptimizerConfig opt, Schedule& schedule, const MinimizePoll& poll) {
  using Clock = std::chrono::steady_clock;
  MinimizeResult<T> r;
  std::vector<T> g(n), previous(x, x + n), previous_g(n);
  const auto needed = opt.states_needed();
  std::vector<T> states[3];
  T* state_ptrs[3] = {nullptr, nullptr, nullptr};
  for (int i = 0; i < 3; ++i) {
    if (!needed[i]) continue;
    const T init = opt.kind == OptimizerKind::adagrad ? T(opt.adagrad.initial_accumulator_value)
                                                      : T(0);
    states[i].assign(n, init);
    state_ptrs[i] = states[i].data();
  }
  double mu_product = 1.0;

  auto finite_all = [](const T* v, std::size_t len) {
    for (std::size_t i = 0; i < len; ++i)
      if (!std::isfinite(v[i])) return false;
    return true;
  };

  T f = T(0);
  if (!objective(x, n, g.data(), &f)) {
    r.status = MinimizeStatus::interrupted;
    return r;
  }
  if (!std::isfinite(f) || !finite_all(g.data(), n)) {
    r.status = MinimizeStatus::diverged;
    r.bad_step = 0;
    r.bad = std::isfinite(f) ? Nonfinite::gradient : Nonfinite::value;
    r.fun = static_cast<double>(f);
    r.grad = g;
    return r;
  }
  if (s.record) {
    r.path.insert(r.path.end(), x, x + n);
    r.losses.push_back(static_cast<double>(f));
  }
  double norm = gradient_norm(g.data(), n);
  if (norm <= s.tol) r.status = MinimizeStatus::converged;

  auto last_poll = Clock::now();
  std::size_t since_clock = 0;
  for (std::int64_t t = 1; t <= s.max_iter && r.status != MinimizeStatus::converged; ++t) {
    const double lr = schedule.lr(t - 1);
    opt.set_lr(lr);
    std::copy(x, x + n, previous.begin());
    std::copy(g.begin(), g.end(), previous_g.begin());
    const T previous_f = f;
    optimizer_step<T>(opt, x, g.data(), state_ptrs, n, t, &mu_product, 1);
    Nonfinite bad = Nonfinite::none;
    bool stop = false;
    if (!finite_all(x, n)) {
      bad = Nonfinite::point;
    } else if (!objective(x, n, g.data(), &f)) {
      stop = true;
    } else if (!std::isfinite(f)) {
      bad = Nonfinite::value;
    } else if (!finite_all(g.data(), n)) {
      bad = Nonfinite::gradient;
    }
    if (stop || bad != Nonfinite::none) {
      std::copy(previous.begin(), previous.end(), x);
      std::copy(previous_g.begin(), previous_g.end(), g.begin());
      f = previous_f;
      if (stop) {
        r.status = MinimizeStatus::interrupted;
      } else {
        r.status = MinimizeStatus::diverged;
        r.bad = bad;
        r.bad_step = t;
        r.bad_lr = lr;
      }
      break;
    }
    r.n_iter = t;
    if (s.record) {
      r.path.insert(r.path.end(), x, x + n);
      r.losses.push_back(static_cast<double>(f));
    }
    schedule.observe(static_cast<double>(f));
    norm = gradient_norm(g.data(), n);
    if (norm <= s.tol) r.status = MinimizeStatus::converged;
    // Look at the clock after about 64k coordinates of work: often enough for a large point,
    // rarely enough that a 2-D built-in (a few ns per update) does not pay for it.
    since_clock += n + 64;
    if (since_clock >= (std::size_t{1} << 16)) {
      since_clock = 0;
      const auto now = Clock::now();
      if (now - last_poll > std::chrono::milliseconds(50)) {
        last_poll = now;
        if (poll && poll()) {
          r.status = MinimizeStatus::interrupted;
          break;
        }
      }
    }
  }
  r.fun = static_cast<double>(f);
  r.grad = g;
  r.grad_norm = gradient_norm(g.data(), n);
  return r;
}

}  // namespace gdcore
