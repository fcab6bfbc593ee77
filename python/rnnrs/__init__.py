"""rnnrs: fast CPU recurrent neural networks with a NumPy API and a Rust core."""

from rnnrs._core import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = ["get_num_threads", "set_num_threads", "__version__"]

# --- train ---
from rnnrs import losses, optim  # noqa: E402
from rnnrs.clip import clip_grad_norm_, clip_grad_value_  # noqa: E402
from rnnrs.modules import Embedding, Linear  # noqa: E402

__all__ += ["clip_grad_norm_", "clip_grad_value_", "losses", "optim", "Linear", "Embedding"]
