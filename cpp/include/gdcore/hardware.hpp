// Streaming kernels that measure the memory-bandwidth bound of this machine, in the same process
// and with the same threads and SIMD path as the optimizers they are compared with.
//
//   triad:  a = b + s c      (STREAM's triad; counted as 3 arrays moved)
//   axpy:   a = a + s b      (an in-place update like an optimizer's; 3 arrays moved, no
//                             write-allocate traffic because a's lines were just read)
//   row_sum: out = Σ X[order[i]] over a shuffled order: the rows a training epoch reads, in the
//            order it reads them, and nothing else, with the software prefetching that reads
//            them fastest alone (prefetch_row_for_reading). Shuffled rows are bound by memory
//            latency (how many cache misses a core keeps in flight), not by streaming
//            bandwidth; this is that bound.
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

// How far ahead (in rows of a shuffled order) to prefetch, in two steps. A shuffled row defeats
// the hardware prefetcher, and each row spans several cache lines. Row r + kPrefetchFarRows is
// asked into L2 (prefetcht1) and row r + kPrefetchNearRows from there into L1 (prefetcht0). On
// the Intel Xeon development VM this made shuffled batch-256 logistic-regression epochs 25-30%
// faster than asking row r + 24 straight into L1 (the earlier scheme, best of the distances
// tried on it and on an AMD EPYC, and still what reads rows fastest when nothing else runs:
// prefetch_row_for_reading). Our reading: requests bound for L1 hold one of the core's few L1
// fill buffers for the whole trip to memory, and once those are taken the loop's own loads
// wait behind them, so the arithmetic stopped overlapping the memory traffic. In-order epochs gained
// ~4% and batch-1 epochs 5-10%; 24-64 far rows and 2-8 near rows were within the noise of
// each other (runs alternated, `benchmarks/bench_train.py`'s data).
inline constexpr std::size_t kPrefetchFarRows = 32;
inline constexpr std::size_t kPrefetchNearRows = 4;

// The rows ahead of position r to prefetch: `near` into L1 and `far` into L2 (null where the
// order ends first). The training kernels ask for them a line at a time through their dot
// products (dot_rows), rather than a whole row at once.
struct RowsAhead {
  const char* near = nullptr;
  const char* far = nullptr;
};

// A thread that reads one chunk of each mini-batch (rows [lo, chunk_end) of the order, the other
// threads' chunks after it) passes chunk_end and skip = the rows of the other chunks: positions
// past its chunk then continue in its own chunk of the next mini-batch, the rows it reads next,
// instead of asking for rows another thread reads (or has already read). Two threads, shuffled
// batch-1024 logistic-regression fits (200,000 x 100 float32), old and new builds in ABBA
// order: 25.6-26.4 -> 25.2-25.4 ms for five epochs (~2.5%); batch 4096 unchanged.
template <class T>
GDCORE_INLINE RowsAhead rows_ahead(const T* X, std::size_t d, const std::int64_t* order,
                                   std::size_t order_size, std::size_t r,
                                   std::size_t chunk_end = SIZE_MAX, std::size_t skip = 0) {
  std::size_t near = r + kPrefetchNearRows, far = r + kPrefetchFarRows;
  if (near >= chunk_end) near += skip;
  if (far >= chunk_end) far += skip;
  RowsAhead ahead;
  if (near < order_size)
    ahead.near = reinterpret_cast<const char*>(X + static_cast<std::size_t>(order[near]) * d);
  if (far < order_size)
    ahead.far = reinterpret_cast<const char*>(X + static_cast<std::size_t>(order[far]) * d);
  return ahead;
}

// One 64-byte line, at byte `offset`, of the rows ahead.
GDCORE_INLINE void prefetch_line(const RowsAhead& ahead, std::size_t offset) {
  if (ahead.far) __builtin_prefetch(ahead.far + offset, 0, 2);
  if (ahead.near) __builtin_prefetch(ahead.near + offset, 0, 3);
}

// A shuffled row's target (and sample weight) sits in another array, one cache line of it per
// row: asked into L2 as far ahead as the row itself, so the block that reads it finds it there.
template <class T>
GDCORE_INLINE void prefetch_row_value(const T* values, std::size_t stride,
                                      const std::int64_t* order, std::size_t order_size,
                                      std::size_t r) {
  if (r + kPrefetchFarRows < order_size)
    __builtin_prefetch(values + static_cast<std::size_t>(order[r + kPrefetchFarRows]) * stride, 0, 2);
}

// The prefetching of a loop that only reads the rows: row r + 24 straight into L1. With no
// arithmetic to overlap, this reads shuffled rows faster than the training loops' two steps (Intel
// Xeon VM, runs alternated: 30-40 against 28 M rows/s of 400 bytes), so the read bound uses it.
inline constexpr std::size_t kPrefetchReadRows = 24;

template <class T>
GDCORE_INLINE void prefetch_row_for_reading(const T* X, std::size_t d, const std::int64_t* order,
                                            std::size_t order_size, std::size_t r) {
  if (r + kPrefetchReadRows < order_size) {
    const char* ahead =
        reinterpret_cast<const char*>(X + static_cast<std::size_t>(order[r + kPrefetchReadRows]) * d);
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
      prefetch_row_for_reading(X, d, order, order_size, r);
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
