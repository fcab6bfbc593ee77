//! The ConvLSTM stack's backpropagation through time (see the parent
//! module for the layout): element-wise gate gradients per step, then the
//! weight gradient and the patch gradients of the step as products.

use super::{
    check_params, combined_weight, from_rows, gather, im2row, mm, peephole_rows, to_rows, ConvLstmShape,
    Gradients, LayerGrads, LayerParams, TapeRef, ROWS_PER_TASK,
};
use crate::error::{try_zeros, Error, Result};
use crate::kernels::tanh_inplace;
use crate::Float;
use rayon::prelude::*;

/// Element-wise backward pass of one step over all rows: from the gates,
/// `c_t`, `c_{t-1}`, the gradient reaching `h_t` (`dh + dy`) and `dc` (the
/// gradient reaching `c_t`; replaced by the one reaching `c_{t-1}`), writes
/// the pre-activation gradients `da (rows x 4Ch)` and adds the peephole
/// gradients (`(P, Ch)` each).
#[allow(clippy::too_many_arguments)]
fn gates_backward<T: Float>(
    s: &ConvLstmShape,
    gates: &[T],
    c: &[T],
    c_prev: &[T],
    dh: &[T],
    dy: &[T],
    dc: &mut [T],
    da: &mut [T],
    peep: Option<&[Vec<T>; 3]>,
    peep_grad: &mut [Vec<T>; 3],
) {
    let (ch, b_n) = (s.hidden, s.batch);
    // A task owns whole pixels (all their images), so it owns their peephole
    // gradients (`(P, Ch)`, allocated even without peepholes, then unused).
    let px = ROWS_PER_TASK.div_ceil(b_n);
    let rows = px * b_n;
    let [gi, gf, go] = peep_grad;
    da.par_chunks_mut(rows * 4 * ch)
        .zip(dc.par_chunks_mut(rows * ch))
        .zip(gi.par_chunks_mut(px * ch).zip(gf.par_chunks_mut(px * ch)).zip(go.par_chunks_mut(px * ch)))
        .enumerate()
        .for_each(|(task, ((da, dc), ((gi, gf), go)))| {
            for (r, (da, dc)) in da.chunks_exact_mut(4 * ch).zip(dc.chunks_exact_mut(ch)).enumerate() {
                let row = task * rows + r;
                let at = row * ch..(row + 1) * ch;
                let (ct, cp, dh, dy) = (&c[at.clone()], &c_prev[at.clone()], &dh[at.clone()], &dy[at]);
                let g = &gates[row * 4 * ch..][..4 * ch];
                let (q, lq) = ((row / b_n) * ch, (r / b_n) * ch);
                // tanh(c_t) in the dai slot until dai is written.
                da[..ch].copy_from_slice(ct);
                tanh_inplace(&mut da[..ch]);
                for k in 0..ch {
                    let (i, f, gg, o) = (g[k], g[ch + k], g[2 * ch + k], g[3 * ch + k]);
                    let tck = da[k];
                    let dhk = dh[k] + dy[k];
                    let dao = dhk * tck * o * (T::ONE - o);
                    let mut dck = dc[k] + dhk * o * (T::ONE - tck * tck);
                    if let Some(w) = peep {
                        dck += dao * w[2][q + k];
                        go[lq + k] += dao * ct[k];
                    }
                    let dai = dck * gg * i * (T::ONE - i);
                    let daf = dck * cp[k] * f * (T::ONE - f);
                    let dag = dck * i * (T::ONE - gg * gg);
                    let mut dcp = dck * f;
                    if let Some(w) = peep {
                        dcp += dai * w[0][q + k] + daf * w[1][q + k];
                        gi[lq + k] += dai * cp[k];
                        gf[lq + k] += daf * cp[k];
                    }
                    da[k] = dai;
                    da[ch + k] = daf;
                    da[2 * ch + k] = dag;
                    da[3 * ch + k] = dao;
                    dc[k] = dcp;
                }
            }
        });
}

