//! Real-time recurrent learning: exact and approximate forward-mode gradients.
//!
//! A recurrent cell maps `(x_t, s_{t-1}; θ) -> s_t`. RTRL carries the
//! sensitivities `M_t = ds_t/dθ` forward in time:
//!
//! ```text
//! M_t = J_t M_{t-1} + F_t,   J_t = ds_t/ds_{t-1},   F_t = ∂s_t/∂θ (immediate)
//! ```
//!
//! so that the gradient contribution of a loss at step t, `dL_t/dh_t · M_t`,
//! is available at once, without storing the past. Summed over a sequence it
//! equals BPTT's gradient for fixed weights.
//!
//! The cells (`crate::cell::Mode`: Elman tanh/relu, LSTM, GRU; PyTorch gate
//! orders and parameter layout) are written as pre-activation rows
//! `A = W_ih x + b_ih`, `B = W_hh h + b_hh` followed by a per-unit map; each
//! cell gives its per-unit partial derivatives (`Cell::rtrl_row`, called by
//! `local.rs`), from which
//! - `exact.rs`: the full recursion, `J_t M_{t-1}` as one GEMM per step and
//!   sequence, `F_t` applied from its Kronecker structure (never built densely);
//! - `snap.rs`: SnAp-1, the sensitivity of each parameter on its own unit only;
//! - `uoro.rs`: UORO, an unbiased rank-one estimate (seeded);
//! - `diag.rs`: element-wise recurrent cells (IndRNN, diagonal linear unit),
//!   where RTRL is exact in O(P).
//!
//! Parameters are one flat vector in PyTorch order:
//! `[weight_ih (G*H, I), weight_hh (G*H, H), bias_ih (G*H), bias_hh (G*H)]`,
//! followed by the cell's own parameters (`crate::cell::OwnParam`, Q*H
//! values, each feeding one unit: a fifth block of the immediate Jacobian).

pub mod dense;
pub mod dense_cells;
pub mod dense_clockwork;
pub mod dense_deep;
pub mod diag;
mod exact;
mod local;
mod snap;
mod uoro;

use crate::cell::Mode;
use crate::error::{Error, Result};
use crate::float::Float;
use std::sync::atomic::{AtomicU64, Ordering};

pub use local::Local;

/// Sizes of one single-layer, unidirectional cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellShape {
    pub kind: Mode,
    pub input: usize,
    pub hidden: usize,
}

impl CellShape {
    pub fn new(kind: Mode, input: usize, hidden: usize) -> Result<Self> {
        check_positive("hidden_size", hidden, "size")?;
        check_positive("input_size", input, "size")?;
        if !kind.full_layout() {
            // One mechanism: a GRU variant is the GRU with its missing rows at zero.
            return Err(Error::value(
                "mode",
                "RTRL takes the GRU variants in the GRU's layout (mode 'GRU', missing rows zero); rnnrs.rtrl does this for a layer",
            ));
        }
        if !kind.rtrl_supported() {
            return Err(Error::value(
                "mode",
                format!("{kind:?} has no unit-local RTRL (its units are coupled); give the layer to rnnrs.rtrl (dense engine)"),
            ));
        }
        let sh = CellShape { kind, input, hidden };
        crate::error::checked_size(
            &[sh.rows() + kind.own_rows() * hidden, input + hidden + 2],
            "parameters",
        )?;
        Ok(sh)
    }
    /// Pre-activation rows: gates * hidden.
    #[inline]
    pub fn rows(&self) -> usize {
        self.kind.gates() * self.hidden
    }
    /// State length per sequence: hidden (times 2 for the LSTM's (h, c)).
    #[inline]
    pub fn state_len(&self) -> usize {
        self.kind.comps() * self.hidden
    }
    /// Number of parameters P.
    #[inline]
    pub fn n_params(&self) -> usize {
        self.rows() * (self.input + self.hidden + 2) + self.own_len()
    }
    /// Values of the cell's own parameters (`crate::cell::OwnParam`), which
    /// come last in the flat vector.
    #[inline]
    pub fn own_len(&self) -> usize {
        self.kind.own_rows() * self.hidden
    }
    #[inline]
    pub fn off_own(&self) -> usize {
        self.off_bhh() + self.rows()
    }
    #[inline]
    pub fn off_whh(&self) -> usize {
        self.rows() * self.input
    }
    #[inline]
    pub fn off_bih(&self) -> usize {
        self.rows() * (self.input + self.hidden)
    }
    #[inline]
    pub fn off_bhh(&self) -> usize {
        self.off_bih() + self.rows()
    }
}

