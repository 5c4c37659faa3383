// Learning-rate schedules: lr(t) for the t-th update (t = updates completed so far, 0 first).
//
// A schedule is asked once per optimizer step, never per sample, so a virtual call is fine here;
// the C++ training loop holds a std::unique_ptr<Schedule> and calls lr(t) before each update.
// Every closed form below is written with the same order of operations as its twin in
// torch.optim.lr_scheduler (`_get_closed_form_lr`) or scikit-learn (`_sgd_fast.pyx.tp`), so the
// same hyperparameters give the same doubles. The Python twin of each class lives in
// src/gdcore/reference/schedules.py under the same name.
//
// Hyperparameters are validated by the Python layer; the constructors guard again with
// std::invalid_argument (pybind11 turns it into ValueError) so a C++ caller cannot build a
// schedule that returns NaN.
//
// A schedule's mutable state (only ReduceLROnPlateau has any, and Warmup forwards its inner
// one) is read and restored with state()/set_state(); spec() returns the constructor arguments,
// and make_schedule(spec) rebuilds the same schedule, so a fit can be checkpointed and resumed
// bit-identically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gdcore {

// The constructor arguments of a schedule: its kind, its real and integer hyperparameters in
// constructor order, and the inner schedule's spec for Warmup.
struct ScheduleSpec {
  std::string kind;
  std::vector<double> reals;
  std::vector<std::int64_t> integers;
  std::vector<ScheduleSpec> inner;  // empty, or one element (Warmup)
};

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The learning rate of update t (t >= 0; the callers check).
  virtual double lr(std::int64_t t) const = 0;
  // A metric measured after an update (ReduceLROnPlateau reacts; the others ignore it).
  virtual void observe(double /*metric*/) {}
  virtual std::unique_ptr<Schedule> clone() const = 0;
  virtual ScheduleSpec spec() const = 0;
  virtual std::vector<double> state() const { return {}; }
  virtual void set_state(const std::vector<double>& s) {
    if (!s.empty())
      throw std::invalid_argument("state must be empty for a " + spec().kind + " schedule, got " +
                                  std::to_string(s.size()) + " values");
  }
};

namespace detail {

constexpr double kPi = 3.14159265358979323846;  // == Python's math.pi

inline void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}
inline void require_lr(double v, const char* name) {
  require(std::isfinite(v) && v >= 0.0,
          std::string(name) + " must be a finite number >= 0, got " + std::to_string(v));
}
inline void require_finite(double v, const char* name) {
  require(std::isfinite(v), std::string(name) + " must be finite, got " + std::to_string(v));
}
inline void require_at_least(std::int64_t v, std::int64_t low, const char* name) {
  require(v >= low, std::string(name) + " must be >= " + std::to_string(low) + ", got " +
                        std::to_string(v));
}

// CRTP helper: clone() through the copy constructor.
template <class Derived>
class ScheduleBase : public Schedule {
 public:
  std::unique_ptr<Schedule> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
};

// lr · factor where a growing factor may overflow to inf: a zero base stays 0 (IEEE would give
// 0 · inf = NaN, a learning rate nobody asked for).
inline double scaled(double lr, double factor) { return lr == 0.0 ? 0.0 : lr * factor; }

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// ConstantLR (torch ConstantLR; factor=1, total_iters=0 is a plain constant)
//   lr(t) = lr · (factor + [t >= total_iters] · (1 - factor))

class ConstantLR final : public detail::ScheduleBase<ConstantLR> {
 public:
  ConstantLR(double lr, double factor, std::int64_t total_iters)
      : lr_(lr), factor_(factor), total_iters_(total_iters) {
    detail::require_lr(lr, "lr");
    detail::require(std::isfinite(factor) && factor >= 0.0 && factor <= 1.0,
                    "factor must be in [0, 1], got " + std::to_string(factor));
    detail::require_at_least(total_iters, 0, "total_iters");
  }
  double lr(std::int64_t t) const override {
    return lr_ * (factor_ + (t >= total_iters_ ? 1.0 - factor_ : 0.0));
  }
  ScheduleSpec spec() const override { return {"constant", {lr_, factor_}, {total_iters_}, {}}; }

