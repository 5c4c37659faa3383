// The random numbers of gdcore's shuffles.
//
// SplitMix64 (Steele, Lea and Flood, 2014) is small, fast and has a twin in plain Python of a few
// lines (src/gdcore/reference/rng.py), which lets the NumPy reference loop visit the rows in
// exactly the same order as the compiled loop. Each epoch draws from its own stream, seeded from
// (seed, epoch), so a fit resumed at epoch k shuffles exactly as an uninterrupted one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace gdcore {

struct SplitMix64 {
  std::uint64_t state;

  std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), bound > 0, without modulo bias (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t bound) noexcept {
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * bound;
    std::uint64_t low = static_cast<std::uint64_t>(product);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }
};

// The stream of one epoch: distinct epochs give unrelated streams.
inline SplitMix64 epoch_stream(std::uint64_t seed, std::uint64_t epoch) noexcept {
  SplitMix64 mixer{seed ^ (0xD1B54A32D192ED03ull * (epoch + 1))};
  return SplitMix64{mixer.next()};
}

// Fisher-Yates: for i = n-1 down to 1, swap items[i] with items[j], j uniform in [0, i].
template <class I>
void shuffle(I* items, std::size_t n, SplitMix64& rng) noexcept {
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.below(i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace gdcore