/// Which gradient RTRL carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Full sensitivities: exact, O(n^2 P) time and O(n P) memory per sequence.
    Exact,
    /// SnAp-1: the sensitivity of each parameter on the unit it feeds; O(P).
    Snap1,
    /// UORO: unbiased rank-one estimate, O(P), from a seeded random stream.
    Uoro { seed: u64 },
}

impl Method {
    /// From the Python name ("exact", "snap1", "uoro"; "diag" is for element-wise cells).
    pub fn parse(name: &str, seed: u64) -> Result<Self> {
        match name {
            "exact" => Ok(Method::Exact),
            "snap1" => Ok(Method::Snap1),
            "uoro" => Ok(Method::Uoro { seed }),
            "diag" => Err(Error::value(
                "method",
                "'diag' is exact RTRL for element-wise cells (IndRNN, DiagRNN); for Elman/LSTM/GRU use 'exact', 'snap1' or 'uoro'",
            )),
            _ => Err(Error::value("method", format!("expected 'exact', 'snap1', 'uoro' or 'diag', got {name:?}"))),
        }
    }
}

/// Whether a step touching `work` numbers is worth splitting across threads
/// (below that, waking the pool costs more than it saves).
pub(crate) fn worth_threads(work: usize) -> bool {
    work >= 1 << 17 && crate::par::current_threads() > 1
}

/// Default memory limit for sensitivities: 2 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 2 << 30;
static MEMORY_LIMIT: AtomicU64 = AtomicU64::new(DEFAULT_MEMORY_LIMIT);

/// Sets the process-wide limit (bytes) for RTRL sensitivity memory.
pub fn set_memory_limit(bytes: u64) {
    MEMORY_LIMIT.store(bytes, Ordering::Relaxed);
}

/// The process-wide limit (bytes) for RTRL sensitivity memory.
pub fn memory_limit() -> u64 {
    MEMORY_LIMIT.load(Ordering::Relaxed)
}

/// Bytes the sensitivities (and their GEMM workspace) of `method` need.
pub fn sensitivity_bytes<T: Float>(sh: &CellShape, method: Method, batch: usize) -> u128 {
    let p = sh.n_params() as u128;
    let b = batch as u128;
    let elems = match method {
        // M (n x P) and the buffer of the next step, plus the (n x H) Jacobian, per sequence.
        Method::Exact => (2 * p + sh.hidden as u128) * sh.state_len() as u128 * b,
        Method::Snap1 => sh.kind.comps() as u128 * p * b,
        Method::Uoro { .. } => (p + sh.state_len() as u128) * b,
    };
    elems * std::mem::size_of::<T>() as u128
}

/// `Error::Alloc` stating the size when `bytes` exceeds the limit.
pub(crate) fn check_memory(bytes: u128, limit: Option<u64>, what: &str) -> Result<()> {
    let limit = limit.unwrap_or_else(memory_limit);
    if bytes > limit as u128 {
        return Err(Error::Alloc {
            what: format!(
                "{what} ({:.3} GiB; above the RTRL memory limit of {limit} bytes, see rnnrs.rtrl.set_memory_limit)",
                bytes as f64 / (1u64 << 30) as f64
            ),
            bytes,
        });
    }
    Ok(())
}

/// The size checks every RTRL constructor starts with: `value` must be positive.
pub(crate) fn check_positive(arg: &str, value: usize, what: &str) -> Result<()> {
    if value == 0 {
        return Err(Error::value(arg, format!("expected a positive {what}")));
    }
    Ok(())
}

fn check_len(arg: &str, got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::shape(arg, format!("expected {want} elements ({what}), got {got}")));
    }
    Ok(())
}

enum Sens<T> {
    Exact(exact::Exact<T>),
    Snap1(snap::Snap1<T>),
    Uoro(uoro::Uoro<T>),
}

impl<T: Float> Sens<T> {
    /// The exact sensitivities when a whole sequence should run blocked in time.
    fn as_exact_if_time_blocked(&mut self) -> Option<&mut exact::Exact<T>> {
        match self {
            Sens::Exact(e) if e.prefers_time_blocking() => Some(e),
            _ => None,
        }
    }
}

/// Online RTRL over a batch of independent sequences: holds the state
/// `s_t` and the sensitivities, advanced one step at a time.
pub struct Rtrl<T> {
    shape: CellShape,
    method: Method,
    batch: usize,
    state: Vec<T>,
    next: Vec<T>,
    local: Local<T>,
    sens: Sens<T>,
}