 private:
  double lr_, factor_;
  std::int64_t total_iters_;
};

// ---------------------------------------------------------------------------------------------
// StepLR (torch StepLR)
//   lr(t) = lr · gamma^⌊t / step_size⌋

class StepLR final : public detail::ScheduleBase<StepLR> {
 public:
  StepLR(double lr, std::int64_t step_size, double gamma)
      : lr_(lr), gamma_(gamma), step_size_(step_size) {
    detail::require_lr(lr, "lr");
    detail::require_at_least(step_size, 1, "step_size");
    detail::require(std::isfinite(gamma) && gamma > 0.0,
                    "gamma must be a finite number > 0, got " + std::to_string(gamma));
  }
  double lr(std::int64_t t) const override {
    return detail::scaled(lr_, std::pow(gamma_, static_cast<double>(t / step_size_)));
  }
  ScheduleSpec spec() const override { return {"step", {lr_, gamma_}, {step_size_}, {}}; }

 private:
  double lr_, gamma_;
  std::int64_t step_size_;
};

// ---------------------------------------------------------------------------------------------
// MultiStepLR (torch MultiStepLR; milestones strictly increasing)
//   lr(t) = lr · gamma^(number of milestones <= t)

class MultiStepLR final : public detail::ScheduleBase<MultiStepLR> {
 public:
  MultiStepLR(double lr, std::vector<std::int64_t> milestones, double gamma)
      : lr_(lr), gamma_(gamma), milestones_(std::move(milestones)) {
    detail::require_lr(lr, "lr");
    detail::require(std::isfinite(gamma) && gamma > 0.0,
                    "gamma must be a finite number > 0, got " + std::to_string(gamma));
    for (std::size_t i = 0; i < milestones_.size(); ++i) {
      detail::require(milestones_[i] >= 0, "milestones must be >= 0, got " +
                                               std::to_string(milestones_[i]));
      // Only for i > 0: the message reads milestones_[i - 1] (found by AddressSanitizer).
      if (i > 0)
        detail::require(milestones_[i - 1] < milestones_[i],
                        "milestones must be strictly increasing, got " +
                            std::to_string(milestones_[i - 1]) + " before " +
                            std::to_string(milestones_[i]));
    }
  }
  double lr(std::int64_t t) const override {
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), t) -
                        milestones_.begin();
    return detail::scaled(lr_, std::pow(gamma_, static_cast<double>(passed)));
  }
  ScheduleSpec spec() const override { return {"multistep", {lr_, gamma_}, milestones_, {}}; }

 private:
  double lr_, gamma_;
  std::vector<std::int64_t> milestones_;
};

// ---------------------------------------------------------------------------------------------
// ExponentialLR (torch ExponentialLR)
//   lr(t) = lr · gamma^t

class ExponentialLR final : public detail::ScheduleBase<ExponentialLR> {
 public:
  ExponentialLR(double lr, double gamma) : lr_(lr), gamma_(gamma) {
    detail::require_lr(lr, "lr");
    detail::require(std::isfinite(gamma) && gamma > 0.0,
                    "gamma must be a finite number > 0, got " + std::to_string(gamma));
  }
  double lr(std::int64_t t) const override {
    return detail::scaled(lr_, std::pow(gamma_, static_cast<double>(t)));
  }
  ScheduleSpec spec() const override { return {"exponential", {lr_, gamma_}, {}, {}}; }

 private:
  double lr_, gamma_;
};

// ---------------------------------------------------------------------------------------------
// InverseScaling (scikit-learn learning_rate="invscaling"; sklearn counts updates from 1)
//   lr(t) = eta0 / (t + 1)^power_t

