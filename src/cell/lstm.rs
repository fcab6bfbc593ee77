//! LSTM cell and two of its variants (Greff et al. 2017, "LSTM: A Search
//! Space Odyssey"), gate blocks in torch's order:
//!
//! - `Lstm<FULL>` (torch's LSTM), gates i, f, g, o: `c = f*c_prev + i*g`;
//! - `Lstm<NO_FORGET>` (the original LSTM of Hochreiter & Schmidhuber 1997),
//!   gates i, g, o: `c = c_prev + i*g`;
//! - `Lstm<COUPLED>` (CIFG: coupled input and forget gate), gates i, g, o:
//!   `c = (1-i)*c_prev + i*g`;
//!
//! and in all `out = o*tanh(c)` (the layer projects `out` with `W_hr` when
//! `proj_size > 0`); i, f, o are sigmoids, g a tanh. `tanh(c)` is saved for
//! the backward. The variants without f have no forget-gate rows (3H rows).

use super::{BackIo, Cell, RtrlRow, StepIo};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::Float;

/// Forget-gate handling of `Lstm` (a const parameter).
pub const FULL: u8 = 0;
pub const NO_FORGET: u8 = 1;
pub const COUPLED: u8 = 2;

/// Long short-term memory cell; `F` is `FULL`, `NO_FORGET` or `COUPLED`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lstm<const F: u8>;

impl<const F: u8> Lstm<F> {
    /// Gate blocks: i, f, g, o (full) or i, g, o.
    const G: usize = if F == FULL { 4 } else { 3 };
    /// Block index of g (o follows it).
    const GG: usize = Self::G - 2;

    /// `c' = f c + i g` with this variant's f, for f (full only), i, g, c.
    #[inline(always)]
    fn cell_update<T: Float>(f: T, i: T, g: T, c: T) -> T {
        match F {
            FULL => f * c + i * g,
            NO_FORGET => c + i * g,
            _ => (T::ONE - i) * c + i * g,
        }
    }
}

impl<T: Float, const F: u8> Cell<T> for Lstm<F> {
    const GATES: usize = Self::G;
    const HAS_C: bool = true;
    const EXTRA: usize = 1;
    const SPLIT: bool = false;

    fn forward(&self, s: StepIo<'_, T>) {
        let (h, gn, gg) = (s.h, Self::G, Self::GG);
        for (g, &r) in s.gates.iter_mut().zip(s.rec) {
            *g += r;
        }
        for ((((row, cp), cn), o), tc) in s
            .gates
            .chunks_exact_mut(gn * h)
            .zip(s.c_prev.chunks_exact(h))
            .zip(s.c_new.chunks_exact_mut(h))
            .zip(s.out.chunks_exact_mut(h))
            .zip(s.extra.chunks_exact_mut(h))
        {
            sigmoid_inplace(&mut row[..gg * h]);
            tanh_inplace(&mut row[gg * h..(gg + 1) * h]);
            sigmoid_inplace(&mut row[(gg + 1) * h..]);
            let (i, f) = (&row[..h], &row[h..2 * h]);
            let (g, og) = (&row[gg * h..(gg + 1) * h], &row[(gg + 1) * h..]);
            for j in 0..h {
                cn[j] = Self::cell_update(f[j], i[j], g[j], cp[j]);
            }
            tc.copy_from_slice(cn);
            tanh_inplace(tc);
            for j in 0..h {
                o[j] = og[j] * tc[j];
            }
        }
    }

