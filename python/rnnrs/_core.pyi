"""Type stubs for the compiled extension `rnnrs._core`."""

from collections.abc import Sequence
from typing import Optional, Tuple, final

from typing_extensions import Self

import numpy as np
import numpy as _np
from numpy.typing import NDArray as _NDArray

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def gemm_seconds(m: int, k: int, n: int, dtype: str = "float32", reps: int = 5) -> float: ...
# --- train ---
# Private kernels behind rnnrs.clip, rnnrs.losses, rnnrs.optim and rnnrs.modules;
# one variant per dtype (_f32 / _f64). Arrays modified in place must be
# C-contiguous and writeable.
def _clip_grad_norm_f32(grads: Sequence[_np.ndarray], max_norm: float, norm_type: float, error_if_nonfinite: bool) -> float: ...
def _clip_grad_norm_f64(grads: Sequence[_np.ndarray], max_norm: float, norm_type: float, error_if_nonfinite: bool) -> float: ...
def _clip_grad_value_f32(grads: Sequence[_np.ndarray], clip_value: float) -> None: ...
def _clip_grad_value_f64(grads: Sequence[_np.ndarray], clip_value: float) -> None: ...
def _mse_f32(input: _np.ndarray, target: _np.ndarray, reduction: str, mask: Optional[_np.ndarray] = None, grad_output: Optional[_np.ndarray] = None) -> Tuple[_np.ndarray, _np.ndarray]: ...
def _mse_f64(input: _np.ndarray, target: _np.ndarray, reduction: str, mask: Optional[_np.ndarray] = None, grad_output: Optional[_np.ndarray] = None) -> Tuple[_np.ndarray, _np.ndarray]: ...
def _cross_entropy_f32(input: _np.ndarray, n: int, c: int, s: int, target_index: Optional[_np.ndarray], target_probs: Optional[_np.ndarray], weight: Optional[_np.ndarray], ignore_index: int, reduction: str, label_smoothing: float, mask: Optional[_np.ndarray] = None, grad_output: Optional[_np.ndarray] = None) -> Tuple[_np.ndarray, _np.ndarray]: ...
def _cross_entropy_f64(input: _np.ndarray, n: int, c: int, s: int, target_index: Optional[_np.ndarray], target_probs: Optional[_np.ndarray], weight: Optional[_np.ndarray], ignore_index: int, reduction: str, label_smoothing: float, mask: Optional[_np.ndarray] = None, grad_output: Optional[_np.ndarray] = None) -> Tuple[_np.ndarray, _np.ndarray]: ...
def _sgd_step_f32(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], momentum_buffer: Sequence[_np.ndarray], first: bool, lr: float, momentum: float, dampening: float, nesterov: bool, weight_decay: float, maximize: bool) -> None: ...
def _sgd_step_f64(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], momentum_buffer: Sequence[_np.ndarray], first: bool, lr: float, momentum: float, dampening: float, nesterov: bool, weight_decay: float, maximize: bool) -> None: ...
def _adam_step_f32(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], exp_avg: Sequence[_np.ndarray], exp_avg_sq: Sequence[_np.ndarray], max_exp_avg_sq: Sequence[_np.ndarray], step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool, decoupled: bool) -> None: ...
def _adam_step_f64(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], exp_avg: Sequence[_np.ndarray], exp_avg_sq: Sequence[_np.ndarray], max_exp_avg_sq: Sequence[_np.ndarray], step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool, decoupled: bool) -> None: ...
def _rmsprop_step_f32(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], square_avg: Sequence[_np.ndarray], momentum_buffer: Sequence[_np.ndarray], grad_avg: Sequence[_np.ndarray], lr: float, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None: ...
def _rmsprop_step_f64(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], square_avg: Sequence[_np.ndarray], momentum_buffer: Sequence[_np.ndarray], grad_avg: Sequence[_np.ndarray], lr: float, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None: ...
def _adagrad_step_f32(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], sum: Sequence[_np.ndarray], step: int, lr: float, lr_decay: float, weight_decay: float, eps: float, maximize: bool) -> None: ...
def _adagrad_step_f64(params: Sequence[_np.ndarray], grads: Sequence[_np.ndarray], sum: Sequence[_np.ndarray], step: int, lr: float, lr_decay: float, weight_decay: float, eps: float, maximize: bool) -> None: ...
def _linear_forward_f32(x: _np.ndarray, weight: _np.ndarray, bias: Optional[_np.ndarray] = None) -> _np.ndarray: ...
def _linear_forward_f64(x: _np.ndarray, weight: _np.ndarray, bias: Optional[_np.ndarray] = None) -> _np.ndarray: ...
def _linear_backward_f32(x: _np.ndarray, weight: _np.ndarray, dy: _np.ndarray, grad_weight: _np.ndarray, grad_bias: Optional[_np.ndarray] = None) -> _np.ndarray: ...
def _linear_backward_f64(x: _np.ndarray, weight: _np.ndarray, dy: _np.ndarray, grad_weight: _np.ndarray, grad_bias: Optional[_np.ndarray] = None) -> _np.ndarray: ...
def _embedding_backward_f32(indices: _np.ndarray, dy: _np.ndarray, grad_weight: _np.ndarray, padding_idx: Optional[int] = None) -> None: ...
def _embedding_backward_f64(indices: _np.ndarray, dy: _np.ndarray, grad_weight: _np.ndarray, padding_idx: Optional[int] = None) -> None: ...

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
) -> tuple[_NDArray[_np.int64], _NDArray[_np.int32], _NDArray[_np.float64]]: ...
def dense_random(
    rows: int, cols: int, connectivity: float, distribution: str, scale: float, seed: int, stream: int
) -> _NDArray[_np.float64]: ...
def spectral_radius(
    indptr: _NDArray[_np.int64],
    indices: _NDArray[_np.int32],
    data: _NDArray[_np.float64],
    n: int,
    krylov_dim: int = 100,
    tol: float = 1e-8,
    max_restarts: int = 200,
    seed: int = 0,
) -> tuple[float, float, bool, int]: ...
def reservoir_run(
    indptr: _NDArray[_np.int64] | None,
    indices: _NDArray[_np.int32] | None,
    w: _NDArray[_np.floating],
    win: _NDArray[_np.floating],
    bias: _NDArray[_np.floating],
    leak: _NDArray[_np.floating],
    wfb: _NDArray[_np.floating],
    activation: str,
    noise_rc: float,
    noise_in: float,
    noise_fb: float,
    noise_seed: int,
    u: _NDArray[_np.floating],
    lengths: list[int],
    x0: _NDArray[_np.floating],
    teacher: _NDArray[_np.floating],
    y0: _NDArray[_np.floating],
) -> _NDArray[_np.floating]: ...
def reservoir_generate(
    indptr: _NDArray[_np.int64] | None,
    indices: _NDArray[_np.int32] | None,
    w: _NDArray[_np.floating],
    win: _NDArray[_np.floating],
    bias: _NDArray[_np.floating],
    leak: _NDArray[_np.floating],
    wfb: _NDArray[_np.floating],
    activation: str,
    noise_rc: float,
    noise_in: float,
    noise_fb: float,
    noise_seed: int,
    wout: _NDArray[_np.floating],
    bout: _NDArray[_np.floating],
    x0: _NDArray[_np.floating],
    y0: _NDArray[_np.floating],
    steps: int,
    inputs: _NDArray[_np.floating] | None = None,
) -> tuple[_NDArray[_np.floating], _NDArray[_np.floating]]: ...
def ridge_accumulate(
    cxx: _NDArray[_np.float64],
    cxy: _NDArray[_np.float64],
    mean_x: _NDArray[_np.float64],
    mean_y: _NDArray[_np.float64],
    count: float,
    x: _NDArray[_np.floating],
    y: _NDArray[_np.floating],
) -> float: ...
def ridge_merge(
    cxx: _NDArray[_np.float64],
    cxy: _NDArray[_np.float64],
    mean_x: _NDArray[_np.float64],
    mean_y: _NDArray[_np.float64],
    count: float,
    cxx2: _NDArray[_np.float64],
    cxy2: _NDArray[_np.float64],
    mean_x2: _NDArray[_np.float64],
    mean_y2: _NDArray[_np.float64],
    count2: float,
) -> float: ...
def ridge_solve(
    cxx: _NDArray[_np.float64],
    cxy: _NDArray[_np.float64],
    mean_x: _NDArray[_np.float64],
    mean_y: _NDArray[_np.float64],
    count: float,
    alpha: float,
    fit_intercept: bool,
) -> tuple[_NDArray[_np.float64], _NDArray[_np.float64]]: ...
def rls_update(
    p: _NDArray[_np.float64], w: _NDArray[_np.float64], x: _NDArray[_np.float64], y: _NDArray[_np.float64], forgetting: float
) -> _NDArray[_np.float64]: ...
def lms_update(
    w: _NDArray[_np.float64], x: _NDArray[_np.float64], y: _NDArray[_np.float64], learning_rate: float
) -> _NDArray[_np.float64]: ...

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
def tree_forward_f32(
    tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, cell: str, arity: int, hidden_size: int,
    params: list[np.ndarray], x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def tree_forward_f64(
    tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, cell: str, arity: int, hidden_size: int,
    params: list[np.ndarray], x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def tree_backward_f32(
    tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, cell: str, arity: int, hidden_size: int,
    params: list[np.ndarray], x: np.ndarray, cache: list[np.ndarray], grad_h: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def tree_backward_f64(
    tree_ptr: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, cell: str, arity: int, hidden_size: int,
    params: list[np.ndarray], x: np.ndarray, cache: list[np.ndarray], grad_h: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def conv2d_forward_f32(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray: ...
def conv2d_forward_f64(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray: ...
def conv2d_backward_f32(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, need_input_grad: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]: ...
def conv2d_backward_f64(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, need_input_grad: bool
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
# --- convlstm (whole ConvLSTM stack; params: 6 arrays per layer, empty peepholes without) ---
def convlstm_forward_f32(
    x: np.ndarray, params: list[np.ndarray], hidden: int, kernel: tuple[int, int], layers: int, peephole: bool,
    h0: np.ndarray | None, c0: np.ndarray | None, train: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray] | None]: ...
def convlstm_forward_f64(
    x: np.ndarray, params: list[np.ndarray], hidden: int, kernel: tuple[int, int], layers: int, peephole: bool,
    h0: np.ndarray | None, c0: np.ndarray | None, train: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray] | None]: ...
def convlstm_backward_f32(
    x_shape: list[int], params: list[np.ndarray], hidden: int, kernel: tuple[int, int], layers: int,
    peephole: bool, tape: list[np.ndarray], grad_output: np.ndarray, dh_n: np.ndarray | None,
    dc_n: np.ndarray | None, input_grad: bool,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, list[np.ndarray]]: ...
def convlstm_backward_f64(
    x_shape: list[int], params: list[np.ndarray], hidden: int, kernel: tuple[int, int], layers: int,
    peephole: bool, tape: list[np.ndarray], grad_output: np.ndarray, dh_n: np.ndarray | None,
    dc_n: np.ndarray | None, input_grad: bool,
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
