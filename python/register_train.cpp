// The linear training loop: convert and check the arrays, pick the loss and schedule, release the
// GIL, run gdcore::train_linear, hand back the history. No maths here.
#include <Python.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "train_bindings.hpp"
#include "gdcore/losses.hpp"
#include "gdcore/rng.hpp"
#include "gdcore/schedules.hpp"
#include "gdcore/train.hpp"

namespace gdcore::bind {

namespace {

Task task_from_name(const std::string& name) {
  if (name == "regression") return Task::regression;
  if (name == "binary") return Task::binary;
  if (name == "ovr") return Task::ovr;
  if (name == "softmax") return Task::softmax;
  throw py::value_error("unknown task '" + name + "'");
}

Penalty penalty_from_name(const std::string& name) {
  if (name == "none") return Penalty::none;
  if (name == "l2") return Penalty::l2;
  if (name == "l1") return Penalty::l1;
  if (name == "elasticnet") return Penalty::elasticnet;
  throw py::value_error("unknown penalty '" + name + "'; expected l2, l1, elasticnet or None");
}

struct Arrays {
  FloatArray X, Y, sample_weight, params;
  std::array<FloatArray, 3> opt_state;
  std::array<bool, 3> has_state{false, false, false};
  FloatArray l1_q, averaged;
  bool has_q = false;
  bool has_avg = false;
  bool has_weight = false;
};

template <class T>
py::dict run(const Arrays& a, Rows train, Rows valid, const TrainSettings& s,
             const OptimizerConfig& opt, LossKind loss, double epsilon, Schedule* schedule,
             py::array_t<std::int64_t>& counters, py::array_t<double>& floats,
             const std::vector<double>& positive_weight) {
  LinearData<T> data;
  data.X = a.X.ptr<const T>();
  data.n = static_cast<std::size_t>(a.X.array.shape(0));
  data.d = static_cast<std::size_t>(a.X.array.shape(1));
  data.Y = a.Y.ptr<const T>();
  data.ky = a.Y.array.ndim() == 2 ? static_cast<std::size_t>(a.Y.array.shape(1)) : 1;
  data.sample_weight = a.has_weight ? a.sample_weight.ptr<const T>() : nullptr;

  auto c = counters.mutable_unchecked<1>();
  auto f = floats.mutable_unchecked<1>();
  TrainState<T> state;
  state.params = a.params.ptr<T>();
  for (int i = 0; i < 3; ++i) state.opt_state[i] = a.has_state[i] ? a.opt_state[i].ptr<T>() : nullptr;
  state.opt_step = c(0);
  state.t = c(1);
  state.epoch = c(2);
  state.mu_product = f(0);
  state.l1_u = f(1);
  state.l1_q = a.has_q ? a.l1_q.ptr<T>() : nullptr;
  state.averaged = a.has_avg ? a.averaged.ptr<T>() : nullptr;

  ScheduleOrConstant sched{schedule, opt.lr()};
  Poll poll = python_interrupted;
  TrainResult r;
  {
    py::gil_scoped_release release;
    if (s.task == Task::softmax) {
      SoftmaxHead<SoftmaxCrossEntropy> head{SoftmaxCrossEntropy{}, s.max_dloss};
      r = train_linear<T>(data, train, valid, head, s, opt, sched, state, poll);
    } else {
      with_loss(loss, epsilon, [&](auto loss_struct) {
        IndependentHeads<decltype(loss_struct)> head{
            loss_struct, s.max_dloss, positive_weight.empty() ? nullptr : positive_weight.data()};
        r = train_linear<T>(data, train, valid, head, s, opt, sched, state, poll);
      });
    }
  }
  c(0) = state.opt_step;
  c(1) = state.t;
  c(2) = state.epoch;
  f(0) = state.mu_product;
  f(1) = state.l1_u;
  return train_result_dict(r, static_cast<std::size_t>(a.params.size));
}

}  // namespace

void register_train(py::module_& m) {
  m.attr("PARALLEL_BATCH_WORK") = kParallelBatchWork;
  m.attr("DOT_LANES") = kDotLanes;

  m.def(
      "batch_chunks",
      [](std::size_t rows, std::size_t d, std::size_t heads, int num_threads) {
        return batch_chunks(rows, d, heads, num_threads);
      },
      py::arg("rows"), py::arg("d"), py::arg("heads"), py::arg("num_threads"),
      "How many row chunks (threads) the loop splits a batch of this size into.");

  m.def(
      "shuffled_order",
      [](py::object rows, std::uint64_t seed, std::uint64_t epoch) {
        auto arr = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>(rows);
        py::array_t<std::int64_t> out(arr.size());
        std::copy(arr.data(), arr.data() + arr.size(), out.mutable_data());
        SplitMix64 rng = epoch_stream(seed, epoch);
        shuffle(out.mutable_data(), static_cast<std::size_t>(out.size()), rng);
        return out;
      },
      py::arg("rows"), py::arg("seed"), py::arg("epoch"),
      "The order the loop visits `rows` in during epoch `epoch` (SplitMix64 + Fisher-Yates).");

  m.def(
      "train_linear",
      [](py::object X, py::object Y, py::object sample_weight, py::object train_rows,
         py::object valid_rows, py::object params, py::list opt_state, py::object l1_q,
         py::object averaged,
         py::array_t<std::int64_t> counters, py::array_t<double> floats, const std::string& task,
         std::size_t heads, const std::string& loss, double epsilon, const std::string& optimizer,
         py::dict optimizer_options, py::object schedule, std::size_t batch_size,
         std::int64_t max_epochs, double tol, std::int64_t n_iter_no_change, bool early_stopping,
         bool shuffle, std::uint64_t seed, const std::string& penalty, double alpha,
         double l1_ratio, bool fit_intercept, double target_loss, std::int64_t record_every,
         std::int64_t average, int num_threads, double max_dloss, bool floor_l2_shrink,
         py::object positive_weight, int passive_aggressive) {
        Arrays a;
        a.X = float_array(X, "X");
        if (a.X.array.ndim() != 2) throw py::value_error("X must be 2-D (n_samples, n_features)");
        if (!is_c_contiguous(a.X.array)) throw py::value_error("X must be C-contiguous");
        a.Y = float_array(Y, "y");
        if (!is_c_contiguous(a.Y.array)) throw py::value_error("y must be C-contiguous");
        if (a.Y.dtype != a.X.dtype) throw py::type_error("y must have X's dtype");
        const std::size_t n = static_cast<std::size_t>(a.X.array.shape(0));
        const std::size_t d = static_cast<std::size_t>(a.X.array.shape(1));
        if (static_cast<std::size_t>(a.Y.array.shape(0)) != n)
          throw py::value_error("y has " + std::to_string(a.Y.array.shape(0)) + " rows but X has " +
                                std::to_string(n));
        if (!sample_weight.is_none()) {
          a.sample_weight = float_array(sample_weight, "sample_weight");
          if (a.sample_weight.dtype != a.X.dtype || a.sample_weight.size != n ||
              !is_c_contiguous(a.sample_weight.array))
            throw py::value_error("sample_weight must be a contiguous (n_samples,) array of X's dtype");
          a.has_weight = true;
        }
        a.params = writable_array(params, "params");
        if (a.params.dtype != a.X.dtype || a.params.size != heads * d + heads)
          throw py::value_error("params must hold heads * (n_features + 1) values of X's dtype");
        if (opt_state.size() != 3) throw py::value_error("opt_state must list 3 entries");
        for (int i = 0; i < 3; ++i) {
          if (opt_state[i].is_none()) continue;
          a.opt_state[i] = writable_array(opt_state[i], "opt_state[" + std::to_string(i) + "]");
          require_like(a.opt_state[i], "opt_state", a.params, "params");
          a.has_state[i] = true;
        }
        if (!l1_q.is_none()) {
          a.l1_q = writable_array(l1_q, "l1_q");
          if (a.l1_q.dtype != a.X.dtype || a.l1_q.size != heads * d)
            throw py::value_error("l1_q must hold heads * n_features values");
          a.has_q = true;
        }
        if (!averaged.is_none()) {
          a.averaged = writable_array(averaged, "averaged");
          require_like(a.averaged, "averaged", a.params, "params");
          a.has_avg = true;
        }
        if (average > 0 && !a.has_avg)
          throw py::value_error("averaged is required when average > 0");
        if (counters.size() != 3 || floats.size() != 2)
          throw py::value_error("counters must hold 3 and floats 2 values");

        TrainSettings s;
        s.heads = heads;
        s.task = task_from_name(task);
        s.batch_size = batch_size;
        s.max_epochs = max_epochs;
        s.tol = tol;
        s.n_iter_no_change = n_iter_no_change;
        s.early_stopping = early_stopping;
        s.shuffle = shuffle;
        s.seed = seed;
        s.penalty = penalty_from_name(penalty);
        s.alpha = alpha;
        s.l1_ratio = l1_ratio;
        s.fit_intercept = fit_intercept;
        s.target_loss = target_loss;
        s.record_every = record_every;
        s.average = average;
        s.threads = num_threads;
        if (!(max_dloss > 0)) throw py::value_error("max_dloss must be > 0 (inf: no clipping)");
        s.max_dloss = max_dloss;
        s.floor_l2_shrink = floor_l2_shrink;
        if (heads == 0) throw py::value_error("heads must be >= 1");
        if (s.task == Task::softmax) {
          if (heads < 2) throw py::value_error("softmax needs heads >= 2");
          if (a.Y.size != n) throw py::value_error("softmax takes one class index per row of y");
          // The loop indexes the logits by these labels: refuse any that is not a class index.
          const auto labels_ok = [&](auto* y) {
            for (std::size_t i = 0; i < n; ++i)
              if (!(y[i] >= 0 && y[i] < static_cast<double>(heads) && y[i] == std::floor(y[i])))
                return false;
            return true;
          };
          if (!(a.X.dtype == Dtype::f32 ? labels_ok(a.Y.ptr<const float>())
                                        : labels_ok(a.Y.ptr<const double>())))
            throw py::value_error("softmax labels in y must be class indices 0 .. heads-1");
        } else if ((a.Y.array.ndim() == 2 ? static_cast<std::size_t>(a.Y.array.shape(1)) : 1) !=
                   heads) {
          throw py::value_error("y must have one column per head");
        }
        if (passive_aggressive < 0 || passive_aggressive > 2)
          throw py::value_error("passive_aggressive must be 0 (off), 1 (PA-I) or 2 (PA-II)");
        s.passive_aggressive = passive_aggressive;
        std::vector<double> pos_weight;
        if (!positive_weight.is_none()) {
          if (s.task != Task::ovr || heads < 2)
            throw py::value_error("positive_weight is for one-vs-rest heads (task 'ovr')");
          auto w = py::array_t<double, py::array::c_style | py::array::forcecast>(positive_weight);
          if (static_cast<std::size_t>(w.size()) != heads)
            throw py::value_error("positive_weight must hold one weight per head");
          pos_weight.assign(w.data(), w.data() + w.size());
          for (double v : pos_weight)
            if (!(std::isfinite(v) && v >= 0))
              throw py::value_error("positive_weight must hold finite weights >= 0");
        }
        if ((s.penalty == Penalty::l1 || s.penalty == Penalty::elasticnet) && !a.has_q)
          throw py::value_error("l1_q is required with an l1 or elasticnet penalty");

        OptimizerConfig opt = optimizer_config(optimizer_from_name(optimizer), optimizer_options);
        const auto needed = opt.states_needed();
        for (int i = 0; i < 3; ++i)
          if (needed[i] && !a.has_state[i])
            throw py::value_error("opt_state[" + std::to_string(i) + "] is required by " + optimizer);
        Schedule* sched = schedule.is_none() ? nullptr : schedule.cast<Schedule*>();
        if (passive_aggressive != 0 &&
            (batch_size != 1 || opt.kind != OptimizerKind::sgd || opt.sgd.momentum != 0.0 ||
             opt.sgd.weight_decay != 0.0 || opt.sgd.maximize || sched != nullptr ||
             heads > detail::kMaxStackHeads || s.task == Task::softmax || !(opt.lr() > 0)))
          throw py::value_error(
              "passive_aggressive steps need batch_size 1, plain SGD (no momentum, weight decay "
              "or maximize), a constant lr > 0 (C), no schedule, and independent heads");
        const LossKind kind = s.task == Task::softmax ? LossKind::log_loss : loss_from_name(loss);
        const RowsArg train = rows_from(train_rows, n, "train_rows");
        const RowsArg valid = rows_from(valid_rows, n, "valid_rows");
        if (train.rows.empty()) throw py::value_error("there are no training rows");
        if (a.X.dtype == Dtype::f32)
          return run<float>(a, train.rows, valid.rows, s, opt, kind, epsilon, sched, counters,
                            floats, pos_weight);
        return run<double>(a, train.rows, valid.rows, s, opt, kind, epsilon, sched, counters,
                           floats, pos_weight);
      },
      py::arg("X"), py::arg("Y"), py::arg("sample_weight"), py::arg("train_rows"),
      py::arg("valid_rows"), py::arg("params"), py::arg("opt_state"), py::arg("l1_q"),
      py::arg("averaged"), py::arg("counters").noconvert(), py::arg("floats").noconvert(), py::kw_only(),
      py::arg("task"), py::arg("heads"), py::arg("loss"), py::arg("epsilon"),
      py::arg("optimizer"), py::arg("optimizer_options"), py::arg("schedule"),
      py::arg("batch_size"), py::arg("max_epochs"), py::arg("tol"), py::arg("n_iter_no_change"),
      py::arg("early_stopping"), py::arg("shuffle"), py::arg("seed"), py::arg("penalty"),
      py::arg("alpha"), py::arg("l1_ratio"), py::arg("fit_intercept"), py::arg("target_loss"),
      py::arg("record_every"), py::arg("average"), py::arg("num_threads"),
      py::arg("max_dloss") = std::numeric_limits<double>::infinity(),
      py::arg("floor_l2_shrink") = false, py::arg("positive_weight") = py::none(),
      py::arg("passive_aggressive") = 0);
}

}  // namespace gdcore::bind
