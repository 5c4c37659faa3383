// Matrix multiply: conversion and checks only; the kernel lives in gdcore/gemm.hpp.
#include <algorithm>
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

// The kernel writes C in blocks while it still reads A and B: an operand sharing memory with C
// would be read after it was partly overwritten (gemm(A, A, A) gave wrong numbers). Every array
// here is contiguous by now (C by requirement, the operands as read), so the byte ranges tell.
void require_apart(const FloatArray& c, const FloatArray& operand, const char* name) {
  const char* c0 = static_cast<const char*>(c.array.data());
  const char* o0 = static_cast<const char*>(operand.array.data());
  const auto cn = static_cast<std::size_t>(c.array.nbytes());
  const auto on = static_cast<std::size_t>(operand.array.nbytes());
  if (cn != 0 && on != 0 && c0 < o0 + on && o0 < c0 + cn)
    throw py::value_error(std::string("C shares memory with ") + name +
                          "; gemm writes C while it reads " + name +
                          ", so pass a separate output array (e.g. " + name + ".copy())");
}

// The probe's longest run: peak_flops never asks for more (about a minute of FMAs at most).
constexpr std::size_t kMaxProbeIterations = std::size_t{1} << 34;
// Run in pieces of this many iterations (tens of milliseconds), checking for Ctrl-C in between.
constexpr std::size_t kProbeChunk = std::size_t{1} << 22;

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
        require_apart(c, a, "A");
        require_apart(c, b, "B");
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
        if (dtype != "float32" && dtype != "float64")
          throw py::value_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
        if (iterations > kMaxProbeIterations)
          throw py::value_error("iterations must be <= " + std::to_string(kMaxProbeIterations) +
                                ", got " + std::to_string(iterations));
        double flops = 0.0;
        // The probe's result, stored where the compiler cannot drop it (else it drops the FMAs).
        volatile double kept = 0.0;
        for (std::size_t done = 0; done < iterations;) {
          const std::size_t count = std::min(kProbeChunk, iterations - done);
          {
            py::gil_scoped_release unlock;
            if (dtype == "float32") {
              float sink = 0;
              flops += fma_peak_probe<float>(count, &sink);
              kept = sink;
            } else {
              double sink = 0;
              flops += fma_peak_probe<double>(count, &sink);
              kept = sink;
            }
          }
          done += count;
          if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        }
        static_cast<void>(kept);
        return flops;
      },
      py::arg("dtype"), py::arg("iterations"),
      "Run the FMA-throughput probe on the active SIMD path, one thread; returns the flops done.");
}

}  // namespace gdcore::bind
