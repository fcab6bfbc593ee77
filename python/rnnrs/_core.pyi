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

# --- rtrl ---
def rtrl_gradient(
    mode: str,
    method: str,
    dtype: str,
    params: np.ndarray,
    x: np.ndarray,
    dloss_dh: np.ndarray,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    seed: int = 0,
    memory_limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]: ...
def elem_forward(cell: str, dtype: str, params: np.ndarray, x: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray: ...
def elem_backward(
    cell: str,
    dtype: str,
    params: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    dy: np.ndarray,
    h0: np.ndarray | None = None,
    dh_n: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def elem_rtrl_gradient(
    cell: str, dtype: str, params: np.ndarray, x: np.ndarray, dloss_dh: np.ndarray, h0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]: ...
def rtrl_set_memory_limit(bytes: int) -> None: ...
def rtrl_get_memory_limit() -> int: ...
def rtrl_sensitivity_bytes(mode: str, method: str, dtype: str, input_size: int, hidden_size: int, batch: int) -> int: ...

class RtrlState:
    def __init__(
        self,
        mode: str,
        method: str,
        dtype: str,
        input_size: int,
        hidden_size: int,
        batch: int,
        seed: int = 0,
        memory_limit: int | None = None,
    ) -> None: ...
    def reset(self, h0: np.ndarray | None = None, c0: np.ndarray | None = None) -> None: ...
    def step(self, params: np.ndarray, x: np.ndarray, dloss_dh: np.ndarray | None = None) -> np.ndarray | None: ...
    def gradient(self, dloss_dh: np.ndarray) -> np.ndarray: ...
    def zero_sensitivities(self) -> None: ...
    def state(self) -> tuple[np.ndarray, np.ndarray | None]: ...
    @property
    def n_params(self) -> int: ...
