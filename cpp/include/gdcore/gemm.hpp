// General matrix multiply: C = alpha * op(A) * op(B) + beta * C, row-major, float and double.
//
//   op(X) = X or X^T;  op(A) is m x k, op(B) is k x n, C is m x n.
//   beta == 0 overwrites C without reading it (NaN in C is ignored, as in BLAS); alpha is never
//   special-cased (NaN/inf in A or B propagate even when alpha == 0, as in the NumPy twin).
//
// Layout follows BLIS (Van Zee & van de Geijn, "BLIS: a framework for rapidly instantiating BLAS
// functionality", 2015): the loops over n (NC), k (KC) and m (MC) copy a KC x NC block of op(B)
// and an MC x KC block of op(A) into "packed" panels (NR columns or MR rows side by side, zero
// padded), so that a register-tiled micro-kernel reads both with unit stride whatever the
// transposes were: the B micro-panel (KC x NR) stays in L1, the A block in L2.
//
// Rounding and determinism. Every element of C is
//     c = alpha * s_1 + beta * c                       (first KC block; c = alpha * s_1 if beta == 0)
//     c = c + alpha * s_b                              (each further KC block b, in order)
// where s_b is the dot product of that block summed in increasing k. KC is the same on every
// SIMD path and every thread count, and threads split C (never k), so the result does not depend
// on the thread count or on where a thread boundary falls: bits are identical for 1 or N threads.
// The AVX2 and AVX-512 micro-kernels accumulate with fused multiply-add (one rounding per term);
// the baseline (SSE2) path has no FMA and rounds a*b then +. Those paths therefore differ in the
// last bits (tests hold them to a tolerance relative to |A||B|, tests/test_gemm.py). Why FMA,
// measured on the 2-vCPU AVX-512 EPYC, one thread, same flags, runs alternated: 2048^3 float32
// 152-163 GFLOP/s fused vs 125-138 with mul + add; 512x256x784 185 vs 158; 15-20% on every shape
// tried. It also rounds once per term instead of twice. Bit-identity across SIMD paths, which
// the element-wise kernels keep, is given up here; defining GDCORE_GEMM_MADD(x, y, z) as
// V::add(z, V::mul(x, y)) rebuilds the mul + add variant to repeat the comparison.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <vector>

#include "parallel.hpp"
#include "simd.hpp"

#if GDCORE_X86
#include <immintrin.h>
#endif

