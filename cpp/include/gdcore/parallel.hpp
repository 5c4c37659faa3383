// Threads: how many, and how a flat range is split among them.
//
// Element-wise kernels split [0, n) into one contiguous block per thread; each element is computed
// by exactly one thread with the same operations, so their results do not depend on the thread
// count. Small ranges stay serial: waking threads costs microseconds that a short loop cannot repay.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
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
