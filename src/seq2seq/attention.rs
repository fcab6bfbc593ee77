//! Attention over the encoder outputs, one decoder step at a time, with the
//! source-length mask: scores `e_j` (dot `q.k_j`, general `q^T W k_j`,
//! additive `v^T tanh(W_q q + W_k k_j + b)`), weights `alpha = softmax(e)`
//! over `j < len`, context `a = sum_j alpha_j k_j`. The key-side products
//! (`W k_j`, `W_k k_j + b`) are computed once per sequence (`Memory::new`).

use super::{add, add_column_sums, Config, Context, Layout, Score};
use crate::error::{try_zeros, Result};
use crate::kernels::tanh_inplace;
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// What the decoder attends to: the encoder outputs of `rows` sequences.
#[derive(Clone)]
pub struct Memory<T> {
    /// `(rows, S, H)`, zero past each length.
    pub keys: Vec<T>,
    /// Projected keys `(rows, S, P)` (general: `W k`; additive: `W_k k + b`).
    pub proj: Vec<T>,
    /// The encoder's final hidden state `(rows, H)` (the fixed context).
    pub h_last: Vec<T>,
    pub lens: Vec<usize>,
    pub s: usize,
}

impl<T: Float> Memory<T> {
    pub fn new(
        cfg: &Config,
        l: &Layout,
        p: &[T],
        keys: &[T],
        h_last: &[T],
        lens: &[usize],
        s: usize,
    ) -> Result<Self> {
        let (rows, h, pw) = (lens.len(), cfg.hidden, cfg.proj());
        let mut proj = try_zeros(rows * s * pw, "projected keys")?;
        if pw > 0 {
            gemm(
                Parallelism::Pool,
                &mut proj,
                pw,
                Op::new(keys, rows * s, h),
                Op::new(&p[l.att_w.clone()], pw, h).t(),
                T::ONE,
                false,
            );
            if !l.att_b.is_empty() {
                for row in proj.chunks_exact_mut(pw) {
                    add(row, &p[l.att_b.clone()]);
                }
            }
        }
        Ok(Memory { keys: keys.to_vec(), proj, h_last: h_last.to_vec(), lens: lens.to_vec(), s })
    }

    /// Every row repeated `k` times in place (`b*k .. b*k+k` copy row `b`): for beams.
    pub fn repeat(&self, k: usize) -> Self {
        fn rep<T: Copy>(v: &[T], rows: usize, k: usize) -> Vec<T> {
            if rows == 0 || v.is_empty() {
                return Vec::new();
            }
            let w = v.len() / rows;
            v.chunks_exact(w).flat_map(|r| std::iter::repeat_n(r, k).flatten().copied()).collect()
        }
        let rows = self.lens.len();
        Memory {
            keys: rep(&self.keys, rows, k),
            proj: rep(&self.proj, rows, k),
            h_last: rep(&self.h_last, rows, k),
            lens: rep(&self.lens, rows, k),
            s: self.s,
        }
    }

    /// Backward of the key projections: `dproj` `(rows, S, P)` into `dkeys` and `g`.
    pub fn backward(&self, cfg: &Config, l: &Layout, p: &[T], g: &mut [T], dproj: &[T], dkeys: &mut [T]) {
        let (n, h, pw) = (self.lens.len() * self.s, cfg.hidden, cfg.proj());
        if pw == 0 {
            return;
        }
        gemm(
            Parallelism::Pool,
            dkeys,
            h,
            Op::new(dproj, n, pw),
            Op::new(&p[l.att_w.clone()], pw, h),
            T::ONE,
            true,
        );
        gemm(
            Parallelism::Pool,
            &mut g[l.att_w.clone()],
            h,
            Op::new(dproj, n, pw).t(),
            Op::new(&self.keys, n, h),
            T::ONE,
            true,
        );
        if !l.att_b.is_empty() {
            add_column_sums(&mut g[l.att_b.clone()], dproj);
        }
    }
}

fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::ZERO, |s, (&x, &y)| s + x * y)
}