class InverseScaling final : public detail::ScheduleBase<InverseScaling> {
 public:
  InverseScaling(double lr, double power_t) : lr_(lr), power_t_(power_t) {
    detail::require_lr(lr, "lr");
    detail::require_finite(power_t, "power_t");
  }
  double lr(std::int64_t t) const override {
    // t + 1 in double: t may be INT64_MAX (t + 1 in int64 would overflow)
    return lr_ == 0.0 ? 0.0 : lr_ / std::pow(static_cast<double>(t) + 1.0, power_t_);
  }
  ScheduleSpec spec() const override { return {"invscaling", {lr_, power_t_}, {}, {}}; }

 private:
  double lr_, power_t_;
};

// ---------------------------------------------------------------------------------------------
// OptimalLR (scikit-learn learning_rate="optimal", Bottou's heuristic)
//   typw = √(1 / √alpha)
//   eta0 = typw / max(1, dloss_at_init)        dloss_at_init = loss.dloss(p=-typw, y=1); 1 for
//                                              every scikit-learn loss
//   t0   = 1 / (eta0 · alpha)
//   lr(t) = 1 / (alpha · ((t0 + (t + 1)) - 1))
// sklearn's counter starts at 1 and it evaluates `optimal_init + t - 1` left to right; the same
// rounding is kept here, so lr(0) == eta0 only up to rounding, as in sklearn.

class OptimalLR final : public detail::ScheduleBase<OptimalLR> {
 public:
  OptimalLR(double alpha, double dloss_at_init) : alpha_(alpha), dloss_at_init_(dloss_at_init) {
    detail::require(std::isfinite(alpha) && alpha > 0.0,
                    "alpha must be a finite number > 0, got " + std::to_string(alpha));
    detail::require_finite(dloss_at_init, "dloss_at_init");
    const double typw = std::sqrt(1.0 / std::sqrt(alpha));
    const double eta0 = typw / std::max(1.0, dloss_at_init);
    t0_ = 1.0 / (eta0 * alpha);
  }
  double lr(std::int64_t t) const override {
    const double t_sklearn = static_cast<double>(t) + 1.0;  // t may be INT64_MAX
    return 1.0 / (alpha_ * (t0_ + t_sklearn - 1.0));
  }
  ScheduleSpec spec() const override { return {"optimal", {alpha_, dloss_at_init_}, {}, {}}; }

 private:
  double alpha_, dloss_at_init_, t0_;
};

// ---------------------------------------------------------------------------------------------
// PolynomialLR (torch PolynomialLR)
//   lr(t) = lr · (1 - min(total_iters, t) / total_iters)^power

class PolynomialLR final : public detail::ScheduleBase<PolynomialLR> {
 public:
  PolynomialLR(double lr, std::int64_t total_iters, double power)
      : lr_(lr), power_(power), total_iters_(total_iters) {
    detail::require_lr(lr, "lr");
    detail::require_at_least(total_iters, 1, "total_iters");
    detail::require(std::isfinite(power) && power >= 0.0,
                    "power must be a finite number >= 0, got " + std::to_string(power));
  }
  double lr(std::int64_t t) const override {
    const double done = static_cast<double>(std::min(total_iters_, t));
    return lr_ * std::pow(1.0 - done / static_cast<double>(total_iters_), power_);
  }
  ScheduleSpec spec() const override {
    return {"polynomial", {lr_, power_}, {total_iters_}, {}};
  }

 private:
  double lr_, power_;
  std::int64_t total_iters_;
};

// ---------------------------------------------------------------------------------------------
// CosineAnnealingLR (torch CosineAnnealingLR, closed form; like torch it rises again after
// T_max, with period 2 T_max)
//   lr(t) = eta_min + (lr - eta_min) · (1 + cos(π t / T_max)) / 2

