"""rnnrs: fast CPU recurrent neural networks with a NumPy API and a Rust core."""

from rnnrs._core import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = ["get_num_threads", "set_num_threads", "__version__"]

# --- esn ---
from rnnrs import datasets, metrics
from rnnrs.reservoir import ESN, LMS, RLS, Reservoir, Ridge

__all__ += ["ESN", "LMS", "RLS", "Reservoir", "Ridge", "datasets", "metrics"]
