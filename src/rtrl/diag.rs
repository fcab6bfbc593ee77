//! Element-wise recurrent cells, where each unit only sees its own past:
//! `h'_k = φ(z_k, ρ_k, h_k)` with the input drive `z = W x + b`. Their
//! Jacobian `J_t` is diagonal, so exact RTRL costs O(P): the sensitivity of
//! each parameter is one number per sequence, on its own unit.
//!
//! Shared by the cells in `crate::cell::{indrnn, diag}`, which only define
//! `φ` and its partials (`crate::cell::elementwise`: the unit map and the
//! parameter layout `[weight_ih (H, I), ρ (H), bias (H)]`). Here: forward
//! over a sequence, BPTT, and RTRL (whole sequence and online).

use crate::cell::elementwise::{ElemShape, UnitMap};
use crate::error::{checked_size, try_zeros, Error, Result};
use crate::float::Float;
use crate::linalg::{gemm, Op, Parallelism};

fn check_len(arg: &str, got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::shape(arg, format!("expected {want} elements ({what}), got {got}")));
    }
    Ok(())
}

/// Input drives z = x W^T + b for `rows` rows of x (rows, I) -> (rows, H).
fn drives<T: Float>(sh: &ElemShape, params: &[T], x: &[T], rows: usize) -> Result<Vec<T>> {
    let h = sh.hidden;
    let mut z = try_zeros(checked_size(&[rows, h], "input drives")?, "input drives")?;
    gemm(
        Parallelism::Pool,
        &mut z,
        h,
        Op::new(x, rows, sh.input),
        Op::new(&params[..sh.off_rho()], h, sh.input).t(),
        T::ONE,
        false,
    );
    let bias = &params[sh.off_bias()..];
    for row in z.chunks_mut(h) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    Ok(z)
}

fn check_seq<T>(
    sh: &ElemShape,
    params: &[T],
    x: &[T],
    h0: Option<&[T]>,
    steps: usize,
    batch: usize,
) -> Result<()> {
    check_len("params", params.len(), sh.n_params(), "hidden_size * (input_size + 2)")?;
    check_len("x", x.len(), steps * batch * sh.input, "seq_len * batch * input_size")?;
    if let Some(h0) = h0 {
        check_len("h0", h0.len(), batch * sh.hidden, "batch * hidden_size")?;
    }
    Ok(())
}

/// Forward over x (T, B, I) from h0 (B, H; None = zeros): y (T, B, H).
pub fn forward<T: Float, U: UnitMap>(
    u: &U,
    sh: &ElemShape,
    params: &[T],
    x: &[T],
    h0: Option<&[T]>,
    steps: usize,
    batch: usize,
) -> Result<Vec<T>> {
    check_seq(sh, params, x, h0, steps, batch)?;
    crate::par::install(|| {
        let bh = batch * sh.hidden;
        let mut y = drives(sh, params, x, steps * batch)?;
        let rho = &params[sh.off_rho()..sh.off_bias()];
        let h = sh.hidden;
        let mut hs: Vec<T> = h0.map(|v| v.to_vec()).unwrap_or_else(|| vec![T::ZERO; bh]);
        let mut coef = vec![T::ZERO; 3 * h];
        // The same batched unit map as RTRL, so both give identical states.
        for t in 0..steps {
            crate::interrupt::check()?;
            for b in 0..batch {
                let o = t * bh + b * h;
                let hb = &mut hs[b * h..(b + 1) * h];
                u.units(&y[o..o + h], rho, hb, &mut coef);
                y[o..o + h].copy_from_slice(hb);
            }
        }
        Ok(y)
    })
}

/// What BPTT returns.
pub struct Backward<T> {
    /// (T, B, I)
    pub dx: Vec<T>,
    /// (B, H)
    pub dh0: Vec<T>,
    /// (P) summed over time and batch.
    pub grad: Vec<T>,
}