class CosineAnnealingLR final : public detail::ScheduleBase<CosineAnnealingLR> {
 public:
  CosineAnnealingLR(double lr, std::int64_t T_max, double eta_min)
      : lr_(lr), eta_min_(eta_min), T_max_(T_max) {
    detail::require_lr(lr, "lr");
    detail::require_at_least(T_max, 1, "T_max");
    detail::require_lr(eta_min, "eta_min");
  }
  double lr(std::int64_t t) const override {
    const double angle = detail::kPi * static_cast<double>(t) / static_cast<double>(T_max_);
    return eta_min_ + (lr_ - eta_min_) * (1.0 + std::cos(angle)) / 2.0;
  }
  ScheduleSpec spec() const override { return {"cosine", {lr_, eta_min_}, {T_max_}, {}}; }

 private:
  double lr_, eta_min_;
  std::int64_t T_max_;
};

// ---------------------------------------------------------------------------------------------
// CosineAnnealingWarmRestarts (torch CosineAnnealingWarmRestarts, SGDR)
//   cycles of lengths T_i = T_0 · T_mult^i; T_cur = t minus the lengths of the finished cycles
//   lr(t) = eta_min + (lr - eta_min) · (1 + cos(π T_cur / T_i)) / 2
// The cycle is found with integer arithmetic (no floating log), so a restart lands exactly on t.

class CosineAnnealingWarmRestarts final
    : public detail::ScheduleBase<CosineAnnealingWarmRestarts> {
 public:
  CosineAnnealingWarmRestarts(double lr, std::int64_t T_0, std::int64_t T_mult, double eta_min)
      : lr_(lr), eta_min_(eta_min), T_0_(T_0), T_mult_(T_mult) {
    detail::require_lr(lr, "lr");
    detail::require_at_least(T_0, 1, "T_0");
    detail::require_at_least(T_mult, 1, "T_mult");
    detail::require_lr(eta_min, "eta_min");
  }
  double lr(std::int64_t t) const override {
    std::int64_t t_cur = t;
    std::int64_t t_i = T_0_;
    if (T_mult_ == 1) {
      t_cur = t % T_0_;
    } else {
      // Each pass subtracts a cycle at least as long as the last, so this loop runs
      // O(log(t / T_0)) times. A cycle longer than int64 cannot finish: stop there.
      while (t_cur >= t_i) {
        t_cur -= t_i;
        if (t_i > std::numeric_limits<std::int64_t>::max() / T_mult_) {
          return cosine(t_cur, static_cast<double>(t_i) * static_cast<double>(T_mult_));
        }
        t_i *= T_mult_;
      }
    }
    return cosine(t_cur, static_cast<double>(t_i));
  }
  ScheduleSpec spec() const override {
    return {"cosine_restarts", {lr_, eta_min_}, {T_0_, T_mult_}, {}};
  }

 private:
  double cosine(std::int64_t t_cur, double t_i) const {
    const double angle = detail::kPi * static_cast<double>(t_cur) / t_i;
    return eta_min_ + (lr_ - eta_min_) * (1.0 + std::cos(angle)) / 2.0;
  }
  double lr_, eta_min_;
  std::int64_t T_0_, T_mult_;
};

// ---------------------------------------------------------------------------------------------
// Warmup: linear warm-up in front of any schedule (torch LinearLR(start_factor, end_factor=1,
// total_iters=W) followed by the inner schedule, as SequentialLR with milestone W)
//   t <  W:  lr(t) = inner.lr(0) · (start_factor + (1 - start_factor) · t / W)
//   t >= W:  lr(t) = inner.lr(t - W)
// observe() and the state go to the inner schedule.

