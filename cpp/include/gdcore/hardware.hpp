// Streaming kernels that measure the memory-bandwidth bound of this machine, in the same process
// and with the same threads and SIMD path as the optimizers they are compared with.
//
//   triad:  a = b + s c      (STREAM's triad; counted as 3 arrays moved)
//   axpy:   a = a + s b      (an in-place update like an optimizer's; 3 arrays moved, no
//                             write-allocate traffic because a's lines were just read)
#pragma once

#include <cstddef>

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

}  // namespace gdcore
