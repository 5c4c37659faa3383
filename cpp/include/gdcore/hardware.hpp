// Streaming kernels that measure the memory-bandwidth bound of this machine, in the same process
// and with the same threads and SIMD path as the optimizers they are compared with.
//
//   triad:  a = b + s c      (STREAM's triad; counted as 3 arrays moved)
//   axpy:   a = a + s b      (an in-place update like an optimizer's; 3 arrays moved, no
//                             write-allocate traffic because a's lines were just read)
//   row_sum: out = Σ X[order[i]] over a shuffled order: the rows a training epoch reads, in the
//            order it reads them, with the same software prefetching and nothing else. Shuffled
//            rows are bound by memory latency (how many cache misses a core keeps in flight),
//            not by streaming bandwidth; this is that bound.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "parallel.hpp"
#include "simd.hpp"

namespace gdcore {

template <class T>
struct TriadBody {
  T* a;
  const T* b;
  const T* c;
  T s;
  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    T* __restrict as = a;
    const T* __restrict bs = b;
    const T* __restrict cs = c;
#pragma omp simd
    for (std::size_t i = begin; i < end; ++i) as[i] = bs[i] + s * cs[i];
  }
};

template <class T>
void triad(T* a, const T* b, const T* c, T s, std::size_t n, int threads) {
  parallel_for_dispatched(n, threads, TriadBody<T>{a, b, c, s});
}

template <class T>
struct AxpyBody {
  T* a;
  const T* b;
  T s;
  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    T* __restrict as = a;
    const T* __restrict bs = b;
#pragma omp simd
    for (std::size_t i = begin; i < end; ++i) as[i] = as[i] + s * bs[i];
  }
};

template <class T>
void axpy(T* a, const T* b, T s, std::size_t n, int threads) {
  parallel_for_dispatched(n, threads, AxpyBody<T>{a, b, s});
}

// How far ahead (in rows of a shuffled order) to prefetch. A shuffled row defeats the hardware
// prefetcher, and each row spans several cache lines; 24 rows measured best on both development
// machines (an AMD EPYC and an Intel Xeon), where fewer leave misses unoverlapped and more gain
// nothing once the core's fill buffers are full.
inline constexpr std::size_t kPrefetchRows = 24;

template <class T>
GDCORE_INLINE void prefetch_row(const T* X, std::size_t d, const std::int64_t* order,
                                std::size_t order_size, std::size_t r) {
  if (r + kPrefetchRows < order_size) {
    const char* ahead =
        reinterpret_cast<const char*>(X + static_cast<std::size_t>(order[r + kPrefetchRows]) * d);
    for (std::size_t off = 0; off < d * sizeof(T); off += 64) __builtin_prefetch(ahead + off, 0, 3);
  }
}

template <class T>
struct RowSumBody {
  const T* X;
  std::size_t d;
  const std::int64_t* order;
  std::size_t order_size;
  T* sum;  // d values, zeroed by the caller
  GDCORE_INLINE void operator()(std::size_t begin, std::size_t end) const {
    T* __restrict s = sum;
    for (std::size_t r = begin; r < end; ++r) {
      prefetch_row(X, d, order, order_size, r);
      const T* __restrict x = X + static_cast<std::size_t>(order[r]) * d;
#pragma omp simd
      for (std::size_t j = 0; j < d; ++j) s[j] = s[j] + x[j];
    }
  }
};

// How many contiguous chunks of the order row_sum splits into: one per thread once there are at
// least kMinElementsPerThread values per thread, else one.
inline std::size_t row_sum_chunks(std::size_t rows, std::size_t d, int threads) {
  const std::size_t want = static_cast<std::size_t>(resolve_threads(threads));
  const std::size_t useful = rows * d / kMinElementsPerThread;
  return std::max<std::size_t>(1, std::min({want, useful, rows}));
}

// out (d) = Σ_i X[order[i]]: each chunk summed row by row from zero, the chunks added in order.
template <class T>
void row_sum(T* out, const T* X, std::size_t d, const std::int64_t* order, std::size_t n,
             int threads) {
  const std::size_t chunks = row_sum_chunks(n, d, threads);
  const std::size_t stride = (d + 15) / 16 * 16 + 16;  // whole cache lines apart
  std::vector<T> parts(chunks * stride, T(0));
  const std::size_t per = (n + chunks - 1) / chunks;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1) if (chunks > 1)
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t lo = std::min(n, c * per), hi = std::min(n, (c + 1) * per);
    run_dispatched(RowSumBody<T>{X, d, order, n, parts.data() + c * stride}, lo, hi);
  }
  std::fill(out, out + d, T(0));
  for (std::size_t c = 0; c < chunks; ++c)
    for (std::size_t j = 0; j < d; ++j) out[j] = out[j] + parts[c * stride + j];
}

}  // namespace gdcore
