//! LSTM cell, gates i, f, g, o (torch order):
//! `c = f*c_prev + i*g`, `out = o*tanh(c)` (the layer projects `out` with
//! `W_hr` when `proj_size > 0`). `tanh(c)` is saved for the backward.

use super::{BackIo, Cell, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Long short-term memory cell.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lstm;

impl<T: Float> Cell<T> for Lstm {
    const GATES: usize = 4;
    const HAS_C: bool = true;
    const EXTRA: usize = 1;
    const SPLIT: bool = false;

    fn forward(&self, s: StepIo<'_, T>) {
        let h = s.h;
        for (g, &r) in s.gates.iter_mut().zip(s.rec) {
            *g += r;
        }
        for ((((row, cp), cn), o), tc) in s
            .gates
            .chunks_exact_mut(4 * h)
            .zip(s.c_prev.chunks_exact(h))
            .zip(s.c_new.chunks_exact_mut(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(h))
        {
            sigmoid_inplace(&mut row[..2 * h]);
            tanh_inplace(&mut row[2 * h..3 * h]);
            sigmoid_inplace(&mut row[3 * h..]);
            let (i, rest) = row.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (g, og) = rest.split_at(h);
            for j in 0..h {
                cn[j] = f[j] * cp[j] + i[j] * g[j];
            }
            tc.copy_from_slice(cn);
            tanh_inplace(tc);
            for j in 0..h {
                o[j] = og[j] * tc[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let h = s.h;
        for (((((row, drow), cp), tc), dm), dcr) in s
            .gates
            .chunks_exact(4 * h)
            .zip(s.dgx.chunks_exact_mut(4 * h))
            .zip(s.c_prev.chunks_exact(h))
            .zip(s.extra.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dc.chunks_exact_mut(h))
        {
            let (i, rest) = row.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (g, o) = rest.split_at(h);
            let (di, rest) = drow.split_at_mut(h);
            let (df, rest) = rest.split_at_mut(h);
            let (dg, do_) = rest.split_at_mut(h);
            for j in 0..h {
                let dct = dcr[j] + dm[j] * o[j] * (T::ONE - tc[j] * tc[j]);
                do_[j] = dm[j] * tc[j] * o[j] * (T::ONE - o[j]);
                di[j] = dct * g[j] * i[j] * (T::ONE - i[j]);
                df[j] = dct * cp[j] * f[j] * (T::ONE - f[j]);
                dg[j] = dct * i[j] * (T::ONE - g[j] * g[j]);
                dcr[j] = dct * f[j];
            }
        }
    }

    /// State (h, c): `c' = f c + i g`, `h' = o tanh(c')`; c' depends directly on c.
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let (h, one) = (r.h, T::ONE);
        let (a, sp, sn) = (r.a, r.s_prev, r.s_new);
        for (v, &w) in a.iter_mut().zip(r.b) {
            *v += w;
        }
        sigmoid_inplace(&mut a[..2 * h]);
        tanh_inplace(&mut a[2 * h..3 * h]);
        sigmoid_inplace(&mut a[3 * h..]);
        let tc = &mut r.scratch[..h];
        for k in 0..h {
            sn[h + k] = a[h + k] * sp[h + k] + a[k] * a[2 * h + k];
            tc[k] = sn[h + k];
        }
        tanh_inplace(tc);
        // alpha/beta index (c, g, k) and gamma index (c, d, k) within the row.
        let ab = |c: usize, g: usize, k: usize| (c * 4 + g) * h + k;
        let gi = |c: usize, d: usize, k: usize| (c * 2 + d) * h + k;
        for k in 0..h {
            let (ig, fg, gg, og) = (a[k], a[h + k], a[2 * h + k], a[3 * h + k]);
            let (c_old, tc) = (sp[h + k], tc[k]);
            sn[k] = og * tc;
            // dc'/dz_g for the gates i, f, g, o.
            let dc = [ig * (one - ig) * gg, fg * (one - fg) * c_old, ig * (one - gg * gg), T::ZERO];
            let dh_dc = og * (one - tc * tc);
            for (g, &dcg) in dc.iter().enumerate() {
                let dh = if g == 3 { og * (one - og) * tc } else { dh_dc * dcg };
                r.alpha[ab(0, g, k)] = dh;
                r.beta[ab(0, g, k)] = dh;
                r.alpha[ab(1, g, k)] = dcg;
                r.beta[ab(1, g, k)] = dcg;
            }
            r.gamma[gi(0, 0, k)] = T::ZERO;
            r.gamma[gi(0, 1, k)] = dh_dc * fg;
            r.gamma[gi(1, 0, k)] = T::ZERO;
            r.gamma[gi(1, 1, k)] = fg;
        }
    }
}
