// Threads: how many, and how a flat range is split among them.
//
// Element-wise kernels split [0, n) into one contiguous block per thread; each element is computed
// by exactly one thread with the same operations, so their results do not depend on the thread
// count. Small ranges stay serial: waking threads costs microseconds that a short loop cannot repay.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "simd.hpp"

namespace gdcore {

namespace detail {
inline std::atomic<int> default_threads{0};  // 0: follow OpenMP (OMP_NUM_THREADS, threadpoolctl)
}

// Process-wide thread count for gdcore; 0 restores "follow OpenMP".
inline void set_num_threads(int n) noexcept { detail::default_threads.store(n > 0 ? n : 0); }

// The count a call uses: its own request if positive, else the gdcore default, else OpenMP's.
inline int resolve_threads(int requested) noexcept {
  if (requested > 0) return requested;
  int global = detail::default_threads.load(std::memory_order_relaxed);
  if (global > 0) return global;
  return std::max(1, omp_get_max_threads());
}

// How a training loop runs the parallel part of each step: on its team of threads, or all on
// the calling thread. The loops split the work the same way either way (a mini-batch into the
// same chunks, added in the same order; a product into blocks that never split a sum), so the
// choice changes the speed and never a bit. kAdaptive (the default) lets TeamChooser pick;
// kTeam and kSerial force one side (for tests, and to measure each).
enum class TeamPolicy : int { kAdaptive = 0, kTeam = 1, kSerial = 2 };

namespace detail {
inline std::atomic<int> team_policy{0};
}

inline void set_team_policy(TeamPolicy p) noexcept {
  detail::team_policy.store(static_cast<int>(p), std::memory_order_relaxed);
}
inline TeamPolicy team_policy() noexcept {
  return static_cast<TeamPolicy>(detail::team_policy.load(std::memory_order_relaxed));
}

// Picks, step after step, the team or one thread, whichever has lately taken less time per unit
// of work. Why: when other processes want the cores too, each join waits until every thread of
// the team has had its time slice, and a fork-join per step then runs several times slower than
// one thread. On the 2-vCPU VM with one busy process beside it, two-thread logistic-regression
// fits (batch 1024) took 169 ms against 57 ms on one thread (quiet: 30 against 56 ms), and
// gdcore.optim's Adam on 1M parameters 6.0-6.7 ms a step against 0.69-0.76 ms.
//
// The winner runs, and its cost is a mean over the last kHorizon of wall time (older steps
// weigh less and less). A team's stalls count in it, so a rare one (the VM's own noise: the
// team alone, quiet, lost 17 ms a few times a second) raises it a little, while stalls every few
// steps (a busy neighbour) raise it past one thread's, and one thread then takes over at once.
// The loser is tried now and then: kWarmupSteps + kProbeSteps steps, given up at the first that
// costs kGiveUp times the winner's mean. A lost try doubles the gap before the next one (from
// kFirstGap up to kMaxGap), and makes it at least kTryCost times what the try cost, so a try that
// stalls for a time slice is not repeated every few steps; a won one halves it. The winner is
// challenged at once when its cost doubles.
class TeamChooser {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TeamChooser(int team) : team_(std::max(1, team)) {}

  // The thread count for the next step: the team, or 1. (`now` only for a simulated clock.)
  int next() { return next(Clock::now()); }
  int next(Clock::time_point now) {
    if (team_ == 1) return 1;
    switch (team_policy()) {
      case TeamPolicy::kTeam: return team_;
      case TeamPolicy::kSerial: return 1;
      case TeamPolicy::kAdaptive: break;
    }
    if (!probing_ && settled_ > 0 && now >= next_try_) {
      probing_ = true;
      probe_time_ = probe_work_ = try_excess_ = 0.0;
      probe_steps_ = 0;
    }
    const int side = probing_ ? 1 - best_ : best_;
    return side == 0 ? team_ : 1;
  }

