//! Exact RTRL and SnAp-1 for cells with a dense state Jacobian.
//!
//! The unit-local route (`local.rs`, `Cell::rtrl_row`) needs every unit's new
//! state to depend on its own pre-activations only. The cells here break that:
//! LayerNorm mixes all units of a layer, a Jordan network's state is its output
//! `y` (reached through a hidden layer), a deep-transition step is an MLP, a
//! clockwork step leaves some modules untouched. Each such cell implements
//! `DenseCell`: per step and sequence it gives the new state `s'` (S values),
//! the state Jacobian `J = ∂s'/∂s` (S x S) and the immediate Jacobian in
//! Kronecker form: the parameters are `Block`s of `rows x cols` values, and
//! parameter `(r, j)` of a block enters through a pre-activation of the form
//! `sum_j W[r, j] u_j`, so that
//!
//! ```text
//! ∂s'_i / ∂W[r, j] = coef[i, row0 + r] * u[input + j]
//! ```
//!
//! with `coef` (S x R) the cell's partials with respect to its R pre-activation
//! rows and `u` the step's inputs (x, the old state, hidden values, a 1 for
//! biases). Gains and other per-row parameters are blocks of one column with
//! the factor folded into `coef`.
//!
//! - Exact: `M_t = J_t M_{t-1} + F_t` per sequence, one (S x S)(S x P) GEMM
//!   plus the Kronecker term; O(S^2 P) per step, O(S P) memory.
//! - SnAp-1: each parameter row r keeps its sensitivity only on the state
//!   entries it feeds directly (`owners[r]`, the cell's choice: the unit of
//!   the same index, documented per cell), and the recursion uses J restricted
//!   to those entries:
//!   `m'_a = sum_b J[o_a, o_b] m_b + coef[o_a, r] u_j` for `o = owners[r]`.
//!   Equivalently `M_t = Mask ⊙ (J_t M_{t-1} + F_t)`. O(P) per step with
//!   one owner per row.
//!
//! Sequences of a batch are independent and run as separate tasks; the
//! gradient contraction adds them in order (same bits for any thread count).

use crate::error::{checked_size, try_zeros, Error, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op, Parallelism};
use rayon::prelude::*;

/// A block of the flat parameter vector: `rows x cols` values at `offset`,
/// row r's immediate sensitivity is `coef[:, row0 + r] ⊗ u[input..input + cols]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row0: usize,
    pub input: usize,
}

/// Sizes and parameter structure of a dense cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenseLayout {
    /// Input size I.
    pub input: usize,
    /// State length S.
    pub state: usize,
    /// The first `output` state entries are what the loss sees (`dloss_dh`).
    pub output: usize,
    /// Pre-activation rows R (columns of `coef`).
    pub rows: usize,
    /// Length of the per-step input vector `u`.
    pub inputs: usize,
    pub blocks: Vec<Block>,
    /// Per pre-activation row: the state entries SnAp-1 keeps for its parameters.
    pub owners: Vec<Vec<usize>>,
}

impl DenseLayout {
    /// Number of parameters P (the blocks tile `0..P`).
    pub fn n_params(&self) -> usize {
        self.blocks.iter().map(|b| b.offset + b.rows * b.cols).max().unwrap_or(0)
    }
    /// Checks the blocks tile the parameter vector and index valid rows, inputs and owners.
    pub fn validate(&self) -> Result<()> {
        let mut blocks: Vec<&Block> = self.blocks.iter().collect();
        blocks.sort_by_key(|b| b.offset);
        let mut at = 0;
        for b in blocks {
            let ok = b.offset == at && b.row0 + b.rows <= self.rows && b.input + b.cols <= self.inputs;
            if !ok {
                return Err(Error::value("layout", format!("inconsistent RTRL block {b:?}")));
            }
            at += b.rows * b.cols;
        }
        if self.owners.len() != self.rows || self.owners.iter().flatten().any(|&o| o >= self.state) {
            return Err(Error::value("layout", "inconsistent SnAp-1 owners"));
        }
        if self.output > self.state || self.state == 0 || self.inputs == 0 {
            return Err(Error::value("layout", "inconsistent state sizes"));
        }
        Ok(())
    }
}

