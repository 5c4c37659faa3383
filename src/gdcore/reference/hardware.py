"""NumPy twins of the bandwidth probes in gdcore/hardware.hpp."""

from __future__ import annotations


def triad(a, b, c, scalar, *, num_threads=0):
    """a = b + scalar * c, in place (STREAM's triad)."""
    a[...] = b + a.dtype.type(scalar) * c


def axpy(a, b, scalar, *, num_threads=0):
    """a = a + scalar * b, in place."""
    a[...] = a + a.dtype.type(scalar) * b
