// Multilayer perceptrons: convert and check the arrays, release the GIL, run gdcore/mlp.hpp.
// No maths here.
#include <Python.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "train_bindings.hpp"
#include "gdcore/mlp.hpp"
#include "gdcore/schedules.hpp"

namespace gdcore::bind {

namespace {

Activation activation_from_name(const std::string& name) {
  if (name == "identity") return Activation::identity;
  if (name == "relu") return Activation::relu;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (name == "logistic" || name == "sigmoid") return Activation::logistic;
  if (name == "tanh") return Activation::tanh;
  throw py::value_error("unknown activation '" + name +
                        "'; expected identity, relu, leaky_relu, logistic (sigmoid) or tanh");
}

Task mlp_task_from_name(const std::string& name) {
  if (name == "regression") return Task::regression;
  if (name == "binary") return Task::binary;
  if (name == "softmax") return Task::softmax;
  throw py::value_error("unknown task '" + name + "'; expected regression, binary or softmax");
}

MlpShape make_shape(const std::vector<std::size_t>& sizes, const std::string& activation,
                    const std::string& task) {
  if (sizes.size() < 2) throw py::value_error("layer_sizes needs at least inputs and outputs");
  for (std::size_t s : sizes)
    if (s == 0) throw py::value_error("layer_sizes must be positive");
  // The core computes offsets as sums of fan_in * fan_out + fan_out without overflow checks: a
  // count that wraps would let a small params array pass the size check below and be indexed far
  // past its end. So the count is computed here with checks, and must fit in an ssize_t.
  std::size_t total = 0;
  for (std::size_t l = 1; l < sizes.size(); ++l) {
    std::size_t weights = 0, layer = 0;
    if (__builtin_mul_overflow(sizes[l - 1], sizes[l], &weights) ||
        __builtin_add_overflow(weights, sizes[l], &layer) ||
        __builtin_add_overflow(total, layer, &total) ||
        total > static_cast<std::size_t>(std::numeric_limits<py::ssize_t>::max()))
      throw py::value_error("layer_sizes needs more parameters than an array can hold (over " +
                            std::to_string(std::numeric_limits<py::ssize_t>::max()) + ")");
  }
  MlpShape shape;
  shape.sizes = sizes;
  shape.activation = activation_from_name(activation);
  shape.task = mlp_task_from_name(task);
  if (shape.task == Task::binary && shape.outputs() != 1)
    throw py::value_error("the binary task needs one output");
  return shape;
}

FloatArray params_for(py::object params, const MlpShape& shape, bool writable) {
  FloatArray p = writable ? writable_array(params, "params") : readable_array(params, "params");
  if (p.size != shape.size())
    throw py::value_error("params holds " + std::to_string(p.size) + " values but layer_sizes needs " +
                          std::to_string(shape.size()));
  return p;
}

FloatArray matrix(py::object obj, const char* name, std::size_t cols) {
  FloatArray a = readable_array(obj, name);
  if (a.array.ndim() != 2 || static_cast<std::size_t>(a.array.shape(1)) != cols)
    throw py::value_error(std::string(name) + " must be 2-D with " + std::to_string(cols) +
                          " columns, got shape " + shape_of(a.array));
  return a;
}

// Targets as the core reads them: (n, outputs) values for regression, one ±1 label (binary) or
// class index (softmax) per row; checked here so that a bad label cannot index out of bounds.
FloatArray targets(py::object obj, const MlpShape& shape, std::size_t n, Dtype dtype) {
  const std::size_t ky = shape.task == Task::regression ? shape.outputs() : 1;
  FloatArray y = readable_array(obj, "Y");
  if (y.dtype != dtype) throw py::type_error("Y must have X's dtype");
  if (y.size != n * ky)
    throw py::value_error("Y has shape " + shape_of(y.array) + "; expected " + std::to_string(n) +
                          " rows of " + std::to_string(ky));
  if (shape.task == Task::softmax) {
    auto check = [&](auto* v) {
      for (std::size_t i = 0; i < n; ++i) {
        const double c = static_cast<double>(v[i]);
        if (!(c >= 0) || c >= static_cast<double>(shape.outputs()) || c != std::floor(c))
          throw py::value_error("Y holds " + std::to_string(c) + " in row " + std::to_string(i) +
                                ", not a class index below " + std::to_string(shape.outputs()));
      }
    };
    if (dtype == Dtype::f32) check(y.ptr<const float>());
    else check(y.ptr<const double>());
  }
  return y;
}

template <class T>
py::dict run_train(const MlpShape& shape, const FloatArray& X, const FloatArray& Y,
                   const FloatArray& params, const std::array<FloatArray, 3>& opt_state,
                   const std::array<bool, 3>& has_state, Rows train, Rows valid,
                   const TrainSettings& s, const OptimizerConfig& opt, Schedule* schedule,
                   py::array_t<std::int64_t>& counters, py::array_t<double>& floats) {
  auto c = counters.mutable_unchecked<1>();
  auto f = floats.mutable_unchecked<1>();
  TrainState<T> state;
  state.params = params.ptr<T>();
  for (int i = 0; i < 3; ++i) state.opt_state[i] = has_state[i] ? opt_state[i].ptr<T>() : nullptr;
  state.opt_step = c(0);
  state.t = c(1);
  state.epoch = c(2);
  state.mu_product = f(0);
  const std::size_t ky = shape.task == Task::regression ? shape.outputs() : 1;
  ScheduleOrConstant sched{schedule, opt.lr()};
  Poll poll = python_interrupted;
  TrainResult r;
  {
    py::gil_scoped_release release;
    r = train_mlp<T>(shape, X.ptr<const T>(), Y.ptr<const T>(), ky, train, valid, s, opt, sched,
                     state, poll);
  }
  c(0) = state.opt_step;
  c(1) = state.t;
  c(2) = state.epoch;
  f(0) = state.mu_product;
  return train_result_dict(r, shape.size());
}

}  // namespace

void register_mlp(py::module_& m) {
  m.def(
      "mlp_init",
      [](py::object params, std::vector<std::size_t> layer_sizes, const std::string& activation,
         const std::string& scheme, std::uint64_t seed) {
        const MlpShape shape = make_shape(layer_sizes, activation, "regression");
        FloatArray p = params_for(params, shape, true);
        MlpInit init;
        if (scheme == "glorot") init = MlpInit::glorot;
        else if (scheme == "he") init = MlpInit::he;
        else throw py::value_error("unknown init '" + scheme + "'; expected glorot or he");
        if (p.dtype == Dtype::f32) mlp_init<float>(shape, init, seed, p.ptr<float>());
        else mlp_init<double>(shape, init, seed, p.ptr<double>());
      },
      py::arg("params"), py::arg("layer_sizes"), py::arg("activation"), py::arg("scheme"),
      py::arg("seed"),
      "Fill params (the flat buffer) with the seeded glorot (scikit-learn's) or he initialization.");

  m.def(
      "mlp_forward",
      [](py::object X, py::object params, std::vector<std::size_t> layer_sizes,
         const std::string& activation, int num_threads) {
        const MlpShape shape = make_shape(layer_sizes, activation, "regression");
        FloatArray x = matrix(X, "X", shape.inputs());
        FloatArray p = params_for(params, shape, false);
        if (p.dtype != x.dtype) throw py::type_error("params must have X's dtype");
        const std::size_t n = static_cast<std::size_t>(x.array.shape(0));
        py::array out = py::array(x.array.dtype(), {static_cast<py::ssize_t>(n),
                                                    static_cast<py::ssize_t>(shape.outputs())});
        void* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          if (x.dtype == Dtype::f32)
            mlp_forward<float>(shape, p.ptr<const float>(), x.ptr<const float>(), n,
                               static_cast<float*>(o), num_threads);
          else
            mlp_forward<double>(shape, p.ptr<const double>(), x.ptr<const double>(), n,
                                static_cast<double*>(o), num_threads);
        }
        return out;
      },
      py::arg("X"), py::arg("params"), py::arg("layer_sizes"), py::arg("activation"),
      py::arg("num_threads") = 0, "The network's raw outputs (n_samples, n_outputs).");

