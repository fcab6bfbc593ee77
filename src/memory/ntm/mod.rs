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

//!
//! The addressing is in `addressing.rs`, the forward run in `forward.rs`,
//! its BPTT in `backward.rs`.

mod addressing;
mod backward;
mod forward;

pub use backward::backward;
pub use forward::forward;

use super::controller::Controller;
use crate::error::{checked_size, Error, Result};
use crate::Float;

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

/// `v` cut into `b` equal rows (`b` empty rows when `v` is empty).
fn rows<T>(v: &mut [T], b: usize) -> Vec<&mut [T]> {
    if v.is_empty() {
        (0..b).map(|_| <&mut [T]>::default()).collect()
    } else {
        let len = v.len() / b;
        v.chunks_exact_mut(len).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::addressing::{add_rotated, dot, dot_rotated, rotation};
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