class Warmup final : public Schedule {
 public:
  Warmup(std::unique_ptr<Schedule> inner, std::int64_t warmup_steps, double start_factor)
      : inner_(std::move(inner)), warmup_steps_(warmup_steps), start_factor_(start_factor) {
    detail::require(inner_ != nullptr, "inner must be a schedule, got null");
    detail::require_at_least(warmup_steps, 0, "warmup_steps");
    detail::require(std::isfinite(start_factor) && start_factor >= 0.0 && start_factor <= 1.0,
                    "start_factor must be in [0, 1], got " + std::to_string(start_factor));
  }
  Warmup(const Warmup& other)
      : inner_(other.inner_->clone()),
        warmup_steps_(other.warmup_steps_),
        start_factor_(other.start_factor_) {}

  double lr(std::int64_t t) const override {
    if (t >= warmup_steps_) return inner_->lr(t - warmup_steps_);
    const double ramp = (1.0 - start_factor_) * static_cast<double>(t) /
                        static_cast<double>(warmup_steps_);
    return inner_->lr(0) * (start_factor_ + ramp);
  }
  void observe(double metric) override { inner_->observe(metric); }
  std::unique_ptr<Schedule> clone() const override { return std::make_unique<Warmup>(*this); }
  ScheduleSpec spec() const override {
    return {"warmup", {start_factor_}, {warmup_steps_}, {inner_->spec()}};
  }
  std::vector<double> state() const override { return inner_->state(); }
  void set_state(const std::vector<double>& s) override { inner_->set_state(s); }
  const Schedule& inner() const { return *inner_; }

 private:
  std::unique_ptr<Schedule> inner_;
  std::int64_t warmup_steps_;
  double start_factor_;
};

// ---------------------------------------------------------------------------------------------
// OneCycleLR (torch OneCycleLR, learning rate only: torch also cycles momentum, gdcore does not)
//   initial = max_lr / div_factor,  final = initial / final_div_factor,  T = total_steps
//   phase ends e (float): two phases  [pct_start·T - 1, T - 1]
//                         three phases [pct_start·T - 1, 2·pct_start·T - 2, T - 1]
//   lr from initial up to max_lr, then down to final (three phases: max_lr → initial → final)
//   inside a phase [s, e]:  p = (t - s) / (e - s)
//     cos:    lr = end + (start - end) / 2 · (cos(π p) + 1)
//     linear: lr = (end - start) · p + start
// Beyond the last update (t >= T - 1) the final lr is held; torch raises after T steps.

enum class Anneal { cos = 0, linear = 1 };

inline Anneal anneal_from_name(const std::string& name) {
  if (name == "cos") return Anneal::cos;
  if (name == "linear") return Anneal::linear;
  throw std::invalid_argument("anneal_strategy must be 'cos' or 'linear', got '" + name + "'");
}

class OneCycleLR final : public detail::ScheduleBase<OneCycleLR> {
 public:
  OneCycleLR(double max_lr, std::int64_t total_steps, double pct_start, Anneal anneal_strategy,
             double div_factor, double final_div_factor, bool three_phase)
      : max_lr_(max_lr),
        pct_start_(pct_start),
        div_factor_(div_factor),
        final_div_factor_(final_div_factor),
        total_steps_(total_steps),
        anneal_(anneal_strategy),
        three_phase_(three_phase) {
    detail::require_lr(max_lr, "max_lr");
    detail::require_at_least(total_steps, 1, "total_steps");
    detail::require(std::isfinite(pct_start) && pct_start > 0.0 && pct_start < 1.0,
                    "pct_start must be in (0, 1), got " + std::to_string(pct_start));
    detail::require(std::isfinite(div_factor) && div_factor > 0.0,
                    "div_factor must be a finite number > 0, got " + std::to_string(div_factor));
    detail::require(std::isfinite(final_div_factor) && final_div_factor > 0.0,
                    "final_div_factor must be a finite number > 0, got " +
                        std::to_string(final_div_factor));
    const double T = static_cast<double>(total_steps);
    const double rise_end = pct_start * T - 1.0;
    // A phase of length zero would divide by zero at its first step (torch raises there).
    detail::require(rise_end != 0.0, "pct_start * total_steps must not be 1 (the warm-up phase "
                                     "would have length 0), got pct_start=" +
                                         std::to_string(pct_start) +
                                         ", total_steps=" + std::to_string(total_steps));
    detail::require(!three_phase || pct_start <= 0.5,
                    "pct_start must be <= 0.5 with three_phase=True (the first two phases take "
                    "2 * pct_start of the cycle), got " + std::to_string(pct_start));
    initial_lr_ = max_lr / div_factor;
    final_lr_ = initial_lr_ / final_div_factor;
    if (three_phase) {
      phases_ = {{rise_end, initial_lr_, max_lr},
                 {2.0 * pct_start * T - 2.0, max_lr, initial_lr_},
                 {T - 1.0, initial_lr_, final_lr_}};
    } else {
      phases_ = {{rise_end, initial_lr_, max_lr}, {T - 1.0, max_lr, final_lr_}};
    }
    for (std::size_t i = 1; i < phases_.size(); ++i)
      detail::require(phases_[i].end_step != phases_[i - 1].end_step,
                      "pct_start=" + std::to_string(pct_start) + " with total_steps=" +
                          std::to_string(total_steps) + " gives a phase of length 0");
  }