/// One step of attention for `rows` queries `q` `(rows, H)`: writes the
/// weights `alpha` `(rows, S)` (zero past each length), the context `ctx`
/// `(rows, H)` and, for the additive score, the `tanh` values `z`
/// `(rows, S, A)` (saved for the backward) using the scratch `qp` `(rows, A)`.
// Index loops over `j < len` read several parallel arrays at once.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub fn forward<T: Float>(
    cfg: &Config,
    l: &Layout,
    p: &[T],
    mem: &Memory<T>,
    q: &[T],
    qp: &mut [T],
    alpha: &mut [T],
    z: &mut [T],
    ctx: &mut [T],
) {
    let Context::Attention(score) = cfg.context else { return };
    let (rows, s, h, pw) = (mem.lens.len(), mem.s, cfg.hidden, cfg.proj());
    if score == Score::Additive {
        gemm(
            Parallelism::Pool,
            qp,
            pw,
            Op::new(q, rows, h),
            Op::new(&p[l.att_q.clone()], pw, h).t(),
            T::ONE,
            false,
        );
    }
    let v = &p[l.att_v.clone()];
    for r in 0..rows {
        let len = mem.lens[r];
        let qr = &q[r * h..(r + 1) * h];
        let al = &mut alpha[r * s..(r + 1) * s];
        if score == Score::Additive {
            // All `tanh(W_k k_j + b + W_q q)` of the row in one vector pass.
            let zr = &mut z[r * s * pw..(r * s + len) * pw];
            for (zj, pj) in zr.chunks_exact_mut(pw).zip(mem.proj[r * s * pw..].chunks_exact(pw)) {
                for ((zz, &a), &b) in zj.iter_mut().zip(pj).zip(&qp[r * pw..(r + 1) * pw]) {
                    *zz = a + b;
                }
            }
            tanh_inplace(zr);
        }
        let mut m = T::from_f64(f64::NEG_INFINITY);
        for j in 0..len {
            let e = match score {
                Score::Dot => dot(qr, &mem.keys[(r * s + j) * h..(r * s + j + 1) * h]),
                Score::General => dot(qr, &mem.proj[(r * s + j) * pw..(r * s + j + 1) * pw]),
                Score::Additive => dot(v, &z[(r * s + j) * pw..(r * s + j + 1) * pw]),
            };
            al[j] = e;
            m = m.max(e);
        }
        let mut sum = T::ZERO;
        for a in &mut al[..len] {
            *a = (*a - m).exp();
            sum += *a;
        }
        for a in &mut al[..len] {
            *a /= sum;
        }
        al[len..].fill(T::ZERO);
        let c = &mut ctx[r * h..(r + 1) * h];
        c.fill(T::ZERO);
        for j in 0..len {
            let a = al[j];
            for (cc, &k) in c.iter_mut().zip(&mem.keys[(r * s + j) * h..(r * s + j + 1) * h]) {
                *cc += a * k;
            }
        }
    }
}

/// Backward of one step: from `dctx` `(rows, H)`, ADDS into `dq` `(rows, H)`,
/// `dkeys` `(rows, S, H)`, `dproj` `(rows, S, P)` and the additive score's
/// `v` gradient in `g`; writes `dqp` `(rows, A)` (the gradient w.r.t.
/// `W_q q`; the caller turns it into `dq` and `dW_q`).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub fn backward<T: Float>(
    cfg: &Config,
    l: &Layout,
    p: &[T],
    g: &mut [T],
    mem: &Memory<T>,
    q: &[T],
    alpha: &[T],
    z: &[T],
    dctx: &[T],
    dq: &mut [T],
    dkeys: &mut [T],
    dproj: &mut [T],
    dqp: &mut [T],
) {
    let Context::Attention(score) = cfg.context else { return };
    let (rows, s, h, pw) = (mem.lens.len(), mem.s, cfg.hidden, cfg.proj());
    let v = &p[l.att_v.clone()];
    let mut de = vec![T::ZERO; s];
    for r in 0..rows {
        let len = mem.lens[r];
        let dc = &dctx[r * h..(r + 1) * h];
        let al = &alpha[r * s..(r + 1) * s];
        let mut wsum = T::ZERO;
        for j in 0..len {
            let kj = &mem.keys[(r * s + j) * h..(r * s + j + 1) * h];
            de[j] = dot(dc, kj);
            wsum += al[j] * de[j];
            for (dk, &d) in dkeys[(r * s + j) * h..(r * s + j + 1) * h].iter_mut().zip(dc) {
                *dk += al[j] * d;
            }
        }
        for j in 0..len {
            de[j] = al[j] * (de[j] - wsum);
        }
        let qr = &q[r * h..(r + 1) * h];
        let dqr = &mut dq[r * h..(r + 1) * h];
        match score {
            Score::Dot => {
                for j in 0..len {
                    let idx = (r * s + j) * h;
                    for i in 0..h {
                        dqr[i] += de[j] * mem.keys[idx + i];
                        dkeys[idx + i] += de[j] * qr[i];
                    }
                }
            }
            Score::General => {
                for j in 0..len {
                    let idx = (r * s + j) * pw;
                    for i in 0..pw {
                        dqr[i] += de[j] * mem.proj[idx + i];
                        dproj[idx + i] += de[j] * qr[i];
                    }
                }
            }
            Score::Additive => {
                let dqpr = &mut dqp[r * pw..(r + 1) * pw];
                dqpr.fill(T::ZERO);
                let gv = &mut g[l.att_v.clone()];
                for j in 0..len {
                    let idx = (r * s + j) * pw;
                    for i in 0..pw {
                        let zz = z[idx + i];
                        gv[i] += de[j] * zz;
                        let dz = de[j] * v[i] * (T::ONE - zz * zz);
                        dproj[idx + i] += dz;
                        dqpr[i] += dz;
                    }
                }
            }
        }
    }
    if score == Score::Additive {
        gemm(
            Parallelism::Pool,
            dq,
            h,
            Op::new(dqp, rows, pw),
            Op::new(&p[l.att_q.clone()], pw, h),
            T::ONE,
            true,
        );
    }
}
