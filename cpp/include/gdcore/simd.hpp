// Run-time SIMD dispatch.
//
// One wheel runs on every x86-64 CPU: the default build targets the x86-64 baseline (SSE2), and
// each hot kernel is also compiled for AVX2+FMA and AVX-512 through `target` attributes. The path
// is picked once from CPUID (and may be lowered with GDCORE_ISA=baseline|avx2 or set_isa()).
//
// A kernel body is a functor whose call operator is always_inline: inlining it into a
// target-specific wrapper compiles the same loop for that instruction set. Because the build uses
// -ffp-contract=off and no fast-math, every path performs the same IEEE operations in the same
// order, so all paths give bit-identical results (tests check this).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#define GDCORE_INLINE inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#define GDCORE_X86 1
#define GDCORE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GDCORE_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#else
#define GDCORE_X86 0
#endif

namespace gdcore {

enum class Isa : int { baseline = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "baseline";
  }
}

inline Isa isa_from_name(const std::string& name) {
  if (name == "baseline") return Isa::baseline;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("unknown SIMD path '" + name + "'; expected baseline, avx2 or avx512");
}

// The best path this CPU (and its operating system) supports.
inline Isa detect_isa() noexcept {
#if GDCORE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::baseline;
}

namespace detail {
inline std::atomic<int> active_isa_value{-1};

inline Isa initial_isa() {
  Isa best = detect_isa();
  if (const char* env = std::getenv("GDCORE_ISA"); env != nullptr && *env != '\0') {
    Isa wanted = Isa::baseline;
    try {
      wanted = isa_from_name(env);
    } catch (const std::invalid_argument&) {
      return best;  // an unreadable override must not break import; show_config shows the path used
    }
    if (static_cast<int>(wanted) < static_cast<int>(best)) return wanted;
  }
  return best;
}
}  // namespace detail

inline Isa active_isa() noexcept {
  int value = detail::active_isa_value.load(std::memory_order_relaxed);
  if (value < 0) {
    value = static_cast<int>(detail::initial_isa());
    detail::active_isa_value.store(value, std::memory_order_relaxed);
  }
  return static_cast<Isa>(value);
}

// Select a path; asking for one the CPU lacks is an error rather than a crash later.
inline void set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detect_isa()))
    throw std::invalid_argument(std::string("this CPU cannot run the ") + isa_name(isa) + " path");
  detail::active_isa_value.store(static_cast<int>(isa), std::memory_order_relaxed);
}

namespace detail {
// A body may take the path it is compiled for as a template argument (body.run<I>(begin, end)),
// to pick vector types the path holds in registers; otherwise it is called as body(begin, end).
template <class Body, Isa I, class = void>
struct RunsPerIsa : std::false_type {};
template <class Body, Isa I>
struct RunsPerIsa<Body, I,
                  std::void_t<decltype(std::declval<const Body&>().template run<I>(0, 0))>>
    : std::true_type {};

template <Isa I, class Body>
GDCORE_INLINE void call_body(const Body& body, std::size_t begin, std::size_t end) {
  if constexpr (RunsPerIsa<Body, I>::value) {
    body.template run<I>(begin, end);
  } else {
    body(begin, end);
  }
}

template <class Body>
void run_baseline(const Body& body, std::size_t begin, std::size_t end) {
  call_body<Isa::baseline>(body, begin, end);
}
#if GDCORE_X86
template <class Body>
GDCORE_TARGET_AVX2 void run_avx2(const Body& body, std::size_t begin, std::size_t end) {
  call_body<Isa::avx2>(body, begin, end);
}
template <class Body>
GDCORE_TARGET_AVX512 void run_avx512(const Body& body, std::size_t begin, std::size_t end) {
  call_body<Isa::avx512>(body, begin, end);
}
#endif
}  // namespace detail

// Run body(begin, end) compiled for the active instruction set.
template <class Body>
void run_dispatched(const Body& body, std::size_t begin, std::size_t end) {
#if GDCORE_X86
  switch (active_isa()) {
    case Isa::avx512: detail::run_avx512(body, begin, end); return;
    case Isa::avx2: detail::run_avx2(body, begin, end); return;
    default: break;
  }
#endif
  detail::run_baseline(body, begin, end);
}

}  // namespace gdcore