/// One sequence's step: inputs in, the new state and partials out.
pub struct DenseStep<'a, T> {
    /// Steps since the last reset (the clockwork's clock).
    pub t: usize,
    pub x: &'a [T],
    pub s_prev: &'a [T],
    pub s_new: &'a mut [T],
    /// (S x S) row-major: `jac[i*S + j] = ∂s'_i/∂s_j`. Zeroed before the call.
    pub jac: &'a mut [T],
    /// (S x R) row-major: `coef[i*R + r] = ∂s'_i/∂(pre-activation row r)`. Zeroed before the call.
    pub coef: &'a mut [T],
    /// (U) the step's inputs `u`.
    pub inputs: &'a mut [T],
}

/// A cell with a dense state Jacobian (see the module doc).
pub trait DenseCell<T: Float>: Sync {
    fn layout(&self) -> &DenseLayout;
    /// One step of one sequence: `s_new`, `jac`, `coef`, `inputs` from `x`, `s_prev` and `params` (P).
    fn step(&self, params: &[T], s: DenseStep<'_, T>);
}

/// Which sensitivities the engine carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseMethod {
    Exact,
    Snap1,
}

impl DenseMethod {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "exact" => Ok(DenseMethod::Exact),
            "snap1" => Ok(DenseMethod::Snap1),
            _ => Err(Error::value(
                "method",
                format!("this cell offers 'exact' and 'snap1' RTRL, got {name:?}"),
            )),
        }
    }
}

/// Per parameter row (in block order), the offset of its SnAp-1 sensitivities.
fn snap_offsets(lay: &DenseLayout) -> Vec<Vec<usize>> {
    let mut at = 0;
    lay.blocks
        .iter()
        .map(|b| {
            (0..b.rows)
                .map(|r| {
                    let o = at;
                    at += lay.owners[b.row0 + r].len() * b.cols;
                    o
                })
                .collect()
        })
        .collect()
}

/// Sensitivity values per sequence.
fn sens_len(lay: &DenseLayout, method: DenseMethod) -> usize {
    match method {
        DenseMethod::Exact => lay.state * lay.n_params(),
        DenseMethod::Snap1 => lay
            .blocks
            .iter()
            .map(|b| (0..b.rows).map(|r| lay.owners[b.row0 + r].len() * b.cols).sum::<usize>())
            .sum(),
    }
}

/// Bytes the sensitivities and per-step partials need for `batch` sequences.
pub fn sensitivity_bytes<T: Float>(lay: &DenseLayout, method: DenseMethod, batch: usize) -> u128 {
    let m = sens_len(lay, method) as u128 * if method == DenseMethod::Exact { 2 } else { 1 };
    let s = lay.state as u128;
    let per = m + s * (s + lay.rows as u128) + lay.inputs as u128;
    per * batch as u128 * std::mem::size_of::<T>() as u128
}

/// Online dense RTRL over a batch: the state, the sensitivities and the step's partials.
pub struct DenseRtrl<T, C> {
    cell: C,
    method: DenseMethod,
    batch: usize,
    t: usize,
    state: Vec<T>,
    next: Vec<T>,
    jac: Vec<T>,
    coef: Vec<T>,
    inputs: Vec<T>,
    m: Vec<T>,
    m_next: Vec<T>,
    snap_at: Vec<Vec<usize>>,
}

impl<T: Float, C: DenseCell<T>> DenseRtrl<T, C> {
    pub fn new(cell: C, method: DenseMethod, batch: usize, memory_limit: Option<u64>) -> Result<Self> {
        super::check_positive("batch", batch, "batch size")?;
        let lay = cell.layout().clone();
        lay.validate()?;
        super::check_memory(
            sensitivity_bytes::<T>(&lay, method, batch),
            memory_limit,
            &format!(
                "RTRL '{method:?}' sensitivities for n={}, P={}, batch={batch}",
                lay.state,
                lay.n_params()
            ),
        )?;
        let z = |dims: &[usize], what: &str| -> Result<Vec<T>> { try_zeros(checked_size(dims, what)?, what) };
        let ml = sens_len(&lay, method);
        Ok(DenseRtrl {
            method,
            batch,
            t: 0,
            state: z(&[batch, lay.state], "state")?,
            next: z(&[batch, lay.state], "state")?,
            jac: z(&[batch, lay.state, lay.state], "RTRL Jacobians")?,
            coef: z(&[batch, lay.state, lay.rows], "RTRL partials")?,
            inputs: z(&[batch, lay.inputs], "RTRL partials")?,
            m: z(&[batch, ml], "RTRL sensitivities")?,
            m_next: if method == DenseMethod::Exact {
                z(&[batch, ml], "RTRL sensitivities")?
            } else {
                Vec::new()
            },
            snap_at: snap_offsets(&lay),
            cell,
        })
    }

