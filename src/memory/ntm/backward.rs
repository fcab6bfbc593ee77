//! The NTM's BPTT: through the output, the heads of every sequence (writes,
//! reads, addressing) and the controller, step by step; the weight gradients
//! at the end, one product over all steps each.

use super::addressing::{
    add_rotated, dot, dot_rotated, head, norm, rotation, row_norms, softmax_backward, Head,
};
use super::{rows, MemoryInit, NtmParams, NtmSpec, Tape, COS_EPS, SHARPEN_EPS};
use crate::error::{try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::memory::controller::{cols, CtrlBack};
use crate::Float;
use rayon::prelude::*;

fn col_sums<T: Float>(a: &[T], cols: usize, out: &mut [T]) {
    for row in a.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// The running gradients of a backward pass (w.r.t. the state after the
/// current step, swapped to the state before it at the end of a step) and
/// the per-step ones the weight gradients read at the end.
struct Grads<T> {
    /// Per step: controller gate gradients, head-parameter gradients and the
    /// input gradient.
    dgx: Vec<T>,
    dgh: Vec<T>,
    dp: Vec<T>,
    dx: Vec<T>,
    /// Controller state, memory, weightings and reads.
    dh: Vec<T>,
    dc: Vec<T>,
    dmem: Vec<T>,
    dmem_prev: Vec<T>,
    dw: Vec<T>,
    dw_prev: Vec<T>,
    dr: Vec<T>,
    scratch: Vec<T>,
}

impl<T: Float> Grads<T> {
    fn new(spec: &NtmSpec, steps: usize, b: usize) -> Result<Self> {
        let (hid, rm, ph) = (spec.hidden(), spec.reads(), spec.head_params());
        let (hn, nm) = (spec.heads() * spec.slots, spec.cells());
        let ctrl = &spec.controller;
        let (gw, cw, dghw) = (ctrl.gate_width(), ctrl.c_width(), ctrl.dgh_width());
        Ok(Grads {
            dgx: try_zeros(steps * b * gw, "gate gradients")?,
            dgh: try_zeros(steps * b * dghw, "gate gradients")?,
            dp: try_zeros(steps * b * ph, "head gradients")?,
            dx: try_zeros(steps * b * spec.input, "dx")?,
            dh: vec![T::ZERO; b * hid],
            dc: vec![T::ZERO; b * cw],
            dmem: try_zeros(b * nm, "memory gradient")?,
            dmem_prev: try_zeros(b * nm, "memory gradient")?,
            dw: vec![T::ZERO; b * hn],
            dw_prev: vec![T::ZERO; b * hn],
            dr: vec![T::ZERO; b * rm],
            scratch: vec![T::ZERO; b * gw.max(hid)],
        })
    }
}

/// Gradients of `Σ y ∘ dy` for the run on `tape` (which must have kept every
/// step): `(dx, grads)` with `grads` in `param_shapes` order.
pub fn backward<T: Float>(
    params: &NtmParams<'_, T>,
    tape: &Tape<T>,
    dy: &[T],
) -> Result<(Vec<T>, Vec<Vec<T>>)> {
    let spec = &tape.spec;
    if !tape.keep {
        return Err(Error::value("context", "backward needs a forward run with train=True"));
    }
    let (steps, b, o) = (tape.steps, tape.batch, spec.output);
    if dy.len() != steps * b * o {
        return Err(Error::shape("dy", format!("expected {steps}x{b}x{o} values, got {}", dy.len())));
    }
    let mut g = Grads::new(spec, steps, b)?;
    crate::par::install(|| {
        for t in (0..steps).rev() {
            step_backward(params, tape, t, &dy[t * b * o..(t + 1) * b * o], &mut g);
        }
    });
    let grads = weight_grads(tape, dy, &g);
    Ok((g.dx, grads))
}

/// Step `t` backward: through the output (`dyt`), the heads of every
/// sequence, the head parameters and the controller; then the running
/// gradients move to the state before the step.
fn step_backward<T: Float>(params: &NtmParams<'_, T>, tape: &Tape<T>, t: usize, dyt: &[T], g: &mut Grads<T>) {
    let spec = &tape.spec;
    let b = tape.batch;
    let (hid, rm, i_n, o, ph) = (spec.hidden(), spec.reads(), spec.input, spec.output, spec.head_params());
    let (hn, nm) = (spec.heads() * spec.slots, spec.cells());
    let ctrl = &spec.controller;
    let (gw, ew, cw, dghw) = (ctrl.gate_width(), ctrl.extra_width(), ctrl.c_width(), ctrl.dgh_width());
    gemm(
        Parallelism::Pool,
        &mut g.dh,
        hid,
        Op::new(dyt, b, o),
        cols(params.out_weight, o, hid + rm, 0, hid),
        T::ONE,
        true,
    );
    if rm > 0 {
        gemm(
            Parallelism::Pool,
            &mut g.dr,
            rm,
            Op::new(dyt, b, o),
            cols(params.out_weight, o, hid + rm, hid, rm),
            T::ONE,
            true,
        );
    }
    let dpt = &mut g.dp[t * b * ph..(t + 1) * b * ph];
    // Every sequence on its own (in parallel, same bits for any thread count).
    let tasks: Vec<_> =
        rows(dpt, b).into_iter().zip(rows(&mut g.dmem_prev, b)).zip(rows(&mut g.dw_prev, b)).collect();
    let (dmem_t, dr_t, dw_t) = (&g.dmem, &g.dr, &g.dw);
    tasks.into_par_iter().enumerate().for_each(|(bi, ((dpr, dmp), dwp))| {
        row_backward(
            tape,
            t,
            bi,
            &dmem_t[bi * nm..(bi + 1) * nm],
            &dr_t[bi * rm..(bi + 1) * rm],
            &dw_t[bi * hn..(bi + 1) * hn],
            dpr,
            dmp,
            dwp,
        );
    });
    gemm(
        Parallelism::Pool,
        &mut g.dh,
        hid,
        Op::new(dpt, b, ph),
        Op::new(params.head_weight, ph, hid),
        T::ONE,
        true,
    );
    let at = |w: usize, s: usize| (s * b * w)..((s + 1) * b * w);
    ctrl.backward(
        &params.controller,
        CtrlBack {
            gates: &tape.gates[at(gw, t)],
            extra: &tape.extra[at(ew, t)],
            h_prev: &tape.h[at(hid, t)],
            c_prev: &tape.c[at(cw, t)],
            c_new: &tape.c[at(cw, t + 1)],
            dh: &mut g.dh,
            dc: &mut g.dc,
            dgx: &mut g.dgx[t * b * gw..(t + 1) * b * gw],
            dgh: &mut g.dgh[t * b * dghw..(t + 1) * b * dghw],
            dxt: &mut g.dx[t * b * i_n..(t + 1) * b * i_n],
            dr: &mut g.dr,
        },
        b,
        &mut g.scratch,
    );
    std::mem::swap(&mut g.dmem, &mut g.dmem_prev);
    std::mem::swap(&mut g.dw, &mut g.dw_prev);
}

/// The parameter gradients, in `param_shapes` order, from the per-step
/// gradients of a finished backward: one product over all steps and
/// sequences each.
fn weight_grads<T: Float>(tape: &Tape<T>, dy: &[T], g: &Grads<T>) -> Vec<Vec<T>> {
    let spec = &tape.spec;
    let b = tape.batch;
    let (hid, rm, o, ph, nm) = (spec.hidden(), spec.reads(), spec.output, spec.head_params(), spec.cells());
    let ctrl = &spec.controller;
    let rows = tape.steps * b;
    let shapes = spec.param_shapes();
    let mut grads: Vec<Vec<T>> = shapes.iter().map(|(_, s)| vec![T::ZERO; s.iter().product()]).collect();
    let h_prev = &tape.h[..rows * hid];
    let h_new = &tape.h[b * hid..(rows + b) * hid];
    let nc = spec.controller_params();
    crate::par::install(|| {
        ctrl.weight_grads(
            rows,
            &tape.x,
            &tape.r[..rows * rm],
            h_prev,
            &tape.gates,
            &g.dgx,
            &g.dgh,
            &mut grads[..nc],
        );
        gemm(
            Parallelism::Pool,
            &mut grads[nc],
            hid,
            Op::new(&g.dp, rows, ph).t(),
            Op::new(h_new, rows, hid),
            T::ONE,
            false,
        );
        let dyo = Op::new(dy, rows, o).t();
        gemm(Parallelism::Pool, &mut grads[nc + 2], hid + rm, dyo, Op::new(h_new, rows, hid), T::ONE, false);
        if rm > 0 {
            let r_new = &tape.r[b * rm..(rows + b) * rm];
            gemm(
                Parallelism::Pool,
                &mut grads[nc + 2][hid..],
                hid + rm,
                dyo,
                Op::new(r_new, rows, rm),
                T::ONE,
                false,
            );
        }
    });
    col_sums(&g.dp, ph, &mut grads[nc + 1]);
    col_sums(dy, o, &mut grads[nc + 3]);
    if rm > 0 {
        col_sums(&g.dr, rm, &mut grads[nc + 4]);
    }
    if spec.memory_init == MemoryInit::Learned {
        col_sums(&g.dmem, nm, &mut grads[nc + 5]);
    }
    grads
}

/// Backward through the heads of one sequence at step `t`: from the
/// gradients w.r.t. `M_t` (`dmem`), `r_t` (`dr`) and the weightings `w_t`
/// (`dw`, from step t+1's interpolation) to the head parameters (`dp`),
/// `M_{t-1}` (`dmem_prev`) and `w_{t-1}` (`dw_prev`): the writes, then the
/// reads, then the addressing of each head (the order of the sums into
/// `dmem_prev` and the weighting gradients).
#[allow(clippy::too_many_arguments)]
fn row_backward<T: Float>(
    tape: &Tape<T>,
    t: usize,
    bi: usize,
    dmem: &[T],
    dr: &[T],
    dw: &[T],
    dp: &mut [T],
    dmem_prev: &mut [T],
    dw_prev: &mut [T],
) {
    let spec = &tape.spec;
    let b = tape.batch;
    let (n, m, nh) = (spec.slots, spec.width, spec.heads());
    let (hn, nm, ph) = (nh * n, spec.cells(), spec.head_params());
    // This sequence's block of `len` values at time index `idx`.
    let row = |idx: usize, len: usize| (idx * b + bi) * len..(idx * b + bi + 1) * len;
    let p = &tape.p[row(t, ph)];
    let mp = &tape.mem[row(t, nm)];
    let w_all = &tape.w[row(t + 1, hn)];
    let heads: Vec<Head<'_, T>> = (0..nh).map(|h| head(spec, p, h)).collect();
    // The gradient w.r.t. every head's weighting `w_t`, gathered from all uses.
    let mut dwh = dw.to_vec();
    dmem_prev.fill(T::ZERO);
    dp.fill(T::ZERO);
    let mut de = vec![T::ZERO; spec.write_heads * m];
    let mut da = vec![T::ZERO; spec.write_heads * m];
    write_backward(spec, &heads, w_all, mp, dmem, dmem_prev, &mut dwh, &mut de, &mut da);
    read_backward(spec, w_all, mp, dr, dmem_prev, &mut dwh);
    let kept = Addressed {
        w_prev: &tape.w[row(t, hn)],
        w: w_all,
        cos: &tape.cos[row(t, hn)],
        wc: &tape.wc[row(t, hn)],
        wg: &tape.wg[row(t, hn)],
        wt: &tape.wt[row(t, hn)],
    };
    address_backward(spec, &heads, p, mp, &kept, &dwh, &de, &da, dp, dmem_prev, dw_prev);
}

/// Writes: `M_t = M_{t-1} ∘ E + Σ w aᵀ`, `E = Π_h (1 - w_h e_hᵀ)`. Sets
/// `dmem_prev` to the memory's gradient through them and adds the write
/// weightings' (`dwh`), erase (`de`) and add (`da`) vectors' gradients.
#[allow(clippy::too_many_arguments)]
fn write_backward<T: Float>(
    spec: &NtmSpec,
    heads: &[Head<'_, T>],
    w_all: &[T],
    mp: &[T],
    dmem: &[T],
    dmem_prev: &mut [T],
    dwh: &mut [T],
    de: &mut [T],
    da: &mut [T],
) {
    let (n, m, nh, r_h) = (spec.slots, spec.width, spec.heads(), spec.read_heads);
    let wof = |h: usize| &w_all[h * n..(h + 1) * n];
    let writes = r_h..nh;
    if writes.is_empty() {
        dmem_prev.copy_from_slice(dmem);
        return;
    }
    // Per slot i, over the row j: E = Π_h (1 - w_h[i] e_h), the product
    // without head h (`others`), and g ∘ M_{t-1} (`g_m`).
    let (mut e_full, mut others, mut g_m, mut g_mo) =
        (vec![T::ZERO; m], vec![T::ZERO; m], vec![T::ZERO; m], vec![T::ZERO; m]);
    let erase_into = |acc: &mut [T], i: usize, skip: Option<usize>| {
        acc.fill(T::ONE);
        for q in writes.clone().filter(|&q| Some(q) != skip) {
            let wq = wof(q)[i];
            for (a, &e) in acc.iter_mut().zip(&heads[q].erase) {
                *a *= T::ONE - wq * e;
            }
        }
    };
    for i in 0..n {
        let g = &dmem[i * m..(i + 1) * m];
        let mrow = &mp[i * m..(i + 1) * m];
        erase_into(&mut e_full, i, None);
        for j in 0..m {
            dmem_prev[i * m + j] += g[j] * e_full[j];
            g_m[j] = g[j] * mrow[j];
        }
        for h in writes.clone() {
            let k = h - r_h;
            let wi = wof(h)[i];
            erase_into(&mut others, i, Some(h));
            for j in 0..m {
                g_mo[j] = g_m[j] * others[j];
            }
            dwh[h * n + i] += dot(g, &heads[h].add) - dot(&g_mo, &heads[h].erase);
            for j in 0..m {
                de[k * m + j] -= g_mo[j] * wi;
                da[k * m + j] += g[j] * wi;
            }
        }
    }
}

/// Reads: `r_h = w_hᵀ M_{t-1}`; adds the memory's and the read weightings'
/// gradients.
fn read_backward<T: Float>(
    spec: &NtmSpec,
    w_all: &[T],
    mp: &[T],
    dr: &[T],
    dmem_prev: &mut [T],
    dwh: &mut [T],
) {
    let (n, m) = (spec.slots, spec.width);
    for h in 0..spec.read_heads {
        let drh = &dr[h * m..(h + 1) * m];
        for i in 0..n {
            let mrow = &mp[i * m..(i + 1) * m];
            dwh[h * n + i] += dot(mrow, drh);
            let wi = w_all[h * n + i];
            for (d, &c) in dmem_prev[i * m..(i + 1) * m].iter_mut().zip(drh) {
                *d += wi * c;
            }
        }
    }
}

/// What the forward kept of one sequence's addressing at one step (every
/// head's N values each): the previous and new weightings, the cosine
/// similarities and the content, gated and shifted weightings.
struct Addressed<'a, T> {
    w_prev: &'a [T],
    w: &'a [T],
    cos: &'a [T],
    wc: &'a [T],
    wg: &'a [T],
    wt: &'a [T],
}

/// The addressing backward, head by head: from the weightings' gradients
/// `dwh` (and the write vectors' `de`, `da`) to the head parameters (`dp`),
/// the memory (`dmem_prev`, through the content similarity) and the
/// previous weightings (`dw_prev`, through the interpolation).
#[allow(clippy::too_many_arguments)]
fn address_backward<T: Float>(
    spec: &NtmSpec,
    heads: &[Head<'_, T>],
    p: &[T],
    mp: &[T],
    kept: &Addressed<'_, T>,
    dwh: &[T],
    de: &[T],
    da: &[T],
    dp: &mut [T],
    dmem_prev: &mut [T],
    dw_prev: &mut [T],
) {
    let (n, m, r_h, s_n) = (spec.slots, spec.width, spec.read_heads, spec.shifts());
    let se = T::from_f64(SHARPEN_EPS);
    let mut dz = vec![T::ZERO; n];
    let mut dwt = vec![T::ZERO; n];
    let mut dwg = vec![T::ZERO; n];
    let mut ds = vec![T::ZERO; s_n];
    let mut dsh = vec![T::ZERO; s_n];
    let mut mnorms = vec![T::ZERO; n];
    row_norms(mp, m, &mut mnorms);
    for (h, hd) in heads.iter().enumerate() {
        let hr = h * n..(h + 1) * n;
        let (w, wt, wg, wc, k_cos) = (
            &kept.w[hr.clone()],
            &kept.wt[hr.clone()],
            &kept.wg[hr.clone()],
            &kept.wc[hr.clone()],
            &kept.cos[hr.clone()],
        );
        let off = spec.head_offset(h);
        let q = &p[off..];
        let dq = &mut dp[off..];
        // Sharpening: w = softmax(γ l), l = ln(w̃ + ε).
        softmax_backward(w, &dwh[hr.clone()], &mut dz);
        let mut dgamma = T::ZERO;
        for i in 0..n {
            let l = (wt[i] + se).ln();
            dgamma += dz[i] * l;
            dwt[i] = dz[i] * hd.gamma / (wt[i] + se);
        }
        // Shift.
        dwg.fill(T::ZERO);
        for (k, &sk) in hd.shift.iter().enumerate() {
            let rot = rotation(n, spec.shift_range, k);
            ds[k] = dot_rotated(&dwt, wg, rot);
            add_rotated(&mut dwg, &dwt, sk, (n - rot) % n);
        }
        softmax_backward(&hd.shift, &ds, &mut dsh);
        // Interpolation.
        let wp = &kept.w_prev[hr.clone()];
        let mut dgate = T::ZERO;
        for i in 0..n {
            dgate += dwg[i] * (wc[i] - wp[i]);
            dw_prev[h * n + i] = (T::ONE - hd.gate) * dwg[i];
            dwg[i] = hd.gate * dwg[i]; // now d w_c
        }
        // Content: w_c = softmax(β K).
        softmax_backward(wc, &dwg, &mut dz);
        let mut dbeta = T::ZERO;
        for i in 0..n {
            dbeta += dz[i] * k_cos[i];
        }
        content_backward(hd, mp, &mnorms, &dz, m, &mut dq[..m], dmem_prev);
        dq[m] = dbeta * q[m].sigmoid();
        dq[m + 1] = dgate * hd.gate * (T::ONE - hd.gate);
        dq[m + 2..m + 2 + s_n].copy_from_slice(&dsh);
        dq[m + 2 + s_n] = dgamma * q[m + 2 + s_n].sigmoid();
        if h >= r_h {
            let k = h - r_h;
            let e0 = m + s_n + 3;
            for j in 0..m {
                let e = hd.erase[j];
                let a = hd.add[j];
                dq[e0 + j] = de[k * m + j] * e * (T::ONE - e);
                dq[e0 + m + j] = da[k * m + j] * (T::ONE - a * a);
            }
        }
    }
}

/// Through the cosine similarity `K(k, M_i)`: from `dz` (the gradient of
/// `β K`'s softmax input) to the key (`dkey`) and the memory rows
/// (`dmem_prev`).
fn content_backward<T: Float>(
    hd: &Head<'_, T>,
    mp: &[T],
    mnorms: &[T],
    dz: &[T],
    m: usize,
    dkey: &mut [T],
    dmem_prev: &mut [T],
) {
    let ce = T::from_f64(COS_EPS);
    let knorm = norm(hd.key);
    for (i, &dzi) in dz.iter().enumerate() {
        let dk = hd.beta * dzi;
        if dk == T::ZERO {
            continue;
        }
        let mrow = &mp[i * m..(i + 1) * m];
        let mnorm = mnorms[i];
        let den = knorm * mnorm + ce;
        let num = dot(mrow, hd.key);
        let coef = num / (den * den);
        let kscale = if knorm > T::ZERO { coef * mnorm / knorm } else { T::ZERO };
        let mscale = if mnorm > T::ZERO { coef * knorm / mnorm } else { T::ZERO };
        for j in 0..m {
            dkey[j] += dk * (mrow[j] / den - kscale * hd.key[j]);
            dmem_prev[i * m + j] += dk * (hd.key[j] / den - mscale * mrow[j]);
        }
    }
}
