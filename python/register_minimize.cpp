// minimize and the built-in test functions: convert and check the arguments, release the GIL for
// built-ins, call back into Python for a Python function, hand back the result. No maths here.
#include <Python.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "gdcore/functions.hpp"
#include "gdcore/minimize.hpp"
#include "gdcore/schedules.hpp"

namespace gdcore::bind {

namespace {

const char* status_name(MinimizeStatus s) {
  switch (s) {
    case MinimizeStatus::converged: return "converged";
    case MinimizeStatus::max_iter: return "max_iter";
    case MinimizeStatus::diverged: return "diverged";
    case MinimizeStatus::interrupted: return "interrupted";
  }
  return "?";
}

const char* nonfinite_name(Nonfinite b) {
  switch (b) {
    case Nonfinite::none: return "";
    case Nonfinite::point: return "point";
    case Nonfinite::value: return "value";
    case Nonfinite::gradient: return "gradient";
  }
  return "?";
}

// A built-in's spec from its name and options; an unknown option is a ValueError naming it.
FunctionSpec function_spec(const std::string& name, const py::dict& options) {
  FunctionSpec spec;
  try {
    spec.kind = function_from_name(name);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(std::string("fun: ") + e.what());
  }
  auto take = [&](const char* key, double& slot) {
    if (options.contains(key)) slot = options[key].cast<double>();
  };
  std::vector<std::string> allowed;
  switch (spec.kind) {
    case FunctionKind::quadratic:
      take("condition", spec.quadratic.condition);
      take("angle", spec.quadratic.angle);
      allowed = {"condition", "angle"};
      break;
    case FunctionKind::rosenbrock:
      take("a", spec.rosenbrock.a);
      take("b", spec.rosenbrock.b);
      allowed = {"a", "b"};
      break;
    case FunctionKind::rastrigin:
      take("A", spec.rastrigin.A);
      allowed = {"A"};
      break;
    default: break;
  }
  for (auto item : options) {
    const std::string key = py::str(item.first).cast<std::string>();
    bool known = false;
    for (const auto& a : allowed) known = known || a == key;
    if (!known) {
      std::string listed;
      for (const auto& a : allowed) listed += (listed.empty() ? "" : ", ") + a;
      throw py::value_error("unknown option '" + key + "' for the " + name + " function" +
                            (listed.empty() ? std::string(" (it takes none)")
                                            : "; known: " + listed));
    }
  }
  return spec;
}

// The point's dimension fits the built-in, or a ValueError naming `what`.
void require_dim(const FunctionSpec& spec, const std::string& name, std::size_t n,
                 const std::string& what) {
  const std::size_t lo = function_min_dim(spec.kind), hi = function_max_dim(spec.kind);
  if (n < lo || (hi != 0 && n > hi)) {
    const std::string want = hi == lo ? "exactly " + std::to_string(lo)
                                      : "at least " + std::to_string(lo);
    throw py::value_error(what + " has " + std::to_string(n) + " coordinates but " + name +
                          " takes " + want);
  }
}

// A Python function as the loop's objective (called with the GIL held). Each call gets a fresh
// copy of the point, so a function that keeps its argument sees the points of the path. An
// exception raised by the function stops the loop and is kept for the caller.
template <class T>
struct PythonObjective {
  py::object fun;
  py::object grad;  // None when fun returns (value, gradient)
  py::object error = py::none();

