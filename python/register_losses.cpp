// Losses and their gradients: the array kernels of cpp/include/gdcore/losses.hpp. Conversion and
// checks only; the maths lives in the header. Outputs are written in place, so the caller
// (gdcore.losses) decides whether to allocate them.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "gdcore/losses.hpp"

namespace gdcore::bind {

namespace {

// f applied to every element of x (any shape), into a new flat array of x's dtype.
template <class F>
py::array elementwise(const py::object& x, F f) {
  FloatArray xs = readable_array(x, "x");
  py::array out(xs.array.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(xs.size)});
  FloatArray res = writable_array(out, "out");
  with_dtype(xs, [&](auto tag) {
    using T = decltype(tag);
    const T* in = xs.ptr<const T>();
    T* o = res.ptr<T>();
    for (std::size_t i = 0; i < xs.size; ++i) o[i] = f(in[i]);
  });
  return out;
}

// The kernels take __restrict pointers: an output sharing memory with another array would make the
// result depend on the order of the loop.
bool overlaps(const py::array& a, const py::array& b) {
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  const auto an = static_cast<std::size_t>(a.nbytes());
  const auto bn = static_cast<std::size_t>(b.nbytes());
  if (an == 0 || bn == 0) return false;
  return a0 < b0 + bn && b0 < a0 + an;
}

void require_apart(const FloatArray& out, const std::string& name,
                   const std::vector<std::pair<const py::array*, std::string>>& others) {
  for (const auto& [other, other_name] : others)
    if (overlaps(out.array, *other))
      throw py::value_error(name + " shares memory with " + other_name +
                            "; pass a separate output array");
}

void require_ndim(const FloatArray& a, const std::string& name, py::ssize_t ndim,
                  const char* layout) {
  if (a.array.ndim() != ndim)
    throw py::value_error(name + " must be " + std::to_string(ndim) + "-D " + layout +
                          ", got shape " + shape_of(a.array));
}

// A 1-D output of n values with the dtype of a reference array.
void require_rows(const FloatArray& out, const std::string& name, py::ssize_t n,
                  const FloatArray& ref, const std::string& ref_name) {
  if (out.dtype != ref.dtype)
    throw py::type_error(name + " has dtype " + dtype_name(out.dtype) + " but " + ref_name +
                         " has dtype " + dtype_name(ref.dtype));
  if (out.array.ndim() != 1 || out.array.shape(0) != n)
    throw py::value_error(name + " has shape " + shape_of(out.array) + " but must have shape (" +
                          std::to_string(n) + ",), one value per row of " + ref_name);
}

void require_epsilon(double epsilon) {
  if (!std::isfinite(epsilon) || epsilon < 0.0)
    throw py::value_error("epsilon must be a finite number >= 0, got " +
                          py::repr(py::float_(epsilon)).cast<std::string>());
}

// Class indices as a C-contiguous int64 array (other integer dtypes are converted by gdcore.losses).
py::array_t<std::int64_t> label_array(py::handle obj) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error("labels must be a NumPy array, got " + type_name(obj));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  const py::dtype dt = a.dtype();
  if (dt.kind() != 'i' || dt.itemsize() != 8 || dt.byteorder() == '>')
    throw py::type_error("labels must have dtype int64, got " + py::str(dt).cast<std::string>());
  return py::array_t<std::int64_t, py::array::c_style>::ensure(a);
}

}  // namespace

