"""The twin of cpp/include/gdcore/rng.hpp: SplitMix64, bounded draws and Fisher-Yates shuffles.

Python integers stand in for the C++ uint64 arithmetic (masked to 64 bits), so every draw, and
therefore every epoch's row order, is the same as the compiled loop's.
"""

from __future__ import annotations

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    """SplitMix64 (Steele, Lea and Flood, 2014)."""

    def __init__(self, state: int):
        self.state = state & MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        """Uniform in [0, bound) by Lemire's multiply-and-reject."""
        product = self.next() * bound
        low = product & MASK
        if low < bound:
            threshold = ((1 << 64) - bound) % bound
            while low < threshold:
                product = self.next() * bound
                low = product & MASK
        return product >> 64


def epoch_stream(seed: int, epoch: int) -> SplitMix64:
    """The generator of one epoch's shuffle."""
    mixer = SplitMix64(seed ^ ((0xD1B54A32D192ED03 * (epoch + 1)) & MASK))
    return SplitMix64(mixer.next())


def shuffle(items, rng: SplitMix64) -> None:
    """Fisher-Yates in place: for i = n-1 down to 1, swap items[i] with items[j], j in [0, i]."""
    for i in range(len(items), 1, -1):
        j = rng.below(i)
        items[i - 1], items[j] = items[j], items[i - 1]


def shuffled_order(rows, seed: int, epoch: int) -> np.ndarray:
    """The order the loop visits `rows` in during epoch `epoch`."""
    order = [int(r) for r in np.asarray(rows, dtype=np.int64)]
    shuffle(order, epoch_stream(seed, epoch))
    return np.array(order, dtype=np.int64)