/// BPTT through a forward pass `y = forward(x, h0)`, with output gradients
/// dy (T, B, H) and a gradient dh_n (B, H) on the final state.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float, U: UnitMap>(
    u: &U,
    sh: &ElemShape,
    params: &[T],
    x: &[T],
    h0: Option<&[T]>,
    y: &[T],
    dy: &[T],
    dh_n: Option<&[T]>,
    steps: usize,
    batch: usize,
) -> Result<Backward<T>> {
    check_seq(sh, params, x, h0, steps, batch)?;
    let (h, i) = (sh.hidden, sh.input);
    let bh = batch * h;
    check_len("y", y.len(), steps * bh, "seq_len * batch * hidden_size")?;
    check_len("dy", dy.len(), steps * bh, "seq_len * batch * hidden_size")?;
    if let Some(d) = dh_n {
        check_len("dh_n", d.len(), bh, "batch * hidden_size")?;
    }
    crate::par::install(|| {
        let z = drives(sh, params, x, steps * batch)?;
        let rho = &params[sh.off_rho()..sh.off_bias()];
        let mut dz = try_zeros(steps * bh, "gradients")?;
        let mut grad = try_zeros(sh.n_params(), "gradients")?;
        let mut carry: Vec<T> = dh_n.map(|d| d.to_vec()).unwrap_or_else(|| vec![T::ZERO; bh]);
        let zeros = vec![T::ZERO; bh];
        for t in (0..steps).rev() {
            crate::interrupt::check()?;
            let hprev = if t > 0 { &y[(t - 1) * bh..t * bh] } else { h0.unwrap_or(&zeros) };
            for j in 0..bh {
                let k = j % h;
                let (_, dzk, drho, dhk) = u.unit(z[t * bh + j], rho[k], hprev[j]);
                let g = dy[t * bh + j] + carry[j];
                dz[t * bh + j] = g * dzk;
                grad[sh.off_rho() + k] += g * drho;
                carry[j] = g * dhk;
            }
        }
        // Weight gradients and dx as single GEMMs over all steps.
        let rows = steps * batch;
        gemm(
            Parallelism::Pool,
            &mut grad[..sh.off_rho()],
            i,
            Op::new(&dz, rows, h).t(),
            Op::new(x, rows, i),
            T::ONE,
            false,
        );
        for row in dz.chunks(h) {
            for (gb, &d) in grad[sh.off_bias()..].iter_mut().zip(row) {
                *gb += d;
            }
        }
        let mut dx = try_zeros(steps * batch * i, "dx")?;
        gemm(
            Parallelism::Pool,
            &mut dx,
            i,
            Op::new(&dz, rows, h),
            Op::new(&params[..sh.off_rho()], h, i),
            T::ONE,
            false,
        );
        Ok(Backward { dx, dh0: carry, grad })
    })
}

/// One sequence's exact RTRL step: sensitivities m (P) of each parameter on
/// its unit, advanced with the drive z (H), input x (I), old state h (H),
/// new state written to `h`. Adds `dloss_dh · M` to `grad` when given.
#[allow(clippy::too_many_arguments)]
fn rtrl_step<T: Float, U: UnitMap>(
    u: &U,
    sh: &ElemShape,
    rho: &[T],
    z: &[T],
    x: &[T],
    h: &mut [T],
    m: &mut [T],
    coef: &mut [T],
    dloss_dh: Option<&[T]>,
    grad: &mut [T],
) {
    let (i, n) = (sh.input, sh.hidden);
    u.units(z, rho, h, coef);
    let (cz, rest) = coef.split_at(n);
    let (cr, cd) = rest.split_at(n);
    let (mw, rest) = m.split_at_mut(sh.off_rho());
    let (mr, mb) = rest.split_at_mut(n);
    let (gw, grest) = grad.split_at_mut(sh.off_rho());
    let (gr, gb) = grest.split_at_mut(n);
    match dloss_dh {
        Some(d) => {
            for k in 0..n {
                let (dz, dh, w) = (cz[k], cd[k], d[k]);
                for ((v, g), &xv) in mw[k * i..(k + 1) * i].iter_mut().zip(&mut gw[k * i..(k + 1) * i]).zip(x)
                {
                    let nv = dh * *v + dz * xv;
                    *v = nv;
                    *g += w * nv;
                }
                mr[k] = dh * mr[k] + cr[k];
                mb[k] = dh * mb[k] + dz;
                gr[k] += w * mr[k];
                gb[k] += w * mb[k];
            }
        }
        None => {
            for k in 0..n {
                let (dz, dh) = (cz[k], cd[k]);
                for (v, &xv) in mw[k * i..(k + 1) * i].iter_mut().zip(x) {
                    *v = dh * *v + dz * xv;
                }
                mr[k] = dh * mr[k] + cr[k];
                mb[k] = dh * mb[k] + dz;
            }
        }
    }
}