impl<T: Float> Rtrl<T> {
    /// Zero state and sensitivities for `batch` sequences. Checks the
    /// sensitivity memory against `memory_limit` (None: the global limit).
    pub fn new(shape: CellShape, method: Method, batch: usize, memory_limit: Option<u64>) -> Result<Self> {
        check_positive("batch", batch, "batch size")?;
        check_memory(
            sensitivity_bytes::<T>(&shape, method, batch),
            memory_limit,
            &format!(
                "RTRL '{method:?}' sensitivities for n={}, P={}, batch={batch}",
                shape.state_len(),
                shape.n_params()
            ),
        )?;
        let sens = match method {
            Method::Exact => Sens::Exact(exact::Exact::new(&shape, batch)?),
            Method::Snap1 => Sens::Snap1(snap::Snap1::new(&shape, batch)?),
            Method::Uoro { seed } => Sens::Uoro(uoro::Uoro::new(&shape, batch, seed)?),
        };
        let n = crate::error::checked_size(&[batch, shape.state_len()], "state")?;
        Ok(Rtrl {
            shape,
            method,
            batch,
            state: crate::error::try_zeros(n, "state")?,
            next: crate::error::try_zeros(n, "state")?,
            local: Local::new(&shape, batch)?,
            sens,
        })
    }

    pub fn shape(&self) -> CellShape {
        self.shape
    }
    pub fn method(&self) -> Method {
        self.method
    }
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Sets the state (h0 as (B, H), c0 as (B, H) for the LSTM; None = zeros)
    /// and zeroes the sensitivities (the initial state does not depend on θ).
    pub fn reset(&mut self, h0: Option<&[T]>, c0: Option<&[T]>) -> Result<()> {
        let (h, b) = (self.shape.hidden, self.batch);
        let c = self.shape.kind.comps();
        if let Some(h0) = h0 {
            check_len("h0", h0.len(), b * h, "batch * hidden_size")?;
        }
        if let Some(c0) = c0 {
            if c != 2 {
                return Err(Error::value("c0", "only the LSTM has a cell state"));
            }
            check_len("c0", c0.len(), b * h, "batch * hidden_size")?;
        }
        self.state.fill(T::ZERO);
        for bi in 0..b {
            if let Some(h0) = h0 {
                self.state[bi * c * h..bi * c * h + h].copy_from_slice(&h0[bi * h..(bi + 1) * h]);
            }
            if let Some(c0) = c0 {
                self.state[bi * c * h + h..(bi + 1) * c * h].copy_from_slice(&c0[bi * h..(bi + 1) * h]);
            }
        }
        match &mut self.sens {
            Sens::Exact(e) => e.reset(),
            Sens::Snap1(s) => s.reset(),
            Sens::Uoro(u) => u.reset(),
        }
        Ok(())
    }

    /// The state, (B, C, H): h then (LSTM) c for each sequence.
    pub fn state(&self) -> &[T] {
        &self.state
    }

    /// Advances one step with input `x` (B, I) and adds the gradient estimate
    /// `sum_b dloss_dh[b] · M_t[b]` to `grad` (P) when `dloss_dh` (B, H) is
    /// given. `params` may change between steps (online learning).
    pub fn step(
        &mut self,
        params: &[T],
        x: &[T],
        dloss_dh: Option<&[T]>,
        grad: Option<&mut [T]>,
    ) -> Result<()> {
        let sh = self.shape;
        check_len("params", params.len(), sh.n_params(), "the cell's parameter count")?;
        check_len("x", x.len(), self.batch * sh.input, "batch * input_size")?;
        if let Some(d) = dloss_dh {
            check_len("dloss_dh", d.len(), self.batch * sh.hidden, "batch * hidden_size")?;
        }
        if let Some(g) = &grad {
            check_len("grad", g.len(), sh.n_params(), "the cell's parameter count")?;
        }
        let (state, next, local, sens, batch) =
            (&self.state, &mut self.next, &mut self.local, &mut self.sens, self.batch);
        let run = || {
            local::step(&sh, params, x, state, next, batch, local);
            let contract = dloss_dh.zip(grad);
            match sens {
                // The exact step contracts its sensitivities block by block, while in cache.
                Sens::Exact(e) => e.step(&sh, params, x, state, local, contract),
                Sens::Snap1(s) => {
                    s.step(&sh, params, x, state, local);
                    if let Some((d, g)) = contract {
                        s.accumulate(&sh, d, g);
                    }
                }
                Sens::Uoro(u) => {
                    u.step(&sh, params, x, state, local);
                    if let Some((d, g)) = contract {
                        u.accumulate(&sh, d, g);
                    }
                }
            }
        };
        // Small steps stay on the calling thread: entering the pool costs
        // more than they take (and below this size nothing inside splits).
        let work = batch * sh.n_params() * sh.state_len() * sh.hidden.max(3);
        if work >= 1 << 17 {
            crate::par::install(run);
        } else {
            run();
        }
        std::mem::swap(&mut self.state, &mut self.next);
        Ok(())
    }
}

