//! Neural Turing Machine (Graves, Wayne & Danihelka 2014) with a recurrent
//! (any gated rnnrs cell) or feed-forward controller (`super::controller`),
//! batched, with BPTT through the memory and the addressing.
//!
//! One step `t` for every sequence of the batch, in this order:
//! 1. controller on `[x_t, r_{t-1}]` (the previous reads) -> `h_t`;
//! 2. head parameters `p_t = W_head h_t + b_head`, per head
//!    `[key (M), β̂, ĝ, ŝ (S), γ̂]` and, for write heads, `[ê (M), â (M)]`
//!    (read heads first, then write heads);
//! 3. addressing of every head on the memory `M_{t-1}` (N x M), exactly as
//!    the paper: content `w_c = softmax(β K(k, M_i))` with cosine similarity
//!    `K` and `β = softplus(β̂)`; interpolation `w_g = g w_c + (1-g) w_{t-1}`,
//!    `g = σ(ĝ)`; circular shift `w̃_i = Σ_o s_o w_g[(i - o) mod N]` over the
//!    offsets `o = -shift_range..=shift_range`, `s = softmax(ŝ)`; sharpening
//!    `w_i = w̃_i^γ / Σ_j w̃_j^γ`, `γ = 1 + softplus(γ̂)` (computed as
//!    `softmax(γ ln(w̃ + 1e-12))`, which cannot underflow to 0/0);
//! 4. reads `r_t = w_r M_{t-1}`;
//! 5. writes: erase then add, `M_t = M_{t-1} ∘ Π_h (1 - w_h e_hᵀ) + Σ_h w_h a_hᵀ`
//!    with `e = σ(ê)` and `a = tanh(â)`;
//! 6. output `y_t = W_out [h_t, r_t] + b_out` (logits; no activation).
//!
//! Initial state: controller state `h_0 = c_0 = 0`, every head's weighting one-hot on slot 0,
//! reads `r_0` a learned parameter (`read0`), and the memory either the
//! constant `memory_init` everywhere (Collier & Beel 2018 found a small
//! constant the stable choice) or a learned `memory0` (N x M).
//!
//! Parameters, in this order (names as in Python's `params` dict): the
//! controller's (`Controller::param_shapes`, e.g. for an LSTM
//! `controller.weight_ih_l0 (4H, I + R·M)`, `controller.weight_hh_l0 (4H, H)`,
//! `controller.bias_ih_l0 (4H)`, `controller.bias_hh_l0 (4H)`), then
//! `heads.weight (P, H)`, `heads.bias (P)`, `output.weight (O, H + R·M)`,
//! `output.bias (O)`, `read0 (R, M)` and, when learned, `memory0 (N, M)`.

use super::controller::{cols, Controller, CtrlBack, CtrlStep};
use super::modern::softmax_rows;
use crate::error::{checked_size, try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;
use rayon::prelude::*;

/// Added to the product of norms in the cosine similarity.
const COS_EPS: f64 = 1e-8;
/// Added to the shifted weighting before it is raised to `γ`.
const SHARPEN_EPS: f64 = 1e-12;

/// How the memory starts each sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MemoryInit {
    /// Every cell holds this value.
    Constant(f64),
    /// A learned `N x M` parameter (`memory0`).
    Learned,
}

/// Sizes and options of an NTM.
#[derive(Clone, Debug, PartialEq)]
pub struct NtmSpec {
    pub input: usize,
    pub output: usize,
    pub controller: Controller,
    /// Memory rows N.
    pub slots: usize,
    /// Memory row width M.
    pub width: usize,
    pub read_heads: usize,
    pub write_heads: usize,
    /// Shifts from `-shift_range` to `+shift_range` (S = 2 shift_range + 1).
    pub shift_range: usize,
    pub memory_init: MemoryInit,
}