    fn backward(&self, s: BackIo<'_, T>) {
        let (h, gn, gg) = (s.h, Self::G, Self::GG);
        for (((((row, drow), cp), tc), dm), dcr) in s
            .gates
            .chunks_exact(gn * h)
            .zip(s.dgx.chunks_exact_mut(gn * h))
            .zip(s.c_prev.chunks_exact(h))
            .zip(s.extra.chunks_exact(h))
            .zip(s.dout.chunks_exact(h))
            .zip(s.dc.chunks_exact_mut(h))
        {
            let (i, f) = (&row[..h], &row[h..2 * h]);
            let (g, o) = (&row[gg * h..(gg + 1) * h], &row[(gg + 1) * h..]);
            let (di, rest) = drow.split_at_mut(h);
            let (df, rest) = rest.split_at_mut(if F == FULL { h } else { 0 });
            let (dg, do_) = rest.split_at_mut(h);
            for j in 0..h {
                let dct = dcr[j] + dm[j] * o[j] * (T::ONE - tc[j] * tc[j]);
                do_[j] = dm[j] * tc[j] * o[j] * (T::ONE - o[j]);
                dg[j] = dct * i[j] * (T::ONE - g[j] * g[j]);
                match F {
                    FULL => {
                        di[j] = dct * g[j] * i[j] * (T::ONE - i[j]);
                        df[j] = dct * cp[j] * f[j] * (T::ONE - f[j]);
                        dcr[j] = dct * f[j];
                    }
                    NO_FORGET => {
                        di[j] = dct * g[j] * i[j] * (T::ONE - i[j]);
                        dcr[j] = dct;
                    }
                    _ => {
                        di[j] = dct * (g[j] - cp[j]) * i[j] * (T::ONE - i[j]);
                        dcr[j] = dct * (T::ONE - i[j]);
                    }
                }
            }
        }
    }

    /// State (h, c): `c' = f c + i g` (this variant's f), `h' = o tanh(c')`;
    /// c' depends directly on c (through f).
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        let (h, one, gn, gg) = (r.h, T::ONE, Self::G, Self::GG);
        let (a, sp, sn) = (r.a, r.s_prev, r.s_new);
        for (v, &w) in a.iter_mut().zip(r.b) {
            *v += w;
        }
        sigmoid_inplace(&mut a[..gg * h]);
        tanh_inplace(&mut a[gg * h..(gg + 1) * h]);
        sigmoid_inplace(&mut a[(gg + 1) * h..]);
        let tc = &mut r.scratch[..h];
        for k in 0..h {
            sn[h + k] = Self::cell_update(a[h + k], a[k], a[gg * h + k], sp[h + k]);
            tc[k] = sn[h + k];
        }
        tanh_inplace(tc);
        // alpha/beta index (c, g, k) and gamma index (c, d, k) within the row.
        let ab = |c: usize, g: usize, k: usize| (c * gn + g) * h + k;
        let gi = |c: usize, d: usize, k: usize| (c * 2 + d) * h + k;
        for k in 0..h {
            let (ig, gv, og) = (a[k], a[gg * h + k], a[(gg + 1) * h + k]);
            let (c_old, tc) = (sp[h + k], tc[k]);
            sn[k] = og * tc;
            let dh_dc = og * (one - tc * tc);
            // dc'/dz for each gate block, and dc'/dc.
            let (dc_i, dc_f, dc_c) = match F {
                FULL => {
                    let fg = a[h + k];
                    (ig * (one - ig) * gv, fg * (one - fg) * c_old, fg)
                }
                NO_FORGET => (ig * (one - ig) * gv, T::ZERO, one),
                _ => (ig * (one - ig) * (gv - c_old), T::ZERO, one - ig),
            };
            let dc_g = ig * (one - gv * gv);
            let mut put = |g: usize, dh: T, dc: T| {
                r.alpha[ab(0, g, k)] = dh;
                r.beta[ab(0, g, k)] = dh;
                r.alpha[ab(1, g, k)] = dc;
                r.beta[ab(1, g, k)] = dc;
            };
            put(0, dh_dc * dc_i, dc_i);
            if F == FULL {
                put(1, dh_dc * dc_f, dc_f);
            }
            put(gg, dh_dc * dc_g, dc_g);
            put(gg + 1, og * (one - og) * tc, T::ZERO);
            r.gamma[gi(0, 0, k)] = T::ZERO;
            r.gamma[gi(0, 1, k)] = dh_dc * dc_c;
            r.gamma[gi(1, 0, k)] = T::ZERO;
            r.gamma[gi(1, 1, k)] = dc_c;
        }
    }
}
