"""Type stubs for the compiled extension `rnnrs._core`."""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# --- core ---
from collections.abc import Sequence

import numpy as np

class RnnContext:
    """What a training `rnn_forward` keeps for `rnn_backward` (opaque)."""

    @property
    def seq_len(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def dtype(self) -> str: ...

def rnn_forward(
    mode: str,
    x: np.ndarray,
    params: Sequence[np.ndarray],
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    *,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    proj_size: int = 0,
    train: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, RnnContext | None]: ...
def rnn_backward(
    ctx: RnnContext,
    params: Sequence[np.ndarray],
    dy: np.ndarray,
    dh_n: np.ndarray | None = None,
    dc_n: np.ndarray | None = None,
    *,
    grads: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]: ...