impl NtmSpec {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("input_size", self.input),
            ("output_size", self.output),
            ("memory_slots", self.slots),
            ("memory_width", self.width),
        ] {
            if v == 0 {
                return Err(Error::value(name, "expected an integer >= 1, got 0"));
            }
        }
        self.controller.validate()?;
        if self.read_heads + self.write_heads == 0 {
            return Err(Error::value("read_heads", "expected at least one read or write head"));
        }
        if 2 * self.shift_range + 1 > self.slots {
            return Err(Error::value(
                "shift_range",
                format!(
                    "shifts -{0}..={0} need at least {1} memory slots, got {2}",
                    self.shift_range,
                    2 * self.shift_range + 1,
                    self.slots
                ),
            ));
        }
        if let MemoryInit::Constant(v) = self.memory_init {
            if !v.is_finite() {
                return Err(Error::value("memory_init", format!("expected a finite constant, got {v}")));
            }
        }
        checked_size(
            &[
                self.slots,
                self.width,
                self.controller.gate_width().max(1),
                self.read_heads + self.write_heads,
            ],
            "NTM",
        )?;
        Ok(())
    }
    /// Units of the controller output `h_t`.
    pub fn hidden(&self) -> usize {
        self.controller.hidden()
    }
    /// S, the number of shift offsets.
    pub fn shifts(&self) -> usize {
        2 * self.shift_range + 1
    }
    fn read_len(&self) -> usize {
        self.width + self.shifts() + 3
    }
    fn write_len(&self) -> usize {
        self.read_len() + 2 * self.width
    }
    pub fn heads(&self) -> usize {
        self.read_heads + self.write_heads
    }
    /// Head parameters per step and sequence (rows of `heads.weight`).
    pub fn head_params(&self) -> usize {
        self.read_heads * self.read_len() + self.write_heads * self.write_len()
    }
    fn head_offset(&self, h: usize) -> usize {
        if h < self.read_heads {
            h * self.read_len()
        } else {
            self.read_heads * self.read_len() + (h - self.read_heads) * self.write_len()
        }
    }
    fn reads(&self) -> usize {
        self.read_heads * self.width
    }
    fn cells(&self) -> usize {
        self.slots * self.width
    }
    /// Parameter names and shapes in the order `forward` takes them.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, rm) = (self.hidden(), self.reads());
        let mut v = self.controller.param_shapes(self.input + rm);
        v.extend([
            ("heads.weight".into(), vec![self.head_params(), h]),
            ("heads.bias".into(), vec![self.head_params()]),
            ("output.weight".into(), vec![self.output, h + rm]),
            ("output.bias".into(), vec![self.output]),
            ("read0".into(), vec![self.read_heads, self.width]),
        ]);
        if self.memory_init == MemoryInit::Learned {
            v.push(("memory0".into(), vec![self.slots, self.width]));
        }
        v
    }
    /// Number of controller parameter arrays (they come first).
    fn controller_params(&self) -> usize {
        self.controller.param_shapes(0).len()
    }
}

/// Borrowed parameters, in `NtmSpec::param_shapes` order.
pub struct NtmParams<'a, T> {
    /// The controller's, in `Controller::param_shapes` order.
    pub controller: Vec<&'a [T]>,
    pub head_weight: &'a [T],
    pub head_bias: &'a [T],
    pub out_weight: &'a [T],
    pub out_bias: &'a [T],
    pub read0: &'a [T],
    pub memory0: Option<&'a [T]>,
}

