//! The controller of the Neural Turing Machine (`super::ntm`): the network
//! that reads `u_t = [x_t, r_{t-1}]` (the input and the previous reads) and
//! emits `h_t`, from which the heads and the output are computed.
//!
//! Two kinds, both batched over `B` rows and with their own step backward:
//! - `Recurrent`: any gated rnnrs cell (`crate::cell::Mode`: LSTM and its
//!   variants, GRU, Elman tanh/ReLU) with PyTorch's layout and names
//!   (`controller.weight_ih_l0 (G·H, I + R·M)`, `controller.weight_hh_l0
//!   (G·H, H)`, `controller.bias_ih_l0`, `controller.bias_hh_l0`); the cell
//!   does the element-wise part through the `Cell` trait, this file the
//!   products;
//! - `FeedForward`: `a_0 = act(W_0 u_t + b_0)`, `a_k = act(W_k a_{k-1} + b_k)`,
//!   `h_t = a_{L-1}`, parameters `controller.{k}.weight (H_k, H_{k-1})` and
//!   `controller.{k}.bias (H_k)` (`H_{-1} = I + R·M`). It has no state of its
//!   own: everything it remembers goes through the memory and the reads.
//!
//! Per step and row the tape keeps `gates` (`gate_width` values: the cell's
//! gate activations, or the feed-forward layers' outputs side by side),
//! `extra` (the cell's saved values) and `c` (LSTMs only); the backward step
//! stores the pre-activation gradients (`dgx`, and `dgh` for a `SPLIT` cell)
//! of every step, from which `weight_grads` makes one product per weight.

use crate::cell::{with_cell, BackIo, Cell, Mode, StepIo};
use crate::error::{Error, Result};
use crate::kernels::{sigmoid_inplace, tanh_inplace};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// The activation of the feed-forward controller's layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Relu,
    Sigmoid,
}

impl Activation {
    /// `"tanh"`, `"relu"` or `"sigmoid"` (any case).
    pub fn parse(s: &str) -> Result<Activation> {
        match s.to_ascii_lowercase().as_str() {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            "sigmoid" => Ok(Activation::Sigmoid),
            _ => Err(Error::value("activation", format!("expected 'tanh', 'relu' or 'sigmoid', got {s:?}"))),
        }
    }
    fn apply<T: Float>(self, x: &mut [T]) {
        match self {
            Activation::Tanh => tanh_inplace(x),
            Activation::Sigmoid => sigmoid_inplace(x),
            Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(T::ZERO)),
        }
    }
    /// The derivative at the pre-activation, from the output `a`.
    fn slope<T: Float>(self, a: T) -> T {
        match self {
            Activation::Tanh => T::ONE - a * a,
            Activation::Sigmoid => a * (T::ONE - a),
            Activation::Relu => {
                if a > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
        }
    }
}

/// Which controller, with its sizes.
#[derive(Clone, Debug, PartialEq)]
pub enum Controller {
    /// A gated recurrent cell with `hidden` units.
    Recurrent { mode: Mode, hidden: usize },
    /// Feed-forward layers of `sizes[k]` units each (the last is `h_t`).
    FeedForward { sizes: Vec<usize>, activation: Activation },
}

/// Column offsets of the feed-forward layers in a row of `sizes.iter().sum()`.
fn offsets(sizes: &[usize]) -> Vec<usize> {
    sizes.iter().scan(0, |acc, &s| Some(std::mem::replace(acc, *acc + s))).collect()
}

/// Columns `c0..c0+cols` of a row-major matrix with `ld` columns.
pub(super) fn cols<T>(data: &[T], rows: usize, ld: usize, c0: usize, cols: usize) -> Op<'_, T> {
    Op { data: &data[c0..], rows, cols, ld, trans: false }
}

/// Every row of `c` (rows `ld` apart) starts with `bias`.
fn fill_rows_ld<T: Float>(c: &mut [T], ld: usize, bias: &[T]) {
    for row in c.chunks_mut(ld) {
        row[..bias.len()].copy_from_slice(bias);
    }
}

