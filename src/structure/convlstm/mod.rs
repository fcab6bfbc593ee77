//! ConvLSTM (Shi et al. 2015), stacked, forward and backpropagation through
//! time over all steps. Per layer and step
//! `a = W_x * x_t + W_h * h_{t-1} + b` (gates [i, f, g, o], PyTorch's order),
//! `i = σ(a_i + w_ci ⊙ c_{t-1})`, `f = σ(a_f + w_cf ⊙ c_{t-1})`, `g = tanh(a_g)`,
//! `c_t = f ⊙ c_{t-1} + i ⊙ g`, `o = σ(a_o + w_co ⊙ c_t)`, `h_t = o ⊙ tanh(c_t)`
//! (`*` the 'same' convolution, stride 1; the peephole terms optional).
//!
//! Layout inside: one row per (pixel, image), pixel-major (`row = p * B + b`,
//! `p = y * W + x`), channels contiguous in a row. Both convolutions of a
//! step are ONE product: the patches of `[x_t, 1, h_{t-1}]` (`im2row`, one
//! row of `K = kh kw C + 1 + kh kw Ch` values per output pixel, the 1 carrying
//! the bias) times the combined weight `(4 Ch, K)`. The backward pass forms
//! the weight gradient from the same patches and the input gradients by one
//! product `dA W` gathered back onto the pixels. A pixel's rows are
//! contiguous, so every element-wise pass (and the peephole gradients, summed
//! over the batch) splits across threads by pixels; the products split along
//! their output. Results do not depend on the thread count.

//!
//! The backward pass is in `backward.rs`.

mod backward;

pub use backward::backward;

use crate::error::{checked_size, try_zeros, Error, Result};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;
use rayon::prelude::*;

/// Rows handled by one task of an element-wise pass (about 32 KiB of gates).
const ROWS_PER_TASK: usize = 128;

/// Sizes of a ConvLSTM stack and its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvLstmShape {
    pub steps: usize,
    pub batch: usize,
    pub in_channels: usize,
    pub hidden: usize,
    pub height: usize,
    pub width: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub layers: usize,
    pub peephole: bool,
}

impl ConvLstmShape {
    /// Checks the sizes: odd kernels ('same' padding), at least one step,
    /// layer and channel, no overflow of any buffer.
    pub fn check(&self) -> Result<()> {
        if self.kernel_h.is_multiple_of(2) || self.kernel_w.is_multiple_of(2) {
            return Err(Error::value(
                "kernel_size",
                format!(
                    "expected odd kernel sizes for 'same' padding, got {}x{}",
                    self.kernel_h, self.kernel_w
                ),
            ));
        }
        if self.steps == 0 {
            return Err(Error::value("x", "expected at least one time step"));
        }
        if self.layers == 0 || self.hidden == 0 || self.in_channels == 0 {
            return Err(Error::value("layers", "expected at least one layer, input and hidden channel"));
        }
        let widest = self.in_channels.max(self.hidden);
        checked_size(&[self.steps, self.batch, 4 * self.hidden, self.height, self.width], "gates")?;
        checked_size(&[self.steps, self.batch, widest, self.height, self.width], "input")?;
        checked_size(&[self.batch, self.height, self.width, self.k_len(0).max(self.k_len(1))], "im2row")?;
        Ok(())
    }
    fn pixels(&self) -> usize {
        self.height * self.width
    }
    /// Rows of a step's buffers: one per pixel and image.
    fn rows(&self) -> usize {
        self.pixels() * self.batch
    }
    fn taps(&self) -> usize {
        self.kernel_h * self.kernel_w
    }
    fn cin(&self, layer: usize) -> usize {
        if layer == 0 {
            self.in_channels
        } else {
            self.hidden
        }
    }
    /// Columns of the input part of a patch row plus the bias column.
    fn kx(&self, layer: usize) -> usize {
        self.taps() * self.cin(layer) + 1
    }
    /// Length of a patch row `[x patches, 1, h patches]`.
    fn k_len(&self, layer: usize) -> usize {
        self.kx(layer) + self.taps() * self.hidden
    }
    /// Elements of an external `(T, B, C, H, W)` array with `c` channels.
    pub fn seq_len(&self, c: usize) -> usize {
        self.steps * self.batch * c * self.pixels()
    }
    /// Elements of an external `(L, B, Ch, H, W)` state array.
    pub fn state_len(&self) -> usize {
        self.layers * self.batch * self.hidden * self.pixels()
    }
}

