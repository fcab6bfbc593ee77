//! The deep-transition / deep-output RNN (Pascanu et al. 2014; forward and
//! BPTT in `crate::layer::deep_transition`) as a `DenseCell`.
//!
//! ```text
//! z_1 = tanh(W_ih x + b_ih + b_hh + W_hh h),  z_l = tanh(W_tr{l} z_{l-1} + b_tr{l} (+ W_sh h, l = L))
//! h'  = z_L,  o_0 = h',  o_k = tanh(W_out{k} o_{k-1} + b_out{k}),  y = o_K
//! ```
//!
//! The loss sees y, which is not recurrent: the state is `[y, h]` when there
//! is an output MLP (K > 0; J has zero columns for y) and `h` otherwise.
//! Pre-activation rows: the L transition layers, then the K output layers
//! (H each). With `Dh_l = ∂h'/∂pre_l` (back through the transition layers)
//! and `Dy_k = ∂y/∂pre_out_k`, `∂y/∂pre_l = Dy_1 W_out1 Dh_l`, and
//! `J = ∂s'/∂h = Dh_1 W_hh (+ Dh_L W_sh)` (times `Dy_1 W_out1` for y).
//!
//! SnAp-1 keeps a parameter row n of any layer on unit n (`h_n`, and `y_n`
//! with an output MLP).

use super::dense::{Block, DenseCell, DenseLayout, DenseStep};
use crate::{Error, Float, Result};

#[derive(Clone, Debug)]
pub struct DeepTransitionCell {
    layout: DenseLayout,
    hidden: usize,
    depth: usize,
    out_depth: usize,
    shortcut: bool,
    /// Offsets of each transition layer's (weight, bias) for l = 2..L, of W_sh, of each output layer's (weight, bias).
    tr: Vec<(usize, Option<usize>)>,
    sh: Option<usize>,
    out: Vec<(usize, Option<usize>)>,
    bias: Option<(usize, usize)>,
}

impl DeepTransitionCell {
    pub fn new(
        input: usize,
        hidden: usize,
        depth: usize,
        out_depth: usize,
        shortcut: bool,
        bias: bool,
    ) -> Result<Self> {
        super::check_positive("input_size", input, "size")?;
        super::check_positive("hidden_size", hidden, "size")?;
        if depth == 0 {
            return Err(Error::value("transition_depth", "expected at least 1"));
        }
        if shortcut && depth < 2 {
            return Err(Error::value("shortcut", "needs transition_depth >= 2"));
        }
        let (i, h) = (input, hidden);
        let one = i + h;
        let z_in = |l: usize| i + h + 1 + (l - 1) * h; // input offset of z_l (1-based)
        let o_in = |k: usize| i + h + 1 + depth * h + (k - 1) * h; // of o_k
        let mut blocks = vec![
            Block { offset: 0, rows: h, cols: i, row0: 0, input: 0 },
            Block { offset: h * i, rows: h, cols: h, row0: 0, input: i },
        ];
        let mut at = h * (i + h);
        let mut bias_at = None;
        if bias {
            blocks.push(Block { offset: at, rows: h, cols: 1, row0: 0, input: one });
            blocks.push(Block { offset: at + h, rows: h, cols: 1, row0: 0, input: one });
            bias_at = Some((at, at + h));
            at += 2 * h;
        }
        let mut tr = Vec::new();
        for l in 2..=depth {
            let row0 = (l - 1) * h;
            blocks.push(Block { offset: at, rows: h, cols: h, row0, input: z_in(l - 1) });
            let w = at;
            at += h * h;
            let b = bias.then(|| {
                blocks.push(Block { offset: at, rows: h, cols: 1, row0, input: one });
                at += h;
                at - h
            });
            tr.push((w, b));
        }
        let sh = shortcut.then(|| {
            blocks.push(Block { offset: at, rows: h, cols: h, row0: (depth - 1) * h, input: i });
            at += h * h;
            at - h * h
        });
        let mut out = Vec::new();
        for k in 1..=out_depth {
            let row0 = (depth + k - 1) * h;
            let inp = if k == 1 { z_in(depth) } else { o_in(k - 1) };
            blocks.push(Block { offset: at, rows: h, cols: h, row0, input: inp });
            let w = at;
            at += h * h;
            let b = bias.then(|| {
                blocks.push(Block { offset: at, rows: h, cols: 1, row0, input: one });
                at += h;
                at - h
            });
            out.push((w, b));
        }
        let rows = (depth + out_depth) * h;
        let with_y = out_depth > 0;
        let layout = DenseLayout {
            input,
            state: if with_y { 2 * h } else { h },
            output: h,
            rows,
            inputs: i + h + 1 + (depth + out_depth) * h,
            blocks,
            owners: (0..rows).map(|r| if with_y { vec![r % h, h + r % h] } else { vec![r % h] }).collect(),
        };
        layout.validate()?;
        Ok(DeepTransitionCell { layout, hidden, depth, out_depth, shortcut, tr, sh, out, bias: bias_at })
    }
}

