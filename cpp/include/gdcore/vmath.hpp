// exp and log written as plain arithmetic, so that loops calling them vectorize.
//
// The C library's exp and log are function calls the compiler cannot vectorize without
// -ffast-math (which gdcore does not use). These versions use only +, -, *, /, comparisons and
// bit operations on the argument, so `#pragma omp simd` loops compile them for every SIMD path,
// and each SIMD path gives the same bits (the build keeps a*b+c unfused).
// Accuracy against NumPy on their domains: exp within 2 ulp; log1p and log within 2 ulp in double
// and 3 ulp in float (computing float in double would cost a third of the log loss's speed)
// (tests check this against NumPy over dense grids).
// The NumPy twins (src/gdcore/reference/vmath.py) do the same operations in the same order and
// precision, so they give the same bits: the log loss and softmax fits of the core and the twin
// agree bitwise, as every other loss does.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "simd.hpp"

namespace gdcore {

namespace detail {

template <class T>
struct VmathConst;

template <>
struct VmathConst<double> {
  using Int = std::int64_t;
  static constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52: x + it rounds to integer
  static constexpr double kInvLn2 = 1.44269504088896338700e+00;
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;  // n * hi is exact for |n| < 2^11
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr double kMinArg = -708.0;  // below: the result would be subnormal; returns 0
  static constexpr int kMantissa = 52;
  static constexpr Int kBias = 1023;
  static constexpr double kSqrt2 = 1.41421356237309514547e+00;
  static constexpr int kExpTerms = 13;  // Taylor terms of e^r, |r| <= ln2/2
  static constexpr int kAtanhTerms = 10;
};

template <>
struct VmathConst<float> {
  using Int = std::int32_t;
  static constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23
  static constexpr float kInvLn2 = 1.44269504088896341f;
  static constexpr float kLn2Hi = 0.693145751953125f;  // 11 significant bits
  static constexpr float kLn2Lo = 1.428606765330187045e-06f;
  static constexpr float kMinArg = -87.0f;
  static constexpr int kMantissa = 23;
  static constexpr Int kBias = 127;
  static constexpr float kSqrt2 = 1.41421353816986083984f;
  static constexpr int kExpTerms = 7;
  static constexpr int kAtanhTerms = 5;
};

// 1/k! for k = 0..n, and 1/(2k+1) for k = 0..n, rounded once from double.
template <class T, int N>
struct Coefficients {
  T inverse_factorial[N + 1];
  T inverse_odd[N + 1];
  constexpr Coefficients() : inverse_factorial(), inverse_odd() {
    double f = 1.0;
    for (int k = 0; k <= N; ++k) {
      if (k > 0) f *= k;
      inverse_factorial[k] = static_cast<T>(1.0 / f);
      inverse_odd[k] = static_cast<T>(1.0 / (2 * k + 1));
    }
  }
};

template <class T>
inline constexpr Coefficients<T, 16> kCoefficients{};

template <class To, class From>
GDCORE_INLINE To bits_as(From x) {
  To out;
  std::memcpy(&out, &x, sizeof(out));
  return out;
}

}  // namespace detail

// e^x for x <= 0 (0 below the normal range: about e^-708 for double, e^-87 for float).
template <class T>
GDCORE_INLINE T exp_nonpositive(T x) {
  using C = detail::VmathConst<T>;
  using Int = typename C::Int;
  const bool tiny = x < T(C::kMinArg);
  x = tiny ? T(C::kMinArg) : x;
  // x = n ln2 + r with n an integer and |r| <= ln2 / 2 (Cody and Waite's two-part ln2).
  const T shifted = x * T(C::kInvLn2) + T(C::kShifter);
  const T n = shifted - T(C::kShifter);
  const Int n_int = detail::bits_as<Int>(shifted) - detail::bits_as<Int>(T(C::kShifter));
  const T r = (x - n * T(C::kLn2Hi)) - n * T(C::kLn2Lo);
  // e^r by its Taylor series to r^n/n!, as 1 + (r + r^2 q(r)) with q = 1/2! + r/3! + ... in
  // Estrin's form: pairs c_k + c_k+1 r, then pairs of those joined by r^2, r^4. Horner's form
  // chains n dependent multiplies and adds (about 56 cycles in float without contraction), which
  // a stochastic step waits on for every row; Estrin's needs about 36 (measured: in-order batch-1
  // epochs about 3% faster, batch epochs unchanged within the noise). Adding the small
  // r + r^2 q to 1 last keeps float within 2 ulp of NumPy on a 4M-point grid, where Horner's
  // form reached 3 (and Estrin's all the way to the constant term, 3 as well).
  // Written out for the two term counts: a loop over Estrin's levels did not vectorize.
  const T* f = detail::kCoefficients<T>.inverse_factorial;
  const T r2 = r * r, r4 = r2 * r2;
  T q;
  if constexpr (C::kExpTerms == 7) {  // c_2 .. c_7
    const T p0 = f[2] + f[3] * r, p1 = f[4] + f[5] * r, p2 = f[6] + f[7] * r;
    q = (p0 + p1 * r2) + p2 * r4;
  } else {  // c_2 .. c_13
    static_assert(C::kExpTerms == 13, "exp_nonpositive's Estrin form expects 7 or 13 terms");
    const T p0 = f[2] + f[3] * r, p1 = f[4] + f[5] * r, p2 = f[6] + f[7] * r;
    const T p3 = f[8] + f[9] * r, p4 = f[10] + f[11] * r, p5 = f[12] + f[13] * r;
    const T a0 = p0 + p1 * r2, a1 = p2 + p3 * r2, a2 = p4 + p5 * r2;
    q = (a0 + a1 * r4) + a2 * (r4 * r4);
  }
  const T poly = T(1) + (r + r2 * q);
  // The shift is done unsigned: for a NaN x, n_int is garbage and may be negative (shifting a
  // negative signed value is undefined; UndefinedBehaviorSanitizer caught it). The result is NaN
  // either way, through poly.
  using UInt = std::make_unsigned_t<Int>;
  const UInt biased = static_cast<UInt>(n_int) + static_cast<UInt>(C::kBias);
  const T scale = detail::bits_as<T>(static_cast<UInt>(biased << C::kMantissa));
  const T result = poly * scale;
  return tiny ? T(0) : result;
}

namespace detail {

// log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], as 2 atanh(s) with s = f / (2 + f),
// |s| < 0.18: 2s + 2s (z/3 + z²/5 + ...), z = s².
template <class T>
GDCORE_INLINE T log1p_reduced(T f) {
  using C = VmathConst<T>;
  const T s = f / (T(2) + f);
  const T z = s * s;
  const auto& c = kCoefficients<T>;
  T series = T(0);
  for (int k = C::kAtanhTerms; k >= 1; --k) series = z * (c.inverse_odd[k] + series);
  return T(2) * s + T(2) * s * series;
}

}  // namespace detail

// log(1 + t) for 0 <= t <= 1.
template <class T>
GDCORE_INLINE T log1p_unit(T t) {
  using C = detail::VmathConst<T>;
  const T u = T(1) + t;
  const T lost = (t - (u - T(1))) / u;  // what rounding 1 + t dropped, to first order
  const bool halve = u > T(C::kSqrt2);
  const T f = (halve ? u * T(0.5) : u) - T(1);  // exact (Sterbenz); f in [-0.3, 0.42]
  const T log_f = detail::log1p_reduced(f);
  const T k = halve ? T(1) : T(0);
  return k * T(C::kLn2Hi) + ((log_f + lost) + k * T(C::kLn2Lo));
}

// log(x) for x >= 1 (any positive normal x works; the softmax's sum of exponentials is >= 1).
// x = 2^e m with m in [1, 2) read from the bits; m above sqrt(2) is halved (e + 1), so that
// log x = e ln2 + log(1 + f) with f = m - 1 exact and small. +inf and NaN come back as they are.
template <class T>
GDCORE_INLINE T log_at_least_one(T x) {
  using C = detail::VmathConst<T>;
  using Int = typename C::Int;
  const Int bits = detail::bits_as<Int>(x);
  const Int mantissa_mask = (Int(1) << C::kMantissa) - 1;
  const Int exponent = (bits >> C::kMantissa) - C::kBias;  // x > 0: the sign bit is clear
  const T m = detail::bits_as<T>((bits & mantissa_mask) | (C::kBias << C::kMantissa));
  const bool halve = m > T(C::kSqrt2);
  const T f = (halve ? m * T(0.5) : m) - T(1);  // exact
  const T e = static_cast<T>(exponent) + (halve ? T(1) : T(0));
  const T result = e * T(C::kLn2Hi) + (detail::log1p_reduced(f) + e * T(C::kLn2Lo));
  return x < std::numeric_limits<T>::infinity() ? result : x;
}

}  // namespace gdcore