/// One layer's parameters (PyTorch-style layouts): `w_ih (4Ch, C, kh, kw)`,
/// `w_hh (4Ch, Ch, kh, kw)`, `bias (4Ch)`, and with peepholes `w_ci`,
/// `w_cf`, `w_co` each `(Ch, H, W)` (empty slices without).
#[derive(Clone, Copy)]
pub struct LayerParams<'a, T> {
    pub w_ih: &'a [T],
    pub w_hh: &'a [T],
    pub bias: &'a [T],
    pub peephole: [&'a [T]; 3],
}

/// What the backward pass needs, in the internal layout: the stack's input
/// `(T, rows, C)`, the initial states `(L, rows, Ch)` (empty when zero) and
/// per layer `h`, `c` `(T, rows, Ch)` and the activated gates `(T, rows, 4Ch)`.
#[derive(Clone, Debug, Default)]
pub struct Tape<T> {
    pub x: Vec<T>,
    pub h0: Vec<T>,
    pub c0: Vec<T>,
    pub h: Vec<Vec<T>>,
    pub c: Vec<Vec<T>>,
    pub gates: Vec<Vec<T>>,
}

/// The same, borrowed (e.g. from arrays kept by the caller).
#[derive(Clone, Copy)]
pub struct TapeRef<'a, T> {
    pub x: &'a [T],
    pub h0: &'a [T],
    pub c0: &'a [T],
    pub h: &'a [&'a [T]],
    pub c: &'a [&'a [T]],
    pub gates: &'a [&'a [T]],
}

/// Forward results: `y (T, B, Ch, H, W)` (the last layer's h), `h_n`, `c_n`
/// `(L, B, Ch, H, W)`, and the tape when training.
pub struct Forward<T> {
    pub y: Vec<T>,
    pub h_n: Vec<T>,
    pub c_n: Vec<T>,
    pub tape: Option<Tape<T>>,
}

/// Gradients: per layer `(w_ih, w_hh, bias, [w_ci, w_cf, w_co])` in the
/// parameters' layouts, `dx (T, B, C, H, W)` (empty unless asked), and
/// `dh0`, `dc0 (L, B, Ch, H, W)`.
pub struct Gradients<T> {
    pub layers: Vec<LayerGrads<T>>,
    pub dx: Vec<T>,
    pub dh0: Vec<T>,
    pub dc0: Vec<T>,
}

pub struct LayerGrads<T> {
    pub w_ih: Vec<T>,
    pub w_hh: Vec<T>,
    pub bias: Vec<T>,
    pub peephole: [Vec<T>; 3],
}

