// Matrix multiply: conversion and checks only; the kernel lives in gdcore/gemm.hpp.
#include <cstddef>
#include <string>
#include <utility>

#include "bindings.hpp"
#include "gdcore/gemm.hpp"

namespace gdcore::bind {

namespace {

// A 2-D operand the core only reads. A Fortran-ordered array (typically x.T of a C-ordered x) is
// read as its C-ordered transpose with the transpose flag flipped, instead of being copied.
std::pair<FloatArray, bool> matrix_operand(py::handle obj, const std::string& name, bool transposed) {
  FloatArray a = float_array(obj, name);
  if (a.array.ndim() != 2)
    throw py::value_error(name + " must be 2-D, got shape " + shape_of(a.array));
  const bool fortran = (a.array.flags() & py::array::f_style) != 0;
  if (!is_c_contiguous(a.array) && fortran) {
    a.array = a.array.attr("T").cast<py::array>();
    return {a, !transposed};
  }
  return {readable_array(obj, name), transposed};
}

std::size_t dim(const py::array& a, int axis, bool transposed) {
  return static_cast<std::size_t>(a.shape(transposed ? 1 - axis : axis));
}

}  // namespace

void register_gemm(py::module_& m) {
  m.def(
      "gemm",
      [](py::object a_obj, py::object b_obj, py::object c_obj, double alpha, double beta,
         bool trans_a, bool trans_b, int num_threads) {
        FloatArray c = writable_array(c_obj, "C");
        if (c.array.ndim() != 2)
          throw py::value_error("C must be 2-D, got shape " + shape_of(c.array));
        auto [a, ta] = matrix_operand(a_obj, "A", trans_a);
        auto [b, tb] = matrix_operand(b_obj, "B", trans_b);
        if (a.dtype != c.dtype)
          throw py::type_error(std::string("A has dtype ") + dtype_name(a.dtype) + " but C has dtype " +
                               dtype_name(c.dtype));
        if (b.dtype != c.dtype)
          throw py::type_error(std::string("B has dtype ") + dtype_name(b.dtype) + " but C has dtype " +
                               dtype_name(c.dtype));
        const std::size_t m = dim(a.array, 0, ta), k = dim(a.array, 1, ta);
        const std::size_t kb = dim(b.array, 0, tb), n = dim(b.array, 1, tb);
        const std::string op_a = trans_a ? "A.T" : "A", op_b = trans_b ? "B.T" : "B";
        if (kb != k)
          throw py::value_error(op_a + " is " + std::to_string(m) + " x " + std::to_string(k) +
                                " but " + op_b + " is " + std::to_string(kb) + " x " +
                                std::to_string(n) + ": inner dimensions differ");
        if (static_cast<std::size_t>(c.array.shape(0)) != m ||
            static_cast<std::size_t>(c.array.shape(1)) != n)
          throw py::value_error("C has shape " + shape_of(c.array) + " but " + op_a + " @ " + op_b +
                                " is (" + std::to_string(m) + ", " + std::to_string(n) + ")");
        const std::size_t lda = static_cast<std::size_t>(a.array.shape(1));
        const std::size_t ldb = static_cast<std::size_t>(b.array.shape(1));
        auto run = [&] {
          if (c.dtype == Dtype::f32) {
            gemm<float>(ta, tb, m, n, k, static_cast<float>(alpha), a.ptr<const float>(), lda,
                        b.ptr<const float>(), ldb, static_cast<float>(beta), c.ptr<float>(), n,
                        num_threads);
          } else {
            gemm<double>(ta, tb, m, n, k, alpha, a.ptr<const double>(), lda, b.ptr<const double>(),
                         ldb, beta, c.ptr<double>(), n, num_threads);
          }
        };
        if (m * n * (k + 1) >= kReleaseGilAbove) {
          py::gil_scoped_release unlock;
          run();
        } else {
          run();
        }
      },
      py::arg("A"), py::arg("B"), py::arg("C"), py::kw_only(), py::arg("alpha") = 1.0,
      py::arg("beta") = 0.0, py::arg("trans_a") = false, py::arg("trans_b") = false,
      py::arg("num_threads") = 0,
      "C = alpha * op(A) @ op(B) + beta * C, in place (op(X) = X.T when trans_x). beta == 0 "
      "ignores C's old values (NaN included), as in BLAS.");
  m.def(
      "fma_peak_probe",
      [](const std::string& dtype, std::size_t iterations) {
        py::gil_scoped_release unlock;
        if (dtype == "float32") {
          float sink = 0;
          return fma_peak_probe<float>(iterations, &sink);
        }
        if (dtype == "float64") {
          double sink = 0;
          return fma_peak_probe<double>(iterations, &sink);
        }
        throw py::value_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
      },
      py::arg("dtype"), py::arg("iterations"),
      "Run the FMA-throughput probe on the active SIMD path, one thread; returns the flops done.");
}

}  // namespace gdcore::bind