impl<T: Float> Rtrl<T> {
    /// Adds `sum_b dloss_dh[b] · M_t[b]` for the current step to `grad`
    /// (for losses that need h_t first: `step` without, then this).
    pub fn accumulate(&self, dloss_dh: &[T], grad: &mut [T]) -> Result<()> {
        let sh = self.shape;
        check_len("dloss_dh", dloss_dh.len(), self.batch * sh.hidden, "batch * hidden_size")?;
        check_len("grad", grad.len(), sh.n_params(), "the cell's parameter count")?;
        crate::par::install(|| match &self.sens {
            Sens::Exact(e) => e.accumulate(&sh, dloss_dh, grad),
            Sens::Snap1(s) => s.accumulate(&sh, dloss_dh, grad),
            Sens::Uoro(u) => u.accumulate(&sh, dloss_dh, grad),
        });
        Ok(())
    }

    /// Forgets the sensitivities, keeping the state: the next step's gradient
    /// is then truncated BPTT with truncation 1.
    pub fn zero_sensitivities(&mut self) {
        match &mut self.sens {
            Sens::Exact(e) => e.reset(),
            Sens::Snap1(s) => s.reset(),
            Sens::Uoro(u) => u.zero(),
        }
    }
}

/// What `gradient` returns: the summed gradient and the forward outputs.
pub struct SequenceResult<T> {
    /// (P) gradient of the total loss, summed over time and batch.
    pub grad: Vec<T>,
    /// (T, B, H) hidden states.
    pub y: Vec<T>,
    /// (B, C, H) final state.
    pub state: Vec<T>,
}

/// RTRL over a whole sequence `x` (T, B, I) with per-step loss gradients
/// `dloss_dh` (T, B, H), in one call.
#[allow(clippy::too_many_arguments)]
pub fn gradient<T: Float>(
    shape: CellShape,
    method: Method,
    params: &[T],
    x: &[T],
    dloss_dh: &[T],
    steps: usize,
    batch: usize,
    h0: Option<&[T]>,
    c0: Option<&[T]>,
    memory_limit: Option<u64>,
) -> Result<SequenceResult<T>> {
    check_len("x", x.len(), steps * batch * shape.input, "seq_len * batch * input_size")?;
    check_len("dloss_dh", dloss_dh.len(), steps * batch * shape.hidden, "seq_len * batch * hidden_size")?;
    let mut r = Rtrl::new(shape, method, batch, memory_limit)?;
    r.reset(h0, c0)?;
    let mut grad = crate::error::try_zeros(shape.n_params(), "gradient")?;
    let (bi, bh) = (batch * shape.input, batch * shape.hidden);
    let mut y = crate::error::try_zeros(crate::error::checked_size(&[steps, bh], "y")?, "y")?;
    let (c, h) = (shape.kind.comps(), shape.hidden);
    // One pool entry for the whole sequence (each step's own entry is then free).
    crate::par::install(|| -> Result<()> {
        if let Some(e) = r.sens.as_exact_if_time_blocked() {
            check_len("params", params.len(), shape.n_params(), "the cell's parameter count")?;
            return e.run_sequence(
                &shape,
                params,
                x,
                dloss_dh,
                steps,
                &mut r.state,
                &mut r.next,
                &mut y,
                &mut grad,
            );
        }
        for t in 0..steps {
            crate::interrupt::check()?;
            r.step(params, &x[t * bi..(t + 1) * bi], Some(&dloss_dh[t * bh..(t + 1) * bh]), Some(&mut grad))?;
            for b in 0..batch {
                y[t * bh + b * h..t * bh + (b + 1) * h].copy_from_slice(&r.state[b * c * h..b * c * h + h]);
            }
        }
        Ok(())
    })?;
    Ok(SequenceResult { grad, y, state: r.state })
}

#[cfg(test)]
mod tests;
