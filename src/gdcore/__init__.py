"""gdcore: fast gradient descent with a compiled C++ core and a NumPy twin of every kernel."""

from gdcore import _core
from gdcore import functions, linalg, linear_model, losses, mlp, neural_network, optim, plot, schedules
from gdcore._config import get_num_threads, set_num_threads, show_config, simd_path
from gdcore.linear_model import SGDClassifier, SGDRegressor
from gdcore.lr_range import LRFinderResult, lr_find
from gdcore.minimize import MinimizeResult, minimize
from gdcore.mlp import MLPFit, fit_mlp
from gdcore.neural_network import MLPClassifier, MLPRegressor
from gdcore.train import DivergenceError, DivergenceWarning, fit_linear

__version__ = _core.__version__

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
