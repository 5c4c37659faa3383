// Learning-rate schedules: one Python class per C++ schedule, all sharing the base class
// Schedule (lr, lr_many, observe, state, copy, pickle). Conversion and checks only; the formulas
// live in cpp/include/gdcore/schedules.hpp. Hyperparameters arrive validated from
// src/gdcore/schedules.py; the C++ constructors check again and throw std::invalid_argument,
// which pybind11 raises as ValueError.
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "gdcore/schedules.hpp"

namespace gdcore::bind {

namespace {

void require_step_index(std::int64_t t, const char* name) {
  if (t < 0) throw py::value_error(std::string(name) + " must be >= 0, got " + std::to_string(t));
}

// Many step indices at once: any integer array (or list of ints), any shape; float arrays are
// refused rather than truncated.
py::array_t<double> lr_many(const Schedule& s, const py::object& t_obj) {
  py::array t_any = py::array::ensure(t_obj);
  if (!t_any) throw py::type_error("t must be an array of integers, got " + type_name(t_obj));
  const char kind = t_any.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error("t must hold integers, got dtype " +
                         py::str(t_any.dtype()).cast<std::string>());
  auto t = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(t_any);
  if (!t) throw py::error_already_set();
  const std::int64_t* ts = t.data();
  const auto n = static_cast<std::size_t>(t.size());
  for (std::size_t i = 0; i < n; ++i)
    if (ts[i] < 0)
      throw py::value_error("t must be >= 0, got t.flat[" + std::to_string(i) +
                            "] = " + std::to_string(ts[i]));
  std::vector<py::ssize_t> shape(t.shape(), t.shape() + t.ndim());
  py::array_t<double> out(shape);
  double* o = out.mutable_data();
  for (std::size_t i = 0; i < n; ++i) o[i] = s.lr(ts[i]);
  return out;
}

py::tuple spec_to_tuple(const ScheduleSpec& s) {
  py::object inner = py::none();
  if (!s.inner.empty()) inner = spec_to_tuple(s.inner[0]);
  return py::make_tuple(s.kind, s.reals, s.integers, inner);
}

ScheduleSpec spec_from_tuple(const py::handle& obj) {
  if (!py::isinstance<py::tuple>(obj) || py::len(obj) != 4)
    throw py::type_error("spec must be a tuple (kind, reals, integers, inner), got " +
                         type_name(obj));
  auto t = obj.cast<py::tuple>();
  ScheduleSpec s;
  s.kind = t[0].cast<std::string>();
  s.reals = t[1].cast<std::vector<double>>();
  s.integers = t[2].cast<std::vector<std::int64_t>>();
  if (!t[3].is_none()) s.inner.push_back(spec_from_tuple(t[3]));
  return s;
}

std::unique_ptr<Schedule> restore(const py::handle& spec, const std::vector<double>& state) {
  auto s = make_schedule(spec_from_tuple(spec));
  s->set_state(state);
  return s;
}

}  // namespace

void register_schedules(py::module_& m) {
  py::class_<Schedule>(m, "Schedule",
                       "A learning-rate schedule of the compiled core: lr(t) for update t "
                       "(0 first). Built by its subclasses.")
      .def(
          "lr",
          [](const Schedule& s, std::int64_t t) {
            require_step_index(t, "t");
            return s.lr(t);
          },
          py::arg("t"), "The learning rate of update t (t = updates completed, 0 first).")
      .def("lr_many", &lr_many, py::arg("t"), "lr(t) for every element of an integer array.")
      .def("observe", &Schedule::observe, py::arg("metric"),
           "Report a metric (ReduceLROnPlateau reacts; the others ignore it).")
      .def("state", &Schedule::state, "The mutable state as a list of floats (often empty).")
      .def("set_state", &Schedule::set_state, py::arg("state"))
      .def_property_readonly("kind", [](const Schedule& s) { return s.spec().kind; })
      .def_property_readonly(
          "spec", [](const Schedule& s) { return spec_to_tuple(s.spec()); },
          "(kind, reals, integers, inner spec or None): the constructor arguments.")
      .def("copy", &Schedule::clone)
      .def("__copy__", &Schedule::clone)
      .def("__deepcopy__", [](const Schedule& s, const py::dict&) { return s.clone(); },
           py::arg("memo"))
      .def("__reduce__", [m](const Schedule& s) {
        return py::make_tuple(m.attr("_schedule_from_spec"),
                              py::make_tuple(spec_to_tuple(s.spec()), s.state()));
      });

  m.def("_schedule_from_spec", &restore, py::arg("spec"), py::arg("state"),
        "Rebuild a schedule from Schedule.spec and Schedule.state() (used by pickle).");

  py::class_<ConstantLR, Schedule>(m, "ConstantLR")
      .def(py::init<double, double, std::int64_t>(), py::arg("lr"), py::arg("factor"),
           py::arg("total_iters"));
  py::class_<StepLR, Schedule>(m, "StepLR")
      .def(py::init<double, std::int64_t, double>(), py::arg("lr"), py::arg("step_size"),
           py::arg("gamma"));
  py::class_<MultiStepLR, Schedule>(m, "MultiStepLR")
      .def(py::init<double, std::vector<std::int64_t>, double>(), py::arg("lr"),
           py::arg("milestones"), py::arg("gamma"));
  py::class_<ExponentialLR, Schedule>(m, "ExponentialLR")
      .def(py::init<double, double>(), py::arg("lr"), py::arg("gamma"));
  py::class_<InverseScaling, Schedule>(m, "InverseScaling")
      .def(py::init<double, double>(), py::arg("lr"), py::arg("power_t"));
  py::class_<OptimalLR, Schedule>(m, "OptimalLR")
      .def(py::init<double, double>(), py::arg("alpha"), py::arg("dloss_at_init"));
  py::class_<PolynomialLR, Schedule>(m, "PolynomialLR")
      .def(py::init<double, std::int64_t, double>(), py::arg("lr"), py::arg("total_iters"),
           py::arg("power"));
  py::class_<CosineAnnealingLR, Schedule>(m, "CosineAnnealingLR")
      .def(py::init<double, std::int64_t, double>(), py::arg("lr"), py::arg("T_max"),
           py::arg("eta_min"));
  py::class_<CosineAnnealingWarmRestarts, Schedule>(m, "CosineAnnealingWarmRestarts")
      .def(py::init<double, std::int64_t, std::int64_t, double>(), py::arg("lr"),
           py::arg("T_0"), py::arg("T_mult"), py::arg("eta_min"));
  py::class_<Warmup, Schedule>(m, "Warmup")
      .def(py::init([](const Schedule& inner, std::int64_t warmup_steps, double start_factor) {
             return std::make_unique<Warmup>(inner.clone(), warmup_steps, start_factor);
           }),
           py::arg("inner"), py::arg("warmup_steps"), py::arg("start_factor"),
           "The inner schedule is copied.");
  py::class_<OneCycleLR, Schedule>(m, "OneCycleLR")
      .def(py::init([](double max_lr, std::int64_t total_steps, double pct_start,
                       const std::string& anneal_strategy, double div_factor,
                       double final_div_factor, bool three_phase) {
             return std::make_unique<OneCycleLR>(max_lr, total_steps, pct_start,
                                                 anneal_from_name(anneal_strategy), div_factor,
                                                 final_div_factor, three_phase);
           }),
           py::arg("max_lr"), py::arg("total_steps"), py::arg("pct_start"),
           py::arg("anneal_strategy"), py::arg("div_factor"), py::arg("final_div_factor"),
           py::arg("three_phase"));
  py::class_<ReduceLROnPlateau, Schedule>(m, "ReduceLROnPlateau")
      .def(py::init([](double lr, const std::string& mode, double factor, std::int64_t patience,
                       double threshold, const std::string& threshold_mode,
                       std::int64_t cooldown, double min_lr, double eps) {
             return std::make_unique<ReduceLROnPlateau>(
                 lr, plateau_mode_from_name(mode), factor, patience, threshold,
                 threshold_mode_from_name(threshold_mode), cooldown, min_lr, eps);
           }),
           py::arg("lr"), py::arg("mode"), py::arg("factor"), py::arg("patience"),
           py::arg("threshold"), py::arg("threshold_mode"), py::arg("cooldown"),
           py::arg("min_lr"), py::arg("eps"));
}

}  // namespace gdcore::bind
