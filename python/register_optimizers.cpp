// Optimizers: the functional kernels (one array, state passed in) and the engine behind
// gdcore.optim's classes (all parameters of an optimizer stepped in one call). Conversion, checks
// and the engine's choice of team or one thread (TeamChooser); the update rules live in
// cpp/include/gdcore/optimizers.hpp. Hyperparameters arrive validated from the Python layer and
// are checked again here (the same bounds), so that a raw _core call cannot step with, say, a
// negative lr or a beta past 1.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "gdcore/optimizers.hpp"

namespace gdcore::bind {

namespace {

double get_double(const py::dict& d, const char* key, double fallback) {
  return d.contains(key) ? d[key].cast<double>() : fallback;
}
bool get_bool(const py::dict& d, const char* key, bool fallback) {
  return d.contains(key) ? d[key].cast<bool>() : fallback;
}
std::pair<double, double> get_betas(const py::dict& d, std::pair<double, double> fallback) {
  if (!d.contains("betas")) return fallback;
  auto betas = d["betas"].cast<py::sequence>();
  return {betas[0].cast<double>(), betas[1].cast<double>()};
}

// The bounds gdcore.optim's rules enforce (see _SGD_RULES etc. in optim.py), each a ValueError
// naming the option.
std::string repr(double v) { return py::repr(py::float_(v)).cast<std::string>(); }

void require_range(const char* name, double v, double low, bool low_open, double high,
                   bool high_open) {
  const bool ok = std::isfinite(v) && (low_open ? v > low : v >= low) &&
                  (high_open ? v < high : v <= high);
  if (ok) return;
  std::string bounds = (low_open ? "> " : ">= ") + repr(low);
  if (!std::isinf(high)) bounds += std::string(" and ") + (high_open ? "< " : "<= ") + repr(high);
  throw py::value_error(std::string(name) + " must be a finite number " + bounds + ", got " +
                        repr(v));
}

constexpr double kInf = std::numeric_limits<double>::infinity();

void require_nonneg(const char* name, double v) {
  require_range(name, v, 0.0, false, kInf, false);
}
void require_positive(const char* name, double v) {
  require_range(name, v, 0.0, true, kInf, false);
}
void require_unit(const char* name, double v) { require_range(name, v, 0.0, false, 1.0, true); }

void check_config(const SgdConfig& c) {
  require_nonneg("lr", c.lr);
  require_nonneg("momentum", c.momentum);
  require_range("dampening", c.dampening, 0.0, false, 1.0, false);
  require_nonneg("weight_decay", c.weight_decay);
  if (c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0))
    throw py::value_error("nesterov=True requires momentum > 0 and dampening == 0");
}

void check_config(const AdagradConfig& c) {
  require_nonneg("lr", c.lr);
  require_nonneg("lr_decay", c.lr_decay);
  require_nonneg("weight_decay", c.weight_decay);
  require_nonneg("initial_accumulator_value", c.initial_accumulator_value);
  require_positive("eps", c.eps);
}

void check_config(const RmspropConfig& c) {
  require_nonneg("lr", c.lr);
  require_range("alpha", c.alpha, 0.0, false, 1.0, false);
  require_positive("eps", c.eps);
  require_nonneg("weight_decay", c.weight_decay);
  require_nonneg("momentum", c.momentum);
}

template <class C>
void check_adam_family(const C& c) {
  require_nonneg("lr", c.lr);
  require_unit("beta1", c.beta1);
  require_unit("beta2", c.beta2);
  require_positive("eps", c.eps);
  require_nonneg("weight_decay", c.weight_decay);
}

void check_config(const AdamConfig& c) { check_adam_family(c); }
void check_config(const AdamaxConfig& c) { check_adam_family(c); }
void check_config(const NadamConfig& c) {
  check_adam_family(c);
  require_nonneg("momentum_decay", c.momentum_decay);
}

void check_config(const OptimizerConfig& c) {
  switch (c.kind) {
    case OptimizerKind::sgd: return check_config(c.sgd);
    case OptimizerKind::adagrad: return check_config(c.adagrad);
    case OptimizerKind::rmsprop: return check_config(c.rmsprop);
    case OptimizerKind::adam: return check_config(c.adam);
    case OptimizerKind::adamax: return check_config(c.adamax);
    case OptimizerKind::nadam: return check_config(c.nadam);
  }
}

}  // namespace