  m.def(
      "mlp_gradient",
      [](py::object X, py::object Y, py::object rows, py::object params, py::object grad,
         std::vector<std::size_t> layer_sizes, const std::string& activation,
         const std::string& task, double alpha, int num_threads) {
        const MlpShape shape = make_shape(layer_sizes, activation, task);
        FloatArray x = matrix(X, "X", shape.inputs());
        const std::size_t n = static_cast<std::size_t>(x.array.shape(0));
        FloatArray y = targets(Y, shape, n, x.dtype);
        FloatArray p = params_for(params, shape, false);
        FloatArray g = writable_array(grad, "grad");
        require_like(g, "grad", p, "params");
        if (p.dtype != x.dtype) throw py::type_error("params must have X's dtype");
        const RowsArg rows_arg = rows_from(rows, n, "rows");
        const Rows order = rows_arg.rows;
        if (order.empty()) throw py::value_error("rows is empty");
        const std::size_t ky = shape.task == Task::regression ? shape.outputs() : 1;
        double loss = 0.0;
        {
          py::gil_scoped_release release;
          auto go = [&](auto zero) {
            using T = decltype(zero);
            MlpWorkspace<T> ws(shape, order.size(), ky);
            loss = mlp_gradient<T>(shape, x.ptr<const T>(), y.ptr<const T>(), ky, order.data(),
                                   order.size(), p.ptr<const T>(), alpha, g.ptr<T>(), ws,
                                   num_threads);
          };
          if (x.dtype == Dtype::f32) go(0.0f);
          else go(0.0);
        }
        return loss;
      },
      py::arg("X"), py::arg("Y"), py::arg("rows"), py::arg("params"), py::arg("grad"),
      py::arg("layer_sizes"), py::arg("activation"), py::arg("task"), py::arg("alpha"),
      py::arg("num_threads") = 0,
      "Gradient of the mean loss over X[rows] plus alpha ||W||^2 / (2 len(rows)) into grad; "
      "returns the summed loss of the rows (without the penalty).");

