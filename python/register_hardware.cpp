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
}

}  // namespace gdcore::bind