/// `dst (H x H) = a (H x H) · w (H x H, row-major) · diag(d)`.
fn mul_diag<T: Float>(a: &[T], w: &[T], d: &[T], h: usize, dst: &mut [T]) {
    for m in 0..h {
        let row = &mut dst[m * h..(m + 1) * h];
        row.fill(T::ZERO);
        for q in 0..h {
            let c = a[m * h + q];
            for (v, &wv) in row.iter_mut().zip(&w[q * h..(q + 1) * h]) {
                *v += c * wv;
            }
        }
        for (v, &dv) in row.iter_mut().zip(d) {
            *v *= dv;
        }
    }
}

impl<T: Float> DenseCell<T> for DeepTransitionCell {
    fn layout(&self) -> &DenseLayout {
        &self.layout
    }

    fn step(&self, params: &[T], s: DenseStep<'_, T>) {
        let (i, h, r, st) = (self.layout.input, self.hidden, self.layout.rows, self.layout.state);
        let (ll, kk) = (self.depth, self.out_depth);
        let one = T::ONE;
        let hoff = if kk > 0 { h } else { 0 };
        let hp = &s.s_prev[hoff..hoff + h];
        let (u, acts) = s.inputs.split_at_mut(i + h + 1);
        u[..i].copy_from_slice(s.x);
        u[i..i + h].copy_from_slice(hp);
        u[i + h] = one;
        let matvec = |w: &[T], v: &[T], k: usize| {
            w[k * v.len()..(k + 1) * v.len()].iter().zip(v).fold(T::ZERO, |a, (&p, &q)| a + p * q)
        };
        let w_ih = &params[..h * i];
        let w_hh = &params[h * i..h * (i + h)];
        // Forward: acts = [z_1 .. z_L, o_1 .. o_K].
        for k in 0..h {
            let mut pre = matvec(w_ih, s.x, k) + matvec(w_hh, hp, k);
            if let Some((bi, bh)) = self.bias {
                pre += params[bi + k] + params[bh + k];
            }
            acts[k] = pre.tanh();
        }
        for l in 2..=ll {
            let (w, b) = self.tr[l - 2];
            let (prev, cur) = acts.split_at_mut((l - 1) * h);
            let zp = &prev[(l - 2) * h..];
            for k in 0..h {
                let mut pre = matvec(&params[w..w + h * h], zp, k);
                if let Some(b) = b {
                    pre += params[b + k];
                }
                if l == ll {
                    if let Some(sh) = self.sh {
                        pre += matvec(&params[sh..sh + h * h], hp, k);
                    }
                }
                cur[k] = pre.tanh();
            }
        }
        for kq in 1..=kk {
            let (w, b) = self.out[kq - 1];
            let (prev, cur) = acts.split_at_mut((ll + kq - 1) * h);
            let op = &prev[(ll + kq - 2) * h..];
            for k in 0..h {
                let mut pre = matvec(&params[w..w + h * h], op, k);
                if let Some(b) = b {
                    pre += params[b + k];
                }
                cur[k] = pre.tanh();
            }
        }
        let z = |l: usize| &acts[(l - 1) * h..l * h];
        let deriv = |v: &[T]| v.iter().map(|&a| one - a * a).collect::<Vec<T>>();
        s.s_new[hoff..hoff + h].copy_from_slice(z(ll));
        if kk > 0 {
            s.s_new[..h].copy_from_slice(z(ll + kk));
        }
        // Dh_l, from the last layer back.
        let mut dh = vec![vec![T::ZERO; h * h]; ll];
        for (k, &d) in deriv(z(ll)).iter().enumerate() {
            dh[ll - 1][k * h + k] = d;
        }
        for l in (1..ll).rev() {
            let (w, _) = self.tr[l - 1]; // W_tr{l+1}
            let (lo, hi) = dh.split_at_mut(l);
            mul_diag(&hi[0], &params[w..w + h * h], &deriv(z(l)), h, &mut lo[l - 1]);
        }
        // Dy_k and Yh = ∂y/∂h'.
        let mut dy = vec![vec![T::ZERO; h * h]; kk];
        let mut yh = vec![T::ZERO; h * h];
        if kk > 0 {
            for (k, &d) in deriv(z(ll + kk)).iter().enumerate() {
                dy[kk - 1][k * h + k] = d;
            }
            for kq in (1..kk).rev() {
                let (w, _) = self.out[kq]; // W_out{kq+1}
                let (lo, hi) = dy.split_at_mut(kq);
                mul_diag(&hi[0], &params[w..w + h * h], &deriv(z(ll + kq)), h, &mut lo[kq - 1]);
            }
            let (w, _) = self.out[0];
            mul_diag(&dy[0], &params[w..w + h * h], &vec![one; h], h, &mut yh);
        }
        let mut tmp = vec![T::ZERO; h * h];
        for l in 1..=ll {
            for m in 0..h {
                for n in 0..h {
                    s.coef[(hoff + m) * r + (l - 1) * h + n] = dh[l - 1][m * h + n];
                }
            }
            if kk > 0 {
                mul_diag(&yh, &dh[l - 1], &vec![one; h], h, &mut tmp);
                for m in 0..h {
                    s.coef[m * r + (l - 1) * h..m * r + l * h].copy_from_slice(&tmp[m * h..(m + 1) * h]);
                }
            }
        }
        for kq in 1..=kk {
            for m in 0..h {
                s.coef[m * r + (ll + kq - 1) * h..m * r + (ll + kq) * h]
                    .copy_from_slice(&dy[kq - 1][m * h..(m + 1) * h]);
            }
        }
        // J on h_prev: Dh_1 W_hh (+ Dh_L W_sh), then Yh times it for y.
        let mut jh = vec![T::ZERO; h * h];
        mul_diag(&dh[0], w_hh, &vec![one; h], h, &mut jh);
        if let Some(sh) = self.sh {
            mul_diag(&dh[ll - 1], &params[sh..sh + h * h], &vec![one; h], h, &mut tmp);
            for (a, &b) in jh.iter_mut().zip(&tmp) {
                *a += b;
            }
        }
        for m in 0..h {
            s.jac[(hoff + m) * st + hoff..(hoff + m) * st + hoff + h]
                .copy_from_slice(&jh[m * h..(m + 1) * h]);
        }
        if kk > 0 {
            mul_diag(&yh, &jh, &vec![one; h], h, &mut tmp);
            for m in 0..h {
                s.jac[m * st + hoff..m * st + hoff + h].copy_from_slice(&tmp[m * h..(m + 1) * h]);
            }
        }
        let _ = self.shortcut;
    }
}

#[cfg(test)]
mod tests {
    use super::super::dense::tests::{check_gradient, check_partials};
    use super::*;

    #[test]
    fn deep_transition_partials_and_gradient() {
        for (depth, out, shortcut, bias) in
            [(1, 0, false, true), (2, 0, true, true), (3, 2, false, false), (2, 1, true, true)]
        {
            let cell = DeepTransitionCell::new(2, 3, depth, out, shortcut, bias).unwrap();
            let lay = DenseCell::<f64>::layout(&cell).clone();
            let p: Vec<f64> = (0..lay.n_params()).map(|q| ((q as f64 + 0.1) * 1.91).sin() * 0.7).collect();
            let s0: Vec<f64> = (0..lay.state).map(|q| ((q as f64) * 0.77).cos() * 0.5).collect();
            check_partials(&cell, &p, &[0.4, -0.9], &s0, 0, 1e-7);
            check_gradient(&cell, &p, 11);
        }
    }
}
