"""rnnrs: fast CPU recurrent neural networks with a NumPy API and a Rust core."""

from rnnrs._core import get_num_threads, set_num_threads

# --- esn ---
from rnnrs import datasets, metrics  # noqa: E402
from rnnrs.reservoir import ESN, LMS, RLS, Reservoir, Ridge  # noqa: E402

__version__ = "0.1.0"

__all__ = ["get_num_threads", "set_num_threads", "__version__"]
__all__ += ["ESN", "Reservoir", "Ridge", "RLS", "LMS", "datasets", "metrics"]