impl<'a, T> NtmParams<'a, T> {
    /// Checks the sizes of `list` (in `param_shapes` order) against `spec`.
    pub fn from_slices(spec: &NtmSpec, list: &[&'a [T]]) -> Result<Self> {
        let shapes = spec.param_shapes();
        if list.len() != shapes.len() {
            return Err(Error::value(
                "params",
                format!("expected {} arrays, got {}", shapes.len(), list.len()),
            ));
        }
        for ((name, shape), p) in shapes.iter().zip(list) {
            let want: usize = shape.iter().product();
            if p.len() != want {
                return Err(Error::shape(
                    name.as_str(),
                    format!("expected shape {shape:?} ({want} values), got {}", p.len()),
                ));
            }
        }
        let (ctrl, rest) = list.split_at(spec.controller_params());
        Ok(NtmParams {
            controller: ctrl.to_vec(),
            head_weight: rest[0],
            head_bias: rest[1],
            out_weight: rest[2],
            out_bias: rest[3],
            read0: rest[4],
            memory0: rest.get(5).copied(),
        })
    }
}

/// Everything a forward run keeps. With `keep` every step is kept (for
/// `backward`); otherwise only the current and previous state (inference,
/// memory O(B·N·M)).
pub struct Tape<T> {
    pub spec: NtmSpec,
    pub steps: usize,
    pub batch: usize,
    keep: bool,
    x: Vec<T>,
    // Per step (index `step_at(t)`), the controller's kept values:
    gates: Vec<T>,
    extra: Vec<T>,
    p: Vec<T>,
    cos: Vec<T>,
    wc: Vec<T>,
    wg: Vec<T>,
    wt: Vec<T>,
    // Per state 0..=T (index `state_at(t)`):
    h: Vec<T>,
    c: Vec<T>,
    mem: Vec<T>,
    w: Vec<T>,
    r: Vec<T>,
}

impl<T: Float> Tape<T> {
    fn state_at(&self, t: usize) -> usize {
        if self.keep {
            t
        } else {
            t % 2
        }
    }
    fn step_at(&self, t: usize) -> usize {
        if self.keep {
            t
        } else {
            0
        }
    }
    /// The weightings `w_t` of every head for steps 1..=T, `(T, B, heads, N)`
    /// (only when every step was kept).
    pub fn weightings(&self) -> Option<&[T]> {
        let len = self.batch * self.spec.heads() * self.spec.slots;
        self.keep.then(|| &self.w[len..])
    }
}

/// `(&v[prev block], &mut v[next block])` of blocks of `len` (prev != next).
fn prev_next<T>(v: &mut [T], len: usize, prev: usize, next: usize) -> (&[T], &mut [T]) {
    if prev < next {
        let (a, b) = v.split_at_mut(next * len);
        (&a[prev * len..(prev + 1) * len], &mut b[..len])
    } else {
        let (a, b) = v.split_at_mut(prev * len);
        (&b[..len], &mut a[next * len..(next + 1) * len])
    }
}

fn softplus<T: Float>(x: T) -> T {
    x.max(T::ZERO) + (T::ONE + (-x.abs()).exp()).ln()
}

fn softmax_inplace<T: Float>(v: &mut [T]) {
    let len = v.len();
    softmax_rows(v, len);
}

/// `dz = y ∘ (dy - <y, dy>)`: the gradient through a softmax with output `y`.
fn softmax_backward<T: Float>(y: &[T], dy: &[T], dz: &mut [T]) {
    let dot: T = y.iter().zip(dy).map(|(&a, &b)| a * b).sum();
    for ((z, &a), &b) in dz.iter_mut().zip(y).zip(dy) {
        *z = a * (b - dot);
    }
}

/// Every row of `c` (each `bias.len()` wide) set to `bias`.
fn fill_rows<T: Float>(c: &mut [T], bias: &[T]) {
    for row in c.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

fn col_sums<T: Float>(a: &[T], cols: usize, out: &mut [T]) {
    for row in a.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// The activated parameters of one head.
struct Head<'a, T> {
    key: &'a [T],
    beta: T,
    gate: T,
    shift: Vec<T>,
    gamma: T,
    /// Write heads: erase and add vectors.
    erase: Vec<T>,
    add: Vec<T>,
}

fn head<'a, T: Float>(spec: &NtmSpec, p: &'a [T], h: usize) -> Head<'a, T> {
    let (m, s) = (spec.width, spec.shifts());
    let q = &p[spec.head_offset(h)..];
    let mut shift = q[m + 2..m + 2 + s].to_vec();
    softmax_inplace(&mut shift);
    let (erase, add) = if h >= spec.read_heads {
        let e = &q[m + s + 3..];
        (e[..m].iter().map(|&v| v.sigmoid()).collect(), e[m..2 * m].iter().map(|&v| v.tanh()).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    Head {
        key: &q[..m],
        beta: softplus(q[m]),
        gate: q[m + 1].sigmoid(),
        shift,
        gamma: T::ONE + softplus(q[m + 2 + s]),
        erase,
        add,
    }
}

fn norm<T: Float>(v: &[T]) -> T {
    dot(v, v).sqrt()
}

/// `Σ a_i b_i` with 8 partial sums, so that it vectorises (a fixed order:
/// the same bits for every thread count).
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: T = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `Σ_i a_i b_{(i + shift) mod n}`: `a` against `b` rotated left by `shift`.
fn dot_rotated<T: Float>(a: &[T], b: &[T], shift: usize) -> T {
    let n = b.len();
    dot(&a[..n - shift], &b[shift..]) + dot(&a[n - shift..], &b[..shift])
}

/// `out_i += s · src_{(i + shift) mod n}` for every `i` (contiguous runs, no
/// modulo in the loop).
fn add_rotated<T: Float>(out: &mut [T], src: &[T], s: T, shift: usize) {
    let n = src.len();
    let (a, b) = out.split_at_mut(n - shift);
    for (o, &v) in a.iter_mut().zip(&src[shift..]) {
        *o += s * v;
    }
    for (o, &v) in b.iter_mut().zip(&src[..shift]) {
        *o += s * v;
    }
}

/// The rotation of shift offset `k` (offset `o = k - shift_range`): the
/// shifted weighting reads `w_g[(i - o) mod N] = w_g[(i + rot) mod N]`.
fn rotation(n: usize, shift_range: usize, k: usize) -> usize {
    (n + shift_range - k) % n
}

/// The norms of the `m`-wide rows of `mem`.
fn row_norms<T: Float>(mem: &[T], m: usize, out: &mut [T]) {
    for (o, row) in out.iter_mut().zip(mem.chunks_exact(m)) {
        *o = norm(row);
    }
}

/// The addressing of one head of one sequence (writes `cos, wc, wg, wt, w`,
/// each N long).
#[allow(clippy::too_many_arguments)]
fn address<T: Float>(
    spec: &NtmSpec,
    hd: &Head<'_, T>,
    mem: &[T],
    mnorms: &[T],
    w_prev: &[T],
    cos: &mut [T],
    wc: &mut [T],
    wg: &mut [T],
    wt: &mut [T],
    w: &mut [T],
) {
    let (n, m, sr) = (spec.slots, spec.width, spec.shift_range);
    let knorm = norm(hd.key);
    let eps = T::from_f64(COS_EPS);
    for (i, row) in mem.chunks_exact(m).enumerate() {
        cos[i] = dot(row, hd.key) / (knorm * mnorms[i] + eps);
        wc[i] = hd.beta * cos[i];
    }
    softmax_inplace(wc);
    for i in 0..n {
        wg[i] = hd.gate * wc[i] + (T::ONE - hd.gate) * w_prev[i];
    }
    wt.fill(T::ZERO);
    for (k, &sk) in hd.shift.iter().enumerate() {
        add_rotated(wt, wg, sk, rotation(n, sr, k));
    }
    let se = T::from_f64(SHARPEN_EPS);
    for i in 0..n {
        w[i] = hd.gamma * (wt[i] + se).ln();
    }
    softmax_inplace(w);
}

/// Runs the NTM over `x` (`(steps, batch, input)`, time-major); returns the
/// outputs `(steps, batch, output)` and the tape (`keep`: every step, for
/// `backward`).
pub fn forward<T: Float>(
    spec: &NtmSpec,
    params: &NtmParams<'_, T>,
    x: &[T],
    steps: usize,
    batch: usize,
    keep: bool,
) -> Result<(Vec<T>, Tape<T>)> {
    spec.validate()?;
    if steps == 0 {
        return Err(Error::value("x", "expected a sequence of at least one step, got an empty one"));
    }
    if batch == 0 {
        return Err(Error::value("x", "expected a batch of at least one sequence"));
    }
    if x.len() != checked_size(&[steps, batch, spec.input], "x")? {
        return Err(Error::shape(
            "x",
            format!("expected {steps}x{batch}x{} values, got {}", spec.input, x.len()),
        ));
    }
    if (spec.memory_init == MemoryInit::Learned) != params.memory0.is_some() {
        return Err(Error::value("memory0", "given if and only if the memory initialisation is learned"));
    }
    let (b, hid, nh, n) = (batch, spec.hidden(), spec.heads(), spec.slots);
    let ctrl = &spec.controller;
    let (ns, nt) = if keep { (steps + 1, steps) } else { (2, 1) };
    let alloc = |per: usize, count: usize, what: &str| -> Result<Vec<T>> {
        try_zeros(checked_size(&[per, count, b], what)?, what)
    };
    let mut tape = Tape {
        spec: spec.clone(),
        steps,
        batch,
        keep,
        x: if keep { x.to_vec() } else { Vec::new() },
        gates: alloc(ctrl.gate_width(), nt, "controller gates")?,
        extra: alloc(ctrl.extra_width(), nt, "controller values")?,
        p: alloc(spec.head_params(), nt, "head parameters")?,
        cos: alloc(nh * n, nt, "cosine similarities")?,
        wc: alloc(nh * n, nt, "content weightings")?,
        wg: alloc(nh * n, nt, "gated weightings")?,
        wt: alloc(nh * n, nt, "shifted weightings")?,
        h: alloc(hid, ns, "h")?,
        c: alloc(ctrl.c_width(), ns, "c")?,
        mem: alloc(spec.cells(), ns, "memory")?,
        w: alloc(nh * n, ns, "weightings")?,
        r: alloc(spec.reads(), ns, "reads")?,
    };
    let mut y: Vec<T> = try_zeros(checked_size(&[steps, b, spec.output], "y")?, "y")?;
    // State 0.
    for row in tape.mem[..b * spec.cells()].chunks_exact_mut(spec.cells()) {
        match (spec.memory_init, params.memory0) {
            (_, Some(m0)) => row.copy_from_slice(m0),
            (MemoryInit::Constant(v), None) => row.fill(T::from_f64(v)),
            (MemoryInit::Learned, None) => unreachable!("checked above"),
        }
    }
    for row in tape.w[..b * nh * n].chunks_exact_mut(n) {
        row[0] = T::ONE;
    }
    if spec.reads() > 0 {
        fill_rows(&mut tape.r[..b * spec.reads()], params.read0);
    }
    let bias = ctrl.prepare_bias(&params.controller);
    let mut rec = vec![T::ZERO; b * ctrl.gate_width()];
    crate::par::install(|| {
        for t in 0..steps {
            step_forward(
                spec,
                params,
                &bias,
                &mut tape,
                &x[t * b * spec.input..(t + 1) * b * spec.input],
                t,
                &mut rec,
            );
            let yt = &mut y[t * b * spec.output..(t + 1) * b * spec.output];
            output(spec, params, &tape, t, yt);
        }
    });
    Ok((y, tape))
}

fn output<T: Float>(spec: &NtmSpec, params: &NtmParams<'_, T>, tape: &Tape<T>, t: usize, yt: &mut [T]) {
    let (b, hid, rm, o) = (tape.batch, spec.hidden(), spec.reads(), spec.output);
    let sn = tape.state_at(t + 1);
    fill_rows(yt, params.out_bias);
    let h = &tape.h[sn * b * hid..(sn + 1) * b * hid];
    gemm(
        Parallelism::Pool,
        yt,
        o,
        Op::new(h, b, hid),
        cols(params.out_weight, o, hid + rm, 0, hid).t(),
        T::ONE,
        true,
    );
    if rm > 0 {
        let r = &tape.r[sn * b * rm..(sn + 1) * b * rm];
        gemm(
            Parallelism::Pool,
            yt,
            o,
            Op::new(r, b, rm),
            cols(params.out_weight, o, hid + rm, hid, rm).t(),
            T::ONE,
            true,
        );
    }
}

fn step_forward<T: Float>(
    spec: &NtmSpec,
    params: &NtmParams<'_, T>,
    bias: &(Vec<T>, Vec<T>),
    tape: &mut Tape<T>,
    xt: &[T],
    t: usize,
    rec: &mut [T],
) {
    let (b, hid, rm) = (tape.batch, spec.hidden(), spec.reads());
    let (sp, sn, st) = (tape.state_at(t), tape.state_at(t + 1), tape.step_at(t));
    let ctrl = &spec.controller;
    let (gw, ew, cw) = (ctrl.gate_width(), ctrl.extra_width(), ctrl.c_width());
    let (h_prev, h_new) = prev_next(&mut tape.h, b * hid, sp, sn);
    let (c_prev, c_new) = prev_next(&mut tape.c, b * cw, sp, sn);
    ctrl.forward(
        &params.controller,
        bias,
        CtrlStep {
            xt,
            r_prev: &tape.r[sp * b * rm..(sp + 1) * b * rm],
            h_prev,
            c_prev,
            gates: &mut tape.gates[st * b * gw..(st + 1) * b * gw],
            extra: &mut tape.extra[st * b * ew..(st + 1) * b * ew],
            c_new,
            h_new,
        },
        b,
        rec,
    );
    let h_new = &tape.h[sn * b * hid..(sn + 1) * b * hid];
    // Head parameters.
    let ph = spec.head_params();
    let p = &mut tape.p[st * b * ph..(st + 1) * b * ph];
    fill_rows(p, params.head_bias);
    gemm(
        Parallelism::Pool,
        p,
        ph,
        Op::new(h_new, b, hid),
        Op::new(params.head_weight, ph, hid).t(),
        T::ONE,
        true,
    );
    // Addressing, reads and writes, one sequence at a time.
    let (n, m, nh) = (spec.slots, spec.width, spec.heads());
    let hn = nh * n;
    let (mem_prev, mem_new) = prev_next(&mut tape.mem, b * spec.cells(), sp, sn);
    let (w_prev, w_new) = prev_next(&mut tape.w, b * hn, sp, sn);
    let (_, r_new) = prev_next(&mut tape.r, b * rm, sp, sn);
    let at = st * b * hn..(st + 1) * b * hn;
    let outs = (rows(&mut tape.cos[at.clone()], b).into_iter())
        .zip(rows(&mut tape.wc[at.clone()], b))
        .zip(rows(&mut tape.wg[at.clone()], b))
        .zip(rows(&mut tape.wt[at], b))
        .zip(rows(w_new, b))
        .zip(rows(r_new, b))
        .zip(rows(mem_new, b))
        .map(|((((((cos, wc), wg), wt), w), r), mem)| RowOut { cos, wc, wg, wt, w, r, mem })
        .collect::<Vec<_>>();
    let p: &[T] = p;
    let (cells, w_prev): (&[T], &[T]) = (mem_prev, w_prev);
    // Every sequence on its own (in parallel; each row's arithmetic is the
    // same for any thread count).
    outs.into_par_iter().enumerate().for_each(|(bi, out)| {
        let mp = &cells[bi * n * m..(bi + 1) * n * m];
        let pr = &p[bi * ph..(bi + 1) * ph];
        row_forward(spec, pr, mp, &w_prev[bi * hn..(bi + 1) * hn], out);
    });
}

/// `v` cut into `b` equal rows (`b` empty rows when `v` is empty).
fn rows<T>(v: &mut [T], b: usize) -> Vec<&mut [T]> {
    if v.is_empty() {
        (0..b).map(|_| <&mut [T]>::default()).collect()
    } else {
        let len = v.len() / b;
        v.chunks_exact_mut(len).collect()
    }
}

/// One sequence's outputs of the memory part of a step (see `Tape`).
struct RowOut<'a, T> {
    cos: &'a mut [T],
    wc: &'a mut [T],
    wg: &'a mut [T],
    wt: &'a mut [T],
    w: &'a mut [T],
    r: &'a mut [T],
    mem: &'a mut [T],
}

/// Addressing, reads and the write of one sequence: from its head
/// parameters `pr`, memory `mp` and weightings `w_prev`.
fn row_forward<T: Float>(spec: &NtmSpec, pr: &[T], mp: &[T], w_prev: &[T], out: RowOut<'_, T>) {
    let (n, m, nh) = (spec.slots, spec.width, spec.heads());
    let mut mnorms = vec![T::ZERO; n];
    row_norms(mp, m, &mut mnorms);
    let heads: Vec<Head<'_, T>> = (0..nh).map(|h| head(spec, pr, h)).collect();
    for (h, hd) in heads.iter().enumerate() {
        let o = h * n..(h + 1) * n;
        address(
            spec,
            hd,
            mp,
            &mnorms,
            &w_prev[o.clone()],
            &mut out.cos[o.clone()],
            &mut out.wc[o.clone()],
            &mut out.wg[o.clone()],
            &mut out.wt[o.clone()],
            &mut out.w[o],
        );
    }
    let wof = |h: usize| &out.w[h * n..(h + 1) * n];
    // Reads from M_{t-1}.
    for h in 0..spec.read_heads {
        let r = &mut out.r[h * m..(h + 1) * m];
        r.fill(T::ZERO);
        for (row, &wi) in mp.chunks_exact(m).zip(wof(h)) {
            for (a, &v) in r.iter_mut().zip(row) {
                *a += wi * v;
            }
        }
    }
    // Erase, then add.
    let mn = out.mem;
    mn.copy_from_slice(mp);
    let writes = || heads.iter().enumerate().skip(spec.read_heads);
    for (h, hd) in writes() {
        for (row, &wi) in mn.chunks_exact_mut(m).zip(wof(h)) {
            for (v, &e) in row.iter_mut().zip(&hd.erase) {
                *v *= T::ONE - wi * e;
            }
        }
    }
    for (h, hd) in writes() {
        for (row, &wi) in mn.chunks_exact_mut(m).zip(wof(h)) {
            for (v, &a) in row.iter_mut().zip(&hd.add) {
                *v += wi * a;
            }
        }
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
    let (steps, b) = (tape.steps, tape.batch);
    let (hid, rm, i_n, o, ph) = (spec.hidden(), spec.reads(), spec.input, spec.output, spec.head_params());
    let (n, nh) = (spec.slots, spec.heads());
    let (hn, nm) = (nh * n, spec.cells());
    let ctrl = &spec.controller;
    let (gw, ew, cw, dghw) = (ctrl.gate_width(), ctrl.extra_width(), ctrl.c_width(), ctrl.dgh_width());
    if dy.len() != steps * b * o {
        return Err(Error::shape("dy", format!("expected {steps}x{b}x{o} values, got {}", dy.len())));
    }
    let mut dgx: Vec<T> = try_zeros(steps * b * gw, "gate gradients")?;
    let mut dgh: Vec<T> = try_zeros(steps * b * dghw, "gate gradients")?;
    let mut dp: Vec<T> = try_zeros(steps * b * ph, "head gradients")?;
    let mut dx: Vec<T> = try_zeros(steps * b * i_n, "dx")?;
    let mut dh = vec![T::ZERO; b * hid];
    let mut dc = vec![T::ZERO; b * cw];
    let mut dmem: Vec<T> = try_zeros(b * nm, "memory gradient")?;
    let mut dmem_prev: Vec<T> = try_zeros(b * nm, "memory gradient")?;
    let mut dw = vec![T::ZERO; b * hn];
    let mut dw_prev = vec![T::ZERO; b * hn];
    let mut dr = vec![T::ZERO; b * rm];
    let mut scratch = vec![T::ZERO; b * gw.max(hid)];
    crate::par::install(|| {
        for t in (0..steps).rev() {
            let dyt = &dy[t * b * o..(t + 1) * b * o];
            gemm(
                Parallelism::Pool,
                &mut dh,
                hid,
                Op::new(dyt, b, o),
                cols(params.out_weight, o, hid + rm, 0, hid),
                T::ONE,
                true,
            );
            if rm > 0 {
                gemm(
                    Parallelism::Pool,
                    &mut dr,
                    rm,
                    Op::new(dyt, b, o),
                    cols(params.out_weight, o, hid + rm, hid, rm),
                    T::ONE,
                    true,
                );
            }
            let dpt = &mut dp[t * b * ph..(t + 1) * b * ph];
            // Every sequence on its own (in parallel, same bits for any thread count).
            let tasks: Vec<_> =
                rows(dpt, b).into_iter().zip(rows(&mut dmem_prev, b)).zip(rows(&mut dw_prev, b)).collect();
            let (dmem_t, dr_t, dw_t) = (&dmem, &dr, &dw);
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
                &mut dh,
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
                    dh: &mut dh,
                    dc: &mut dc,
                    dgx: &mut dgx[t * b * gw..(t + 1) * b * gw],
                    dgh: &mut dgh[t * b * dghw..(t + 1) * b * dghw],
                    dxt: &mut dx[t * b * i_n..(t + 1) * b * i_n],
                    dr: &mut dr,
                },
                b,
                &mut scratch,
            );
            std::mem::swap(&mut dmem, &mut dmem_prev);
            std::mem::swap(&mut dw, &mut dw_prev);
        }
    });
    // Weight gradients: one product over all steps and sequences each.
    let rows = steps * b;
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
            &dgx,
            &dgh,
            &mut grads[..nc],
        );
        gemm(
            Parallelism::Pool,
            &mut grads[nc],
            hid,
            Op::new(&dp, rows, ph).t(),
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
    col_sums(&dp, ph, &mut grads[nc + 1]);
    col_sums(dy, o, &mut grads[nc + 3]);
    if rm > 0 {
        col_sums(&dr, rm, &mut grads[nc + 4]);
    }
    if spec.memory_init == MemoryInit::Learned {
        col_sums(&dmem, nm, &mut grads[nc + 5]);
    }
    Ok((dx, grads))
}