/// Backward pass of the stack: the gradients of
/// `sum(dy * y) + sum(dh_n * h_n) + sum(dc_n * c_n)` (`dh_n`, `dc_n` empty for
/// zero) from the tape of `forward(.., train = true)`; `dx` only when
/// `input_grad`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
    s: &ConvLstmShape,
    params: &[LayerParams<'_, T>],
    tape: &TapeRef<'_, T>,
    dy: &[T],
    dh_n: &[T],
    dc_n: &[T],
    input_grad: bool,
) -> Result<Gradients<T>> {
    check_params(s, params)?;
    check_backward(s, tape, dy, dh_n, dc_n)?;
    let (t_n, b_n, ch, np, rows) = (s.steps, s.batch, s.hidden, s.pixels(), s.rows());
    let step = rows * ch;
    let mut d_out = try_zeros(dy.len(), "grad_output")?;
    to_rows(dy, &mut d_out, t_n, b_n, ch, np);
    let (mut dh0r, mut dc0r) = (try_zeros(s.state_len(), "dh0")?, try_zeros(s.state_len(), "dc0")?);
    let mut dhn_r = try_zeros(if dh_n.is_empty() { 0 } else { s.state_len() }, "dh_n")?;
    let mut dcn_r = try_zeros(if dc_n.is_empty() { 0 } else { s.state_len() }, "dc_n")?;
    to_rows(dh_n, &mut dhn_r, s.layers, b_n, ch, np);
    to_rows(dc_n, &mut dcn_r, s.layers, b_n, ch, np);
    let k_max = s.k_len(0).max(s.k_len(1));
    let mut sc = Scratch {
        patches: try_zeros(rows * k_max, "im2row")?,
        dcols: try_zeros(rows * k_max, "im2row gradient")?,
        da: try_zeros(4 * step, "gate gradients")?,
        zeros: try_zeros(step, "c0")?,
    };
    let mut layers = Vec::with_capacity(s.layers);
    let mut dx = Vec::new();
    for l in (0..s.layers).rev() {
        let dh = if dhn_r.is_empty() { try_zeros(step, "dh")? } else { dhn_r[l * step..][..step].to_vec() };
        let dc = if dcn_r.is_empty() { try_zeros(step, "dc")? } else { dcn_r[l * step..][..step].to_vec() };
        let need_dx = l > 0 || input_grad;
        let (grads, d_in, dh, dc) = layer_backward(s, l, &params[l], tape, &d_out, dh, dc, need_dx, &mut sc)?;
        dh0r[l * step..][..step].copy_from_slice(&dh);
        dc0r[l * step..][..step].copy_from_slice(&dc);
        layers.push(grads);
        if l > 0 {
            d_out = d_in;
        } else {
            dx = d_in;
        }
    }
    layers.reverse();
    let mut dx_ext = try_zeros(if input_grad { s.seq_len(s.in_channels) } else { 0 }, "dx")?;
    from_rows(&dx, &mut dx_ext, t_n, b_n, s.in_channels, np);
    let (mut dh0, mut dc0) = (try_zeros(s.state_len(), "dh0")?, try_zeros(s.state_len(), "dc0")?);
    from_rows(&dh0r, &mut dh0, s.layers, b_n, ch, np);
    from_rows(&dc0r, &mut dc0, s.layers, b_n, ch, np);
    Ok(Gradients { layers, dx: dx_ext, dh0, dc0 })
}

/// The tape's and the output gradients' sizes against the shape.
fn check_backward<T>(
    s: &ConvLstmShape,
    tape: &TapeRef<'_, T>,
    dy: &[T],
    dh_n: &[T],
    dc_n: &[T],
) -> Result<()> {
    let (t_n, ch) = (s.steps, s.hidden);
    let step = s.rows() * ch;
    let with_state = !tape.h0.is_empty();
    let tape_ok = tape.x.len() == s.seq_len(s.in_channels)
        && [tape.h.len(), tape.c.len(), tape.gates.len()] == [s.layers; 3]
        && tape.h.iter().chain(tape.c).all(|v| v.len() == t_n * step)
        && tape.gates.iter().all(|v| v.len() == 4 * t_n * step)
        && (!with_state || (tape.h0.len() == s.state_len() && tape.c0.len() == s.state_len()));
    if !tape_ok {
        return Err(Error::shape("tape", "does not match the sizes (run forward with train=True first)"));
    }
    if dy.len() != s.seq_len(ch) {
        return Err(Error::shape(
            "grad_output",
            format!("expected {} elements, got {}", s.seq_len(ch), dy.len()),
        ));
    }
    for (name, v) in [("dh_n", dh_n), ("dc_n", dc_n)] {
        if !v.is_empty() && v.len() != s.state_len() {
            return Err(Error::shape(name, format!("expected {} elements, got {}", s.state_len(), v.len())));
        }
    }
    Ok(())
}

/// Buffers every layer's backward reuses: the patches of a step and their
/// gradients, the gate gradients, and zeros for a missing `c0`.
struct Scratch<T> {
    patches: Vec<T>,
    dcols: Vec<T>,
    da: Vec<T>,
    zeros: Vec<T>,
}

