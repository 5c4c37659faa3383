"""Type stubs for gdcore's compiled core (see python/*.cpp)."""

from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

__version__: str
compiler: str
openmp_version: int
native_build: bool

def omp_max_threads() -> int: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def simd_path() -> str: ...
def detected_simd_path() -> str: ...
def set_simd_path(name: str) -> None: ...

FloatArray = npt.NDArray[np.floating[Any]]

def sgd_step(
    param: FloatArray, grad: FloatArray, momentum_buffer: FloatArray | None, *, step: int,
    lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool,
    maximize: bool,
) -> None: ...
def adagrad_step(
    param: FloatArray, grad: FloatArray, sum: FloatArray, *, step: int, lr: float,
    lr_decay: float, weight_decay: float, eps: float, maximize: bool,
) -> None: ...
def rmsprop_step(
    param: FloatArray, grad: FloatArray, square_avg: FloatArray, grad_avg: FloatArray | None,
    momentum_buffer: FloatArray | None, *, step: int, lr: float, alpha: float, eps: float,
    weight_decay: float, momentum: float, centered: bool, maximize: bool,
) -> None: ...
def adam_step(
    param: FloatArray, grad: FloatArray, exp_avg: FloatArray, exp_avg_sq: FloatArray,
    max_exp_avg_sq: FloatArray | None, *, step: int, lr: float, beta1: float, beta2: float,
    eps: float, weight_decay: float, amsgrad: bool, maximize: bool, decoupled_weight_decay: bool,
) -> None: ...
def adamax_step(
    param: FloatArray, grad: FloatArray, exp_avg: FloatArray, exp_inf: FloatArray, *, step: int,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, maximize: bool,
) -> None: ...
def nadam_step(
    param: FloatArray, grad: FloatArray, exp_avg: FloatArray, exp_avg_sq: FloatArray, *,
    step: int, mu_product: float, lr: float, beta1: float, beta2: float, eps: float,
    weight_decay: float, momentum_decay: float, maximize: bool, decoupled_weight_decay: bool,
) -> float: ...
def first_nonfinite(x: FloatArray) -> int: ...

class OptimizerEngine:
    num_threads: int
    def __init__(
        self, kind: str, params: list[FloatArray], group_of: Sequence[int],
        states: list[list[FloatArray | None]], steps: npt.NDArray[np.int64],
        mu_products: npt.NDArray[np.float64], n_groups: int, num_threads: int,
        check_finite: bool,
    ) -> None: ...
    def set_group(self, index: int, group: dict[str, Any]) -> None: ...
    def step(self, grads: Sequence[FloatArray] | FloatArray) -> None: ...

def triad(a: FloatArray, b: FloatArray, c: FloatArray, scalar: float, *, num_threads: int = 0) -> None: ...
def axpy(a: FloatArray, b: FloatArray, scalar: float, *, num_threads: int = 0) -> None: ...
