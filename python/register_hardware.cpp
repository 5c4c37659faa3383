// Bandwidth probes: conversion and checks only; the kernels live in gdcore/hardware.hpp.
#include "bindings.hpp"
#include "gdcore/hardware.hpp"

namespace gdcore::bind {

void register_hardware(py::module_& m) {
  m.def(
      "triad",
      [](py::object a, py::object b, py::object c, double scalar, int num_threads) {
        FloatArray out = writable_array(a, "a");
        FloatArray x = readable_array(b, "b");
        FloatArray y = readable_array(c, "c");
        require_like(x, "b", out, "a");
        require_like(y, "c", out, "a");
        with_dtype(out, [&](auto tag) {
          using T = decltype(tag);
          triad<T>(out.ptr<T>(), x.ptr<const T>(), y.ptr<const T>(), T(scalar), out.size,
                   num_threads);
        });
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("scalar"), py::kw_only(),
      py::arg("num_threads") = 0, "a = b + scalar * c, in place.");
  m.def(
      "axpy",
      [](py::object a, py::object b, double scalar, int num_threads) {
        FloatArray out = writable_array(a, "a");
        FloatArray x = readable_array(b, "b");
        require_like(x, "b", out, "a");
        with_dtype(out, [&](auto tag) {
          using T = decltype(tag);
          axpy<T>(out.ptr<T>(), x.ptr<const T>(), T(scalar), out.size, num_threads);
        });
      },
      py::arg("a"), py::arg("b"), py::arg("scalar"), py::kw_only(), py::arg("num_threads") = 0,
      "a = a + scalar * b, in place.");
  m.def(
      "row_sum",
      [](py::object out, py::object X, py::object order, int num_threads) {
        FloatArray sum = writable_array(out, "out");
        FloatArray rows = readable_array(X, "X");
        if (rows.array.ndim() != 2)
          throw py::value_error("X must be 2-D, got shape " + shape_of(rows.array));
        const std::size_t n = static_cast<std::size_t>(rows.array.shape(0));
        const std::size_t d = static_cast<std::size_t>(rows.array.shape(1));
        if (sum.dtype != rows.dtype || sum.array.ndim() != 1 || sum.size != d)
          throw py::value_error("out must be a 1-D array of X's dtype with " + std::to_string(d) +
                                " values, got shape " + shape_of(sum.array));
        auto idx = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>(order);
        if (idx.ndim() != 1) throw py::value_error("order must be 1-D");
        const std::int64_t* o = idx.data();
        const std::size_t m = static_cast<std::size_t>(idx.size());
        for (std::size_t i = 0; i < m; ++i)
          if (o[i] < 0 || static_cast<std::size_t>(o[i]) >= n)
            throw py::value_error("order[" + std::to_string(i) + "] = " + std::to_string(o[i]) +
                                  " is not a row of X (" + std::to_string(n) + " rows)");
        with_dtype(rows, [&](auto tag) {  // X's size decides whether the GIL is released
          using T = decltype(tag);
          row_sum<T>(sum.ptr<T>(), rows.ptr<const T>(), d, o, m, num_threads);
        });
      },
      py::arg("out"), py::arg("X"), py::arg("order"), py::kw_only(), py::arg("num_threads") = 0,
      "out = sum of the rows X[order[i]], read in that order (the shuffled-read probe).");
  m.def(
      "row_sum_chunks",
      [](std::size_t rows, std::size_t d, int num_threads) {
        return row_sum_chunks(rows, d, num_threads);
      },
      py::arg("rows"), py::arg("d"), py::arg("num_threads"),
      "How many chunks (threads) row_sum splits `rows` rows of `d` values into.");
}

}  // namespace gdcore::bind
