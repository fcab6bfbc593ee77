"""Type stubs for the compiled extension `rnnrs._core`."""

from collections.abc import Sequence
from typing import Literal, TypedDict, final

from typing_extensions import Required, Self

import numpy as np
from numpy.typing import NDArray

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def gemm_seconds(m: int, k: int, n: int, dtype: str = "float32", reps: int = 5) -> float: ...
# --- train ---
# Private kernels behind rnnrs.clip, rnnrs.losses, rnnrs.optim and rnnrs.modules.
# Each serves float32 and float64 (the dtype of its first array; any other array
# of another dtype is a TypeError naming it). Arrays modified in place must be
# C-contiguous and writeable.
def _clip_grad_norm(grads: Sequence[np.ndarray], max_norm: float, norm_type: float, error_if_nonfinite: bool) -> float: ...
def _clip_grad_value(grads: Sequence[np.ndarray], clip_value: float) -> None: ...
def _mse(
    input: np.ndarray,
    target: np.ndarray,
    *,
    reduction: Literal["mean", "sum", "none"],
    mask: np.ndarray | None = None,
    grad_output: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]: ...
def _cross_entropy(
    input: np.ndarray,
    *,
    layout: tuple[int, int, int],
    ignore_index: int,
    target_index: np.ndarray | None = None,
    target_probs: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    reduction: Literal["mean", "sum", "none"] = "mean",
    label_smoothing: float = 0.0,
    mask: np.ndarray | None = None,
    grad_output: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]: ...