  // Report the step just run with next()'s answer: its wall time and its work (any unit, the
  // same for every step of a loop, e.g. rows).
  void done(Clock::time_point start, Clock::time_point stop, double work, int used) {
    if (team_ == 1 || work <= 0 || team_policy() != TeamPolicy::kAdaptive) return;
    const double seconds = std::chrono::duration<double>(stop - start).count();
    const int side = used == team_ ? 0 : 1;
    if (side == best_) {
      winner_step(stop, seconds, work);
      return;
    }
    const double pace = cost();
    // A step of the try that costs kGiveUp times the winner's mean ends it as lost: a team
    // whose thread waits for a busy core loses a time slice (milliseconds) per step.
    const bool hopeless = seconds / work > kGiveUp * pace;
    try_excess_ += seconds - pace * work;  // what the try cost beyond the winner's pace
    // Otherwise the first step is not counted: a team's first step after a while on one thread
    // wakes its sleeping threads (tens of microseconds, more than a batch of 256 rows takes).
    if (!hopeless) {
      if (++probe_steps_ <= kWarmupSteps) return;
      probe_time_ += seconds;
      probe_work_ += work;
      if (probe_steps_ < kWarmupSteps + kProbeSteps) return;
    }
    probing_ = false;
    const double other = hopeless ? pace * kGiveUp : probe_time_ / probe_work_;
    if (other < pace) {
      lead(side, probe_time_, probe_work_, stop);
      gap_ = std::max(kFirstGap, gap_ / 2);
    } else {
      other_cost_ = other;
      settled_ = pace;
      lengthen_gap(try_excess_);
    }
    next_try_ = stop + std::chrono::duration_cast<Clock::duration>(gap_);
  }

  static constexpr std::int64_t kFirstSteps = 4;  // one thread's steps before the first try
  static constexpr double kGiveUp = 10.0;
  static constexpr std::int64_t kWarmupSteps = 1;
  static constexpr std::int64_t kProbeSteps = 3;
  static constexpr double kTryCost = 20.0;  // a lost try delays the next by 20x what it cost
  static constexpr double kHorizon = 0.1;  // seconds
  static constexpr std::chrono::duration<double> kFirstGap{0.01};
  static constexpr std::chrono::duration<double> kMaxGap{1.0};

 private:
  double cost() const { return time_ / work_; }

  void winner_step(Clock::time_point stop, double seconds, double work) {
    const double before = work_ > 0 ? cost() : 0.0;
    if (work_ > 0) {
      const double decay =
          std::exp(-std::chrono::duration<double>(stop - last_).count() / kHorizon);
      time_ *= decay;
      work_ *= decay;
    }
    time_ += seconds;
    work_ += work;
    last_ = stop;
    if (settled_ == 0) {  // the first steps: try the other side after kFirstSteps of them
      if (++first_steps_ == kFirstSteps) {
        settled_ = cost();
        next_try_ = stop;
      }
      return;
    }
    if (best_ == 0 && other_cost_ > 0 && cost() > other_cost_) {
      // The team's recent steps, stalls included, cost more than one thread's did: hand over
      // now, starting from one thread's last known cost (weighing one step), and try the team
      // again only after a gap that pays for this stall.
      const double stall = seconds - before * work;
      lead(1, other_cost_ * work, work, stop);
      lengthen_gap(stall);
      next_try_ = stop + std::chrono::duration_cast<Clock::duration>(gap_);
      return;
    }
    if (!probing_ && cost() > 2 * settled_) next_try_ = stop;  // much slower: challenge it now
  }

  // `side` wins, with the measured time and work as its recent history.
  void lead(int side, double time, double work, Clock::time_point stop) {
    other_cost_ = cost();
    best_ = side;
    time_ = time;
    work_ = work;
    last_ = stop;
    settled_ = cost();
  }

  void lengthen_gap(double excess) {
    const std::chrono::duration<double> paid(kTryCost * std::max(0.0, excess));
    gap_ = std::min(kMaxGap, std::max(gap_ * 2, paid));
  }