fn check_params<T>(s: &ConvLstmShape, params: &[LayerParams<'_, T>]) -> Result<()> {
    s.check()?;
    if params.len() != s.layers {
        return Err(Error::value("params", format!("expected {} layers, got {}", s.layers, params.len())));
    }
    let (g, ch, taps) = (4 * s.hidden, s.hidden, s.taps());
    for (l, p) in params.iter().enumerate() {
        let want = [
            ("weight_ih", p.w_ih.len(), g * s.cin(l) * taps),
            ("weight_hh", p.w_hh.len(), g * ch * taps),
            ("bias", p.bias.len(), g),
        ];
        for (name, got, want) in want {
            if got != want {
                return Err(Error::shape(
                    format!("{name}_l{l}"),
                    format!("expected {want} elements, got {got}"),
                ));
            }
        }
        for (gate, w) in ["ci", "cf", "co"].iter().zip(p.peephole) {
            let want = if s.peephole { ch * s.pixels() } else { 0 };
            if w.len() != want {
                return Err(Error::shape(
                    format!("weight_{gate}_l{l}"),
                    format!("expected {want} elements, got {}", w.len()),
                ));
            }
        }
    }
    Ok(())
}

/// `(T, B, C, P)` (external, `P = H W`) -> `(T, P, B, C)` (internal).
fn to_rows<T: Float>(src: &[T], dst: &mut [T], steps: usize, batch: usize, c: usize, p: usize) {
    if src.is_empty() {
        return;
    }
    dst.par_chunks_mut(p * batch * c).zip(src.par_chunks(batch * c * p)).take(steps).for_each(|(d, s)| {
        for b in 0..batch {
            for k in 0..c {
                let plane = &s[(b * c + k) * p..][..p];
                for (q, &v) in plane.iter().enumerate() {
                    d[(q * batch + b) * c + k] = v;
                }
            }
        }
    });
}

/// `(T, P, B, C)` (internal) -> `(T, B, C, P)` (external).
fn from_rows<T: Float>(src: &[T], dst: &mut [T], steps: usize, batch: usize, c: usize, p: usize) {
    if src.is_empty() {
        return;
    }
    dst.par_chunks_mut(batch * c * p).zip(src.par_chunks(p * batch * c)).take(steps).for_each(|(d, s)| {
        for b in 0..batch {
            for k in 0..c {
                let plane = &mut d[(b * c + k) * p..][..p];
                for (q, v) in plane.iter_mut().enumerate() {
                    *v = s[(q * batch + b) * c + k];
                }
            }
        }
    });
}

/// The pixel a tap `(i, j)` of pixel `p` reads (None outside the frame).
#[inline]
fn tap_source(s: &ConvLstmShape, p: usize, i: usize, j: usize) -> Option<usize> {
    let (y, x) = (p / s.width, p % s.width);
    let sy = (y + i).checked_sub(s.kernel_h / 2)?;
    let sx = (x + j).checked_sub(s.kernel_w / 2)?;
    (sy < s.height && sx < s.width).then_some(sy * s.width + sx)
}

/// The pixel whose tap `(i, j)` reads pixel `p` (the adjoint of `tap_source`).
#[inline]
fn tap_reader(s: &ConvLstmShape, p: usize, i: usize, j: usize) -> Option<usize> {
    let (y, x) = (p / s.width, p % s.width);
    let ry = (y + s.kernel_h / 2).checked_sub(i)?;
    let rx = (x + s.kernel_w / 2).checked_sub(j)?;
    (ry < s.height && rx < s.width).then_some(ry * s.width + rx)
}

/// Patch rows `[x patches (i, j, c), 1, h patches (i, j, c)]` of one step
/// (`rows x k`); the h part is left alone when `h` is None.
fn im2row<T: Float>(s: &ConvLstmShape, layer: usize, x: &[T], h: Option<&[T]>, out: &mut [T]) {
    let (b_n, cin, ch, k, kx) = (s.batch, s.cin(layer), s.hidden, s.k_len(layer), s.kx(layer));
    out.par_chunks_mut(b_n * k).enumerate().for_each(|(p, block)| {
        for i in 0..s.kernel_h {
            for j in 0..s.kernel_w {
                let tap = i * s.kernel_w + j;
                let src = tap_source(s, p, i, j);
                for (part, c, off) in [(Some(x), cin, 0), (h, ch, kx)] {
                    let Some(part) = part else { continue };
                    let col = off + tap * c;
                    for b in 0..b_n {
                        let dst = &mut block[b * k + col..][..c];
                        match src {
                            Some(q) => copy_run(dst, &part[(q * b_n + b) * c..][..c]),
                            None => dst.fill(T::ZERO),
                        }
                    }
                }
            }
        }
        for b in 0..b_n {
            block[b * k + kx - 1] = T::ONE;
        }
    });
}

/// `out (rows x c) = sum over taps` of the patch-gradient columns
/// `off + tap * c ..` of the pixels reading each pixel (the adjoint of
/// `im2row` on one part).
fn gather<T: Float>(s: &ConvLstmShape, dcols: &[T], k: usize, off: usize, c: usize, out: &mut [T]) {
    let b_n = s.batch;
    out.par_chunks_mut(b_n * c).enumerate().for_each(|(p, block)| {
        block.fill(T::ZERO);
        for i in 0..s.kernel_h {
            for j in 0..s.kernel_w {
                let Some(r) = tap_reader(s, p, i, j) else { continue };
                let col = off + (i * s.kernel_w + j) * c;
                for b in 0..b_n {
                    add_run(&mut block[b * c..][..c], &dcols[(r * b_n + b) * k + col..][..c]);
                }
            }
        }
    });
}

/// The combined weight `(4Ch, K)`: row `o` is `[w_ih[o] as (i, j, c), bias[o], w_hh[o] as (i, j, c)]`.
fn combined_weight<T: Float>(s: &ConvLstmShape, layer: usize, p: &LayerParams<'_, T>) -> Result<Vec<T>> {
    let (g, cin, ch, k, kx, taps) =
        (4 * s.hidden, s.cin(layer), s.hidden, s.k_len(layer), s.kx(layer), s.taps());
    let mut w = try_zeros(g * k, "combined weight")?;
    for (o, row) in w.chunks_exact_mut(k).enumerate() {
        for tap in 0..taps {
            for c in 0..cin {
                row[tap * cin + c] = p.w_ih[(o * cin + c) * taps + tap];
            }
            for c in 0..ch {
                row[kx + tap * ch + c] = p.w_hh[(o * ch + c) * taps + tap];
            }
        }
        row[kx - 1] = p.bias[o];
    }
    Ok(w)
}

/// Peephole weights `(Ch, H, W)` -> `(P, Ch)`.
fn peephole_rows<T: Float>(s: &ConvLstmShape, w: &[T]) -> Vec<T> {
    let (ch, np) = (s.hidden, s.pixels());
    let mut out = vec![T::ZERO; w.len()];
    for c in 0..ch {
        for q in 0..np {
            out[q * ch + c] = w[c * np + q];
        }
    }
    out
}

/// `C (m x n, row stride ldc) (+)= op(A) op(B)` with `A`, `B` given as
/// `(data, rows, cols, row stride, transposed)`. Float32 products run on the
/// packed kernels whenever the CPU has them, whatever the shape: this file's
/// products are all long and thin (one side 4Ch), where they beat faer.
type Mat<'a, T> = (&'a [T], usize, usize, usize, bool);
fn mm<T: Float>(c: &mut [T], ldc: usize, a: Mat<'_, T>, b: Mat<'_, T>, accumulate: bool) {
    fn op<T>((data, rows, cols, ld, t): Mat<'_, T>) -> Op<'_, T> {
        let o = Op { data, rows, cols, ld, trans: false };
        if t {
            o.t()
        } else {
            o
        }
    }
    let (a, b) = (op(a), op(b));
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if crate::linalg::packed_f32::available() {
        use crate::linalg::{as_f32_mut, op_f32};
        if let (Some(c32), Some(a32), Some(b32)) = (as_f32_mut(c), op_f32(a), op_f32(b)) {
            let (m, k) = a.shape();
            let flops = m.saturating_mul(k).saturating_mul(b.shape().1);
            let par = !matches!(crate::par::gemm_par(flops), faer::Par::Seq);
            crate::linalg::packed_f32::gemm(c32, ldc, a32, b32, 1.0, accumulate, par);
            return;
        }
    }
    gemm(Parallelism::Pool, c, ldc, a, b, T::ONE, accumulate);
}

/// `dst = src` (short channel runs: copied in fixed blocks of 8, inlined,
/// instead of a `memcpy` call per run).
#[inline(always)]
fn copy_run<T: Float>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[T; 8] = s.try_into().expect("chunks of 8");
        let d: &mut [T; 8] = d.try_into().expect("chunks of 8");
        *d = *s;
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// `dst += src` (short channel runs, in fixed blocks of 8 like `copy_run`).
#[inline(always)]
fn add_run<T: Float>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[T; 8] = s.try_into().expect("chunks of 8");
        let d: &mut [T; 8] = d.try_into().expect("chunks of 8");
        for (d, s) in d.iter_mut().zip(s) {
            *d += *s;
        }
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d += *s;
    }
}