/// Exact RTRL over a whole sequence in one call (per-sequence gradients are
/// summed in batch order): (grad (P), y (T, B, H)).
#[allow(clippy::too_many_arguments)]
pub fn rtrl_gradient<T: Float, U: UnitMap>(
    u: &U,
    sh: &ElemShape,
    params: &[T],
    x: &[T],
    dloss_dh: &[T],
    h0: Option<&[T]>,
    steps: usize,
    batch: usize,
) -> Result<(Vec<T>, Vec<T>)> {
    check_seq(sh, params, x, h0, steps, batch)?;
    let (h, i, p) = (sh.hidden, sh.input, sh.n_params());
    let bh = batch * h;
    check_len("dloss_dh", dloss_dh.len(), steps * bh, "seq_len * batch * hidden_size")?;
    // O(P) work per step: threads cost more than they save here, so the
    // sequences advance together on the calling thread, time-major, which
    // walks x, z, dloss_dh and y contiguously.
    let z = crate::par::install(|| drives(sh, params, x, steps * batch))?;
    let rho = &params[sh.off_rho()..sh.off_bias()];
    let mut y = try_zeros(steps * bh, "y")?;
    let mut hs: Vec<T> = match h0 {
        Some(v) => v.to_vec(),
        None => try_zeros(bh, "state")?,
    };
    // Per sequence: sensitivities and partial gradient (summed in batch order at the end).
    let mut per_seq = try_zeros(checked_size(&[batch, 2, p], "RTRL sensitivities")?, "RTRL sensitivities")?;
    let mut coef = vec![T::ZERO; 3 * h];
    for t in 0..steps {
        crate::interrupt::check()?;
        for (b, buf) in per_seq.chunks_mut(2 * p).enumerate() {
            let (m, g) = buf.split_at_mut(p);
            let o = t * bh + b * h;
            let xs = &x[(t * batch + b) * i..(t * batch + b + 1) * i];
            let hb = &mut hs[b * h..(b + 1) * h];
            rtrl_step(u, sh, rho, &z[o..o + h], xs, hb, m, &mut coef, Some(&dloss_dh[o..o + h]), g);
            y[o..o + h].copy_from_slice(hb);
        }
    }
    let mut grad = try_zeros(p, "gradient")?;
    for buf in per_seq.chunks(2 * p) {
        for (gv, &v) in grad.iter_mut().zip(&buf[p..]) {
            *gv += v;
        }
    }
    Ok((grad, y))
}

/// Online exact RTRL for an element-wise cell, one step at a time.
pub struct ElemRtrl<T> {
    pub shape: ElemShape,
    batch: usize,
    /// (B, H)
    state: Vec<T>,
    /// (B, P)
    m: Vec<T>,
}