  int team_;
  // 0: the team, 1: one thread. One thread first: on a quiet machine the team wins its first
  // try after kFirstSteps steps, and on a busy one those steps do not wait on a busy core.
  int best_ = 1;
  bool probing_ = false;
  double time_ = 0.0, work_ = 0.0;  // the winner's decayed totals
  Clock::time_point last_{};        // when they were last updated
  double settled_ = 0.0;     // the winner's cost when it last won a comparison (0: none yet)
  double other_cost_ = 0.0;  // the loser's cost when it last ran (0: not yet run)
  std::int64_t first_steps_ = 0;
  double probe_time_ = 0.0, probe_work_ = 0.0, try_excess_ = 0.0;
  std::int64_t probe_steps_ = 0;
  Clock::time_point next_try_{};
  std::chrono::duration<double> gap_ = kFirstGap;
};

// A TeamChooser that outlives one call, one per calling thread and loop (Tag): a loop that is
// called once per epoch (the MLP estimators call theirs so) keeps what it learned. It starts
// afresh when the team or the step's shape (`shape`, any key the caller makes of it) changes.
template <class Tag>
TeamChooser& lasting_chooser(int team, std::uint64_t shape) {
  thread_local TeamChooser chooser(1);
  thread_local int last_team = 0;
  thread_local std::uint64_t last_shape = 0;
  if (team != last_team || shape != last_shape) {
    chooser = TeamChooser(team);
    last_team = team;
    last_shape = shape;
  }
  return chooser;
}

// Elements below which a thread is not worth waking for a streaming kernel. Measured with Adam on
// the 2-core EPYC (benchmarks/bench_optimizers.py::test_thread_split): at 16k elements two threads
// are no faster than one, at 64k (32k each) they are 1.45x faster, at 128k 1.75x.
inline constexpr std::size_t kMinElementsPerThread = std::size_t{1} << 15;

// Threads an element-wise kernel over n elements uses: the requested count, but none with fewer
// than min_per_thread elements (at least one thread).
inline int elementwise_threads(std::size_t n, int threads,
                               std::size_t min_per_thread = kMinElementsPerThread) {
  const std::size_t want = static_cast<std::size_t>(resolve_threads(threads));
  const std::size_t useful = min_per_thread == 0 ? n : n / min_per_thread;
  return static_cast<int>(std::min(want, std::max<std::size_t>(useful, 1)));
}

// Thread id's block of [0, n) in a team: contiguous, edges at multiples of 64 elements, so every
// thread but the last starts cache-line aligned relative to the array start.
inline std::pair<std::size_t, std::size_t> thread_block(std::size_t n, std::size_t team,
                                                        std::size_t id) {
  const std::size_t per = ((n + team - 1) / team + 63) / 64 * 64;
  const std::size_t begin = std::min(n, id * per);
  return {begin, std::min(n, begin + per)};
}

// Call body(begin, end) on disjoint blocks covering [0, n), compiled for the active SIMD path.
template <class Body>
void parallel_for_dispatched(std::size_t n, int threads, const Body& body,
                             std::size_t min_per_thread = kMinElementsPerThread) {
  const int nthreads = elementwise_threads(n, threads, min_per_thread);
  if (nthreads <= 1) {
    run_dispatched(body, 0, n);
    return;
  }
#pragma omp parallel num_threads(nthreads)
  {
    const auto block = thread_block(n, static_cast<std::size_t>(omp_get_num_threads()),
                                    static_cast<std::size_t>(omp_get_thread_num()));
    if (block.first < block.second) run_dispatched(body, block.first, block.second);
  }
}

// Element ranges that the calling thread updates itself, in order (a gemm epilogue's block of a
// matrix, say: whole rows are one range, a block of some columns one range per row). For a
// kernel already running inside a parallel region, which must not start threads.
struct LocalRanges {
  const std::pair<std::size_t, std::size_t>* ranges;
  std::size_t count;
};

namespace detail {
template <class Body>
struct RangesBody {
  const Body* body;
  const std::pair<std::size_t, std::size_t>* ranges;
  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    for (std::size_t i = begin; i < end; ++i) (*body)(ranges[i].first, ranges[i].second);
  }
};
}  // namespace detail

// An element-wise kernel over [0, n): contiguous blocks for a thread count, or the caller's own
// ranges. The element-wise operations are the same either way, so the results are too.
template <class Body>
void run_elementwise(std::size_t n, int threads, const Body& body) {
  parallel_for_dispatched(n, threads, body);
}

template <class Body>
void run_elementwise(std::size_t, const LocalRanges& local, const Body& body) {
  run_dispatched(detail::RangesBody<Body>{&body, local.ranges}, 0, local.count);
}

}  // namespace gdcore
