//! LSTM cell and two of its variants (Greff et al. 2017, "LSTM: A Search
//! Space Odyssey"), gate blocks in torch's order:
//!
//! - `Lstm<FULL>` (torch's LSTM), gates i, f, g, o: `c = f*c_prev + i*g`;
//! - `Lstm<NO_FORGET>` (the original LSTM of Hochreiter & Schmidhuber 1997),
//!   gates i, g, o: `c = c_prev + i*g`;
//! - `Lstm<COUPLED>` (CIFG: coupled input and forget gate), gates i, g, o:
//!   `c = (1-i)*c_prev + i*g`;
//! - `Lstm<PEEPHOLE>` (Gers & Schmidhuber 2000), gates i, f, g, o with
//!   diagonal peepholes, the cell's own parameter `weight_ch` `(3, H)` (rows
//!   p_i, p_f, p_o): `i = σ(z_i + p_i*c_prev)`, `f = σ(z_f + p_f*c_prev)`,
//!   `c = f*c_prev + i*g`, `o = σ(z_o + p_o*c)`;
//!
//! and in all `out = o*tanh(c)` (the layer projects `out` with `W_hr` when
//! `proj_size > 0`); i, f, o are sigmoids, g a tanh. `tanh(c)` is saved for
//! the backward. The variants without f have no forget-gate rows (3H rows).

use super::{BackIo, Cell, OwnParam, RtrlRow, StepIo};
use crate::kernels::{lstm_row, sigmoid_inplace, tanh_inplace, wide, LstmRow};
use crate::Float;

/// Forget-gate handling of `Lstm` (a const parameter).
pub const FULL: u8 = 0;
pub const NO_FORGET: u8 = 1;
pub const COUPLED: u8 = 2;
pub const PEEPHOLE: u8 = 3;

/// Long short-term memory cell; `F` is `FULL`, `NO_FORGET` or `COUPLED`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lstm<const F: u8>;

impl<const F: u8> Lstm<F> {
    /// Whether the variant has the forget-gate rows.
    const HAS_F: bool = F == FULL || F == PEEPHOLE;
    /// Gate blocks: i, f, g, o (with forget gate) or i, g, o.
    const G: usize = if Self::HAS_F { 4 } else { 3 };
    /// Block index of g (o follows it).
    const GG: usize = Self::G - 2;