/// Element-wise gate pass of one step over all rows: `a` (rows x 4Ch) holds
/// the pre-activations and receives the gates; writes `c` and `h`.
fn gates_forward<T: Float>(
    s: &ConvLstmShape,
    a: &mut [T],
    c_prev: &[T],
    c: &mut [T],
    h: &mut [T],
    peep: Option<&[Vec<T>; 3]>,
) {
    let (ch, b_n) = (s.hidden, s.batch);
    let rows = ROWS_PER_TASK;
    a.par_chunks_mut(rows * 4 * ch)
        .zip(c.par_chunks_mut(rows * ch))
        .zip(h.par_chunks_mut(rows * ch))
        .enumerate()
        .for_each(|(task, ((a, c), h))| {
            for (r, ((a, c), h)) in
                a.chunks_exact_mut(4 * ch).zip(c.chunks_exact_mut(ch)).zip(h.chunks_exact_mut(ch)).enumerate()
            {
                let row = task * rows + r;
                let cp = &c_prev[row * ch..][..ch];
                let q = (row / b_n) * ch;
                let pw = peep.map(|w| (&w[0][q..q + ch], &w[1][q..q + ch], &w[2][q..q + ch]));
                if let Some((wi, wf, _)) = pw {
                    for k in 0..ch {
                        a[k] += wi[k] * cp[k];
                        a[ch + k] += wf[k] * cp[k];
                    }
                }
                sigmoid_inplace(&mut a[..2 * ch]);
                tanh_inplace(&mut a[2 * ch..3 * ch]);
                for k in 0..ch {
                    c[k] = a[ch + k] * cp[k] + a[k] * a[2 * ch + k];
                }
                if let Some((_, _, wo)) = pw {
                    for k in 0..ch {
                        a[3 * ch + k] += wo[k] * c[k];
                    }
                }
                sigmoid_inplace(&mut a[3 * ch..]);
                h.copy_from_slice(c);
                tanh_inplace(h);
                for k in 0..ch {
                    h[k] *= a[3 * ch + k];
                }
            }
        });
}

