//! The clockwork RNN (Koutník et al. 2014; forward and BPTT in
//! `crate::layer::clockwork`) as a `DenseCell` for exact RTRL and SnAp-1.
//!
//! At step t module i updates when `t % period_i == 0`:
//! `h'_k = tanh(W_ih[k] x + b_ih[k] + b_hh[k] + sum_{j >= c_i} W_hh[k, j] h_j)`
//! for its units k, where `c_i` is the first unit of period `period_i` (a
//! module reads the modules of equal or slower period, a suffix of h).
//! A module that does not update copies its state: Jacobian rows e_k,
//! immediate rows 0.
//!
//! Only the entries of `weight_hh` that exist are parameters: the flat vector
//! is `[W_ih (H, I), W_hh of module 0 (n_0, H - c_0), ..., of module g-1,
//! b_ih (H), b_hh (H)]` (no biases without them). SnAp-1 keeps each
//! parameter's sensitivity on the unit of its row (here also the sparsity of
//! the immediate Jacobian).

use super::dense::{Block, DenseCell, DenseLayout, DenseStep};
use crate::{Error, Float, Result};

#[derive(Clone, Debug)]
pub struct ClockworkCell {
    layout: DenseLayout,
    /// Per module: first unit, size, period, first column read, offset of its W_hh block.
    modules: Vec<(usize, usize, usize, usize, usize)>,
    bias: bool,
}

impl ClockworkCell {
    pub fn new(input: usize, module_sizes: &[usize], periods: &[usize], bias: bool) -> Result<Self> {
        super::check_positive("input_size", input, "size")?;
        if module_sizes.is_empty() || module_sizes.contains(&0) {
            return Err(Error::value("module_sizes", "expected at least one module, each of positive size"));
        }
        if periods.len() != module_sizes.len()
            || periods.contains(&0)
            || periods.windows(2).any(|w| w[1] < w[0])
        {
            return Err(Error::value("periods", "expected one positive period per module, non-decreasing"));
        }
        let h: usize = module_sizes.iter().sum();
        let mut blocks = vec![Block { offset: 0, rows: h, cols: input, row0: 0, input: 0 }];
        let (mut modules, mut unit, mut at) = (Vec::new(), 0, h * input);
        for (i, (&n, &per)) in module_sizes.iter().zip(periods).enumerate() {
            let first =
                module_sizes[..periods.iter().position(|&p| p == per).unwrap_or(i)].iter().sum::<usize>();
            blocks.push(Block { offset: at, rows: n, cols: h - first, row0: unit, input: input + first });
            modules.push((unit, n, per, first, at));
            at += n * (h - first);
            unit += n;
        }
        if bias {
            blocks.push(Block { offset: at, rows: h, cols: 1, row0: 0, input: input + h });
            blocks.push(Block { offset: at + h, rows: h, cols: 1, row0: 0, input: input + h });
        }
        let layout = DenseLayout {
            input,
            state: h,
            output: h,
            rows: h,
            inputs: input + h + 1,
            blocks,
            owners: (0..h).map(|k| vec![k]).collect(),
        };
        layout.validate()?;
        Ok(ClockworkCell { layout, modules, bias })
    }
}

impl<T: Float> DenseCell<T> for ClockworkCell {
    fn layout(&self) -> &DenseLayout {
        &self.layout
    }

    fn step(&self, params: &[T], s: DenseStep<'_, T>) {
        let (i, h) = (self.layout.input, self.layout.state);
        s.inputs[..i].copy_from_slice(s.x);
        s.inputs[i..i + h].copy_from_slice(s.s_prev);
        s.inputs[i + h] = T::ONE;
        let off_bias = self.layout.n_params() - if self.bias { 2 * h } else { 0 };
        for &(u0, n, per, first, at) in &self.modules {
            let active = s.t.is_multiple_of(per);
            for k in u0..u0 + n {
                if !active {
                    s.s_new[k] = s.s_prev[k];
                    s.jac[k * h + k] = T::ONE;
                    continue;
                }
                let mut pre = T::ZERO;
                for (w, &v) in params[k * i..(k + 1) * i].iter().zip(s.x) {
                    pre += *w * v;
                }
                let w_hh = &params[at + (k - u0) * (h - first)..at + (k - u0 + 1) * (h - first)];
                for (w, &v) in w_hh.iter().zip(&s.s_prev[first..]) {
                    pre += *w * v;
                }
                if self.bias {
                    pre += params[off_bias + k] + params[off_bias + h + k];
                }
                let y = pre.tanh();
                let d = T::ONE - y * y;
                s.s_new[k] = y;
                s.coef[k * h + k] = d;
                for (j, &w) in w_hh.iter().enumerate() {
                    s.jac[k * h + first + j] = d * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dense::tests::{check_gradient, check_partials};
    use super::*;

    fn params(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|q| ((q as f64 + seed) * 0.7391).sin() * 0.6).collect()
    }

    #[test]
    fn clockwork_partials_and_gradient() {
        for bias in [true, false] {
            let cell = ClockworkCell::new(3, &[2, 1, 2], &[1, 2, 2], bias).unwrap();
            let p = params(DenseCell::<f64>::layout(&cell).n_params(), 1.0);
            let s0 = [0.3, -0.2, 0.5, 0.1, -0.4];
            for t in 0..3 {
                check_partials(&cell, &p, &[0.2, -0.7, 0.4], &s0, t, 1e-7);
            }
            check_gradient(&cell, &p, 3);
        }
    }

    #[test]
    fn clockwork_rejects_bad_periods() {
        assert!(ClockworkCell::new(3, &[2, 2], &[2, 1], true).is_err());
        assert!(ClockworkCell::new(3, &[2, 2], &[1], true).is_err());
        assert!(ClockworkCell::new(3, &[2, 0], &[1, 2], true).is_err());
    }
}