  double lr(std::int64_t t) const override {
    const double step = static_cast<double>(std::min(t, total_steps_ - 1));
    double start_step = 0.0;
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (step <= ph.end_step || i + 1 == phases_.size()) {
        const double pct = (step - start_step) / (ph.end_step - start_step);
        return anneal(ph.start_lr, ph.end_lr, pct);
      }
      start_step = ph.end_step;
    }
    return final_lr_;  // not reached
  }
  ScheduleSpec spec() const override {
    return {"onecycle",
            {max_lr_, pct_start_, div_factor_, final_div_factor_},
            {total_steps_, static_cast<std::int64_t>(anneal_), three_phase_ ? 1 : 0},
            {}};
  }

 private:
  struct Phase {
    double end_step, start_lr, end_lr;
  };
  double anneal(double start, double end, double pct) const {
    if (anneal_ == Anneal::cos)
      return end + (start - end) / 2.0 * (std::cos(detail::kPi * pct) + 1.0);
    return (end - start) * pct + start;
  }
  double max_lr_, pct_start_, div_factor_, final_div_factor_;
  std::int64_t total_steps_;
  Anneal anneal_;
  bool three_phase_;
  double initial_lr_ = 0.0, final_lr_ = 0.0;
  std::vector<Phase> phases_;
};

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau (torch ReduceLROnPlateau; stateful, driven by observe(metric))
//   better(a) = a < best·(1 - threshold)  (min, rel)     a < best - threshold  (min, abs)
//               a > best·(1 + threshold)  (max, rel)     a > best + threshold  (max, abs)
//   observe(a):  if better(a): best = a, bad = 0  else bad += 1      (NaN is never better)
//                if cooldown_left > 0: cooldown_left -= 1, bad = 0
//                if bad > patience:  new = max(lr·factor, min_lr); lr = new if lr - new > eps
//                                    cooldown_left = cooldown, bad = 0
//   lr(t) = the current lr, whatever t
// state() = [lr, best, bad, cooldown_left]

enum class PlateauMode { min = 0, max = 1 };
enum class ThresholdMode { rel = 0, abs = 1 };

inline PlateauMode plateau_mode_from_name(const std::string& name) {
  if (name == "min") return PlateauMode::min;
  if (name == "max") return PlateauMode::max;
  throw std::invalid_argument("mode must be 'min' or 'max', got '" + name + "'");
}
inline ThresholdMode threshold_mode_from_name(const std::string& name) {
  if (name == "rel") return ThresholdMode::rel;
  if (name == "abs") return ThresholdMode::abs;
  throw std::invalid_argument("threshold_mode must be 'rel' or 'abs', got '" + name + "'");
}