  m.def(
      "train_mlp",
      [](py::object X, py::object Y, py::object train_rows, py::object valid_rows,
         py::object params, py::list opt_state, py::array_t<std::int64_t> counters,
         py::array_t<double> floats, std::vector<std::size_t> layer_sizes,
         const std::string& activation, const std::string& task, const std::string& optimizer,
         py::dict optimizer_options, py::object schedule, std::size_t batch_size,
         std::int64_t max_epochs, double tol, std::int64_t n_iter_no_change, bool early_stopping,
         bool shuffle, std::uint64_t seed, double alpha, double target_loss,
         std::int64_t record_every, int num_threads) {
        const MlpShape shape = make_shape(layer_sizes, activation, task);
        FloatArray x = float_array(X, "X");
        if (x.array.ndim() != 2 || static_cast<std::size_t>(x.array.shape(1)) != shape.inputs())
          throw py::value_error("X must be 2-D with layer_sizes[0] columns, got shape " +
                                shape_of(x.array));
        if (!is_c_contiguous(x.array)) throw py::value_error("X must be C-contiguous");
        const std::size_t n = static_cast<std::size_t>(x.array.shape(0));
        FloatArray y = targets(Y, shape, n, x.dtype);
        FloatArray p = params_for(params, shape, true);
        if (p.dtype != x.dtype) throw py::type_error("params must have X's dtype");
        if (opt_state.size() != 3) throw py::value_error("opt_state must list 3 entries");
        std::array<FloatArray, 3> states;
        std::array<bool, 3> has{false, false, false};
        for (int i = 0; i < 3; ++i) {
          if (opt_state[i].is_none()) continue;
          states[i] = writable_array(opt_state[i], "opt_state[" + std::to_string(i) + "]");
          require_like(states[i], "opt_state", p, "params");
          has[i] = true;
        }
        if (counters.size() != 3 || floats.size() < 1)
          throw py::value_error("counters must hold 3 values and floats at least 1");
        if (batch_size == 0) throw py::value_error("batch_size must be >= 1");
        TrainSettings s;
        s.heads = shape.outputs();
        s.task = shape.task;
        s.batch_size = batch_size;
        s.max_epochs = max_epochs;
        s.tol = tol;
        s.n_iter_no_change = n_iter_no_change;
        s.early_stopping = early_stopping;
        s.shuffle = shuffle;
        s.seed = seed;
        s.penalty = Penalty::l2;
        s.alpha = alpha;
        s.target_loss = target_loss;
        s.record_every = record_every;
        s.threads = num_threads;
        OptimizerConfig opt = optimizer_config(optimizer_from_name(optimizer), optimizer_options);
        const auto needed = opt.states_needed();
        for (int i = 0; i < 3; ++i)
          if (needed[i] && !has[i])
            throw py::value_error("opt_state[" + std::to_string(i) + "] is required by " + optimizer);
        Schedule* sched = schedule.is_none() ? nullptr : schedule.cast<Schedule*>();
        const RowsArg train = rows_from(train_rows, n, "train_rows");
        const RowsArg valid = rows_from(valid_rows, n, "valid_rows");
        if (train.rows.empty()) throw py::value_error("there are no training rows");
        if (x.dtype == Dtype::f32)
          return run_train<float>(shape, x, y, p, states, has, train.rows, valid.rows, s, opt,
                                  sched, counters, floats);
        return run_train<double>(shape, x, y, p, states, has, train.rows, valid.rows, s, opt,
                                 sched, counters, floats);
      },
      py::arg("X"), py::arg("Y"), py::arg("train_rows"), py::arg("valid_rows"), py::arg("params"),
      py::arg("opt_state"), py::arg("counters").noconvert(), py::arg("floats").noconvert(),
      py::kw_only(), py::arg("layer_sizes"), py::arg("activation"), py::arg("task"),
      py::arg("optimizer"), py::arg("optimizer_options"), py::arg("schedule"),
      py::arg("batch_size"), py::arg("max_epochs"), py::arg("tol"), py::arg("n_iter_no_change"),
      py::arg("early_stopping"), py::arg("shuffle"), py::arg("seed"), py::arg("alpha"),
      py::arg("target_loss"), py::arg("record_every"), py::arg("num_threads"));
}

}  // namespace gdcore::bind
