"""rnnrs: fast CPU recurrent neural networks with a NumPy API and a Rust core."""

from rnnrs import functional  # core: recurrent layers
from rnnrs._core import get_num_threads, set_num_threads
from rnnrs.nn import GRU, LSTM, RNN, tbptt_chunks  # core: recurrent layers
from rnnrs.reference.gradcheck import gradcheck, numerical_grad

__version__ = "0.1.0"

__all__ = ["__version__", "get_num_threads", "gradcheck", "numerical_grad", "set_num_threads"]
__all__ += ["GRU", "LSTM", "RNN", "functional", "tbptt_chunks"]

# --- train ---
from rnnrs import losses, optim  # noqa: E402
from rnnrs.clip import clip_grad_norm_, clip_grad_value_  # noqa: E402
from rnnrs.modules import Embedding, Linear  # noqa: E402

__all__ += ["clip_grad_norm_", "clip_grad_value_", "losses", "optim", "Linear", "Embedding"]

# --- trainer ---
from rnnrs import train  # noqa: E402
from rnnrs.model import LastStep, Sequential  # noqa: E402

__all__ += ["LastStep", "Sequential", "train"]