// A parameter group's (or a fit's) options, read by name; missing keys keep PyTorch's defaults.
// The result is checked (check_config) before it is returned.
OptimizerConfig optimizer_config(OptimizerKind kind, const py::dict& g) {
  OptimizerConfig c;
  c.kind = kind;
  switch (kind) {
    case OptimizerKind::sgd: {
      auto& s = c.sgd;
      s.lr = get_double(g, "lr", s.lr);
      s.momentum = get_double(g, "momentum", s.momentum);
      s.dampening = get_double(g, "dampening", s.dampening);
      s.weight_decay = get_double(g, "weight_decay", s.weight_decay);
      s.nesterov = get_bool(g, "nesterov", s.nesterov);
      s.maximize = get_bool(g, "maximize", s.maximize);
      break;
    }
    case OptimizerKind::adagrad: {
      auto& s = c.adagrad;
      s.lr = get_double(g, "lr", s.lr);
      s.lr_decay = get_double(g, "lr_decay", s.lr_decay);
      s.weight_decay = get_double(g, "weight_decay", s.weight_decay);
      s.initial_accumulator_value =
          get_double(g, "initial_accumulator_value", s.initial_accumulator_value);
      s.eps = get_double(g, "eps", s.eps);
      s.maximize = get_bool(g, "maximize", s.maximize);
      break;
    }
    case OptimizerKind::rmsprop: {
      auto& s = c.rmsprop;
      s.lr = get_double(g, "lr", s.lr);
      s.alpha = get_double(g, "alpha", s.alpha);
      s.eps = get_double(g, "eps", s.eps);
      s.weight_decay = get_double(g, "weight_decay", s.weight_decay);
      s.momentum = get_double(g, "momentum", s.momentum);
      s.centered = get_bool(g, "centered", s.centered);
      s.maximize = get_bool(g, "maximize", s.maximize);
      break;
    }
    case OptimizerKind::adam: {
      auto& s = c.adam;
      s.lr = get_double(g, "lr", s.lr);
      std::tie(s.beta1, s.beta2) = get_betas(g, {s.beta1, s.beta2});
      s.eps = get_double(g, "eps", s.eps);
      s.weight_decay = get_double(g, "weight_decay", s.weight_decay);
      s.amsgrad = get_bool(g, "amsgrad", s.amsgrad);
      s.maximize = get_bool(g, "maximize", s.maximize);
      s.decoupled_weight_decay = get_bool(g, "decoupled_weight_decay", s.decoupled_weight_decay);
      break;
    }
    case OptimizerKind::adamax: {
      auto& s = c.adamax;
      s.lr = get_double(g, "lr", s.lr);
      std::tie(s.beta1, s.beta2) = get_betas(g, {s.beta1, s.beta2});
      s.eps = get_double(g, "eps", s.eps);
      s.weight_decay = get_double(g, "weight_decay", s.weight_decay);
      s.maximize = get_bool(g, "maximize", s.maximize);
      break;
    }
    case OptimizerKind::nadam: {
      auto& s = c.nadam;
      s.lr = get_double(g, "lr", s.lr);
      std::tie(s.beta1, s.beta2) = get_betas(g, {s.beta1, s.beta2});
      s.eps = get_double(g, "eps", s.eps);
      s.weight_decay = get_double(g, "weight_decay", s.weight_decay);
      s.momentum_decay = get_double(g, "momentum_decay", s.momentum_decay);
      s.maximize = get_bool(g, "maximize", s.maximize);
      s.decoupled_weight_decay = get_bool(g, "decoupled_weight_decay", s.decoupled_weight_decay);
      break;
    }
  }
  check_config(c);
  return c;
}