class ReduceLROnPlateau final : public detail::ScheduleBase<ReduceLROnPlateau> {
 public:
  ReduceLROnPlateau(double lr, PlateauMode mode, double factor, std::int64_t patience,
                    double threshold, ThresholdMode threshold_mode, std::int64_t cooldown,
                    double min_lr, double eps)
      : initial_lr_(lr),
        factor_(factor),
        threshold_(threshold),
        min_lr_(min_lr),
        eps_(eps),
        patience_(patience),
        cooldown_(cooldown),
        mode_(mode),
        threshold_mode_(threshold_mode),
        lr_(lr),
        best_(mode == PlateauMode::min ? std::numeric_limits<double>::infinity()
                                       : -std::numeric_limits<double>::infinity()) {
    detail::require_lr(lr, "lr");
    detail::require(std::isfinite(factor) && factor > 0.0 && factor < 1.0,
                    "factor must be in (0, 1), got " + std::to_string(factor));
    detail::require_at_least(patience, 0, "patience");
    detail::require(std::isfinite(threshold) && threshold >= 0.0,
                    "threshold must be a finite number >= 0, got " + std::to_string(threshold));
    detail::require_at_least(cooldown, 0, "cooldown");
    detail::require_lr(min_lr, "min_lr");
    detail::require_lr(eps, "eps");
  }

  double lr(std::int64_t /*t*/) const override { return lr_; }

  void observe(double metric) override {
    if (is_better(metric)) {
      best_ = metric;
      bad_ = 0;
    } else {
      bad_ += 1;
    }
    if (cooldown_left_ > 0) {
      cooldown_left_ -= 1;
      bad_ = 0;  // bad epochs during cooldown do not count
    }
    if (bad_ > patience_) {
      const double reduced = std::max(lr_ * factor_, min_lr_);
      if (lr_ - reduced > eps_) lr_ = reduced;
      cooldown_left_ = cooldown_;
      bad_ = 0;
    }
  }

  ScheduleSpec spec() const override {
    return {"plateau",
            {initial_lr_, factor_, threshold_, min_lr_, eps_},
            {static_cast<std::int64_t>(mode_), patience_,
             static_cast<std::int64_t>(threshold_mode_), cooldown_},
            {}};
  }
  std::vector<double> state() const override {
    return {lr_, best_, static_cast<double>(bad_), static_cast<double>(cooldown_left_)};
  }
  void set_state(const std::vector<double>& s) override {
    detail::require(s.size() == 4, "state of a plateau schedule must hold 4 values [lr, best, "
                                   "bad, cooldown_left], got " +
                                       std::to_string(s.size()));
    detail::require_lr(s[0], "state[0] (lr)");
    detail::require(!std::isnan(s[1]), "state[1] (best) must not be NaN");
    detail::require(s[2] >= 0.0 && s[2] == std::floor(s[2]) && s[2] < 9.0e15,
                    "state[2] (bad) must be a whole number >= 0, got " + std::to_string(s[2]));
    detail::require(s[3] >= 0.0 && s[3] == std::floor(s[3]) && s[3] < 9.0e15,
                    "state[3] (cooldown_left) must be a whole number >= 0, got " +
                        std::to_string(s[3]));
    lr_ = s[0];
    best_ = s[1];
    bad_ = static_cast<std::int64_t>(s[2]);
    cooldown_left_ = static_cast<std::int64_t>(s[3]);
  }

 private:
  bool is_better(double a) const {
    if (mode_ == PlateauMode::min) {
      if (threshold_mode_ == ThresholdMode::rel) return a < best_ * (1.0 - threshold_);
      return a < best_ - threshold_;
    }
    if (threshold_mode_ == ThresholdMode::rel) return a > best_ * (threshold_ + 1.0);
    return a > best_ + threshold_;
  }