/// Forward pass of the stack over `x (T, B, C, H, W)` from the states
/// `h0`, `c0 (L, B, Ch, H, W)` (both empty for zeros). With `train` the
/// result carries the tape `backward` needs.
pub fn forward<T: Float>(
    s: &ConvLstmShape,
    params: &[LayerParams<'_, T>],
    x: &[T],
    h0: &[T],
    c0: &[T],
    train: bool,
) -> Result<Forward<T>> {
    check_params(s, params)?;
    if x.len() != s.seq_len(s.in_channels) {
        return Err(Error::shape(
            "x",
            format!("expected {} elements, got {}", s.seq_len(s.in_channels), x.len()),
        ));
    }
    let with_state = !h0.is_empty() || !c0.is_empty();
    if with_state && (h0.len() != s.state_len() || c0.len() != s.state_len()) {
        return Err(Error::shape("state", format!("expected h0 and c0 of {} elements each", s.state_len())));
    }
    let (t_n, b_n, ch, np, rows) = (s.steps, s.batch, s.hidden, s.pixels(), s.rows());
    let step = rows * ch;
    let mut inp = try_zeros(x.len(), "input")?;
    to_rows(x, &mut inp, t_n, b_n, s.in_channels, np);
    let (mut h0r, mut c0r) = if with_state {
        (try_zeros(s.state_len(), "h0")?, try_zeros(s.state_len(), "c0")?)
    } else {
        (Vec::new(), Vec::new())
    };
    to_rows(h0, &mut h0r, s.layers, b_n, ch, np);
    to_rows(c0, &mut c0r, s.layers, b_n, ch, np);
    let k_max = s.k_len(0).max(s.k_len(1));
    let mut patches = try_zeros(rows * k_max, "im2row")?;
    let zeros = try_zeros(step, "c0")?;
    let mut tape = Tape { x: inp, h0: h0r, c0: c0r, ..Tape::default() };
    let (mut h_n, mut c_n) = (try_zeros(s.state_len(), "h_n")?, try_zeros(s.state_len(), "c_n")?);
    // Training keeps every step's c and gates; inference two c's and one gate buffer.
    let (c_slots, g_slots) = if train { (t_n, t_n) } else { (2, 1) };
    for (l, p) in params.iter().enumerate() {
        let (k, kx, cin) = (s.k_len(l), s.kx(l), s.cin(l));
        let w = combined_weight(s, l, p)?;
        let peep = s.peephole.then(|| p.peephole.map(|w| peephole_rows(s, w)));
        let mut hs = try_zeros(t_n * step, "h")?;
        let mut cs = try_zeros(c_slots * step, "c")?;
        let mut gates = try_zeros(g_slots * 4 * step, "gates")?;
        let (h_init, c_init) = if with_state {
            (Some(&tape.h0[l * step..][..step]), &tape.c0[l * step..][..step])
        } else {
            (None, &zeros[..])
        };
        let layer_in: &[T] = if l == 0 { &tape.x } else { &tape.h[l - 1] };
        for t in 0..t_n {
            crate::interrupt::check()?;
            let (done, rest) = hs.split_at_mut(t * step);
            let h_prev = if t == 0 { h_init } else { Some(&done[(t - 1) * step..]) };
            let patches = &mut patches[..rows * k];
            im2row(s, l, &layer_in[t * rows * cin..][..rows * cin], h_prev, patches);
            let kk = if h_prev.is_some() { k } else { kx };
            let a = &mut gates[(t % g_slots) * 4 * step..][..4 * step];
            mm(a, 4 * ch, (patches, rows, kk, k, false), (&w, 4 * ch, kk, k, true), false);
            let (cur, prev) = (t % c_slots, (t + c_slots - 1) % c_slots);
            let (c_t, c_prev) = if t == 0 {
                (&mut cs[cur * step..][..step], c_init)
            } else if cur > prev {
                let (lo, hi) = cs.split_at_mut(cur * step);
                (&mut hi[..step], &lo[prev * step..][..step])
            } else {
                let (lo, hi) = cs.split_at_mut(prev * step);
                (&mut lo[cur * step..][..step], &hi[..step])
            };
            gates_forward(s, a, c_prev, c_t, &mut rest[..step], peep.as_ref());
        }
        let last = (t_n - 1) % c_slots;
        from_rows(&hs[(t_n - 1) * step..], &mut h_n[l * step..][..step], 1, b_n, ch, np);
        from_rows(&cs[last * step..][..step], &mut c_n[l * step..][..step], 1, b_n, ch, np);
        tape.h.push(hs);
        if train {
            tape.c.push(cs);
            tape.gates.push(gates);
        }
    }
    let mut y = try_zeros(s.seq_len(ch), "y")?;
    from_rows(&tape.h[s.layers - 1], &mut y, t_n, b_n, ch, np);
    Ok(Forward { y, h_n, c_n, tape: train.then_some(tape) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain-loop reference: returns (y, h_n, c_n) in the external layouts.
    fn reference(
        s: &ConvLstmShape,
        ps: &[[Vec<f64>; 6]],
        x: &[f64],
        h0: &[f64],
        c0: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (b_n, ch, hh, ww, kh, kw) = (s.batch, s.hidden, s.height, s.width, s.kernel_h, s.kernel_w);
        let np = hh * ww;
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut inp = x.to_vec();
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        for (l, p) in ps.iter().enumerate() {
            let cin = s.cin(l);
            let st = b_n * ch * np;
            let mut h = if h0.is_empty() { vec![0.0; st] } else { h0[l * st..][..st].to_vec() };
            let mut c = if c0.is_empty() { vec![0.0; st] } else { c0[l * st..][..st].to_vec() };
            let mut out = Vec::new();
            for t in 0..s.steps {
                let xt = &inp[t * b_n * cin * np..][..b_n * cin * np];
                let mut a = vec![0.0; b_n * 4 * ch * np];
                for b in 0..b_n {
                    for o in 0..4 * ch {
                        for y in 0..hh {
                            for xx in 0..ww {
                                let mut acc = p[2][o];
                                for (src, w, cc) in [(xt, &p[0], cin), (&h[..], &p[1], ch)] {
                                    for k in 0..cc {
                                        for i in 0..kh {
                                            for j in 0..kw {
                                                let (sy, sx) = (
                                                    (y + i) as isize - 1,
                                                    (xx + j) as isize - (kw / 2) as isize,
                                                );
                                                let sy = sy + 1 - (kh / 2) as isize;
                                                if sy >= 0 && sy < hh as isize && sx >= 0 && sx < ww as isize
                                                {
                                                    acc += src[((b * cc + k) * hh + sy as usize) * ww
                                                        + sx as usize]
                                                        * w[((o * cc + k) * kh + i) * kw + j];
                                                }
                                            }
                                        }
                                    }
                                }
                                a[((b * 4 * ch + o) * hh + y) * ww + xx] = acc;
                            }
                        }
                    }
                }
                for b in 0..b_n {
                    for k in 0..ch {
                        for q in 0..np {
                            let at = |g: usize| a[(b * 4 * ch + g * ch + k) * np + q];
                            let si = (b * ch + k) * np + q;
                            let (wi, wf, wo) = if s.peephole {
                                (p[3][k * np + q], p[4][k * np + q], p[5][k * np + q])
                            } else {
                                (0.0, 0.0, 0.0)
                            };
                            let i = sig(at(0) + wi * c[si]);
                            let f = sig(at(1) + wf * c[si]);
                            c[si] = f * c[si] + i * at(2).tanh();
                            h[si] = sig(at(3) + wo * c[si]) * c[si].tanh();
                        }
                    }
                }
                out.extend_from_slice(&h);
            }
            h_n.extend_from_slice(&h);
            c_n.extend_from_slice(&c);
            inp = out;
        }
        (inp, h_n, c_n)
    }

    fn values(n: usize, seed: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 1013) as f64 / 506.5 - 1.0) * scale).collect()
    }

    fn setup(s: &ConvLstmShape) -> Vec<[Vec<f64>; 6]> {
        (0..s.layers)
            .map(|l| {
                let g = 4 * s.hidden;
                let np = if s.peephole { s.hidden * s.pixels() } else { 0 };
                [
                    values(g * s.cin(l) * s.taps(), 10 * l + 1, 0.4),
                    values(g * s.hidden * s.taps(), 10 * l + 2, 0.4),
                    values(g, 10 * l + 3, 0.3),
                    values(np, 10 * l + 4, 0.5),
                    values(np, 10 * l + 5, 0.5),
                    values(np, 10 * l + 6, 0.5),
                ]
            })
            .collect()
    }

    fn views(ps: &[[Vec<f64>; 6]]) -> Vec<LayerParams<'_, f64>> {
        ps.iter()
            .map(|p| LayerParams { w_ih: &p[0], w_hh: &p[1], bias: &p[2], peephole: [&p[3], &p[4], &p[5]] })
            .collect()
    }

    const SHAPE: ConvLstmShape = ConvLstmShape {
        steps: 3,
        batch: 2,
        in_channels: 2,
        hidden: 3,
        height: 4,
        width: 5,
        kernel_h: 3,
        kernel_w: 5,
        layers: 2,
        peephole: true,
    };

    #[test]
    fn forward_matches_the_plain_loops() {
        for (peephole, state) in [(false, false), (true, true)] {
            let s = ConvLstmShape { peephole, ..SHAPE };
            let ps = setup(&s);
            let x = values(s.seq_len(2), 7, 1.0);
            let (h0, c0) = if state {
                (values(s.state_len(), 8, 0.8), values(s.state_len(), 9, 0.8))
            } else {
                (Vec::new(), Vec::new())
            };
            let (y, h_n, c_n) = reference(&s, &ps, &x, &h0, &c0);
            for train in [false, true] {
                let f = forward(&s, &views(&ps), &x, &h0, &c0, train).unwrap();
                for (got, want) in [(&f.y, &y), (&f.h_n, &h_n), (&f.c_n, &c_n)] {
                    assert_eq!(got.len(), want.len());
                    for (a, b) in got.iter().zip(want.iter()) {
                        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
                    }
                }
                assert_eq!(f.tape.is_some(), train);
            }
        }
    }

    /// `sum(dy y) + sum(dh_n h_n) + sum(dc_n c_n)`.
    fn loss(
        s: &ConvLstmShape,
        ps: &[[Vec<f64>; 6]],
        x: &[f64],
        h0: &[f64],
        c0: &[f64],
        d: &[Vec<f64>; 3],
    ) -> f64 {
        let f = forward(s, &views(ps), x, h0, c0, false).unwrap();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        dot(&f.y, &d[0]) + dot(&f.h_n, &d[1]) + dot(&f.c_n, &d[2])
    }

    #[test]
    fn backward_matches_finite_differences() {
        let s = SHAPE;
        let mut ps = setup(&s);
        let x = values(s.seq_len(2), 7, 1.0);
        let h0 = values(s.state_len(), 8, 0.8);
        let c0 = values(s.state_len(), 9, 0.8);
        let d =
            [values(s.seq_len(3), 11, 1.0), values(s.state_len(), 12, 1.0), values(s.state_len(), 13, 1.0)];
        let f = forward(&s, &views(&ps), &x, &h0, &c0, true).unwrap();
        let t = f.tape.unwrap();
        fn borrow(v: &[Vec<f64>]) -> Vec<&[f64]> {
            v.iter().map(|v| &v[..]).collect()
        }
        let (h, c, g) = (borrow(&t.h), borrow(&t.c), borrow(&t.gates));
        let tr = TapeRef { x: &t.x, h0: &t.h0, c0: &t.c0, h: &h, c: &c, gates: &g };
        let gr = backward(&s, &views(&ps), &tr, &d[0], &d[1], &d[2], true).unwrap();
        let eps = 1e-6;
        let check = |analytic: f64, plus: f64, minus: f64| {
            let numeric = (plus - minus) / (2.0 * eps);
            assert!((analytic - numeric).abs() < 1e-6 * (1.0 + numeric.abs()), "{analytic} vs {numeric}");
        };
        for l in 0..s.layers {
            let lg = &gr.layers[l];
            let grads = [&lg.w_ih, &lg.w_hh, &lg.bias, &lg.peephole[0], &lg.peephole[1], &lg.peephole[2]];
            for (which, grad) in grads.iter().enumerate() {
                for idx in [0, grad.len() / 2, grad.len() - 1] {
                    let v = ps[l][which][idx];
                    ps[l][which][idx] = v + eps;
                    let plus = loss(&s, &ps, &x, &h0, &c0, &d);
                    ps[l][which][idx] = v - eps;
                    let minus = loss(&s, &ps, &x, &h0, &c0, &d);
                    ps[l][which][idx] = v;
                    check(grad[idx], plus, minus);
                }
            }
        }
        let inputs = [x, h0, c0];
        for (which, grad) in [&gr.dx, &gr.dh0, &gr.dc0].into_iter().enumerate() {
            for idx in [0, grad.len() / 3, grad.len() - 1] {
                let at = |delta: f64| {
                    let mut v = inputs.clone();
                    v[which][idx] += delta;
                    loss(&s, &ps, &v[0], &v[1], &v[2], &d)
                };
                check(grad[idx], at(eps), at(-eps));
            }
        }
    }
}