  bool operator()(const T* x, std::size_t n, T* g, T* value) {
    try {
      py::array_t<T> point(static_cast<py::ssize_t>(n));
      std::memcpy(point.mutable_data(), x, n * sizeof(T));
      py::object v, gv;
      if (grad.is_none()) {
        py::object out = fun(point);
        if (!py::isinstance<py::tuple>(out) || py::len(out) != 2)
          throw py::type_error("with grad=True, fun must return (value, gradient), got " +
                               type_name(out));
        v = out[py::int_(0)];
        gv = out[py::int_(1)];
      } else {
        v = fun(point);
        gv = grad(point);
      }
      if (py::isinstance<py::array>(v) && py::reinterpret_borrow<py::array>(v).ndim() != 0)
        throw py::type_error("fun must return a scalar, got an array of shape " +
                             shape_of(py::reinterpret_borrow<py::array>(v)));
      *value = static_cast<T>(v.cast<double>());
      py::array raw = py::array::ensure(gv);
      if (!raw) throw py::type_error("the gradient must be an array of numbers, got " + type_name(gv));
      if (raw.dtype().kind() == 'c')  // forcecast would drop the imaginary parts, with a warning
        throw py::type_error("the gradient must be real, got dtype " +
                             py::str(raw.dtype()).cast<std::string>());
      auto garr = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(raw);
      if (!garr) throw py::type_error("the gradient must be an array of numbers, got " + type_name(gv));
      if (static_cast<std::size_t>(garr.size()) != n || garr.ndim() != 1)
        throw py::value_error("the gradient has shape " + shape_of(garr) + " but x0 has shape (" +
                              std::to_string(n) + ",)");
      std::memcpy(g, garr.data(), n * sizeof(T));
      return true;
    } catch (py::error_already_set& e) {
      error = e.value();
    } catch (py::cast_error&) {
      error = py::module_::import("builtins").attr("TypeError")(
          "fun must return a real number (or (value, gradient) with grad=True)");
    } catch (py::builtin_exception& e) {
      e.set_error();
      py::error_already_set pending;
      error = pending.value();
    }
    return false;
  }
};

template <class T>
py::dict result_dict(const MinimizeResult<T>& r, std::size_t n, py::object interrupt) {
  py::dict out;
  out["fun"] = r.fun;
  py::array_t<T> grad(static_cast<py::ssize_t>(n));
  if (!r.grad.empty()) std::memcpy(grad.mutable_data(), r.grad.data(), n * sizeof(T));
  out["grad"] = grad;
  out["grad_norm"] = r.grad_norm;
  out["n_iter"] = r.n_iter;
  out["status"] = status_name(r.status);
  out["bad_step"] = r.bad_step;
  out["bad_lr"] = r.bad_lr;
  out["bad"] = nonfinite_name(r.bad);
  const py::ssize_t rows = static_cast<py::ssize_t>(r.losses.size());
  py::array_t<T> path({rows, static_cast<py::ssize_t>(n)});
  if (rows) std::memcpy(path.mutable_data(), r.path.data(), r.path.size() * sizeof(T));
  out["path"] = path;
  py::array_t<double> losses(rows);
  if (rows) std::memcpy(losses.mutable_data(), r.losses.data(), r.losses.size() * sizeof(double));
  out["losses"] = losses;
  out["interrupt"] = interrupt;
  return out;
}

// A pending Python exception (Ctrl-C caught by a poll), fetched so it can travel with the result.
py::object fetch_pending() {
  if (!PyErr_Occurred()) return py::none();
  py::error_already_set pending;
  return pending.value();
}

template <class T>
py::dict run_builtin(const FunctionSpec& spec, const FloatArray& x, const MinimizeSettings& s,
                     const OptimizerConfig& opt, Schedule* schedule) {
  ScheduleOrConstant sched{schedule, opt.lr()};
  MinimizePoll poll = python_interrupted;
  MinimizeResult<T> r;
  {
    py::gil_scoped_release release;
    with_function(spec, [&](const auto& fn) {
      BuiltinObjective<std::decay_t<decltype(fn)>> objective{fn};
      r = minimize<T>(objective, x.ptr<T>(), x.size, s, opt, sched, poll);
    });
  }
  return result_dict(r, x.size, fetch_pending());
}

template <class T>
py::dict run_python(py::object fun, py::object grad, const FloatArray& x,
                    const MinimizeSettings& s, const OptimizerConfig& opt, Schedule* schedule) {
  ScheduleOrConstant sched{schedule, opt.lr()};
  MinimizePoll poll = [] { return PyErr_CheckSignals() != 0; };  // the GIL is held throughout
  PythonObjective<T> objective{std::move(fun), std::move(grad)};
  MinimizeResult<T> r = minimize<T>(objective, x.ptr<T>(), x.size, s, opt, sched, poll);
  py::object interrupt = objective.error.is_none() ? fetch_pending() : objective.error;
  return result_dict(r, x.size, interrupt);
}

}  // namespace

void register_minimize(py::module_& m) {
  m.def(
      "evaluate_function",
      [](const std::string& name, py::object x, py::dict options) {
        const FunctionSpec spec = function_spec(name, options);
        FloatArray a = readable_array(x, "x");
        if (a.array.ndim() != 1 && a.array.ndim() != 2)
          throw py::value_error("x must be a point (n,) or points (m, n), got shape " +
                                shape_of(a.array));
        const std::size_t n = static_cast<std::size_t>(a.array.shape(a.array.ndim() - 1));
        const std::size_t rows = n ? a.size / n : 0;
        require_dim(spec, name, n, "x");
        py::array values = a.dtype == Dtype::f32 ? py::array(py::array_t<float>(rows))
                                                 : py::array(py::array_t<double>(rows));
        py::array grads = a.dtype == Dtype::f32
                              ? py::array(py::array_t<float>(std::vector<py::ssize_t>(
                                    a.array.shape(), a.array.shape() + a.array.ndim())))
                              : py::array(py::array_t<double>(std::vector<py::ssize_t>(
                                    a.array.shape(), a.array.shape() + a.array.ndim())));
        FloatArray out_v = float_array(values, "values"), out_g = float_array(grads, "grads");
        with_dtype(a, [&](auto tag) {
          using T = decltype(tag);
          evaluate_function<T>(spec, a.ptr<const T>(), rows, n, out_v.ptr<T>(), out_g.ptr<T>());
        });
        py::object first = a.array.ndim() == 1 ? py::object(values[py::int_(0)]) : values;
        return py::tuple(py::make_tuple(first, grads));
      },
      py::arg("name"), py::arg("x"), py::arg("options"),
      "Value and gradient of a built-in at a point (n,) or at each row of (m, n).");

  m.def(
      "minimize",
      [](py::object fun, py::object x, py::object grad, py::dict function_options,
         const std::string& optimizer, py::dict optimizer_options, py::object schedule,
         std::int64_t max_iter, double tol, bool record) {
        FloatArray a = writable_array(x, "x0");
        if (a.array.ndim() != 1) throw py::value_error("x0 must be 1-D, got shape " + shape_of(a.array));
        if (a.size == 0) throw py::value_error("x0 is empty");
        if (max_iter < 0) throw py::value_error("max_iter must be >= 0");
        MinimizeSettings s;
        s.max_iter = max_iter;
        s.tol = tol;
        s.record = record;
        const OptimizerConfig opt = optimizer_config(optimizer_from_name(optimizer), optimizer_options);
        Schedule* sched = schedule.is_none() ? nullptr : schedule.cast<Schedule*>();
        if (py::isinstance<py::str>(fun)) {
          const std::string name = fun.cast<std::string>();
          const FunctionSpec spec = function_spec(name, function_options);
          require_dim(spec, name, a.size, "x0");
          if (a.dtype == Dtype::f32) return run_builtin<float>(spec, a, s, opt, sched);
          return run_builtin<double>(spec, a, s, opt, sched);
        }
        if (!PyCallable_Check(fun.ptr()))
          throw py::type_error("fun must be a built-in function name or a callable, got " +
                               type_name(fun));
        if (!grad.is_none() && !PyCallable_Check(grad.ptr()))
          throw py::type_error("grad must be a callable or None, got " + type_name(grad));
        if (a.dtype == Dtype::f32) return run_python<float>(fun, grad, a, s, opt, sched);
        return run_python<double>(fun, grad, a, s, opt, sched);
      },
      py::arg("fun"), py::arg("x0"), py::arg("grad"), py::kw_only(), py::arg("function_options"),
      py::arg("optimizer"), py::arg("optimizer_options"), py::arg("schedule"),
      py::arg("max_iter"), py::arg("tol"), py::arg("record"),
      "Run the minimize loop from x0 (updated in place). fun: a built-in name or a callable; "
      "grad: a callable, or None when fun returns (value, gradient).");
}

}  // namespace gdcore::bind
