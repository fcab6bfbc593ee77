"""Type stubs for the compiled extension `rnnrs._core`."""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# --- esn ---
import numpy as _np
from numpy.typing import NDArray as _NDArray

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