namespace gdcore {

namespace gemm_detail {

// Depth of one packed block. The same on every path (see "Rounding" above).
inline constexpr std::size_t kKc = 256;

// A strided view of op(X): element (row, col) lives at data[row * row_stride + col * col_stride].
template <class T>
struct MatrixView {
  const T* data;
  std::ptrdiff_t row_stride;
  std::ptrdiff_t col_stride;
  const T* at(std::size_t row, std::size_t col) const {
    return data + static_cast<std::ptrdiff_t>(row) * row_stride +
           static_cast<std::ptrdiff_t>(col) * col_stride;
  }
};

// out[p * Width + r] = src[r * across + p * along] for r < width, zero for width <= r < Width.
// A panel of op(A) runs across rows; a panel of op(B) across columns. The loop order follows the
// unit stride of the source so that the read streams.
template <std::size_t Width, class T>
void pack_panel(std::size_t width, std::size_t depth, const T* __restrict src,
                std::ptrdiff_t across, std::ptrdiff_t along, T* __restrict out) {
  if (width == Width && across == 1) {
    for (std::size_t p = 0; p < depth; ++p) {
      const T* s = src + static_cast<std::ptrdiff_t>(p) * along;
#pragma omp simd
      for (std::size_t r = 0; r < Width; ++r) out[p * Width + r] = s[r];
    }
    return;
  }
#if GDCORE_X86
  if constexpr (std::is_same_v<T, float> && Width % 4 == 0) {
    if (along == 1 && width == Width) {
      // Full float panel, a transpose: 4 x 4 blocks through SSE registers (baseline x86-64),
      // four times fewer loads and stores than the element loop below.
      const std::size_t depth4 = depth / 4 * 4;
      for (std::size_t p = 0; p < depth4; p += 4) {
        for (std::size_t r = 0; r < Width; r += 4) {
          const float* s = src + static_cast<std::ptrdiff_t>(r) * across + p;
          __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + across),
                 r2 = _mm_loadu_ps(s + 2 * across), r3 = _mm_loadu_ps(s + 3 * across);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          _mm_storeu_ps(out + p * Width + r, r0);
          _mm_storeu_ps(out + (p + 1) * Width + r, r1);
          _mm_storeu_ps(out + (p + 2) * Width + r, r2);
          _mm_storeu_ps(out + (p + 3) * Width + r, r3);
        }
      }
      for (std::size_t r = 0; r < Width; ++r) {
        const T* s = src + static_cast<std::ptrdiff_t>(r) * across;
        for (std::size_t p = depth4; p < depth; ++p) out[p * Width + r] = s[p];
      }
      return;
    }
  }
#endif
  if (along == 1) {
    // A transpose (rows of A, or of B^T): one cache line of every source row at a time, so that
    // the lines written (a Width x line block of out) stay in L1 while the rows are read; row
    // by row over the whole depth wrote depth lines per row, the whole panel, Width times.
    constexpr std::size_t kLine = 64 / sizeof(T);
    for (std::size_t p0 = 0; p0 < depth; p0 += kLine) {
      const std::size_t p1 = std::min(depth, p0 + kLine);
      for (std::size_t r = 0; r < width; ++r) {
        const T* s = src + static_cast<std::ptrdiff_t>(r) * across;
        for (std::size_t p = p0; p < p1; ++p) out[p * Width + r] = s[p];
      }
    }
  } else {
    for (std::size_t r = 0; r < width; ++r) {
      const T* s = src + static_cast<std::ptrdiff_t>(r) * across;
      for (std::size_t p = 0; p < depth; ++p) out[p * Width + r] = s[static_cast<std::ptrdiff_t>(p) * along];
    }
  }
  for (std::size_t r = width; r < Width; ++r)
    for (std::size_t p = 0; p < depth; ++p) out[p * Width + r] = T(0);
}

// How a micro-kernel writes its MR x NR result acc into C.
enum class Update : int {
  overwrite = 0,  // c = alpha * acc                 (first block, beta == 0)
  scale = 1,      // c = alpha * acc + beta * c      (first block)
  accumulate = 2  // c = c + alpha * acc             (later blocks)
};

// The same update on one scalar; used for tiles cut by the matrix edge.
template <class T>
inline T update_one(Update mode, T acc, T c, T alpha, T beta) {
  switch (mode) {
    case Update::overwrite: return alpha * acc;
    case Update::scale: return alpha * acc + beta * c;
    default: return c + alpha * acc;
  }
}

// ---- baseline micro-kernel: portable C++, vectorized by the compiler for SSE2 ---------------

template <class T, int MR, int NR>
struct BaselineKernel {
  using value_type = T;
  static constexpr std::size_t mr = MR;
  static constexpr std::size_t nr = NR;
  static constexpr bool in_place_a = false;  // always packed (lda is 0)
  static void micro(std::size_t kc, const T* __restrict a, const T* __restrict b,
                    std::size_t ldb, T* __restrict c, std::size_t ldc, T alpha, T beta,
                    Update mode, std::size_t /*lda*/ = 0) {
    T acc[MR][NR] = {};
    for (std::size_t p = 0; p < kc; ++p) {
      for (int i = 0; i < MR; ++i) {
        const T ai = a[i];
#pragma omp simd
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
      }
      a += MR;
      b += ldb;
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j)
        c[i * ldc + j] = update_one(mode, acc[i][j], c[i * ldc + j], alpha, beta);
  }
};

#if GDCORE_X86
// ---- SIMD registers, one struct per (instruction set, type) ----------------------------------

struct Avx2Float {
  using T = float;
  using reg = __m256;
  static constexpr int width = 8;
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg zero() { return _mm256_setzero_ps(); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg set1(T x) { return _mm256_set1_ps(x); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg load(const T* p) { return _mm256_loadu_ps(p); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static void store(T* p, reg x) { _mm256_storeu_ps(p, x); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg fmadd(reg a, reg b, reg c) {
    return _mm256_fmadd_ps(a, b, c);
  }
};

struct Avx2Double {
  using T = double;
  using reg = __m256d;
  static constexpr int width = 4;
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg zero() { return _mm256_setzero_pd(); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg set1(T x) { return _mm256_set1_pd(x); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg load(const T* p) { return _mm256_loadu_pd(p); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static void store(T* p, reg x) { _mm256_storeu_pd(p, x); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  GDCORE_TARGET_AVX2 GDCORE_INLINE static reg fmadd(reg a, reg b, reg c) {
    return _mm256_fmadd_pd(a, b, c);
  }
};

struct Avx512Float {
  using T = float;
  using reg = __m512;
  static constexpr int width = 16;
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg zero() { return _mm512_setzero_ps(); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg set1(T x) { return _mm512_set1_ps(x); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg load(const T* p) { return _mm512_loadu_ps(p); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static void store(T* p, reg x) { _mm512_storeu_ps(p, x); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg fmadd(reg a, reg b, reg c) {
    return _mm512_fmadd_ps(a, b, c);
  }
};

struct Avx512Double {
  using T = double;
  using reg = __m512d;
  static constexpr int width = 8;
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg zero() { return _mm512_setzero_pd(); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg set1(T x) { return _mm512_set1_pd(x); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg load(const T* p) { return _mm512_loadu_pd(p); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static void store(T* p, reg x) { _mm512_storeu_pd(p, x); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  GDCORE_TARGET_AVX512 GDCORE_INLINE static reg fmadd(reg a, reg b, reg c) {
    return _mm512_fmadd_pd(a, b, c);
  }
};

// The register-tiled micro-kernel: an MR x (NV * width) block of C held in MR * NV registers,
// one broadcast of a and NV loads of b per k. a is a packed panel (MR values per k) when lda is
// 0, else MR rows of A read in place, row i at a + i * lda. Written once and compiled per instruction set
// (intrinsics need the caller's target, so the body is stamped out by a macro, not inlined).
// The multiply-add of the micro-kernel; see "Why FMA" at the top.
#ifndef GDCORE_GEMM_MADD
#define GDCORE_GEMM_MADD(x, y, z) V::fmadd(x, y, z)
#endif
#define GDCORE_GEMM_SIMD_MICRO(NAME, TARGET)                                                       \
  template <class V, int MR, int NV>                                                               \
  TARGET void NAME(std::size_t kc, const typename V::T* __restrict a,                              \
                   const typename V::T* __restrict b, std::size_t ldb,                             \
                   typename V::T* __restrict c, std::size_t ldc, typename V::T alpha,              \
                   typename V::T beta, Update mode, std::size_t lda) {                             \
    using reg = typename V::reg;                                                                   \
    constexpr int W = V::width;                                                                    \
    reg acc[MR][NV];                                                                               \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i)                                          \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();                \
    if (lda != 0) {                                                                                \
      for (std::size_t p = 0; p < kc; ++p) {                                                       \
        reg bv[NV];                                                                                \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);           \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {                                    \
          const reg ai = V::set1(a[i * lda + p]);                                                  \
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] =                         \
              GDCORE_GEMM_MADD(ai, bv[v], acc[i][v]);                                              \
        }                                                                                          \
        b += ldb;                                                                                  \
      }                                                                                            \
    } else                                                                                         \
    for (std::size_t p = 0; p < kc; ++p) {                                                         \
      reg bv[NV];                                                                                  \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);             \
      _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {                                      \
        const reg ai = V::set1(a[i]);                                                              \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] =                           \
            GDCORE_GEMM_MADD(ai, bv[v], acc[i][v]);                                                \
      }                                                                                            \
      a += MR;                                                                                     \
      b += ldb;                                                                                    \
    }                                                                                              \
    const reg va = V::set1(alpha);                                                                 \
    if (mode == Update::overwrite) {                                                               \
      _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i)                                        \
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                     \
              V::store(c + i * ldc + v * W, V::mul(va, acc[i][v]));                                \
    } else if (mode == Update::scale) {                                                            \
      const reg vb = V::set1(beta);                                                                \
      _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i)                                        \
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) V::store(                           \
              c + i * ldc + v * W,                                                                 \
              V::add(V::mul(va, acc[i][v]), V::mul(vb, V::load(c + i * ldc + v * W))));           \
    } else {                                                                                       \
      _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i)                                        \
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) V::store(                           \
              c + i * ldc + v * W, V::add(V::load(c + i * ldc + v * W), V::mul(va, acc[i][v])));  \
    }                                                                                              \
  }

GDCORE_GEMM_SIMD_MICRO(micro_avx2, GDCORE_TARGET_AVX2)
GDCORE_GEMM_SIMD_MICRO(micro_avx512, GDCORE_TARGET_AVX512)
#undef GDCORE_GEMM_SIMD_MICRO

// AVX2: 16 ymm registers hold a 6 x 2-vector tile (12 accumulators, 2 of b, 1 broadcast), or
// for narrow C (n <= one vector) a 12 x 1-vector tile.
template <class V, int MR = 6, int NV = 2>
struct Avx2Kernel {
  using value_type = typename V::T;
  static constexpr std::size_t mr = MR;
  static constexpr std::size_t nr = NV * V::width;
  static constexpr bool in_place_a = true;
  static void micro(std::size_t kc, const value_type* a, const value_type* b, std::size_t ldb,
                    value_type* c, std::size_t ldc, value_type alpha, value_type beta,
                    Update mode, std::size_t lda = 0) {
    micro_avx2<V, MR, NV>(kc, a, b, ldb, c, ldc, alpha, beta, mode, lda);
  }
};

// AVX-512: 32 zmm registers hold a 12 x 2-vector tile (24 accumulators, 2 of b; the broadcast of
// a folds into the FMA's memory operand), or for narrow C (n <= one vector, e.g. a 10-class
// output layer) a 24 x 1-vector tile, which wastes less of each register on padding. gemm()
// also picks 16 x 1 and 8 x 2 tiles where they fit a mini-batch's row count without an edge.
template <class V, int MR = 12, int NV = 2>
struct Avx512Kernel {
  using value_type = typename V::T;
  static constexpr std::size_t mr = MR;
  static constexpr std::size_t nr = NV * V::width;
  static constexpr bool in_place_a = true;
  static void micro(std::size_t kc, const value_type* a, const value_type* b, std::size_t ldb,
                    value_type* c, std::size_t ldc, value_type alpha, value_type beta,
                    Update mode, std::size_t lda = 0) {
    micro_avx512<V, MR, NV>(kc, a, b, ldb, c, ldc, alpha, beta, mode, lda);
  }
};
#endif  // GDCORE_X86

// The peak a micro-kernel is measured against: `chains` independent multiply-add chains per
// register lane (enough to cover the FMA latency on both pipes), nothing loaded. Returns the sum
// so the work cannot be dropped; the caller counts 2 * lanes * chains * iterations flops.
#define GDCORE_GEMM_PEAK_PROBE(NAME, TARGET)                                                       \
  template <class V, int Chains>                                                                   \
  TARGET typename V::T NAME(std::size_t iterations, typename V::T x, typename V::T y) {            \
    typename V::reg acc[Chains];                                                                   \
    _Pragma("GCC unroll 32") for (int i = 0; i < Chains; ++i) acc[i] = V::set1(typename V::T(i));  \
    const typename V::reg vx = V::set1(x), vy = V::set1(y);                                        \
    for (std::size_t it = 0; it < iterations; ++it) {                                              \
      _Pragma("GCC unroll 32") for (int i = 0; i < Chains; ++i) acc[i] =                           \
          V::fmadd(acc[i], vx, vy);                                                                \
    }                                                                                              \
    alignas(64) typename V::T lanes[V::width] = {};                                                \
    typename V::reg total = V::zero();                                                             \
    _Pragma("GCC unroll 32") for (int i = 0; i < Chains; ++i) total = V::add(total, acc[i]);       \
    V::store(lanes, total);                                                                        \
    return lanes[0];                                                                               \
  }
#if GDCORE_X86
GDCORE_GEMM_PEAK_PROBE(peak_probe_avx2, GDCORE_TARGET_AVX2)
GDCORE_GEMM_PEAK_PROBE(peak_probe_avx512, GDCORE_TARGET_AVX512)
#endif
#undef GDCORE_GEMM_PEAK_PROBE

// A thread's packing buffers, kept between calls (allocating ~100 KiB per call would cost page
// faults that a small product cannot repay). Aligned to 64 bytes for the SIMD loads.
template <class T>
struct PackBuffer {
  std::vector<T> storage;
  T* get(std::size_t count) {
    const std::size_t pad = 64 / sizeof(T);
    if (storage.size() < count + pad) storage.resize(count + pad);
    auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    return storage.data() + ((64 - address % 64) % 64) / sizeof(T);
  }
};

template <class T>
PackBuffer<T>& pack_buffer(int which) {
  thread_local PackBuffer<T> buffers[2];
  return buffers[which];
}

// c = beta * c on an m x n region (the whole product when k == 0).
template <class T>
void scale_region(std::size_t m, std::size_t n, T beta, T* c, std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) {
      std::fill(row, row + n, T(0));
    } else {
      for (std::size_t j = 0; j < n; ++j) row[j] = beta * row[j];
    }
  }
}

// The blocked product on one region of C, run by one thread. Each block of C (MC rows by NC
// columns) is final after the last KC pass over it; the thread then calls epilogue on it at once,
// in the whole C's coordinates (this region starts at row i0, column j0).
template <class K, class Epilogue>
void gemm_region(std::size_t m, std::size_t n, std::size_t k, typename K::value_type alpha,
                 MatrixView<typename K::value_type> a, MatrixView<typename K::value_type> b,
                 typename K::value_type beta, typename K::value_type* c, std::size_t ldc,
                 const Epilogue& epilogue, std::size_t i0, std::size_t j0) {
  using T = typename K::value_type;
  constexpr std::size_t MR = K::mr, NR = K::nr;
  constexpr std::size_t KC = kKc;
  // The A block (MC x KC) fits in L2 next to the B micro-panel; the B block (KC x NC) in L3.
  constexpr std::size_t MC = MR * (sizeof(T) == 4 ? 16 : 8);
  constexpr std::size_t NC = NR * (sizeof(T) == 4 ? 128 : 128);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_region(m, n, beta, c, ldc);
    epilogue(i0, i0 + m, j0, j0 + n);
    return;
  }
  T* packed_a = pack_buffer<T>(0).get(MC * KC);
  // B stored row-major (unit column stride) and one block of rows of C (m <= MC: the small
  // batches of an MLP, C = X W with few rows). Packing a whole KC x NC block of B ahead wrote and
  // re-read ~256 KiB through L2 for products that use each panel only m / MR times. With at most
  // 4 tile rows a full NR-wide panel is read where it is (row stride b.row_stride); with more,
  // one panel at a time is packed into an L1-sized buffer just before the tiles that use it.
  // Measured with the MLP shapes of benchmarks/bench_gemm.py, one thread, 3 runs alternated on
  // the loaded 2-vCPU machine: X W at m = 32 from ~110 to 145-158 GFLOP/s in place (per panel:
  // 136-140); at m = 64-128 per panel 153-173 vs 143-160 in place.
  const bool b_by_panel = m <= MC && b.col_stride == 1;
  const bool b_in_place = b_by_panel && m <= 4 * MR;
  // op(A) with unit column stride (A itself, row-major: an MLP's activations or deltas) is read
  // where it is by every full tile, MR rows at row stride a.row_stride, and only an edge tile of
  // fewer rows is packed (zero padded). The micro-kernel's arithmetic is the same either way.
  // Packing A cost each thread a copy of the whole A block for its share of the columns: MLP
  // products (bench_gemm's shapes, runs alternated) took 2-3% less time in place at 1 thread
  // and 3-7% at 2, and whole MLP epochs at batch 128 ran 2-4% faster.
  const bool a_in_place = K::in_place_a && a.col_stride == 1;
  T* packed_b = pack_buffer<T>(1).get(b_by_panel ? KC * NR : KC * NC);
  alignas(64) T edge[MR * NR];
  for (std::size_t jc = 0; jc < n; jc += NC) {
    const std::size_t nc = std::min(NC, n - jc);
    for (std::size_t pc = 0; pc < k; pc += KC) {
      const std::size_t kc = std::min(KC, k - pc);
      if (!b_by_panel)
        for (std::size_t jr = 0; jr < nc; jr += NR)
          pack_panel<NR>(std::min(NR, nc - jr), kc, b.at(pc, jc + jr), b.col_stride, b.row_stride,
                         packed_b + jr * kc);
      const Update mode = pc > 0 ? Update::accumulate
                                 : (beta == T(0) ? Update::overwrite : Update::scale);
      for (std::size_t ic = 0; ic < m; ic += MC) {
        const std::size_t mc = std::min(MC, m - ic);
        for (std::size_t ir = 0; ir < mc; ir += MR)
          if (!a_in_place || mc - ir < MR)
            pack_panel<MR>(std::min(MR, mc - ir), kc, a.at(ic + ir, pc), a.row_stride,
                           a.col_stride, packed_a + ir * kc);
        for (std::size_t jr = 0; jr < nc; jr += NR) {
          const std::size_t cols = std::min(NR, nc - jr);
          const T* panel = packed_b + jr * kc;
          std::size_t ldb = NR;
          if (b_in_place && cols == NR) {
            panel = b.at(pc, jc + jr);
            ldb = static_cast<std::size_t>(b.row_stride);
          } else if (b_by_panel) {
            pack_panel<NR>(cols, kc, b.at(pc, jc + jr), b.col_stride, b.row_stride, packed_b);
            panel = packed_b;
          }
          for (std::size_t ir = 0; ir < mc; ir += MR) {
            const std::size_t rows = std::min(MR, mc - ir);
            T* tile = c + (ic + ir) * ldc + jc + jr;
            const bool in_place = a_in_place && rows == MR;
            const T* tile_a = in_place ? a.at(ic + ir, pc) : packed_a + ir * kc;
            const std::size_t lda = in_place ? static_cast<std::size_t>(a.row_stride) : 0;
            if (rows == MR && cols == NR) {
              K::micro(kc, tile_a, panel, ldb, tile, ldc, alpha, beta, mode, lda);
            } else {
              K::micro(kc, tile_a, panel, ldb, edge, NR, T(1), T(0), Update::overwrite, lda);
              for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j)
                  tile[i * ldc + j] = update_one(mode, edge[i * NR + j], tile[i * ldc + j], alpha, beta);
            }
          }
        }
        if (pc + kc == k) epilogue(i0 + ic, i0 + ic + mc, j0 + jc, j0 + jc + nc);
      }
    }
  }
}

// Element-wise work a caller runs on C right after the product (bias and activation, say):
// each thread calls epilogue(i0, i1, j0, j1) on each block [i0, i1) x [j0, j1) of C it computed
// as soon as the block is final (at most MC rows by NC columns; together the blocks cover C
// once), while the block is still in its cache, so the work is split like the product and needs
// no parallel region of its own. It must not start threads. The element-wise operations are the
// same for any split.
struct NoEpilogue {
  void operator()(std::size_t, std::size_t, std::size_t, std::size_t) const {}
};

// Work (multiply-adds, or for thin products their values moved: see gemm_with) per thread below
// which a second thread does not pay (waking it costs 2-50 us). 512k: the
// 10-unit output layer of a batch-512 MLP (512 x 10 x 256, 1.3M) then splits in two, by the
// batch rows that the layer before left in each core's cache. Measured there on the 2-vCPU
// Xeon, two threads: forward 60 -> 27 us, D W^T 105 -> 57, A^T D 77 -> 60, the step ~3% faster
// (with 1M they ran on one thread, reading half their input from the other core). Earlier,
// with the column split that X W then chose at batch 512, 256k and 128k gained nothing.
inline constexpr std::size_t kMinMultiplyAddsPerThread = std::size_t{1} << 19;

// What one value of op(A) or op(B) read by a thread's region costs, in multiply-adds, when the
// split of C among threads is chosen (gemm_with). A core does 32 float multiply-adds a cycle
// (two 16-lane FMA pipes) and gets about one float a cycle from L3 or from the other core's
// cache, where an MLP's activations and weights are (each layer's product leaves its block of
// the output in the core that computed it). The weight was 4 before (packing only); with 32, the
// batch-512 products of a 784-256-256-10 MLP (C = 512 x 256) split by rows instead of columns,
// so each thread reads half of A (the activations, 512 KiB) and all of W instead of all of A and
// half of W. Measured on the 2-vCPU Xeon, two threads: X W_1 alone 823 -> 746 us; a batch-512
// training step 2.94-2.97 -> 2.76 ms (X W_1, A_1 W_2 and D W_2^T faster, A_1^T D slower);
// whole batch-512 epochs 3% faster and batch-128 2% (four alternated runs; batch 128 and 32
// keep their splits, one thread is unchanged).
inline constexpr std::size_t kReadCost = 32;

// Split C into a grid of rows x cols thread regions: cut along whichever dimension wastes less
// (edge tiles and repeated packing), with cuts on tile multiples.
template <class K, class Epilogue>
void gemm_with(std::size_t m, std::size_t n, std::size_t k, typename K::value_type alpha,
               MatrixView<typename K::value_type> a, MatrixView<typename K::value_type> b,
               typename K::value_type beta, typename K::value_type* c, std::size_t ldc,
               int threads, const Epilogue& epilogue) {
  constexpr std::size_t MR = K::mr, NR = K::nr;
  // Work: the multiply-adds, or, for thin products (k or n of a few units, as an MLP's output
  // layer), the values of A, B and C they touch at kReadCost each, whichever is larger: such a
  // product runs at the speed it moves its values, not at the FMA pipes'. At batch 128 the
  // 10-unit output layer's three products (128 x 10 x 256, 327k multiply-adds, ~1.2M by their
  // values) then split in two, each thread on the batch rows the layer before left in its cache.
  const std::size_t values = m * k + k * n + m * n;
  const std::size_t work = std::max(m * n * std::max<std::size_t>(k, 1), kReadCost * values);
  const std::size_t row_tiles = (m + MR - 1) / MR, col_tiles = (n + NR - 1) / NR;
  std::size_t team = std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(threads)),
                                           std::max<std::size_t>(work / kMinMultiplyAddsPerThread, 1));
  team = std::min(team, row_tiles * col_tiles);
  if (team <= 1) {
    gemm_region<K>(m, n, k, alpha, a, b, beta, c, ldc, epilogue, 0, 0);
    return;
  }
  // Grid: the factorization team = grid_rows * grid_cols whose largest region (in whole tiles)
  // plus the inputs it reads is smallest, a value read counted as kReadCost multiply-adds. A
  // column split whose regions' rows are shorter than a 4 KiB page puts every thread's part of
  // C in the same pages, and the cores' stream prefetchers (which run within a page) then pull
  // in lines the other core is writing: those C values count as read from the other core. At
  // batch 128 that turns D W^T of an MLP's 10-unit output layer (128 x 256 x 10, with the
  // activation derivative applied to C as it is written) to a row split: 21-27 -> 15 us on two
  // threads (C++ phase timer); the large-k products keep their column splits.
  constexpr std::size_t kPage = 4096 / sizeof(typename K::value_type);
  std::size_t grid_rows = 1, best_cost = ~std::size_t{0};
  for (std::size_t r = 1; r <= team; ++r) {
    if (team % r) continue;
    const std::size_t cols = team / r;
    const std::size_t tm = (row_tiles + r - 1) / r * MR, tn = (col_tiles + cols - 1) / cols * NR;
    const std::size_t shared_pages = cols > 1 && tn < kPage ? kReadCost * tm * tn : 0;
    const std::size_t cost = tm * tn * k + kReadCost * (tm + tn) * k + shared_pages;
    if (cost < best_cost) best_cost = cost, grid_rows = r;
  }
  const std::size_t grid_cols = team / grid_rows;
  const std::size_t rows_per = (row_tiles + grid_rows - 1) / grid_rows * MR;
  const std::size_t cols_per = (col_tiles + grid_cols - 1) / grid_cols * NR;
  std::exception_ptr error;
#pragma omp parallel num_threads(static_cast<int>(team))
  {
    const std::size_t id = static_cast<std::size_t>(omp_get_thread_num());
    const std::size_t size = static_cast<std::size_t>(omp_get_num_threads());
    // A smaller team than asked (nested or limited OpenMP) still covers C: loop over regions.
    for (std::size_t region = id; region < team; region += size) {
      const std::size_t i0 = std::min(m, (region / grid_cols) * rows_per);
      const std::size_t j0 = std::min(n, (region % grid_cols) * cols_per);
      const std::size_t i1 = std::min(m, i0 + rows_per), j1 = std::min(n, j0 + cols_per);
      if (i0 >= i1 || j0 >= j1) continue;
      try {
        MatrixView<typename K::value_type> a_part{a.at(i0, 0), a.row_stride, a.col_stride};
        MatrixView<typename K::value_type> b_part{b.at(0, j0), b.row_stride, b.col_stride};
        gemm_region<K>(i1 - i0, j1 - j0, k, alpha, a_part, b_part, beta, c + i0 * ldc + j0, ldc,
                       epilogue, i0, j0);
      } catch (...) {
#pragma omp critical(gdcore_gemm_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace gemm_detail

// Single-thread FMA throughput probe on the active SIMD path: runs `iterations` rounds and
// returns the flops performed (the caller times it). The baseline path has no FMA; it reports
// the mul + add rate of the baseline micro-kernel's scalar-compiled loop instead.
template <class T>
double fma_peak_probe(std::size_t iterations, T* sink) {
  using namespace gemm_detail;
  const T x = T(0.999999), y = T(1e-6);
#if GDCORE_X86
  using Wide = std::conditional_t<std::is_same_v<T, float>, Avx512Float, Avx512Double>;
  using Narrow = std::conditional_t<std::is_same_v<T, float>, Avx2Float, Avx2Double>;
  switch (active_isa()) {
    case Isa::avx512:
      *sink = peak_probe_avx512<Wide, 24>(iterations, x, y);
      return 2.0 * Wide::width * 24 * static_cast<double>(iterations);
    case Isa::avx2:
      *sink = peak_probe_avx2<Narrow, 12>(iterations, x, y);
      return 2.0 * Narrow::width * 12 * static_cast<double>(iterations);
    default: break;
  }
#endif
  constexpr int lanes = 16 / sizeof(T) * 8;
  T acc[lanes];
  for (int i = 0; i < lanes; ++i) acc[i] = T(i);
  for (std::size_t it = 0; it < iterations; ++it)
#pragma omp simd
    for (int i = 0; i < lanes; ++i) acc[i] = acc[i] * x + y;
  T total = 0;
  for (int i = 0; i < lanes; ++i) total += acc[i];
  *sink = total;
  return 2.0 * lanes * static_cast<double>(iterations);
}

// C = alpha * op(A) * op(B) + beta * C, all row-major.
//   op(A) = A (m x k, row stride lda >= k) or A^T (A stored k x m, lda >= m);
//   op(B) = B (k x n, ldb >= n) or B^T (B stored n x k, ldb >= k); C is m x n, ldc >= n.
// threads: 0 follows gdcore's default (resolve_threads); small products stay on one thread.
// epilogue: see NoEpilogue.
template <class T, class Epilogue = gemm_detail::NoEpilogue>
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
          const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
          int threads = 0, const Epilogue& epilogue = Epilogue{}) {
  using namespace gemm_detail;
  if (m == 0 || n == 0) return;
  const auto la = static_cast<std::ptrdiff_t>(lda), lb = static_cast<std::ptrdiff_t>(ldb);
  const MatrixView<T> av = trans_a ? MatrixView<T>{a, 1, la} : MatrixView<T>{a, la, 1};
  const MatrixView<T> bv = trans_b ? MatrixView<T>{b, 1, lb} : MatrixView<T>{b, lb, 1};
#if GDCORE_X86
  using Wide = std::conditional_t<std::is_same_v<T, float>, Avx512Float, Avx512Double>;
  using Narrow = std::conditional_t<std::is_same_v<T, float>, Avx2Float, Avx2Double>;
  switch (active_isa()) {
    // The tile shape never changes a result's bits (each element's operations are the same),
    // so it may follow n and m.
    case Isa::avx512:
      if (n <= static_cast<std::size_t>(Wide::width) && m % 16 == 0 && m % 24 != 0)
        // Narrow products (an MLP's output layer) whose rows are a multiple of 16 but not of
        // 24 (batch 32, 128, 256, 512): 16-row tiles leave no padded edge tile.
        gemm_with<Avx512Kernel<Wide, 16, 1>>(m, n, k, alpha, av, bv, beta, c, ldc, threads,
                                             epilogue);
      else if (n <= static_cast<std::size_t>(Wide::width))
        gemm_with<Avx512Kernel<Wide, 24, 1>>(m, n, k, alpha, av, bv, beta, c, ldc, threads,
                                             epilogue);
      else if (m <= 128 && m % 8 == 0 && m % 12 != 0)
        // Few rows (an MLP's mini-batch): 8-row tiles cover m = 32, 64 or 128 exactly where
        // 12-row tiles compute a padded edge tile and copy it out (and, split by rows for two
        // threads, give each 64 rows where 12-row tiles give 72 and 56). Batch-128 steps of a
        // 784-256-256-10 MLP, alternated in one process: 2-3% faster on one and two threads.
        gemm_with<Avx512Kernel<Wide, 8, 2>>(m, n, k, alpha, av, bv, beta, c, ldc, threads,
                                            epilogue);
      else
        gemm_with<Avx512Kernel<Wide>>(m, n, k, alpha, av, bv, beta, c, ldc, threads, epilogue);
      return;
    case Isa::avx2:
      if (n <= static_cast<std::size_t>(Narrow::width))
        gemm_with<Avx2Kernel<Narrow, 12, 1>>(m, n, k, alpha, av, bv, beta, c, ldc, threads,
                                             epilogue);
      else
        gemm_with<Avx2Kernel<Narrow>>(m, n, k, alpha, av, bv, beta, c, ldc, threads, epilogue);
      return;
    default: break;
  }
#endif
  gemm_with<BaselineKernel<T, 4, 16 / sizeof(T) * 2>>(m, n, k, alpha, av, bv, beta, c, ldc,
                                                       threads, epilogue);
}

}  // namespace gdcore