namespace {

// One parameter's update, pointers resolved, ready to run without the GIL.
struct Work {
  Dtype dtype;
  std::size_t n;
  void* param;
  const void* grad;
  std::array<void*, 3> state;
  std::int64_t step;
  double* mu_product;
  const OptimizerConfig* config;
};

template <class T>
void run_work(const Work& w, int threads) {
  T* state[3] = {static_cast<T*>(w.state[0]), static_cast<T*>(w.state[1]),
                 static_cast<T*>(w.state[2])};
  optimizer_step<T>(*w.config, static_cast<T*>(w.param), static_cast<const T*>(w.grad), state,
                    w.n, w.step, w.mu_product, threads);
}

void run_all(const std::vector<Work>& work, int threads) {
  for (const Work& w : work) {
    if (w.dtype == Dtype::f32) {
      run_work<float>(w, threads);
    } else {
      run_work<double>(w, threads);
    }
  }
}

std::size_t first_bad(const FloatArray& a, int threads = 1) {
  return a.dtype == Dtype::f32 ? first_nonfinite(a.ptr<const float>(), a.size, threads)
                               : first_nonfinite(a.ptr<const double>(), a.size, threads);
}

// threads: the step's own count, so each thread checks the block it is about to update.
void require_finite(const FloatArray& a, const std::string& name, int threads = 1) {
  const std::size_t bad = first_bad(a, threads);
  if (bad < a.size) {
    py::object value = a.array.attr("reshape")(-1)[py::int_(bad)];
    throw py::value_error(name + " contains a non-finite value (" +
                          py::repr(value).cast<std::string>() + " at flat index " +
                          std::to_string(bad) + "); nothing was updated");
  }
}

std::string item_name(const char* base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

// The stateful side of gdcore.optim: holds the parameter arrays, their state arrays and step
// counters (all owned by Python, shared here without copying) and steps them all in one call.
class OptimizerEngine {
 public:
  OptimizerEngine(const std::string& kind, const py::list& params,
                  const std::vector<std::size_t>& group_of, const py::list& states,
                  py::array_t<std::int64_t> steps, py::array_t<double> mu_products,
                  std::size_t n_groups, int num_threads, bool check_finite)
      : kind_(optimizer_from_name(kind)),
        steps_(std::move(steps)),
        mu_products_(std::move(mu_products)),
        groups_(n_groups),
        group_of_(group_of),
        num_threads_(num_threads),
        check_finite_(check_finite) {
    const std::size_t n = params.size();
    if (group_of.size() != n || states.size() != n)
      throw py::value_error("params, group_of and states must have the same length");
    if (static_cast<std::size_t>(steps_.size()) != n ||
        static_cast<std::size_t>(mu_products_.size()) != n)
      throw py::value_error("steps and mu_products must hold one entry per parameter");
    for (std::size_t i = 0; i < n; ++i) {
      if (group_of[i] >= n_groups) throw py::value_error("group index out of range");
      Slot slot;
      slot.param = writable_array(params[i], item_name("params", i));
      auto row = states[i].cast<py::sequence>();
      if (row.size() != state_count(kind_))
        throw py::value_error(item_name("states", i) + " has the wrong number of arrays");
      for (std::size_t k = 0; k < row.size(); ++k) {
        if (row[k].is_none()) continue;
        const std::string name = item_name("states", i) + "[" + std::to_string(k) + "]";
        FloatArray s = writable_array(row[k], name);
        require_like(s, name, slot.param, item_name("params", i));
        slot.state[k] = s;
        slot.present[k] = true;
      }
      slots_.push_back(std::move(slot));
    }
  }

  void set_group(std::size_t index, const py::dict& group) {
    if (index >= groups_.size()) throw py::index_error("parameter group index out of range");
    groups_[index] = optimizer_config(kind_, group);
  }

  void step(const py::object& grads_obj) {
    const std::size_t n = slots_.size();
    py::sequence grads;
    if (py::isinstance<py::array>(grads_obj)) {
      if (n != 1)
        throw py::type_error("grads must be a list with one array per parameter (" +
                             std::to_string(n) + " parameters), got a single array");
      py::list one;
      one.append(grads_obj);
      grads = one;
    } else if (py::isinstance<py::list>(grads_obj) || py::isinstance<py::tuple>(grads_obj)) {
      grads = grads_obj.cast<py::sequence>();
    } else {
      throw py::type_error("grads must be a list of NumPy arrays, got " + type_name(grads_obj));
    }
    if (grads.size() != n)
      throw py::value_error("grads has " + std::to_string(grads.size()) +
                            " arrays but the optimizer has " + std::to_string(n) + " parameters");

    // The team, or one thread (see TeamChooser): the updates are element-wise, each element
    // computed the same way on either, so this choice changes the speed and never a bit.
    const int team = step_team();
    if (team != chooser_team_) {
      chooser_ = TeamChooser(team);
      chooser_team_ = team;
    }
    const int used = chooser_.next();
    const int threads = used == 1 ? 1 : num_threads_;
    const auto start = TeamChooser::Clock::now();

    // Check everything before touching anything: a bad gradient leaves all state as it was.
    std::vector<FloatArray> held(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string name = item_name("grads", i);
      held[i] = readable_array(grads[i], name);
      require_like(held[i], name, slots_[i].param, item_name("params", i));
      if (check_finite_) require_finite(held[i], name, threads);
      const auto needed = groups_[group_of_[i]].states_needed();
      for (std::size_t k = 0; k < 3; ++k)
        if (needed[k] && !slots_[i].present[k])
          throw py::value_error("internal: state array " + std::to_string(k) + " of params[" +
                                std::to_string(i) + "] is missing");
    }

    auto steps = steps_.mutable_unchecked<1>();
    auto mu = mu_products_.mutable_unchecked<1>();
    std::vector<Work> work(n);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const Slot& s = slots_[i];
      steps(i) += 1;
      work[i] = Work{s.param.dtype,
                     s.param.size,
                     s.param.data(),
                     held[i].data(),
                     {s.present[0] ? s.state[0].data() : nullptr,
                      s.present[1] ? s.state[1].data() : nullptr,
                      s.present[2] ? s.state[2].data() : nullptr},
                     steps(i),
                     &mu(i),
                     &groups_[group_of_[i]]};
      total += s.param.size;
    }
    if (total >= kReleaseGilAbove) {
      py::gil_scoped_release release;
      run_all(work, threads);
    } else {
      run_all(work, threads);
    }
    chooser_.done(start, TeamChooser::Clock::now(), static_cast<double>(total), used);
  }

  int num_threads() const { return num_threads_; }
  void set_num_threads(int n) { num_threads_ = n > 0 ? n : 0; }

 private:
  struct Slot {
    FloatArray param;
    std::array<FloatArray, 3> state;
    std::array<bool, 3> present{false, false, false};
  };

  // The most threads any parameter's update would use (1: every update runs serial anyway).
  int step_team() const {
    int team = 1;
    for (const Slot& s : slots_)
      team = std::max(team, elementwise_threads(s.param.size, num_threads_));
    return team;
  }

  OptimizerKind kind_;
  py::array_t<std::int64_t> steps_;
  py::array_t<double> mu_products_;
  std::vector<OptimizerConfig> groups_;
  std::vector<std::size_t> group_of_;
  std::vector<Slot> slots_;
  int num_threads_;
  bool check_finite_;
  // Lives with the optimizer, as a training loop's does for its fit: a user's loop calls step()
  // once per mini-batch, and the choice is learned over those calls.
  TeamChooser chooser_{1};
  int chooser_team_ = 1;
};

// ---------------------------------------------------------------------------------------------
// Functional forms: one parameter array and its state, updated in place.

struct Checked {
  FloatArray param;
  FloatArray grad;
};

Checked check_pair(const py::object& param, const py::object& grad) {
  Checked c;
  c.param = writable_array(param, "param");
  c.grad = readable_array(grad, "grad");
  require_like(c.grad, "grad", c.param, "param");
  require_finite(c.grad, "grad");
  return c;
}

void* state_ptr(const py::object& obj, const char* name, const Checked& c, bool needed) {
  if (obj.is_none()) {
    if (needed)
      throw py::value_error(std::string(name) + " is required with these options, got None");
    return nullptr;
  }
  FloatArray s = writable_array(obj, name);
  require_like(s, name, c.param, "param");
  return s.data();
}

void require_step(std::int64_t step) {
  if (step < 1) throw py::value_error("step must be >= 1 (the count after this update)");
}

}  // namespace