impl<T: Float> ElemRtrl<T> {
    pub fn new(shape: ElemShape, batch: usize, memory_limit: Option<u64>) -> Result<Self> {
        super::check_positive("batch", batch, "batch size")?;
        let n = checked_size(&[batch, shape.n_params()], "RTRL sensitivities")?;
        super::check_memory(
            n as u128 * std::mem::size_of::<T>() as u128,
            memory_limit,
            &format!("RTRL sensitivities for P={}, batch={batch}", shape.n_params()),
        )?;
        Ok(ElemRtrl {
            shape,
            batch,
            state: try_zeros(batch * shape.hidden, "state")?,
            m: try_zeros(n, "RTRL sensitivities")?,
        })
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn state(&self) -> &[T] {
        &self.state
    }

    /// Forgets the sensitivities, keeping the state.
    pub fn zero_sensitivities(&mut self) {
        self.m.fill(T::ZERO);
    }

    /// Adds `sum_b dloss_dh[b] · M_t[b]` for the current step to `grad`.
    pub fn accumulate(&self, dloss_dh: &[T], grad: &mut [T]) -> Result<()> {
        let sh = self.shape;
        let (h, i, p) = (sh.hidden, sh.input, sh.n_params());
        check_len("dloss_dh", dloss_dh.len(), self.batch * h, "batch * hidden_size")?;
        check_len("grad", grad.len(), p, "the cell's parameter count")?;
        for b in 0..self.batch {
            let m = &self.m[b * p..(b + 1) * p];
            for k in 0..h {
                let w = dloss_dh[b * h + k];
                for (g, &v) in grad[k * i..(k + 1) * i].iter_mut().zip(&m[k * i..(k + 1) * i]) {
                    *g += w * v;
                }
                grad[sh.off_rho() + k] += w * m[sh.off_rho() + k];
                grad[sh.off_bias() + k] += w * m[sh.off_bias() + k];
            }
        }
        Ok(())
    }

    /// State from h0 (B, H) or zeros; sensitivities zeroed.
    pub fn reset(&mut self, h0: Option<&[T]>) -> Result<()> {
        match h0 {
            Some(v) => {
                check_len("h0", v.len(), self.state.len(), "batch * hidden_size")?;
                self.state.copy_from_slice(v);
            }
            None => self.state.fill(T::ZERO),
        }
        self.m.fill(T::ZERO);
        Ok(())
    }

    /// One step of cell `u` with x (B, I); adds `sum_b dloss_dh[b] · M_t[b]` to grad.
    pub fn step<U: UnitMap>(
        &mut self,
        u: &U,
        params: &[T],
        x: &[T],
        dloss_dh: Option<&[T]>,
        grad: Option<&mut [T]>,
    ) -> Result<()> {
        let sh = self.shape;
        let (h, i, p, bsz) = (sh.hidden, sh.input, sh.n_params(), self.batch);
        check_len("params", params.len(), p, "hidden_size * (input_size + 2)")?;
        check_len("x", x.len(), bsz * i, "batch * input_size")?;
        if let Some(d) = dloss_dh {
            check_len("dloss_dh", d.len(), bsz * h, "batch * hidden_size")?;
        }
        let mut scratch = Vec::new();
        let grad: &mut [T] = match grad {
            Some(g) => {
                check_len("grad", g.len(), p, "the cell's parameter count")?;
                g
            }
            None => {
                scratch.resize(p, T::ZERO);
                &mut scratch
            }
        };
        let z = drives(&sh, params, x, bsz)?;
        let rho = &params[sh.off_rho()..sh.off_bias()];
        let mut coef = vec![T::ZERO; 3 * h];
        for b in 0..bsz {
            let d = dloss_dh.map(|d| &d[b * h..(b + 1) * h]);
            let hs = &mut self.state[b * h..(b + 1) * h];
            let m = &mut self.m[b * p..(b + 1) * p];
            let (zb, xb) = (&z[b * h..(b + 1) * h], &x[b * i..(b + 1) * i]);
            rtrl_step(u, &sh, rho, zb, xb, hs, m, &mut coef, d, grad);
        }
        Ok(())
    }
}