/// Adds the column sums of the `cols`-wide block at `c0` (rows `ld` apart) to `out`.
fn col_sums_ld<T: Float>(a: &[T], ld: usize, c0: usize, out: &mut [T]) {
    for row in a.chunks(ld) {
        for (o, &v) in out.iter_mut().zip(&row[c0..]) {
            *o += v;
        }
    }
}

/// The forward step's buffers for one step of the batch.
pub struct CtrlStep<'a, T> {
    pub xt: &'a [T],
    pub r_prev: &'a [T],
    pub h_prev: &'a [T],
    pub c_prev: &'a [T],
    pub gates: &'a mut [T],
    pub extra: &'a mut [T],
    pub c_new: &'a mut [T],
    pub h_new: &'a mut [T],
}

/// The backward step's buffers for one step of the batch.
pub struct CtrlBack<'a, T> {
    pub gates: &'a [T],
    pub extra: &'a [T],
    pub h_prev: &'a [T],
    pub c_prev: &'a [T],
    pub c_new: &'a [T],
    /// In: dL/dh_t; out: dL/dh_{t-1} through the controller.
    pub dh: &'a mut [T],
    /// dL/dc_t in, dL/dc_{t-1} out (LSTMs).
    pub dc: &'a mut [T],
    /// Out: the pre-activation gradients kept for `weight_grads`.
    pub dgx: &'a mut [T],
    pub dgh: &'a mut [T],
    /// Out: dL/dx_t and dL/dr_{t-1} (overwritten).
    pub dxt: &'a mut [T],
    pub dr: &'a mut [T],
}