void register_optimizers(py::module_& m) {
  m.def(
      "sgd_step",
      [](py::object param, py::object grad, py::object momentum_buffer, std::int64_t step,
         double lr, double momentum, double dampening, double weight_decay, bool nesterov,
         bool maximize) {
        require_step(step);
        Checked c = check_pair(param, grad);
        void* buf = state_ptr(momentum_buffer, "momentum_buffer", c, momentum != 0.0);
        SgdConfig cfg{lr, momentum, dampening, weight_decay, nesterov, maximize};
        check_config(cfg);
        with_dtype(c.param, [&](auto tag) {
          using T = decltype(tag);
          sgd_step<T>(c.param.ptr<T>(), c.grad.ptr<const T>(), static_cast<T*>(buf),
                      c.param.size, step, cfg, 0);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::kw_only(),
      py::arg("step"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
      py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"));

  m.def(
      "adagrad_step",
      [](py::object param, py::object grad, py::object sum, std::int64_t step, double lr,
         double lr_decay, double weight_decay, double eps, bool maximize) {
        require_step(step);
        Checked c = check_pair(param, grad);
        void* s = state_ptr(sum, "sum", c, true);
        AdagradConfig cfg{lr, lr_decay, weight_decay, 0.0, eps, maximize};
        check_config(cfg);
        with_dtype(c.param, [&](auto tag) {
          using T = decltype(tag);
          adagrad_step<T>(c.param.ptr<T>(), c.grad.ptr<const T>(), static_cast<T*>(s),
                          c.param.size, step, cfg, 0);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("sum"), py::kw_only(), py::arg("step"),
      py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"),
      py::arg("maximize"));

  m.def(
      "rmsprop_step",
      [](py::object param, py::object grad, py::object square_avg, py::object grad_avg,
         py::object momentum_buffer, std::int64_t step, double lr, double alpha, double eps,
         double weight_decay, double momentum, bool centered, bool maximize) {
        require_step(step);
        Checked c = check_pair(param, grad);
        void* v = state_ptr(square_avg, "square_avg", c, true);
        void* a = state_ptr(grad_avg, "grad_avg", c, centered);
        void* b = state_ptr(momentum_buffer, "momentum_buffer", c, momentum > 0.0);
        RmspropConfig cfg{lr, alpha, eps, weight_decay, momentum, centered, maximize};
        check_config(cfg);
        with_dtype(c.param, [&](auto tag) {
          using T = decltype(tag);
          rmsprop_step<T>(c.param.ptr<T>(), c.grad.ptr<const T>(), static_cast<T*>(v),
                          static_cast<T*>(a), static_cast<T*>(b), c.param.size, step, cfg, 0);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("square_avg"), py::arg("grad_avg"),
      py::arg("momentum_buffer"), py::kw_only(), py::arg("step"), py::arg("lr"),
      py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
      py::arg("centered"), py::arg("maximize"));

  m.def(
      "adam_step",
      [](py::object param, py::object grad, py::object exp_avg, py::object exp_avg_sq,
         py::object max_exp_avg_sq, std::int64_t step, double lr, double beta1, double beta2,
         double eps, double weight_decay, bool amsgrad, bool maximize,
         bool decoupled_weight_decay) {
        require_step(step);
        Checked c = check_pair(param, grad);
        void* m1 = state_ptr(exp_avg, "exp_avg", c, true);
        void* m2 = state_ptr(exp_avg_sq, "exp_avg_sq", c, true);
        void* mx = state_ptr(max_exp_avg_sq, "max_exp_avg_sq", c, amsgrad);
        AdamConfig cfg{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                       decoupled_weight_decay};
        check_config(cfg);
        with_dtype(c.param, [&](auto tag) {
          using T = decltype(tag);
          adam_step<T>(c.param.ptr<T>(), c.grad.ptr<const T>(), static_cast<T*>(m1),
                       static_cast<T*>(m2), static_cast<T*>(mx), c.param.size, step, cfg, 0);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
      py::arg("max_exp_avg_sq"), py::kw_only(), py::arg("step"), py::arg("lr"),
      py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"));

  m.def(
      "adamax_step",
      [](py::object param, py::object grad, py::object exp_avg, py::object exp_inf,
         std::int64_t step, double lr, double beta1, double beta2, double eps,
         double weight_decay, bool maximize) {
        require_step(step);
        Checked c = check_pair(param, grad);
        void* m1 = state_ptr(exp_avg, "exp_avg", c, true);
        void* u = state_ptr(exp_inf, "exp_inf", c, true);
        AdamaxConfig cfg{lr, beta1, beta2, eps, weight_decay, maximize};
        check_config(cfg);
        with_dtype(c.param, [&](auto tag) {
          using T = decltype(tag);
          adamax_step<T>(c.param.ptr<T>(), c.grad.ptr<const T>(), static_cast<T*>(m1),
                         static_cast<T*>(u), c.param.size, step, cfg, 0);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_inf"), py::kw_only(),
      py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("maximize"));

  m.def(
      "nadam_step",
      [](py::object param, py::object grad, py::object exp_avg, py::object exp_avg_sq,
         std::int64_t step, double mu_product, double lr, double beta1, double beta2, double eps,
         double weight_decay, double momentum_decay, bool maximize, bool decoupled_weight_decay) {
        require_step(step);
        Checked c = check_pair(param, grad);
        void* m1 = state_ptr(exp_avg, "exp_avg", c, true);
        void* m2 = state_ptr(exp_avg_sq, "exp_avg_sq", c, true);
        NadamConfig cfg{lr,           beta1,          beta2,    eps,
                        weight_decay, momentum_decay, maximize, decoupled_weight_decay};
        check_config(cfg);
        double out = mu_product;
        with_dtype(c.param, [&](auto tag) {
          using T = decltype(tag);
          out = nadam_step<T>(c.param.ptr<T>(), c.grad.ptr<const T>(), static_cast<T*>(m1),
                              static_cast<T*>(m2), c.param.size, step, mu_product, cfg, 0);
        });
        return out;
      },
      py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
      py::kw_only(), py::arg("step"), py::arg("mu_product"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum_decay"),
      py::arg("maximize"), py::arg("decoupled_weight_decay"));

  m.def(
      "first_nonfinite",
      [](py::object x, int num_threads) {
        FloatArray a = readable_array(x, "x");
        return first_bad(a, num_threads);
      },
      py::arg("x"), py::kw_only(), py::arg("num_threads") = 1,
      "Flat index of the first NaN/inf in x, or x.size if all are finite (num_threads: 0 follows "
      "gdcore's default; small arrays stay on one thread).");

  py::class_<OptimizerEngine>(m, "OptimizerEngine")
      .def(py::init<const std::string&, const py::list&, const std::vector<std::size_t>&,
                    const py::list&, py::array_t<std::int64_t>, py::array_t<double>, std::size_t,
                    int, bool>(),
           py::arg("kind"), py::arg("params"), py::arg("group_of"), py::arg("states"),
           py::arg("steps").noconvert(), py::arg("mu_products").noconvert(), py::arg("n_groups"), py::arg("num_threads"),
           py::arg("check_finite"))
      .def("set_group", &OptimizerEngine::set_group, py::arg("index"), py::arg("group"))
      .def("step", &OptimizerEngine::step, py::arg("grads"))
      .def_property("num_threads", &OptimizerEngine::num_threads,
                    &OptimizerEngine::set_num_threads);
}

}  // namespace gdcore::bind