    /// `c' = f c + i g` with this variant's f, for f (full only), i, g, c.
    #[inline(always)]
    fn cell_update<T: Float>(f: T, i: T, g: T, c: T) -> T {
        match F {
            FULL | PEEPHOLE => f * c + i * g,
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
    const OWN: &'static [OwnParam] =
        if F == PEEPHOLE { &[OwnParam { name: "weight_ch", rows: 3 }] } else { &[] };

    fn forward(&self, s: StepIo<'_, T>) {
        if F == PEEPHOLE {
            return peephole_forward(s);
        }
        let (h, gn, gg) = (s.h, Self::G, Self::GG);
        if F == FULL {
            // One pass per row, everything of a lane block in registers; the
            // same values as the passes below (`crate::kernels::LstmRow`).
            for ((((row, rec), cp), cn), (o, tc)) in s
                .gates
                .chunks_exact_mut(gn * h)
                .zip(s.rec.chunks_exact(gn * h))
                .zip(s.c_prev.chunks_exact(h))
                .zip(s.c_new.chunks_exact_mut(h))
                .zip(s.out.chunks_exact_mut(h).zip(s.extra.chunks_exact_mut(h)))
            {
                lstm_row(LstmRow { gates: row, rec, c_prev: cp, c_new: cn, tanh_c: tc, out: o });
            }
            return;
        }
        // Compiled for the active path's vectors (`wide`): same bits on every path.
        wide(
            #[inline(always)]
            move || {
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
            },
        );
    }

    fn backward(&self, s: BackIo<'_, T>) {
        if F == PEEPHOLE {
            return peephole_backward(s);
        }
        let (h, gn, gg) = (s.h, Self::G, Self::GG);
        // Compiled for the active path's vectors (`wide`): same bits on every path.
        wide(
            #[inline(always)]
            move || {
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
                    let (df, rest) = rest.split_at_mut(if Self::HAS_F { h } else { 0 });
                    let (dg, do_) = rest.split_at_mut(h);
                    for j in 0..h {
                        let dct = dcr[j] + dm[j] * o[j] * (T::ONE - tc[j] * tc[j]);
                        do_[j] = dm[j] * tc[j] * o[j] * (T::ONE - o[j]);
                        dg[j] = dct * i[j] * (T::ONE - g[j] * g[j]);
                        match F {
                            FULL | PEEPHOLE => {
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
            },
        );
    }

    /// State (h, c): `c' = f c + i g` (this variant's f), `h' = o tanh(c')`;
    /// c' depends directly on c (through f).
    fn rtrl_row(&self, r: RtrlRow<'_, T>) {
        if F == PEEPHOLE {
            return peephole_rtrl_row(r);
        }
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
                FULL | PEEPHOLE => {
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
            if Self::HAS_F {
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

/// Peephole forward: the o gate waits for the new cell state.
fn peephole_forward<T: Float>(s: StepIo<'_, T>) {
    let h = s.h;
    let (pi, pf, po) = (&s.own[..h], &s.own[h..2 * h], &s.own[2 * h..3 * h]);
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
        let (ifr, rest) = row.split_at_mut(2 * h);
        let (g, og) = rest.split_at_mut(h);
        for j in 0..h {
            ifr[j] += pi[j] * cp[j];
            ifr[h + j] += pf[j] * cp[j];
        }
        sigmoid_inplace(ifr);
        tanh_inplace(g);
        for j in 0..h {
            cn[j] = ifr[h + j] * cp[j] + ifr[j] * g[j];
            og[j] += po[j] * cn[j];
        }
        sigmoid_inplace(og);
        tc.copy_from_slice(cn);
        tanh_inplace(tc);
        for j in 0..h {
            o[j] = og[j] * tc[j];
        }
    }
}

/// Peephole backward: the peepholes add `dz_i p_i + dz_f p_f` to the
/// gradient w.r.t. `c_prev` and `dz_o p_o` to the one w.r.t. `c`.
fn peephole_backward<T: Float>(s: BackIo<'_, T>) {
    let (h, one) = (s.h, T::ONE);
    let (pi, pf, po) = (&s.own[..h], &s.own[h..2 * h], &s.own[2 * h..3 * h]);
    let (dpi, rest) = s.down.split_at_mut(h);
    let (dpf, dpo) = rest.split_at_mut(h);
    for ((((((row, drow), cp), cn), tc), dm), dcr) in s
        .gates
        .chunks_exact(4 * h)
        .zip(s.dgx.chunks_exact_mut(4 * h))
        .zip(s.c_prev.chunks_exact(h))
        .zip(s.c_new.chunks_exact(h))
        .zip(s.extra.chunks_exact(h))
        .zip(s.dout.chunks_exact(h))
        .zip(s.dc.chunks_exact_mut(h))
    {
        let (i, f, g, o) = (&row[..h], &row[h..2 * h], &row[2 * h..3 * h], &row[3 * h..]);
        let (di, rest) = drow.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dg, do_) = rest.split_at_mut(h);
        for j in 0..h {
            do_[j] = dm[j] * tc[j] * o[j] * (one - o[j]);
            let dct = dcr[j] + dm[j] * o[j] * (one - tc[j] * tc[j]) + do_[j] * po[j];
            dg[j] = dct * i[j] * (one - g[j] * g[j]);
            di[j] = dct * g[j] * i[j] * (one - i[j]);
            df[j] = dct * cp[j] * f[j] * (one - f[j]);
            dcr[j] = dct * f[j] + di[j] * pi[j] + df[j] * pf[j];
            dpi[j] += di[j] * cp[j];
            dpf[j] += df[j] * cp[j];
            dpo[j] += do_[j] * cn[j];
        }
    }
}

/// Peephole RTRL row: besides the plain LSTM's partials, c' depends on c
/// through the i and f peepholes, h' on c' also through o, and `delta` holds
/// the partials w.r.t. p_i, p_f, p_o.
fn peephole_rtrl_row<T: Float>(r: RtrlRow<'_, T>) {
    let (h, one) = (r.h, T::ONE);
    let (a, sp, sn, own) = (r.a, r.s_prev, r.s_new, r.own);
    for (v, &w) in a.iter_mut().zip(r.b) {
        *v += w;
    }
    for k in 0..h {
        a[k] += own[k] * sp[h + k];
        a[h + k] += own[h + k] * sp[h + k];
    }
    sigmoid_inplace(&mut a[..2 * h]);
    tanh_inplace(&mut a[2 * h..3 * h]);
    for k in 0..h {
        sn[h + k] = a[h + k] * sp[h + k] + a[k] * a[2 * h + k];
        a[3 * h + k] += own[2 * h + k] * sn[h + k];
    }
    sigmoid_inplace(&mut a[3 * h..]);
    let tc = &mut r.scratch[..h];
    tc.copy_from_slice(&sn[h..2 * h]);
    tanh_inplace(tc);
    let ab = |c: usize, g: usize, k: usize| (c * 4 + g) * h + k;
    let gi = |c: usize, d: usize, k: usize| (c * 2 + d) * h + k;
    let dl = |c: usize, q: usize, k: usize| (c * 3 + q) * h + k;
    for k in 0..h {
        let (ig, fg, gv, og) = (a[k], a[h + k], a[2 * h + k], a[3 * h + k]);
        let (c_old, c_new, tc) = (sp[h + k], sn[h + k], tc[k]);
        let (pi, pf, po) = (own[k], own[h + k], own[2 * h + k]);
        sn[k] = og * tc;
        let do_ = og * (one - og);
        // dh'/dc', through tanh(c') and through the o peephole.
        let dh_dc = og * (one - tc * tc) + do_ * tc * po;
        let (dc_i, dc_f, dc_g) = (ig * (one - ig) * gv, fg * (one - fg) * c_old, ig * (one - gv * gv));
        let dc_c = fg + dc_i * pi + dc_f * pf;
        let mut put = |g: usize, dh: T, dc: T| {
            r.alpha[ab(0, g, k)] = dh;
            r.beta[ab(0, g, k)] = dh;
            r.alpha[ab(1, g, k)] = dc;
            r.beta[ab(1, g, k)] = dc;
        };
        put(0, dh_dc * dc_i, dc_i);
        put(1, dh_dc * dc_f, dc_f);
        put(2, dh_dc * dc_g, dc_g);
        put(3, do_ * tc, T::ZERO);
        r.gamma[gi(0, 0, k)] = T::ZERO;
        r.gamma[gi(0, 1, k)] = dh_dc * dc_c;
        r.gamma[gi(1, 0, k)] = T::ZERO;
        r.gamma[gi(1, 1, k)] = dc_c;
        r.delta[dl(0, 0, k)] = dh_dc * dc_i * c_old;
        r.delta[dl(1, 0, k)] = dc_i * c_old;
        r.delta[dl(0, 1, k)] = dh_dc * dc_f * c_old;
        r.delta[dl(1, 1, k)] = dc_f * c_old;
        r.delta[dl(0, 2, k)] = do_ * tc * c_new;
        r.delta[dl(1, 2, k)] = T::ZERO;
    }
}