  double initial_lr_, factor_, threshold_, min_lr_, eps_;
  std::int64_t patience_, cooldown_;
  PlateauMode mode_;
  ThresholdMode threshold_mode_;
  // mutable state
  double lr_;
  double best_;
  std::int64_t bad_ = 0;
  std::int64_t cooldown_left_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Rebuild a schedule from its spec (the inverse of Schedule::spec()).

inline std::unique_ptr<Schedule> make_schedule(const ScheduleSpec& s) {
  const auto need = [&](std::size_t reals, std::size_t integers, std::size_t inner) {
    detail::require(s.reals.size() == reals && s.integers.size() == integers &&
                        s.inner.size() == inner,
                    "a '" + s.kind + "' spec needs " + std::to_string(reals) + " reals, " +
                        std::to_string(integers) + " integers and " + std::to_string(inner) +
                        " inner specs, got " + std::to_string(s.reals.size()) + ", " +
                        std::to_string(s.integers.size()) + " and " +
                        std::to_string(s.inner.size()));
  };
  const auto& r = s.reals;
  const auto& n = s.integers;
  if (s.kind == "constant") {
    need(2, 1, 0);
    return std::make_unique<ConstantLR>(r[0], r[1], n[0]);
  }
  if (s.kind == "step") {
    need(2, 1, 0);
    return std::make_unique<StepLR>(r[0], n[0], r[1]);
  }
  if (s.kind == "multistep") {
    need(2, n.size(), 0);
    return std::make_unique<MultiStepLR>(r[0], n, r[1]);
  }
  if (s.kind == "exponential") {
    need(2, 0, 0);
    return std::make_unique<ExponentialLR>(r[0], r[1]);
  }
  if (s.kind == "invscaling") {
    need(2, 0, 0);
    return std::make_unique<InverseScaling>(r[0], r[1]);
  }
  if (s.kind == "optimal") {
    need(2, 0, 0);
    return std::make_unique<OptimalLR>(r[0], r[1]);
  }
  if (s.kind == "polynomial") {
    need(2, 1, 0);
    return std::make_unique<PolynomialLR>(r[0], n[0], r[1]);
  }
  if (s.kind == "cosine") {
    need(2, 1, 0);
    return std::make_unique<CosineAnnealingLR>(r[0], n[0], r[1]);
  }
  if (s.kind == "cosine_restarts") {
    need(2, 2, 0);
    return std::make_unique<CosineAnnealingWarmRestarts>(r[0], n[0], n[1], r[1]);
  }
  if (s.kind == "warmup") {
    need(1, 1, 1);
    return std::make_unique<Warmup>(make_schedule(s.inner[0]), n[0], r[0]);
  }
  if (s.kind == "onecycle") {
    need(4, 3, 0);
    detail::require(n[1] == 0 || n[1] == 1, "anneal_strategy code must be 0 or 1");
    return std::make_unique<OneCycleLR>(r[0], n[0], r[1], static_cast<Anneal>(n[1]), r[2], r[3],
                                        n[2] != 0);
  }
  if (s.kind == "plateau") {
    need(5, 4, 0);
    detail::require(n[0] == 0 || n[0] == 1, "mode code must be 0 or 1");
    detail::require(n[2] == 0 || n[2] == 1, "threshold_mode code must be 0 or 1");
    return std::make_unique<ReduceLROnPlateau>(r[0], static_cast<PlateauMode>(n[0]), r[1], n[1],
                                               r[2], static_cast<ThresholdMode>(n[2]), n[3], r[3],
                                               r[4]);
  }
  throw std::invalid_argument("unknown schedule kind '" + s.kind + "'");
}

// What a loop asks for each update's learning rate: a schedule, or a constant when there is none.
struct ScheduleOrConstant {
  Schedule* schedule;
  double constant;
  double lr(std::int64_t t) const { return schedule ? schedule->lr(t) : constant; }
  void observe(double metric) {
    if (schedule) schedule->observe(metric);
  }
};

}  // namespace gdcore