/// Backward through the heads of one sequence at step `t`: from the
/// gradients w.r.t. `M_t` (`dmem`), `r_t` (`dr`) and the weightings `w_t`
/// (`dw`, from step t+1's interpolation) to the head parameters (`dp`),
/// `M_{t-1}` (`dmem_prev`) and `w_{t-1}` (`dw_prev`).
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
    let (n, m, nh, r_h) = (spec.slots, spec.width, spec.heads(), spec.read_heads);
    let (hn, nm, ph) = (nh * n, spec.cells(), spec.head_params());
    let s_n = spec.shifts();
    // This sequence's block of `len` values at time index `idx`.
    let row = |idx: usize, len: usize| (idx * b + bi) * len..(idx * b + bi + 1) * len;
    let p = &tape.p[row(t, ph)];
    let mp = &tape.mem[row(t, nm)];
    let w_prev = &tape.w[row(t, hn)];
    let w_all = &tape.w[row(t + 1, hn)];
    let cos = &tape.cos[row(t, hn)];
    let wc_all = &tape.wc[row(t, hn)];
    let wg_all = &tape.wg[row(t, hn)];
    let wt_all = &tape.wt[row(t, hn)];
    let heads: Vec<Head<'_, T>> = (0..nh).map(|h| head(spec, p, h)).collect();
    let wof = |h: usize| &w_all[h * n..(h + 1) * n];
    let mut dwh = dw.to_vec();
    dmem_prev.fill(T::ZERO);
    dp.fill(T::ZERO);
    // Writes: M_t = M_{t-1} ∘ E + Σ w a^T, E = Π_h (1 - w_h e_hᵀ).
    let writes = r_h..nh;
    let mut de = vec![T::ZERO; spec.write_heads * m];
    let mut da = vec![T::ZERO; spec.write_heads * m];
    if !writes.is_empty() {
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
    } else {
        dmem_prev.copy_from_slice(dmem);
    }
    // Reads: r_h = w_hᵀ M_{t-1}.
    for h in 0..r_h {
        let drh = &dr[h * m..(h + 1) * m];
        for i in 0..n {
            let mrow = &mp[i * m..(i + 1) * m];
            dwh[h * n + i] += dot(mrow, drh);
            let wi = wof(h)[i];
            for (d, &c) in dmem_prev[i * m..(i + 1) * m].iter_mut().zip(drh) {
                *d += wi * c;
            }
        }
    }
    // Addressing, head by head.
    let se = T::from_f64(SHARPEN_EPS);
    let ce = T::from_f64(COS_EPS);
    let mut dz = vec![T::ZERO; n];
    let mut dwt = vec![T::ZERO; n];
    let mut dwg = vec![T::ZERO; n];
    let mut ds = vec![T::ZERO; s_n];
    let mut dsh = vec![T::ZERO; s_n];
    let mut mnorms = vec![T::ZERO; n];
    row_norms(mp, m, &mut mnorms);
    for (h, hd) in heads.iter().enumerate() {
        let hr = h * n..(h + 1) * n;
        let (w, wt, wg, wc, k_cos) =
            (wof(h), &wt_all[hr.clone()], &wg_all[hr.clone()], &wc_all[hr.clone()], &cos[hr.clone()]);
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
        let wp = &w_prev[hr.clone()];
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
        let knorm = norm(hd.key);
        let dkey = &mut dq[..m];
        for i in 0..n {
            let dk = hd.beta * dz[i];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::Mode;
    use crate::memory::controller::Activation;

    fn spec(init: MemoryInit) -> NtmSpec {
        with(init, Controller::Recurrent { mode: Mode::Lstm, hidden: 4 })
    }

    /// Every controller kind the tests cover.
    fn controllers() -> Vec<Controller> {
        vec![
            Controller::Recurrent { mode: Mode::Lstm, hidden: 4 },
            Controller::Recurrent { mode: Mode::Gru, hidden: 3 },
            Controller::Recurrent { mode: Mode::RnnTanh, hidden: 4 },
            Controller::FeedForward { sizes: vec![5, 3], activation: Activation::Tanh },
            Controller::FeedForward { sizes: vec![4], activation: Activation::Sigmoid },
        ]
    }

    fn with(init: MemoryInit, controller: Controller) -> NtmSpec {
        NtmSpec {
            input: 3,
            output: 2,
            controller,
            slots: 5,
            width: 3,
            read_heads: 1,
            write_heads: 2,
            shift_range: 1,
            memory_init: init,
        }
    }

    fn params(spec: &NtmSpec) -> Vec<Vec<f64>> {
        let mut k = 0.0;
        spec.param_shapes()
            .iter()
            .map(|(_, s)| {
                (0..s.iter().product::<usize>())
                    .map(|_| {
                        k += 1.0;
                        0.6 * (k * 0.731f64).sin()
                    })
                    .collect()
            })
            .collect()
    }

    fn loss(spec: &NtmSpec, ps: &[Vec<f64>], x: &[f64], wy: &[f64], steps: usize, b: usize) -> f64 {
        let list: Vec<&[f64]> = ps.iter().map(|v| v.as_slice()).collect();
        let p = NtmParams::from_slices(spec, &list).unwrap();
        let (y, _) = forward(spec, &p, x, steps, b, false).unwrap();
        y.iter().zip(wy).map(|(a, c)| a * c).sum()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let cases = [MemoryInit::Constant(0.1), MemoryInit::Learned]
            .into_iter()
            .flat_map(|init| controllers().into_iter().map(move |c| with(init, c)));
        for sp in cases {
            let (steps, b) = (4, 2);
            let mut ps = params(&sp);
            let x: Vec<f64> = (0..steps * b * 3).map(|i| (i as f64 * 0.37).cos()).collect();
            let wy: Vec<f64> = (0..steps * b * 2).map(|i| (i as f64 * 0.91).sin()).collect();
            let list: Vec<&[f64]> = ps.iter().map(|v| v.as_slice()).collect();
            let p = NtmParams::from_slices(&sp, &list).unwrap();
            let (_, tape) = forward(&sp, &p, &x, steps, b, true).unwrap();
            let (dx, grads) = backward(&p, &tape, &wy).unwrap();
            let eps = 1e-6;
            for (pi, g) in grads.iter().enumerate() {
                for k in (0..g.len()).step_by(3) {
                    let orig = ps[pi][k];
                    ps[pi][k] = orig + eps;
                    let lp = loss(&sp, &ps, &x, &wy, steps, b);
                    ps[pi][k] = orig - eps;
                    let lm = loss(&sp, &ps, &x, &wy, steps, b);
                    ps[pi][k] = orig;
                    let num = (lp - lm) / (2.0 * eps);
                    assert!(
                        (num - g[k]).abs() < 1e-6 * (1.0 + num.abs()),
                        "param {pi}[{k}]: {num} vs {}",
                        g[k]
                    );
                }
            }
            let mut xs = x.clone();
            for k in 0..xs.len() {
                let orig = xs[k];
                xs[k] = orig + eps;
                let lp = loss(&sp, &ps, &xs, &wy, steps, b);
                xs[k] = orig - eps;
                let lm = loss(&sp, &ps, &xs, &wy, steps, b);
                xs[k] = orig;
                let num = (lp - lm) / (2.0 * eps);
                assert!((num - dx[k]).abs() < 1e-6 * (1.0 + num.abs()), "dx[{k}]: {num} vs {}", dx[k]);
            }
        }
    }

    #[test]
    fn weightings_are_distributions_and_inference_matches_training() {
        let sp = spec(MemoryInit::Constant(1e-6));
        let ps = params(&sp);
        let list: Vec<&[f64]> = ps.iter().map(|v| v.as_slice()).collect();
        let p = NtmParams::from_slices(&sp, &list).unwrap();
        let x: Vec<f64> = (0..6 * 3).map(|i| (i as f64).sin()).collect();
        let (y1, tape) = forward(&sp, &p, &x, 6, 1, true).unwrap();
        let (y2, _) = forward(&sp, &p, &x, 6, 1, false).unwrap();
        assert_eq!(y1, y2);
        for w in tape.weightings().unwrap().chunks_exact(5) {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn rotation_helpers_match_the_modulo_formula() {
        let n = 7;
        let src: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).sin()).collect();
        let a: Vec<f64> = (0..n).map(|i| i as f64 - 2.5).collect();
        for sr in 0..3 {
            for k in 0..2 * sr + 1 {
                let rot = rotation(n, sr, k);
                let mut out = vec![0.0; n];
                add_rotated(&mut out, &src, 2.0, rot);
                for i in 0..n {
                    assert_eq!(out[i], 2.0 * src[(i + n + sr - k) % n]);
                }
                let want: f64 = (0..n).map(|i| a[i] * src[(i + rot) % n]).sum();
                assert!((dot_rotated(&a, &src, rot) - want).abs() < 1e-12);
            }
        }
        let v: Vec<f64> = (0..19).map(|i| i as f64 * 0.5).collect();
        assert!((dot(&v, &v) - v.iter().map(|x| x * x).sum::<f64>()).abs() < 1e-9);
    }

    #[test]
    fn bad_specs_and_inputs_are_errors() {
        let mut sp = spec(MemoryInit::Constant(0.0));
        sp.shift_range = 3;
        assert!(sp.validate().is_err());
        let sp = spec(MemoryInit::Constant(0.0));
        let ps = params(&sp);
        let list: Vec<&[f64]> = ps.iter().map(|v| v.as_slice()).collect();
        let p = NtmParams::from_slices(&sp, &list).unwrap();
        assert!(forward(&sp, &p, &[], 0, 1, false).is_err());
        assert!(forward(&sp, &p, &[0.0; 5], 1, 1, false).is_err());
        assert!(NtmParams::from_slices(&sp, &list[..3]).is_err());
    }
}