/// One layer back through all its steps, from the gradients reaching its
/// outputs (`d_out`) and final states (`dh`, `dc`): returns its parameter
/// gradients, the gradient of its input (empty unless `need_dx`) and those of
/// its initial states.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn layer_backward<T: Float>(
    s: &ConvLstmShape,
    l: usize,
    p: &LayerParams<'_, T>,
    tape: &TapeRef<'_, T>,
    d_out: &[T],
    mut dh: Vec<T>,
    mut dc: Vec<T>,
    need_dx: bool,
    sc: &mut Scratch<T>,
) -> Result<(LayerGrads<T>, Vec<T>, Vec<T>, Vec<T>)> {
    let (t_n, ch, np, rows) = (s.steps, s.hidden, s.pixels(), s.rows());
    let step = rows * ch;
    let with_state = !tape.h0.is_empty();
    let (k, kx, cin) = (s.k_len(l), s.kx(l), s.cin(l));
    let w = combined_weight(s, l, p)?;
    let peep_w = s.peephole.then(|| p.peephole.map(|w| peephole_rows(s, w)));
    let mut peep_g: [Vec<T>; 3] =
        [try_zeros(np * ch, "peephole")?, try_zeros(np * ch, "peephole")?, try_zeros(np * ch, "peephole")?];
    // dW (4Ch x K): dA^T patches summed over the steps.
    let mut dw = try_zeros(4 * ch * k, "weight gradient")?;
    let mut d_in = try_zeros(if need_dx { t_n * rows * cin } else { 0 }, "input gradient")?;
    let (hs, cs, gs) = (tape.h[l], tape.c[l], tape.gates[l]);
    let layer_in: &[T] = if l == 0 { tape.x } else { tape.h[l - 1] };
    let (h_init, c_init) = if with_state {
        (Some(&tape.h0[l * step..][..step]), &tape.c0[l * step..][..step])
    } else {
        (None, &sc.zeros[..])
    };
    let da = &mut sc.da;
    for t in (0..t_n).rev() {
        crate::interrupt::check()?;
        let c_prev = if t == 0 { c_init } else { &cs[(t - 1) * step..][..step] };
        let h_prev = if t == 0 { h_init } else { Some(&hs[(t - 1) * step..][..step]) };
        gates_backward(
            s,
            &gs[t * 4 * step..][..4 * step],
            &cs[t * step..][..step],
            c_prev,
            &dh,
            &d_out[t * step..][..step],
            &mut dc,
            da,
            peep_w.as_ref(),
            &mut peep_g,
        );
        let patches = &mut sc.patches[..rows * k];
        im2row(s, l, &layer_in[t * rows * cin..][..rows * cin], h_prev, patches);
        let kk = if h_prev.is_some() { k } else { kx };
        mm(&mut dw, k, (da, rows, 4 * ch, 4 * ch, true), (patches, rows, kk, k, false), true);
        // Patch gradients dA W over the columns still needed.
        let c0 = if need_dx { 0 } else { kx };
        let c1 = if h_prev.is_some() { k } else { kx - 1 };
        if c1 > c0 {
            let dcols = &mut sc.dcols[..rows * k];
            mm(
                &mut dcols[c0..],
                k,
                (da, rows, 4 * ch, 4 * ch, false),
                (&w[c0..], 4 * ch, c1 - c0, k, false),
                false,
            );
            if need_dx {
                gather(s, dcols, k, 0, cin, &mut d_in[t * rows * cin..][..rows * cin]);
            }
            if h_prev.is_some() {
                gather(s, dcols, k, kx, ch, &mut dh);
            } else {
                dh.fill(T::ZERO);
            }
        } else {
            dh.fill(T::ZERO);
        }
    }
    if !s.peephole {
        peep_g = [Vec::new(), Vec::new(), Vec::new()];
    }
    Ok((split_weight_grad(s, l, &dw, peep_g)?, d_in, dh, dc))
}

/// `dW (4Ch x K)` and the peephole gradients `(P, Ch)` back into the
/// parameters' layouts.
fn split_weight_grad<T: Float>(
    s: &ConvLstmShape,
    layer: usize,
    dw: &[T],
    peep: [Vec<T>; 3],
) -> Result<LayerGrads<T>> {
    let (g, cin, ch, kx, taps, np) =
        (4 * s.hidden, s.cin(layer), s.hidden, s.kx(layer), s.taps(), s.pixels());
    let k = s.k_len(layer);
    let mut w_ih = try_zeros(g * cin * taps, "weight_ih gradient")?;
    let mut w_hh = try_zeros(g * ch * taps, "weight_hh gradient")?;
    for o in 0..g {
        for tap in 0..taps {
            for c in 0..cin {
                w_ih[(o * cin + c) * taps + tap] = dw[o * k + tap * cin + c];
            }
            for c in 0..ch {
                w_hh[(o * ch + c) * taps + tap] = dw[o * k + kx + tap * ch + c];
            }
        }
    }
    let bias = (0..g).map(|o| dw[o * k + kx - 1]).collect();
    let peephole = peep.map(|v| {
        let mut out = vec![T::ZERO; v.len()];
        for q in 0..np.min(v.len()) {
            for c in 0..ch {
                out[c * np + q] = v[q * ch + c];
            }
        }
        out
    });
    Ok(LayerGrads { w_ih, w_hh, bias, peephole })
}