def _sgd_step(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    momentum_buffer: Sequence[np.ndarray],
    *,
    first: bool,
    lr: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool,
) -> None: ...
def _adam_step(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    exp_avg: Sequence[np.ndarray],
    exp_avg_sq: Sequence[np.ndarray],
    max_exp_avg_sq: Sequence[np.ndarray],
    *,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
) -> None: ...
def _rmsprop_step(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    square_avg: Sequence[np.ndarray],
    momentum_buffer: Sequence[np.ndarray],
    grad_avg: Sequence[np.ndarray],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None: ...
def _adagrad_step(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    sum: Sequence[np.ndarray],
    *,
    step: int,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None: ...
def _linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray: ...
def _linear_backward(
    x: np.ndarray, weight: np.ndarray, dy: np.ndarray, grad_weight: np.ndarray, grad_bias: np.ndarray | None = None
) -> np.ndarray: ...
def _embedding_backward(
    indices: np.ndarray, dy: np.ndarray, grad_weight: np.ndarray, padding_idx: int | None = None
) -> None: ...

# --- core ---
@final
class RnnContext:
    """What a training `rnn_forward` keeps for `rnn_backward` (opaque)."""

    @property
    def seq_len(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def dtype(self) -> str: ...

# mode: RNN_TANH, RNN_RELU, LSTM, GRU, LSTM_NOFORGET, LSTM_CIFG, LSTM_PEEPHOLE, LEAKY, LAYERNORM_LSTM,
# LAYERNORM_GRU (any case). params per layer and direction: torch's order, then the cell's own
# parameters (weight_ch (3, H); alpha_logit (H,); layernorm_*), see rnnrs.functional._OWN_PARAMS.
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
    rec_mask: np.ndarray | None = None,
    lengths: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, RnnContext | None]: ...
# One step of a unidirectional layer: x (B, I) -> (y (B, h_out), h_n, c_n or None); keeps nothing.
def rnn_step(
    mode: str,
    x: np.ndarray,
    params: Sequence[np.ndarray],
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    *,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    proj_size: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]: ...
def rnn_backward(
    ctx: RnnContext,
    params: Sequence[np.ndarray],
    dy: np.ndarray,
    dh_n: np.ndarray | None = None,
    dc_n: np.ndarray | None = None,
    *,
    grads: Sequence[np.ndarray],
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]: ...

# --- esn ---

def sparse_random(
    rows: int, cols: int, connectivity: float, distribution: str, scale: float, seed: int, stream: int
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]: ...
def dense_random(
    rows: int, cols: int, connectivity: float, distribution: str, scale: float, seed: int, stream: int
) -> NDArray[np.float64]: ...
def spectral_radius(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    data: NDArray[np.float64],
    n: int,
    krylov_dim: int = 100,
    tol: float = 1e-8,
    max_restarts: int = 200,
    seed: int = 0,
) -> tuple[float, float, bool, int]: ...
class _ReservoirArgs(TypedDict):
    """A reservoir as `rnnrs.reservoir.Reservoir._core_args` describes it (W is CSR data with indptr/indices,
    or dense with both None; noise is (rc, input, feedback, seed)); its dtype is that of `win`."""

    indptr: NDArray[np.int64] | None
    indices: NDArray[np.int32] | None
    w: NDArray[np.floating]
    win: NDArray[np.floating]
    bias: NDArray[np.floating]
    leak: NDArray[np.floating]
    wfb: NDArray[np.floating]
    activation: str
    noise: tuple[float, float, float, int]

def reservoir_run(
    reservoir: _ReservoirArgs,
    u: NDArray[np.floating],
    lengths: Sequence[int],
    x0: NDArray[np.floating],
    teacher: NDArray[np.floating],
    y0: NDArray[np.floating],
) -> NDArray[np.floating]: ...
def reservoir_generate(
    reservoir: _ReservoirArgs,
    wout: NDArray[np.floating],
    bout: NDArray[np.floating],
    x0: NDArray[np.floating],
    y0: NDArray[np.floating],
    steps: int,
    inputs: NDArray[np.floating] | None = None,
) -> tuple[NDArray[np.floating], NDArray[np.floating]]: ...
def ridge_accumulate(
    cxx: NDArray[np.float64],
    cxy: NDArray[np.float64],
    mean_x: NDArray[np.float64],
    mean_y: NDArray[np.float64],
    count: float,
    x: NDArray[np.floating],
    y: NDArray[np.floating],
) -> float: ...
def ridge_merge(
    cxx: NDArray[np.float64],
    cxy: NDArray[np.float64],
    mean_x: NDArray[np.float64],
    mean_y: NDArray[np.float64],
    count: float,
    cxx2: NDArray[np.float64],
    cxy2: NDArray[np.float64],
    mean_x2: NDArray[np.float64],
    mean_y2: NDArray[np.float64],
    count2: float,
) -> float: ...
def ridge_solve(
    cxx: NDArray[np.float64],
    cxy: NDArray[np.float64],
    mean_x: NDArray[np.float64],
    mean_y: NDArray[np.float64],
    count: float,
    alpha: float,
    fit_intercept: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def rls_update(
    p: NDArray[np.float64], w: NDArray[np.float64], x: NDArray[np.float64], y: NDArray[np.float64], forgetting: float
) -> NDArray[np.float64]: ...
def lms_update(
    w: NDArray[np.float64], x: NDArray[np.float64], y: NDArray[np.float64], learning_rate: float
) -> NDArray[np.float64]: ...

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

@final
class RtrlState:
    def __new__(
        cls,
        mode: str,
        method: str,
        dtype: str,
        input_size: int,
        hidden_size: int,
        batch: int,
        seed: int = 0,
        memory_limit: int | None = None,
    ) -> Self: ...
    def reset(self, h0: np.ndarray | None = None, c0: np.ndarray | None = None) -> None: ...
    def step(self, params: np.ndarray, x: np.ndarray, dloss_dh: np.ndarray | None = None) -> np.ndarray | None: ...
    def gradient(self, dloss_dh: np.ndarray) -> np.ndarray: ...
    def zero_sensitivities(self) -> None: ...
    def state(self) -> tuple[np.ndarray, np.ndarray | None]: ...
    @property
    def n_params(self) -> int: ...

# --- seq2seq (rnnrs.seq2seq) ---------------------------------------------------------------
@final
class Seq2SeqSpec:
    """A sequence-to-sequence model's variant and sizes; methods run a flat parameter vector."""

    def __new__(
        cls,
        cell: str,
        context: str,
        src_vocab: int,
        tgt_vocab: int,
        embedding_dim: int,
        hidden_size: int,
        attention_dim: int,
    ) -> Self: ...
    def layout(self) -> list[tuple[str, list[int]]]: ...
    @property
    def size(self) -> int: ...
    def train_step(
        self,
        params: np.ndarray,
        grads: np.ndarray,
        src: np.ndarray,
        src_lengths: np.ndarray,
        tgt: np.ndarray,
        tgt_lengths: np.ndarray,
        bos: int,
        teacher_prob: float,
        seed: int,
    ) -> float: ...
    def forward(
        self,
        params: np.ndarray,
        src: np.ndarray,
        src_lengths: np.ndarray,
        tgt: np.ndarray,
        tgt_lengths: np.ndarray,
        bos: int,
        teacher_prob: float,
        seed: int,
    ) -> tuple[float, np.ndarray, np.ndarray | None]: ...
    def encode(self, params: np.ndarray, src: np.ndarray, src_lengths: np.ndarray) -> np.ndarray: ...
    def decode(
        self,
        params: np.ndarray,
        src: np.ndarray,
        src_lengths: np.ndarray,
        bos: int,
        eos: int,
        max_len: int,
        method: str,
        beam_width: int = 4,
        length_penalty: float = 1.0,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]: ...
# Networks with memory (src/python/memory.rs)
def hopfield_hebbian(weights: np.ndarray, patterns: np.ndarray) -> None: ...
def hopfield_storkey(weights: np.ndarray, patterns: np.ndarray) -> None: ...
def hopfield_energy(weights: np.ndarray, states: np.ndarray) -> np.ndarray: ...
def hopfield_run(
    weights: np.ndarray, states: np.ndarray, mode: str, max_steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def modern_hopfield_forward(query: np.ndarray, patterns: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]: ...
def modern_hopfield_backward(
    query: np.ndarray, patterns: np.ndarray, beta: float, attn: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]: ...

@final
class NtmContext:
    def weightings(self) -> np.ndarray: ...

def ntm_forward(
    x: np.ndarray,
    params: list[np.ndarray],
    *,
    output_size: int,
    controller_size: list[int],
    memory_slots: int,
    memory_width: int,
    read_heads: int,
    write_heads: int,
    shift_range: int,
    memory_init: float | None,
    train: bool = False,
    controller: str = "lstm",
    activation: str = "tanh",
) -> tuple[np.ndarray, NtmContext | None]: ...
def ntm_backward(ctx: NtmContext, params: list[np.ndarray], dy: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]: ...
# structure: trees, convolution, liquid state machine (src/python/structure.rs)
def tree_check(tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray) -> tuple[np.ndarray, int]: ...
# tree_* and conv2d_* serve float32 and float64 (the dtype of x).
def tree_forward(
    tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, params: Sequence[np.ndarray], x: np.ndarray,
    *, cell: Literal["recursive", "nary_lstm", "child_sum_lstm"], arity: int, hidden_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def tree_backward(
    tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, params: Sequence[np.ndarray], x: np.ndarray,
    cache: Sequence[np.ndarray], grad_h: np.ndarray,
    *, cell: Literal["recursive", "nary_lstm", "child_sum_lstm"], arity: int, hidden_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray: ...
def conv2d_backward(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, *, need_input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]: ...
def lsm_run(
    constants: list[float], excitatory: np.ndarray, refractory: np.ndarray, bias: np.ndarray, v0: np.ndarray,
    synapses: tuple[np.ndarray, np.ndarray, np.ndarray], inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    u: np.ndarray, seq_ptr: np.ndarray, mode: str, features: str, window: int,
) -> tuple[np.ndarray, int]: ...
# --- simd ---
def simd_path() -> str: ...
def simd_paths() -> list[str]: ...
# --- cells with structure in time (clockwork, deep transition) ---
@final
class ClockworkContext:
    """What a training `clockwork_forward` keeps for `clockwork_backward` (opaque)."""

def clockwork_forward(
    x: np.ndarray, params: Sequence[np.ndarray], h0: np.ndarray | None = None, *, module_sizes: Sequence[int],
    periods: Sequence[int], bias: bool = True, lengths: Sequence[int] | None = None, train: bool = False,
) -> tuple[np.ndarray, np.ndarray, ClockworkContext | None]: ...
def clockwork_backward(
    ctx: ClockworkContext, params: Sequence[np.ndarray], dy: np.ndarray, dh_n: np.ndarray | None = None, *,
    grads: Sequence[np.ndarray], input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]: ...

@final
class DeepTransitionContext:
    """What a training `deep_transition_forward` keeps for `deep_transition_backward` (opaque)."""

def deep_transition_forward(
    x: np.ndarray, params: Sequence[np.ndarray], h0: np.ndarray | None = None, *, hidden_size: int,
    transition_depth: int, output_depth: int, shortcut: bool = False, bias: bool = True,
    lengths: Sequence[int] | None = None, train: bool = False,
) -> tuple[np.ndarray, np.ndarray, DeepTransitionContext | None]: ...
def deep_transition_backward(
    ctx: DeepTransitionContext, params: Sequence[np.ndarray], dy: np.ndarray, dh_n: np.ndarray | None = None, *,
    grads: Sequence[np.ndarray], input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]: ...
# --- jordan ---
@final
class JordanContext:
    """What a training `jordan_forward` keeps for `jordan_backward` (opaque)."""
    @property
    def seq_len(self) -> int: ...

def jordan_forward(
    x: np.ndarray, params: Sequence[np.ndarray], y0: np.ndarray | None = None, *,
    hidden_activation: str = "tanh", output_activation: str = "tanh", lengths: Sequence[int] | None = None,
    train: bool = False,
) -> tuple[np.ndarray, np.ndarray, JordanContext | None]: ...
def jordan_backward(
    ctx: JordanContext, params: Sequence[np.ndarray], dy: np.ndarray, dy_n: np.ndarray | None = None, *,
    grads: Sequence[np.ndarray], input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]: ...
# --- convlstm (whole ConvLSTM stack, float32 or float64; params: 6 arrays per layer, empty peepholes without) ---
def convlstm_forward(
    x: np.ndarray, params: Sequence[np.ndarray], h0: np.ndarray | None = None, c0: np.ndarray | None = None, *,
    hidden: int, kernel: tuple[int, int], layers: int, peephole: bool, train: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray] | None]: ...
def convlstm_backward(
    x_shape: Sequence[int], params: Sequence[np.ndarray], tape: Sequence[np.ndarray], grad_output: np.ndarray,
    dh_n: np.ndarray | None = None, dc_n: np.ndarray | None = None, *, hidden: int, kernel: tuple[int, int],
    layers: int, peephole: bool, input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, list[np.ndarray]]: ...
# --- generate ---
def lm_generate(
    embedding: np.ndarray,
    layers: list[tuple[str, list[np.ndarray], int, int, bool, int]],
    head_weight: np.ndarray,
    head_bias: np.ndarray | None,
    states: list[tuple[np.ndarray, np.ndarray | None]],
    logits: np.ndarray,
    length: int,
    temperature: float,
    top_k: int | None,
    uniforms: np.ndarray,
) -> np.ndarray: ...

# --- RTRL of the dense cells (src/python/rtrl.rs; rnnrs.rtrl_cells) ---
class _DenseSpec(TypedDict, total=False):
    """A dense cell's options as `rnnrs.rtrl_cells._DenseCell._spec` gives them (input_size required;
    the rest default as the layers do: bias True, activations "tanh", transition_depth 1, others 0/empty)."""

    input_size: Required[int]
    hidden_size: int
    output_size: int
    module_sizes: list[int]
    periods: list[int]
    bias: bool
    hidden_activation: str
    output_activation: str
    transition_depth: int
    output_depth: int
    shortcut: bool

@final
class DenseRtrlState:
    def __new__(
        cls,
        cell: str,
        method: str,
        dtype: str,
        batch: int,
        options: _DenseSpec,
        *,
        memory_limit: int | None = None,
    ) -> DenseRtrlState: ...
    def reset(self, s0: np.ndarray | None = None) -> None: ...
    def step(self, params: np.ndarray, x: np.ndarray, dloss_dh: np.ndarray | None = None) -> np.ndarray | None: ...
    def gradient(self, dloss_dh: np.ndarray) -> np.ndarray: ...
    def run(self, params: np.ndarray, x: np.ndarray, dloss_dh: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def zero_sensitivities(self) -> None: ...
    def state(self) -> np.ndarray: ...
    @property
    def n_params(self) -> int: ...
    @property
    def state_len(self) -> int: ...

def dense_rtrl_sensitivity_bytes(
    cell: str,
    method: str,
    dtype: str,
    batch: int,
    options: _DenseSpec,
) -> int: ...