    pub fn layout(&self) -> &DenseLayout {
        self.cell.layout()
    }
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// The state, (B, S).
    pub fn state(&self) -> &[T] {
        &self.state
    }

    /// Sets the state ((B, S); None = zeros), restarts the clock and zeroes the sensitivities.
    pub fn reset(&mut self, s0: Option<&[T]>) -> Result<()> {
        match s0 {
            Some(s) => {
                super::check_len("h0", s.len(), self.state.len(), "batch * state size")?;
                self.state.copy_from_slice(s);
            }
            None => self.state.fill(T::ZERO),
        }
        self.t = 0;
        self.m.fill(T::ZERO);
        Ok(())
    }

    /// Forgets the sensitivities, keeping the state.
    pub fn zero_sensitivities(&mut self) {
        self.m.fill(T::ZERO);
    }

    /// Advances one step with `x` (B, I); with `dloss` (B, O) adds
    /// `sum_b dloss[b] · M_t[b]` to `grad` (P).
    pub fn step(&mut self, params: &[T], x: &[T], dloss: Option<&[T]>, grad: Option<&mut [T]>) -> Result<()> {
        let lay = self.cell.layout();
        let (bsz, s, p) = (self.batch, lay.state, lay.n_params());
        super::check_len("params", params.len(), p, "the cell's parameter count")?;
        super::check_len("x", x.len(), bsz * lay.input, "batch * input_size")?;
        if let Some(d) = dloss {
            super::check_len("dloss_dh", d.len(), bsz * lay.output, "batch * output size")?;
        }
        if let Some(g) = &grad {
            super::check_len("grad", g.len(), p, "the cell's parameter count")?;
        }
        let (r, u, ml) = (lay.rows, lay.inputs, self.m.len() / bsz);
        let (cell, method, t, snap_at) = (&self.cell, self.method, self.t, &self.snap_at);
        let state = &self.state;
        let task = |(b, ((((sn, jac), coef), inputs), (m, mn))): SeqTask<'_, T>| {
            jac.fill(T::ZERO);
            coef.fill(T::ZERO);
            cell.step(
                params,
                DenseStep {
                    t,
                    x: &x[b * lay.input..(b + 1) * lay.input],
                    s_prev: &state[b * s..(b + 1) * s],
                    s_new: sn,
                    jac,
                    coef,
                    inputs,
                },
            );
            match method {
                DenseMethod::Exact => advance_exact(lay, jac, coef, inputs, m, mn),
                DenseMethod::Snap1 => advance_snap(lay, snap_at, jac, coef, inputs, m),
            }
        };
        let m_next: &mut [T] = if method == DenseMethod::Exact { &mut self.m_next } else { &mut [] };
        let nb = if method == DenseMethod::Exact { ml } else { 0 };
        let parts = self
            .next
            .chunks_mut(s)
            .zip(self.jac.chunks_mut(s * s))
            .zip(self.coef.chunks_mut(s * r))
            .zip(self.inputs.chunks_mut(u.max(1)))
            .zip(self.m.chunks_mut(ml.max(1)).zip(chunks_or_empty(m_next, nb, bsz)))
            .enumerate()
            .collect::<Vec<_>>();
        let work = bsz * ml * s;
        if bsz > 1 && super::worth_threads(work) {
            crate::par::install(|| parts.into_par_iter().for_each(task));
        } else {
            parts.into_iter().for_each(task);
        }
        if method == DenseMethod::Exact {
            std::mem::swap(&mut self.m, &mut self.m_next);
        }
        std::mem::swap(&mut self.state, &mut self.next);
        self.t += 1;
        if let (Some(d), Some(g)) = (dloss, grad) {
            self.accumulate(d, g)?;
        }
        Ok(())
    }

    /// Adds `sum_b dloss[b] · M_t[b]` (dloss (B, O)) to `grad` (P), sequences in order.
    pub fn accumulate(&self, dloss: &[T], grad: &mut [T]) -> Result<()> {
        let lay = self.cell.layout();
        let (bsz, s, o, p) = (self.batch, lay.state, lay.output, lay.n_params());
        super::check_len("dloss_dh", dloss.len(), bsz * o, "batch * output size")?;
        super::check_len("grad", grad.len(), p, "the cell's parameter count")?;
        let ml = self.m.len() / bsz;
        for b in 0..bsz {
            let (m, d) = (&self.m[b * ml..(b + 1) * ml], &dloss[b * o..(b + 1) * o]);
            match self.method {
                DenseMethod::Exact => {
                    for (i, &di) in d.iter().enumerate() {
                        for (g, &v) in grad.iter_mut().zip(&m[i * p..(i + 1) * p]) {
                            *g += di * v;
                        }
                    }
                }
                DenseMethod::Snap1 => {
                    for (blk, offs) in lay.blocks.iter().zip(&self.snap_at) {
                        for (row, &at) in offs.iter().enumerate() {
                            let own = &lay.owners[blk.row0 + row];
                            let g = &mut grad[blk.offset + row * blk.cols..blk.offset + (row + 1) * blk.cols];
                            for (a, &oi) in own.iter().enumerate() {
                                if oi < o {
                                    let v = &m[at + a * blk.cols..at + (a + 1) * blk.cols];
                                    for (gv, &mv) in g.iter_mut().zip(v) {
                                        *gv += d[oi] * mv;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let _ = s;
        Ok(())
    }

    /// A whole sequence (`x` (T, B, I), `dloss` (T, B, O)): the gradient (P) and the outputs
    /// `y` (T, B, O); the state is advanced.
    pub fn run(&mut self, params: &[T], x: &[T], dloss: &[T], steps: usize) -> Result<(Vec<T>, Vec<T>)> {
        let lay = self.cell.layout();
        let (bsz, i, o, s, p) = (self.batch, lay.input, lay.output, lay.state, lay.n_params());
        super::check_len("x", x.len(), steps * bsz * i, "seq_len * batch * input_size")?;
        super::check_len("dloss_dh", dloss.len(), steps * bsz * o, "seq_len * batch * output size")?;
        let mut grad = try_zeros(p, "gradient")?;
        let mut y = try_zeros(checked_size(&[steps, bsz, o], "outputs")?, "outputs")?;
        for t in 0..steps {
            crate::interrupt::check()?;
            let d = &dloss[t * bsz * o..(t + 1) * bsz * o];
            self.step(params, &x[t * bsz * i..(t + 1) * bsz * i], Some(d), Some(&mut grad))?;
            for b in 0..bsz {
                y[(t * bsz + b) * o..(t * bsz + b + 1) * o].copy_from_slice(&self.state[b * s..b * s + o]);
            }
        }
        Ok((grad, y))
    }
}

/// One sequence's buffers in a step: (index, (((new state, J), coef), inputs), (M, next M)).
type SeqTask<'a, T> =
    (usize, ((((&'a mut [T], &'a mut [T]), &'a mut [T]), &'a mut [T]), (&'a mut [T], &'a mut [T])));

/// `n` chunks of `len` (empty chunks when `len` is 0).
fn chunks_or_empty<T>(v: &mut [T], len: usize, n: usize) -> Box<dyn Iterator<Item = &mut [T]> + '_> {
    if len == 0 {
        Box::new((0..n).map(|_| <&mut [T]>::default()))
    } else {
        Box::new(v.chunks_mut(len))
    }
}

/// `mn = J m + F` for one sequence (m, mn: (S, P)).
fn advance_exact<T: Float>(lay: &DenseLayout, jac: &[T], coef: &[T], u: &[T], m: &[T], mn: &mut [T]) {
    let (s, p, r) = (lay.state, lay.n_params(), lay.rows);
    gemm(Parallelism::Serial, mn, p, Op::new(jac, s, s), Op::new(m, s, p), T::ONE, false);
    for blk in &lay.blocks {
        let inp = &u[blk.input..blk.input + blk.cols];
        for row in 0..blk.rows {
            let col = blk.row0 + row;
            let at = blk.offset + row * blk.cols;
            for i in 0..s {
                let c = coef[i * r + col];
                if c != T::ZERO {
                    for (d, &v) in mn[i * p + at..i * p + at + blk.cols].iter_mut().zip(inp) {
                        *d += c * v;
                    }
                }
            }
        }
    }
}

/// SnAp-1 for one sequence, in place: per parameter row, its owners' block of J.
fn advance_snap<T: Float>(lay: &DenseLayout, at: &[Vec<usize>], jac: &[T], coef: &[T], u: &[T], m: &mut [T]) {
    let (s, r) = (lay.state, lay.rows);
    let mut old = Vec::new();
    for (blk, offs) in lay.blocks.iter().zip(at) {
        let inp = &u[blk.input..blk.input + blk.cols];
        for (row, &o0) in offs.iter().enumerate() {
            let own = &lay.owners[blk.row0 + row];
            let w = blk.cols;
            let vals = &mut m[o0..o0 + own.len() * w];
            old.clear();
            old.extend_from_slice(vals);
            for (a, &oa) in own.iter().enumerate() {
                let c = coef[oa * r + blk.row0 + row];
                let dst = &mut vals[a * w..(a + 1) * w];
                for (d, &v) in dst.iter_mut().zip(inp) {
                    *d = c * v;
                }
                for (bi, &ob) in own.iter().enumerate() {
                    let j = jac[oa * s + ob];
                    if j != T::ZERO {
                        for (d, &v) in dst.iter_mut().zip(&old[bi * w..(bi + 1) * w]) {
                            *d += j * v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Checks a cell's `jac` and immediate Jacobian (`coef ⊗ u`) against
    /// central differences of its step, in f64, at step `t`.
    pub fn check_partials<C: DenseCell<f64>>(
        cell: &C,
        params: &[f64],
        x: &[f64],
        s0: &[f64],
        t: usize,
        tol: f64,
    ) {
        let lay = cell.layout().clone();
        lay.validate().unwrap();
        let (s, r, p) = (lay.state, lay.rows, lay.n_params());
        let run = |params: &[f64], s_prev: &[f64]| {
            let mut out = (vec![0.0; s], vec![0.0; s * s], vec![0.0; s * r], vec![0.0; lay.inputs]);
            cell.step(
                params,
                DenseStep {
                    t,
                    x,
                    s_prev,
                    s_new: &mut out.0,
                    jac: &mut out.1,
                    coef: &mut out.2,
                    inputs: &mut out.3,
                },
            );
            out
        };
        let (_, jac, coef, u) = run(params, s0);
        let eps = 1e-6;
        for j in 0..s {
            let (mut a, mut b) = (s0.to_vec(), s0.to_vec());
            a[j] += eps;
            b[j] -= eps;
            let (sa, sb) = (run(params, &a).0, run(params, &b).0);
            for i in 0..s {
                let fd = (sa[i] - sb[i]) / (2.0 * eps);
                assert!((fd - jac[i * s + j]).abs() < tol, "J[{i},{j}]: fd {fd} vs {}", jac[i * s + j]);
            }
        }
        let mut imm = vec![0.0; s * p];
        for blk in &lay.blocks {
            for row in 0..blk.rows {
                for c in 0..blk.cols {
                    for i in 0..s {
                        imm[i * p + blk.offset + row * blk.cols + c] =
                            coef[i * r + blk.row0 + row] * u[blk.input + c];
                    }
                }
            }
        }
        for q in 0..p {
            let (mut a, mut b) = (params.to_vec(), params.to_vec());
            a[q] += eps;
            b[q] -= eps;
            let (sa, sb) = (run(&a, s0).0, run(&b, s0).0);
            for i in 0..s {
                let fd = (sa[i] - sb[i]) / (2.0 * eps);
                assert!((fd - imm[i * p + q]).abs() < tol, "F[{i},{q}]: fd {fd} vs {}", imm[i * p + q]);
            }
        }
    }

    /// Exact dense RTRL's summed gradient against central differences of the
    /// summed loss `sum_t dloss_t · y_t` over a short sequence (f64).
    pub fn check_gradient<C: DenseCell<f64> + Clone>(cell: &C, params: &[f64], seed: u64) {
        let lay = cell.layout().clone();
        let (steps, bsz) = (4, 2);
        let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut rand = || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((rng >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let x: Vec<f64> = (0..steps * bsz * lay.input).map(|_| rand()).collect();
        let d: Vec<f64> = (0..steps * bsz * lay.output).map(|_| rand()).collect();
        let loss = |params: &[f64]| {
            let mut e = DenseRtrl::new(cell.clone(), DenseMethod::Snap1, bsz, None).unwrap();
            let (_, y) = e.run(params, &x, &d, steps).unwrap();
            y.iter().zip(&d).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut e = DenseRtrl::new(cell.clone(), DenseMethod::Exact, bsz, None).unwrap();
        let (g, _) = e.run(params, &x, &d, steps).unwrap();
        for q in 0..params.len() {
            let (mut a, mut b) = (params.to_vec(), params.to_vec());
            a[q] += 1e-6;
            b[q] -= 1e-6;
            let fd = (loss(&a) - loss(&b)) / 2e-6;
            assert!((fd - g[q]).abs() < 1e-6 * (1.0 + fd.abs()), "grad[{q}]: fd {fd} vs {}", g[q]);
        }
    }
}
