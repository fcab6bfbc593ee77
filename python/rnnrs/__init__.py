"""rnnrs: fast CPU recurrent neural networks with a NumPy API and a Rust core."""

from rnnrs._core import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = ["get_num_threads", "set_num_threads", "__version__"]

# --- rtrl ---
from rnnrs import rtrl  # noqa: E402
from rnnrs.rtrl import DiagRNN, IndRNN  # noqa: E402

__all__ += ["rtrl", "IndRNN", "DiagRNN"]
