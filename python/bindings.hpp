// Shared helpers of the binding files: convert Python objects, check them, and name the argument
// in every error. No maths here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>

#include "gdcore/optimizers.hpp"

namespace gdcore::bind {

namespace py = pybind11;

void register_config(py::module_& m);
void register_optimizers(py::module_& m);
void register_schedules(py::module_& m);
void register_hardware(py::module_& m);
void register_losses(py::module_& m);
void register_train(py::module_& m);
void register_minimize(py::module_& m);
void register_gemm(py::module_& m);
void register_mlp(py::module_& m);

// Optimizer options read by name from a dict (a parameter group or a fit's optimizer options).
OptimizerConfig optimizer_config(OptimizerKind kind, const py::dict& options);

enum class Dtype { f32, f64 };

inline const char* dtype_name(Dtype d) { return d == Dtype::f32 ? "float32" : "float64"; }

inline std::string type_name(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

// A float32/float64 NumPy array in native byte order, viewed as a flat buffer.
struct FloatArray {
  py::array array;
  Dtype dtype = Dtype::f64;
  std::size_t size = 0;
  void* data() const { return const_cast<void*>(array.data()); }
  template <class T>
  T* ptr() const {
    return static_cast<T*>(data());
  }
};

// Accept only a real ndarray of float32/float64; layout is checked by the callers, which differ
// in what they can repair (a gradient may be copied, a parameter updated in place may not).
inline FloatArray float_array(py::handle obj, const std::string& name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + " must be a NumPy array, got " + type_name(obj));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  FloatArray out;
  out.array = a;
  const py::dtype dt = a.dtype();
  if (dt.kind() != 'f' || (dt.itemsize() != 4 && dt.itemsize() != 8))
    throw py::type_error(name + " must have dtype float32 or float64, got " +
                         py::str(dt).cast<std::string>());
  if (dt.byteorder() == '>')
    throw py::type_error(name + " has non-native byte order (" + py::str(dt).cast<std::string>() +
                         "); convert it with .astype(" + (dt.itemsize() == 4 ? "'float32'" : "'float64'") +
                         ")");
  out.dtype = dt.itemsize() == 4 ? Dtype::f32 : Dtype::f64;
  out.size = static_cast<std::size_t>(a.size());
  return out;
}

inline bool is_c_contiguous(const py::array& a) {
  return (a.flags() & py::array::c_style) != 0;
}

// An array the core will write in place: C-contiguous and writeable, or a ValueError.
inline FloatArray writable_array(py::handle obj, const std::string& name) {
  FloatArray a = float_array(obj, name);
  if (!is_c_contiguous(a.array))
    throw py::value_error(name + " must be C-contiguous because it is updated in place; pass "
                                 "np.ascontiguousarray(x) and keep using that array");
  if (!a.array.writeable()) throw py::value_error(name + " is read-only; it is updated in place");
  return a;
}

// An array the core only reads: a non-contiguous one is copied into a contiguous buffer.
inline FloatArray readable_array(py::handle obj, const std::string& name) {
  FloatArray a = float_array(obj, name);
  if (!is_c_contiguous(a.array)) {
    a.array = py::reinterpret_steal<py::array>(
        py::detail::npy_api::get().PyArray_FromAny_(a.array.ptr(), nullptr, 0, 0,
                                                    py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_,
                                                    nullptr));
    if (!a.array) throw py::error_already_set();
  }
  return a;
}

// Same dtype and shape as a reference array, or an error naming both.
inline void require_like(const FloatArray& a, const std::string& name, const FloatArray& ref,
                         const std::string& ref_name) {
  if (a.dtype != ref.dtype)
    throw py::type_error(name + " has dtype " + dtype_name(a.dtype) + " but " + ref_name +
                         " has dtype " + dtype_name(ref.dtype));
  bool same = a.array.ndim() == ref.array.ndim();
  for (py::ssize_t i = 0; same && i < a.array.ndim(); ++i)
    same = a.array.shape(i) == ref.array.shape(i);
  if (!same)
    throw py::value_error(name + " has shape " + shape_of(a.array) + " but " + ref_name +
                          " has shape " + shape_of(ref.array));
}

// For the compiled loops' Ctrl-C polling (called without the GIL): true once a signal handler
// raised, the exception (KeyboardInterrupt) then pending for the caller to hand back.
inline bool python_interrupted() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// Below this many elements, releasing and re-taking the GIL costs more than it frees.
inline constexpr std::size_t kReleaseGilAbove = std::size_t{1} << 14;

// Call f(float{}) or f(double{}) for the array's dtype, without the GIL when the array is large.
template <class F>
void with_dtype(const FloatArray& a, F&& f) {
  auto go = [&] {
    if (a.dtype == Dtype::f32) {
      f(float{});
    } else {
      f(double{});
    }
  };
  if (a.size >= kReleaseGilAbove) {
    py::gil_scoped_release unlock;
    go();
  } else {
    go();
  }
}

}  // namespace gdcore::bind