void register_losses(py::module_& m) {
  m.def(
      "loss_names",
      [] {
        py::list out;
        for (const LossName& entry : kLossNames)
          out.append(py::make_tuple(entry.name, entry.classifier));
        return out;
      },
      "(name, is_classifier) for every single-output loss, in LossKind's order.");

  m.def(
      "loss_values",
      [](const std::string& kind, double epsilon, py::object p, py::object y,
         py::object out_loss, py::object out_dloss) {
        const LossKind loss = loss_from_name(kind);
        require_epsilon(epsilon);
        FloatArray ps = readable_array(p, "p");
        FloatArray ys = readable_array(y, "y");
        require_like(ys, "y", ps, "p");
        FloatArray ls = writable_array(out_loss, "out_loss");
        require_like(ls, "out_loss", ps, "p");
        FloatArray ds = writable_array(out_dloss, "out_dloss");
        require_like(ds, "out_dloss", ps, "p");
        require_apart(ls, "out_loss", {{&ps.array, "p"}, {&ys.array, "y"}, {&ds.array, "out_dloss"}});
        require_apart(ds, "out_dloss", {{&ps.array, "p"}, {&ys.array, "y"}});
        with_dtype(ps, [&](auto tag) {
          using T = decltype(tag);
          loss_values<T>(loss, epsilon, ps.ptr<const T>(), ys.ptr<const T>(), ps.size,
                         ls.ptr<T>(), ds.ptr<T>());
        });
      },
      py::arg("kind"), py::arg("epsilon"), py::arg("p"), py::arg("y"), py::arg("out_loss"),
      py::arg("out_dloss"),
      "out_loss[i], out_dloss[i] = L(p[i], y[i]), dL/dp(p[i], y[i]) for the named loss.");

  m.def(
      "softmax_loss_grad",
      [](py::object logits, py::object labels, py::object out_loss, py::object out_dlogits) {
        FloatArray xs = readable_array(logits, "logits");
        require_ndim(xs, "logits", 2, "(n_samples, n_classes)");
        const py::ssize_t n = xs.array.shape(0);
        const py::ssize_t k = xs.array.shape(1);
        py::array_t<std::int64_t> ls = label_array(labels);
        if (ls.ndim() != 1 || ls.shape(0) != n)
          throw py::value_error("labels has shape " + shape_of(ls) + " but logits has shape " +
                                shape_of(xs.array) + "; labels must have shape (" +
                                std::to_string(n) + ",)");
        const std::int64_t* lp = ls.data();
        for (py::ssize_t i = 0; i < n; ++i)
          if (lp[i] < 0 || lp[i] >= k)
            throw py::value_error("labels[" + std::to_string(i) + "] = " + std::to_string(lp[i]) +
                                  " is out of range for " + std::to_string(k) +
                                  " classes (logits has shape " + shape_of(xs.array) + ")");
        FloatArray loss = writable_array(out_loss, "out_loss");
        require_rows(loss, "out_loss", n, xs, "logits");
        FloatArray grad = writable_array(out_dlogits, "out_dlogits");
        require_like(grad, "out_dlogits", xs, "logits");
        require_apart(loss, "out_loss",
                      {{&xs.array, "logits"}, {&ls, "labels"}, {&grad.array, "out_dlogits"}});
        require_apart(grad, "out_dlogits", {{&xs.array, "logits"}, {&ls, "labels"}});
        with_dtype(xs, [&](auto tag) {
          using T = decltype(tag);
          softmax_loss_grad<T>(xs.ptr<const T>(), lp, static_cast<std::size_t>(n),
                               static_cast<std::size_t>(k), loss.ptr<T>(), grad.ptr<T>());
        });
      },
      py::arg("logits"), py::arg("labels"), py::arg("out_loss"), py::arg("out_dlogits"),
      "Row-wise -log softmax(logits)[label] and its gradient softmax - onehot.");

  m.def(
      "multi_squared_loss_grad",
      [](py::object p, py::object y, py::object out_loss, py::object out_d) {
        FloatArray ps = readable_array(p, "p");
        require_ndim(ps, "p", 2, "(n_samples, n_outputs)");
        FloatArray ys = readable_array(y, "y");
        require_like(ys, "y", ps, "p");
        const py::ssize_t n = ps.array.shape(0);
        const py::ssize_t k = ps.array.shape(1);
        FloatArray loss = writable_array(out_loss, "out_loss");
        require_rows(loss, "out_loss", n, ps, "p");
        FloatArray grad = writable_array(out_d, "out_d");
        require_like(grad, "out_d", ps, "p");
        require_apart(loss, "out_loss", {{&ps.array, "p"}, {&ys.array, "y"}, {&grad.array, "out_d"}});
        require_apart(grad, "out_d", {{&ps.array, "p"}, {&ys.array, "y"}});
        with_dtype(ps, [&](auto tag) {
          using T = decltype(tag);
          multi_squared_loss_grad<T>(ps.ptr<const T>(), ys.ptr<const T>(),
                                     static_cast<std::size_t>(n), static_cast<std::size_t>(k),
                                     loss.ptr<T>(), grad.ptr<T>());
        });
      },
      py::arg("p"), py::arg("y"), py::arg("out_loss"), py::arg("out_d"),
      "Row-wise ½ Σ (p - y)² and its gradient p - y.");

  // gdcore's vectorizable exp, log1p and log (vmath.hpp), element-wise into new arrays, so that
  // their accuracy can be checked against NumPy's and their bits against the twins'.
  m.def(
      "vmath_exp_nonpositive",
      [](py::object x) { return elementwise(x, [](auto v) { return exp_nonpositive(v); }); },
      py::arg("x"), "e^x for x <= 0, as the core's log loss computes it (flat output).");
  m.def(
      "vmath_log1p_unit",
      [](py::object x) { return elementwise(x, [](auto v) { return log1p_unit(v); }); },
      py::arg("x"), "log(1 + x) for 0 <= x <= 1, as the core's log loss computes it (flat output).");
  m.def(
      "vmath_log_at_least_one",
      [](py::object x) { return elementwise(x, [](auto v) { return log_at_least_one(v); }); },
      py::arg("x"), "log(x) for x >= 1, as the core's softmax computes it (flat output).");
}

}  // namespace gdcore::bind
