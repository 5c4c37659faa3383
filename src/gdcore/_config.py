"""Build facts, threads and the SIMD path of the compiled core."""

from __future__ import annotations

import os
import platform
import sys
import warnings

import numpy as np

from gdcore import _core

SIMD_PATHS = ("baseline", "avx2", "avx512")


def _check_isa_override() -> None:
    """Warn at import when GDCORE_ISA names no SIMD path: the core then ignores it (an unreadable
    override must not break the import), which would otherwise pass unnoticed."""
    wanted = os.environ.get("GDCORE_ISA", "")
    if wanted and wanted not in SIMD_PATHS:
        warnings.warn(
            f"GDCORE_ISA={wanted!r} is not a SIMD path ({', '.join(SIMD_PATHS)}); it is ignored "
            f"and the kernels use {_core.simd_path()!r}",
            RuntimeWarning,
            stacklevel=2,
        )


_check_isa_override()


def get_num_threads() -> int:
    """Threads a gdcore call uses when it does not ask for a number."""
    return _core.get_num_threads()


def set_num_threads(n: int | None) -> None:
    """Set gdcore's process-wide thread count.

    ``None`` (or 0) makes gdcore follow OpenMP again: ``OMP_NUM_THREADS`` at start-up and
    ``threadpoolctl.threadpool_limits`` at run time. A number set here wins over both; a
    ``num_threads`` given to one optimizer or fit wins over this.
    """
    if n is None:
        n = 0
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int or None, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0 (0 or None: follow OpenMP), got {n}")
    _core.set_num_threads(int(n))


def simd_path() -> str:
    """The SIMD path the kernels dispatch to on this CPU: 'avx512', 'avx2' or 'baseline'."""
    return _core.simd_path()


def config() -> dict:
    """The facts show_config prints, as a dict."""
    return {
        "gdcore": _core.__version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "compiler": _core.compiler,
        "openmp": _core.openmp_version,
        "omp_max_threads": _core.omp_max_threads(),
        "gdcore_threads": _core.get_num_threads(),
        "simd_path": _core.simd_path(),
        "cpu_best_simd_path": _core.detected_simd_path(),
        "native_build": bool(_core.native_build),
    }


def show_config(file=None) -> None:
    """Print version, compiler, OpenMP threads and the SIMD path the kernels dispatch to."""
    facts = config()
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        print(f"{key:<{width}} : {value}", file=file or sys.stdout)
