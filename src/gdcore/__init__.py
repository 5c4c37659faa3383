"""gdcore: fast gradient descent with a compiled C++ core and a NumPy twin of every kernel."""

from gdcore import _core
from gdcore import functions, linalg, losses, mlp, optim, plot, schedules
from gdcore._config import get_num_threads, set_num_threads, show_config, simd_path
from gdcore.lr_range import LRFinderResult, lr_find
from gdcore.minimize import MinimizeResult, minimize
from gdcore.mlp import MLPFit, fit_mlp
from gdcore.train import DivergenceError, DivergenceWarning, fit_linear

__version__ = _core.__version__

# The estimators load on first use: they build on scikit-learn's base classes when scikit-learn is
# installed, and importing it (with SciPy and its BLAS threads) takes most of a second, which a
# script that only calls fit_linear or an optimizer should not pay.
_LAZY = {
    "linear_model": ("gdcore.linear_model", None),
    "SGDClassifier": ("gdcore.linear_model", "SGDClassifier"),
    "SGDRegressor": ("gdcore.linear_model", "SGDRegressor"),
    "neural_network": ("gdcore.neural_network", None),
    "MLPClassifier": ("gdcore.neural_network", "MLPClassifier"),
    "MLPRegressor": ("gdcore.neural_network", "MLPRegressor"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'gdcore' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "LRFinderResult",
    "MLPClassifier",
    "MLPFit",
    "MLPRegressor",
    "MinimizeResult",
    "SGDClassifier",
    "SGDRegressor",
    "__version__",
    "fit_linear",
    "fit_mlp",
    "functions",
    "get_num_threads",
    "linalg",
    "linear_model",
    "lr_find",
    "minimize",
    "neural_network",
    "mlp",
    "losses",
    "optim",
    "plot",
    "schedules",
    "set_num_threads",
    "show_config",
    "simd_path",
]