impl Controller {
    /// `kind` `"ff"` (feed-forward, layers `sizes`, `activation`) or a
    /// recurrent cell by `Mode::parse`'s names (`"lstm"`, `"gru"`,
    /// `"rnn_tanh"`, ...; one size, `activation` unused), any case.
    pub fn parse(kind: &str, sizes: &[usize], activation: &str) -> Result<Controller> {
        let c = if kind.eq_ignore_ascii_case("ff") {
            Controller::FeedForward { sizes: sizes.to_vec(), activation: Activation::parse(activation)? }
        } else {
            let unknown = || {
                Error::value(
                    "controller",
                    format!(
                        "expected 'lstm', 'gru', 'rnn_tanh', 'rnn_relu', 'lstm_noforget', 'lstm_cifg', 'mgu' or 'ff', got {kind:?}"
                    ),
                )
            };
            let mode = Mode::parse(kind).map_err(|_| unknown())?;
            // The controller drives a cell with the full parameter layout and no
            // parameters of its own (the NTM's parameter list has no slot for them).
            if !mode.own_params().is_empty() || !mode.full_layout() {
                return Err(unknown());
            }
            match sizes {
                [hidden] => Controller::Recurrent { mode, hidden: *hidden },
                _ => {
                    return Err(Error::value(
                        "controller_size",
                        format!("expected one size for a recurrent controller, got {sizes:?}"),
                    ))
                }
            }
        };
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            Controller::Recurrent { hidden: 0, .. } => {
                Err(Error::value("controller_size", "expected an integer >= 1, got 0"))
            }
            Controller::FeedForward { sizes, .. } if sizes.is_empty() || sizes.contains(&0) => {
                Err(Error::value(
                    "controller_size",
                    format!("expected one or more layer sizes >= 1, got {sizes:?}"),
                ))
            }
            _ => Ok(()),
        }
    }
    /// Units of `h_t` (what the heads and the output see).
    pub fn hidden(&self) -> usize {
        match self {
            Controller::Recurrent { hidden, .. } => *hidden,
            Controller::FeedForward { sizes, .. } => sizes.last().copied().unwrap_or(0),
        }
    }
    /// Values kept per step and row in `gates`.
    pub fn gate_width(&self) -> usize {
        match self {
            Controller::Recurrent { mode, hidden } => mode.gates() * hidden,
            Controller::FeedForward { sizes, .. } => sizes.iter().sum(),
        }
    }
    /// Values kept per step and row in `extra`.
    pub fn extra_width(&self) -> usize {
        match self {
            Controller::Recurrent { mode, hidden } => with_cell!(*mode, c => extra_of(&c)) * hidden,
            Controller::FeedForward { .. } => 0,
        }
    }
    /// Values of the cell state `c` per row (LSTMs: `H`; else 0).
    pub fn c_width(&self) -> usize {
        match self {
            Controller::Recurrent { mode, hidden } if mode.has_c() => *hidden,
            _ => 0,
        }
    }
    /// Width of `dgh` per row (cells whose recurrent gradient differs).
    pub fn dgh_width(&self) -> usize {
        match self {
            Controller::Recurrent { mode, hidden } if with_cell!(*mode, c => split_of(&c)) => {
                mode.gates() * hidden
            }
            _ => 0,
        }
    }
    /// Parameter names and shapes, for the controller input `ctrl_in = I + R·M`.
    pub fn param_shapes(&self, ctrl_in: usize) -> Vec<(String, Vec<usize>)> {
        match self {
            Controller::Recurrent { mode, hidden } => {
                let gh = mode.gates() * hidden;
                vec![
                    ("controller.weight_ih_l0".into(), vec![gh, ctrl_in]),
                    ("controller.weight_hh_l0".into(), vec![gh, *hidden]),
                    ("controller.bias_ih_l0".into(), vec![gh]),
                    ("controller.bias_hh_l0".into(), vec![gh]),
                ]
            }
            Controller::FeedForward { sizes, .. } => {
                let mut fan_in = ctrl_in;
                let mut v = Vec::new();
                for (k, &s) in sizes.iter().enumerate() {
                    v.push((format!("controller.{k}.weight"), vec![s, fan_in]));
                    v.push((format!("controller.{k}.bias"), vec![s]));
                    fan_in = s;
                }
                v
            }
        }
    }

    /// The biases as the steps use them: recurrent cells split `bias_ih +
    /// bias_hh` into the part added to the input projection and the part
    /// that stays with the recurrent product (`Cell::split_bias`).
    pub fn prepare_bias<T: Float>(&self, ps: &[&[T]]) -> (Vec<T>, Vec<T>) {
        match self {
            Controller::Recurrent { mode, hidden } => {
                let gh = mode.gates() * hidden;
                let (mut ib, mut rb) = (vec![T::ZERO; gh], vec![T::ZERO; gh]);
                with_cell!(*mode, c => c.split_bias(*hidden, ps[2], ps[3], &mut ib, &mut rb));
                (ib, rb)
            }
            Controller::FeedForward { .. } => (Vec::new(), Vec::new()),
        }
    }

    /// One step forward for `b` rows; `rec` is `(b, gate_width)` scratch.
    pub fn forward<T: Float>(
        &self,
        ps: &[&[T]],
        bias: &(Vec<T>, Vec<T>),
        s: CtrlStep<'_, T>,
        b: usize,
        rec: &mut [T],
    ) {
        let i_n = s.xt.len() / b;
        let rm = s.r_prev.len() / b;
        let ctrl_in = i_n + rm;
        match self {
            Controller::Recurrent { mode, hidden } => {
                let (hid, gh) = (*hidden, mode.gates() * hidden);
                // gates = bias + x W_ih[:, :I]ᵀ + r_prev W_ih[:, I:]ᵀ; rec = h_prev W_hhᵀ.
                fill_rows_ld(s.gates, gh, &bias.0);
                gemm(
                    Parallelism::Pool,
                    s.gates,
                    gh,
                    Op::new(s.xt, b, i_n),
                    cols(ps[0], gh, ctrl_in, 0, i_n).t(),
                    T::ONE,
                    true,
                );
                if rm > 0 {
                    gemm(
                        Parallelism::Pool,
                        s.gates,
                        gh,
                        Op::new(s.r_prev, b, rm),
                        cols(ps[0], gh, ctrl_in, i_n, rm).t(),
                        T::ONE,
                        true,
                    );
                }
                gemm(
                    Parallelism::Pool,
                    rec,
                    gh,
                    Op::new(s.h_prev, b, hid),
                    Op::new(ps[1], gh, hid).t(),
                    T::ONE,
                    false,
                );
                with_cell!(*mode, cell => cell.forward(StepIo {
                    h: hid,
                    own: &[],
                    input: &[],
                    gates: s.gates,
                    rec,
                    rec_bias: &bias.1,
                    h_prev: s.h_prev,
                    c_prev: s.c_prev,
                    c_new: s.c_new,
                    out: s.h_new,
                    extra: s.extra,
                }));
            }
            Controller::FeedForward { sizes, activation } => {
                let (ld, offs) = (self.gate_width(), offsets(sizes));
                for (k, (&hk, &off)) in sizes.iter().zip(&offs).enumerate() {
                    let (w, bk) = (ps[2 * k], ps[2 * k + 1]);
                    if k > 0 {
                        // The previous layer's outputs, contiguous (b x H_{k-1}), in `rec`.
                        let (pk, po) = (sizes[k - 1], offs[k - 1]);
                        for (dst, row) in rec.chunks_exact_mut(pk).zip(s.gates.chunks(ld)) {
                            dst.copy_from_slice(&row[po..po + pk]);
                        }
                    }
                    let out = &mut s.gates[off..];
                    fill_rows_ld(out, ld, bk);
                    if k == 0 {
                        gemm(
                            Parallelism::Pool,
                            out,
                            ld,
                            Op::new(s.xt, b, i_n),
                            cols(w, hk, ctrl_in, 0, i_n).t(),
                            T::ONE,
                            true,
                        );
                        if rm > 0 {
                            let wr = cols(w, hk, ctrl_in, i_n, rm).t();
                            gemm(Parallelism::Pool, out, ld, Op::new(s.r_prev, b, rm), wr, T::ONE, true);
                        }
                    } else {
                        let pk = sizes[k - 1];
                        let a_prev = Op::new(&rec[..b * pk], b, pk);
                        gemm(Parallelism::Pool, out, ld, a_prev, Op::new(w, hk, pk).t(), T::ONE, true);
                    }
                    for row in out.chunks_mut(ld) {
                        activation.apply(&mut row[..hk]);
                    }
                }
                let (hl, ol) = (self.hidden(), offs[sizes.len() - 1]);
                for (h, row) in s.h_new.chunks_exact_mut(hl).zip(s.gates.chunks(ld)) {
                    h.copy_from_slice(&row[ol..ol + hl]);
                }
            }
        }
    }

    /// One step backward for `b` rows; `scratch` is `(b, max(gate_width, H))`.
    pub fn backward<T: Float>(&self, ps: &[&[T]], s: CtrlBack<'_, T>, b: usize, scratch: &mut [T]) {
        let i_n = s.dxt.len() / b;
        let rm = s.dr.len() / b;
        let ctrl_in = i_n + rm;
        match self {
            Controller::Recurrent { mode, hidden } => {
                let (hid, gh) = (*hidden, mode.gates() * hidden);
                let dh_direct = &mut scratch[..b * hid];
                let split = self.dgh_width() > 0;
                with_cell!(*mode, cell => cell.backward(BackIo {
                    h: hid,
                    own: &[],
                    down: &mut [],
                    gates: s.gates,
                    extra: s.extra,
                    h_prev: s.h_prev,
                    c_prev: s.c_prev,
                    c_new: s.c_new,
                    dout: s.dh,
                    dc: s.dc,
                    dgx: s.dgx,
                    dgh: s.dgh,
                    dh_prev: dh_direct,
                }));
                let dg = Op::new(&*s.dgx, b, gh);
                gemm(Parallelism::Pool, s.dxt, i_n, dg, cols(ps[0], gh, ctrl_in, 0, i_n), T::ONE, false);
                if rm > 0 {
                    gemm(Parallelism::Pool, s.dr, rm, dg, cols(ps[0], gh, ctrl_in, i_n, rm), T::ONE, false);
                }
                if split {
                    s.dh.copy_from_slice(dh_direct);
                    gemm(
                        Parallelism::Pool,
                        s.dh,
                        hid,
                        Op::new(&*s.dgh, b, gh),
                        Op::new(ps[1], gh, hid),
                        T::ONE,
                        true,
                    );
                } else {
                    gemm(Parallelism::Pool, s.dh, hid, dg, Op::new(ps[1], gh, hid), T::ONE, false);
                }
            }
            Controller::FeedForward { sizes, activation } => {
                let (ld, offs) = (self.gate_width(), offsets(sizes));
                // `da` holds dL/da_k of the layer being processed (b x sizes[k]).
                let da = scratch;
                da[..s.dh.len()].copy_from_slice(s.dh);
                for k in (0..sizes.len()).rev() {
                    let (hk, off) = (sizes[k], offs[k]);
                    for ((dz, a), d) in s.dgx.chunks_mut(ld).zip(s.gates.chunks(ld)).zip(da.chunks_exact(hk))
                    {
                        for ((z, &av), &dv) in dz[off..off + hk].iter_mut().zip(&a[off..off + hk]).zip(d) {
                            *z = dv * activation.slope(av);
                        }
                    }
                    let dz = cols(&*s.dgx, b, ld, off, hk);
                    if k > 0 {
                        let pk = sizes[k - 1];
                        gemm(
                            Parallelism::Pool,
                            &mut da[..b * pk],
                            pk,
                            dz,
                            Op::new(ps[2 * k], hk, pk),
                            T::ONE,
                            false,
                        );
                    } else {
                        gemm(
                            Parallelism::Pool,
                            s.dxt,
                            i_n,
                            dz,
                            cols(ps[0], hk, ctrl_in, 0, i_n),
                            T::ONE,
                            false,
                        );
                        if rm > 0 {
                            gemm(
                                Parallelism::Pool,
                                s.dr,
                                rm,
                                dz,
                                cols(ps[0], hk, ctrl_in, i_n, rm),
                                T::ONE,
                                false,
                            );
                        }
                    }
                }
                // No state of its own: nothing flows to h_{t-1}.
                s.dh.fill(T::ZERO);
            }
        }
    }

    /// Weight and bias gradients from every step's kept gradients: `rows =
    /// steps · B`; `x`, `r_prev`, `h_prev` `(rows, ·)` the inputs of each
    /// step, `gates` the kept forward values; `grads` in `param_shapes` order.
    #[allow(clippy::too_many_arguments)]
    pub fn weight_grads<T: Float>(
        &self,
        rows: usize,
        x: &[T],
        r_prev: &[T],
        h_prev: &[T],
        gates: &[T],
        dgx: &[T],
        dgh: &[T],
        grads: &mut [Vec<T>],
    ) {
        let i_n = x.len() / rows;
        let rm = r_prev.len() / rows;
        let ctrl_in = i_n + rm;
        // grads[w] (cols_out wide) += dzᵀ [x, r_prev] for the first layer.
        let first = |g: &mut Vec<T>, dz: Op<'_, T>| {
            gemm(Parallelism::Pool, g, ctrl_in, dz, Op::new(x, rows, i_n), T::ONE, true);
            if rm > 0 {
                gemm(Parallelism::Pool, &mut g[i_n..], ctrl_in, dz, Op::new(r_prev, rows, rm), T::ONE, true);
            }
        };
        match self {
            Controller::Recurrent { mode, hidden } => {
                let (hid, gh) = (*hidden, mode.gates() * hidden);
                let dg = Op::new(dgx, rows, gh);
                first(&mut grads[0], dg.t());
                let drec = if dgh.is_empty() { dgx } else { dgh };
                gemm(
                    Parallelism::Pool,
                    &mut grads[1],
                    hid,
                    Op::new(drec, rows, gh).t(),
                    Op::new(h_prev, rows, hid),
                    T::ONE,
                    true,
                );
                col_sums_ld(dgx, gh, 0, &mut grads[2]);
                col_sums_ld(drec, gh, 0, &mut grads[3]);
            }
            Controller::FeedForward { sizes, .. } => {
                let (ld, offs) = (self.gate_width(), offsets(sizes));
                for (k, (&hk, &off)) in sizes.iter().zip(&offs).enumerate() {
                    let dz = cols(dgx, rows, ld, off, hk).t();
                    if k == 0 {
                        first(&mut grads[0], dz);
                    } else {
                        let a_prev = cols(gates, rows, ld, offs[k - 1], sizes[k - 1]);
                        gemm(Parallelism::Pool, &mut grads[2 * k], sizes[k - 1], dz, a_prev, T::ONE, true);
                    }
                    col_sums_ld(dgx, ld, off, &mut grads[2 * k + 1]);
                }
            }
        }
    }
}

fn extra_of<C: Cell<f64>>(_: &C) -> usize {
    C::EXTRA
}

fn split_of<C: Cell<f64>>(_: &C) -> bool {
    C::SPLIT
}
