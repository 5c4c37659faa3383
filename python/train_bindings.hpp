// Binding helpers shared by the training loops (register_train.cpp, register_mlp.cpp): row
// indices in, the history out. No maths here.
#pragma once

#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "gdcore/train.hpp"

namespace gdcore::bind {

// Row indices into an array of n rows, checked, or an error naming the argument. The loop
// reads them in place (no copy) while the GIL is released: `array` keeps them alive, and
// gdcore's Python callers pass arrays they made for the call, which nothing else can change.
struct RowsArg {
  py::array_t<std::int64_t> array;
  Rows rows;
};

inline RowsArg rows_from(const py::object& obj, std::size_t n, const char* name) {
  auto arr = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(obj);
  if (!arr) throw py::type_error(std::string(name) + " must be an array of row indices");
  const Rows rows(arr.data(), static_cast<std::size_t>(arr.size()));
  for (std::int64_t r : rows)
    if (r < 0 || static_cast<std::size_t>(r) >= n)
      throw py::value_error(std::string(name) + " holds row " + std::to_string(r) +
                            ", outside [0, " + std::to_string(n) + ")");
  return {arr, rows};
}

inline const char* status_name(Status s) {
  switch (s) {
    case Status::max_epochs: return "max_epochs";
    case Status::converged: return "converged";
    case Status::target_reached: return "target_reached";
    case Status::diverged: return "diverged";
    case Status::interrupted: return "interrupted";
    case Status::bad_input: return "bad_input";
  }
  return "?";
}

// A loop's result as the Python layer reads it (`size` parameters per path entry). Ctrl-C: the
// signal handler's exception (KeyboardInterrupt) is handed back with the history, and the
// Python layer raises it once the model of the last completed step is in place.
inline py::dict train_result_dict(const TrainResult& r, std::size_t size) {
  py::object interrupt = py::none();
  if (PyErr_Occurred()) {
    py::error_already_set pending;
    interrupt = pending.value();
  }
  py::dict out;
  out["loss"] = r.loss;
  out["lr"] = r.lr;
  out["val_loss"] = r.val_loss;
  out["val_score"] = r.val_score;
  py::array_t<double> path({static_cast<py::ssize_t>(r.path.size() / size),
                            static_cast<py::ssize_t>(size)});
  std::copy(r.path.begin(), r.path.end(), path.mutable_data());
  out["path"] = path;
  out["epochs"] = r.epochs;
  out["status"] = status_name(r.status);
  out["bad_step"] = r.bad_step;
  out["bad_lr"] = r.bad_lr;
  out["interrupt"] = interrupt;
  return out;
}

}  // namespace gdcore::bind
