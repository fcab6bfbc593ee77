//! Liquid state machine (Maass, Natschläger & Markram 2002): a recurrent
//! network of leaky integrate-and-fire neurons with exponential synaptic
//! currents, simulated with a fixed time step; spikes propagate event-driven
//! along sparse outgoing synapses (CSR by presynaptic neuron), so a step
//! costs O(N + synapses of the neurons that fired).
//!
//! Per neuron, every step (membrane equation integrated exactly over dt):
//!
//! ```text
//! I_e <- I_e * exp(-dt/tau_e) ; I_i <- I_i * exp(-dt/tau_i)        (then add arriving spikes)
//! v   <- v_rest + (v - v_rest) exp(-dt/tau_m) + (1 - exp(-dt/tau_m)) R (I_e + I_i + I_ext + I_bias)
//! if v >= v_thresh: spike, v <- v_reset, refractory for `refractory[k]` steps (v held at v_reset)
//! ```
//!
//! Spikes fired at step t reach their targets' synaptic currents at t + 1.
//! Input is either spike trains (a nonzero `u[t, j]` adds `u[t, j] * w` to the
//! excitatory current of input j's targets) or currents (`I_ext = u[t] W_in`).
//! Readout features per window of `window` steps: spike counts, or the
//! exponentially filtered spike trains (time constant `tau_trace`) at the end
//! of the window. Sequences are independent and run in parallel; each runs
//! the same serial arithmetic, so results do not depend on the thread count.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Neuron, synapse and readout constants (times in the unit of `dt`).
#[derive(Clone, Debug)]
pub struct LifParams {
    pub dt: f64,
    pub tau_m: f64,
    pub v_rest: f64,
    pub v_thresh: f64,
    pub v_reset: f64,
    pub resistance: f64,
    pub tau_syn_exc: f64,
    pub tau_syn_inh: f64,
    pub tau_trace: f64,
}

/// How the input drives the liquid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    Spikes,
    Current,
}

/// What is recorded per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Features {
    Counts,
    Traces,
}

/// A sparse matrix by rows: row `r` holds `(col[k], val[k])` for `k` in `ptr[r]..ptr[r + 1]`.
#[derive(Clone, Copy, Debug)]
pub struct SparseRows<'a> {
    pub ptr: &'a [usize],
    pub col: &'a [usize],
    pub val: &'a [f64],
}

impl SparseRows<'_> {
    fn check(&self, rows: usize, cols: usize, arg: &str) -> Result<()> {
        if self.ptr.len() != rows + 1 || self.ptr[0] != 0 || self.ptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::value(
                arg,
                format!("expected {} non-decreasing row offsets from 0", rows + 1),
            ));
        }
        let nnz = self.ptr[rows];
        if self.col.len() != nnz || self.val.len() != nnz {
            return Err(Error::shape(arg, format!("expected {nnz} columns and values")));
        }
        if let Some(&c) = self.col.iter().find(|&&c| c >= cols) {
            return Err(Error::value(arg, format!("column {c} out of range (0..{cols})")));
        }
        Ok(())
    }
    fn row(&self, r: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let span = self.ptr[r]..self.ptr[r + 1];
        self.col[span.clone()].iter().copied().zip(self.val[span].iter().copied())
    }
}

/// A liquid: its neurons and synapses.
#[derive(Clone, Debug)]
pub struct Liquid<'a> {
    pub params: LifParams,
    /// Per neuron: excitatory (true) or inhibitory; decides which current its spikes feed.
    pub excitatory: &'a [bool],
    /// Per neuron: refractory period in steps.
    pub refractory: &'a [u32],
    /// Per neuron: constant background current.
    pub bias: &'a [f64],
    /// Per neuron: membrane potential at the start of every sequence.
    pub v0: &'a [f64],
    /// Recurrent synapses, one row per presynaptic neuron (N x N).
    pub synapses: SparseRows<'a>,
    /// Input synapses, one row per input channel (n_in x N).
    pub inputs: SparseRows<'a>,
}

impl Liquid<'_> {
    pub fn num_neurons(&self) -> usize {
        self.excitatory.len()
    }

    fn check(&self, n_in: usize) -> Result<()> {
        let n = self.num_neurons();
        if n == 0 {
            return Err(Error::value("neurons", "expected at least one neuron"));
        }
        if self.refractory.len() != n || self.bias.len() != n || self.v0.len() != n {
            return Err(Error::shape(
                "neurons",
                format!("expected {n} refractory periods, biases and initial potentials"),
            ));
        }
        self.synapses.check(n, n, "synapses")?;
        self.inputs.check(n_in, n, "input synapses")?;
        let p = &self.params;
        let positive = [
            ("dt", p.dt),
            ("tau_m", p.tau_m),
            ("tau_syn", p.tau_syn_exc),
            ("tau_syn", p.tau_syn_inh),
            ("tau_trace", p.tau_trace),
        ];
        for (name, v) in positive {
            if v.is_nan() || v <= 0.0 || v.is_infinite() {
                return Err(Error::value(name, format!("expected a positive finite time, got {v}")));
            }
        }
        if p.v_reset.is_nan() || p.v_thresh.is_nan() || p.v_reset >= p.v_thresh {
            return Err(Error::value(
                "v_reset",
                format!("expected v_reset < v_thresh, got {} and {}", p.v_reset, p.v_thresh),
            ));
        }
        Ok(())
    }

    /// Simulates one sequence `u` (steps x n_in, row-major); writes one row
    /// of N features per window into `out` and returns the total spike count.
    fn run_one(
        &self,
        u: &[f64],
        n_in: usize,
        mode: InputMode,
        features: Features,
        window: usize,
        out: &mut [f64],
    ) -> u64 {
        let n = self.num_neurons();
        let p = &self.params;
        let (am, ae, ai, at) = (
            (-p.dt / p.tau_m).exp(),
            (-p.dt / p.tau_syn_exc).exp(),
            (-p.dt / p.tau_syn_inh).exp(),
            (-p.dt / p.tau_trace).exp(),
        );
        let mut v = self.v0.to_vec();
        let (mut ie, mut ii, mut iext) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut refr = vec![0u32; n];
        let mut trace = vec![0.0; n];
        let mut fired: Vec<usize> = Vec::new();
        let mut total = 0u64;
        out.fill(0.0);
        let steps = u.len() / n_in.max(1);
        for t in 0..steps {
            for k in 0..n {
                ie[k] *= ae;
                ii[k] *= ai;
            }
            // Last step's spikes arrive now (event-driven: only the neurons that fired).
            for &j in &fired {
                let target = if self.excitatory[j] { &mut ie } else { &mut ii };
                for (k, w) in self.synapses.row(j) {
                    target[k] += w;
                }
            }
            let row = &u[t * n_in..][..n_in];
            if mode == InputMode::Current {
                iext.fill(0.0);
            }
            for (j, &x) in row.iter().enumerate() {
                if x != 0.0 {
                    let target = if mode == InputMode::Spikes { &mut ie } else { &mut iext };
                    for (k, w) in self.inputs.row(j) {
                        target[k] += x * w;
                    }
                }
            }
            fired.clear();
            for k in 0..n {
                trace[k] *= at;
                if refr[k] > 0 {
                    refr[k] -= 1;
                    v[k] = p.v_reset;
                    continue;
                }
                let drive = p.resistance * (ie[k] + ii[k] + iext[k] + self.bias[k]);
                v[k] = p.v_rest + (v[k] - p.v_rest) * am + (1.0 - am) * drive;
                if v[k] >= p.v_thresh {
                    v[k] = p.v_reset;
                    refr[k] = self.refractory[k];
                    trace[k] += 1.0;
                    fired.push(k);
                }
            }
            total += fired.len() as u64;
            let w = t / window;
            let dst = &mut out[w * n..][..n];
            match features {
                Features::Counts => {
                    for &k in &fired {
                        dst[k] += 1.0;
                    }
                }
                Features::Traces => {
                    if (t + 1).is_multiple_of(window) || t + 1 == steps {
                        dst.copy_from_slice(&trace);
                    }
                }
            }
        }
        total
    }
}

/// Number of windows of a sequence of `steps` steps (the last may be partial).
pub fn num_windows(steps: usize, window: usize) -> usize {
    steps.div_ceil(window)
}

/// Runs every sequence (`seq_ptr`: B + 1 offsets, in steps, into `u`,
/// which is (total steps x n_in)); returns the features of all windows of all
/// sequences stacked ((sum of windows) x N) and the total spike count.
pub fn run(
    liquid: &Liquid<'_>,
    u: &[f64],
    n_in: usize,
    seq_ptr: &[usize],
    mode: InputMode,
    features: Features,
    window: usize,
) -> Result<(Vec<f64>, u64)> {
    liquid.check(n_in)?;
    if window == 0 {
        return Err(Error::value("window", "expected a positive number of steps"));
    }
    if seq_ptr.is_empty() || seq_ptr[0] != 0 || seq_ptr.windows(2).any(|w| w[1] < w[0]) {
        return Err(Error::value("lengths", "expected non-negative sequence lengths"));
    }
    let total_steps = seq_ptr[seq_ptr.len() - 1];
    if u.len() != total_steps * n_in {
        return Err(Error::shape(
            "X",
            format!("expected {total_steps} x {n_in} inputs, got {} values", u.len()),
        ));
    }
    if u.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite("X: the input contains NaN or infinity".into()));
    }
    let n = liquid.num_neurons();
    let win_ptr: Vec<usize> = std::iter::once(0)
        .chain(seq_ptr.windows(2).scan(0, |acc, w| {
            *acc += num_windows(w[1] - w[0], window);
            Some(*acc)
        }))
        .collect();
    let rows = win_ptr[win_ptr.len() - 1];
    let mut out =
        crate::error::try_zeros::<f64>(crate::error::checked_size(&[rows, n], "features")?, "features")?;
    // Split the output into one slice per sequence, then simulate them in parallel.
    let mut parts = Vec::with_capacity(seq_ptr.len() - 1);
    let mut rest = out.as_mut_slice();
    for w in win_ptr.windows(2) {
        let (head, tail) = rest.split_at_mut((w[1] - w[0]) * n);
        parts.push(head);
        rest = tail;
    }
    let spikes: u64 = parts
        .into_par_iter()
        .enumerate()
        .map(|(b, dst)| {
            let seq = &u[seq_ptr[b] * n_in..seq_ptr[b + 1] * n_in];
            liquid.run_one(seq, n_in, mode, features, window, dst)
        })
        .sum();
    Ok((out, spikes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> LifParams {
        LifParams {
            dt: 1.0,
            tau_m: 30.0,
            v_rest: 0.0,
            v_thresh: 15.0,
            v_reset: 13.5,
            resistance: 1.0,
            tau_syn_exc: 3.0,
            tau_syn_inh: 6.0,
            tau_trace: 30.0,
        }
    }

    #[test]
    fn constant_current_gives_the_analytic_firing_rate() {
        // One neuron, no synapses, current 20, starting at the reset potential 13.5:
        // v(t) = 20 - 6.5 e^{-t/30} reaches 15 after 30 ln(1.3) = 7.87 -> 8 steps, then 2
        // refractory steps: spikes at steps 7, 17, ..., 997.
        let ptr = [0usize, 0];
        let inp_ptr = [0usize, 1];
        let liquid = Liquid {
            params: params(),
            excitatory: &[true],
            refractory: &[2],
            bias: &[0.0],
            v0: &[13.5],
            synapses: SparseRows { ptr: &ptr, col: &[], val: &[] },
            inputs: SparseRows { ptr: &inp_ptr, col: &[0], val: &[1.0] },
        };
        let steps = 1000;
        let u = vec![20.0; steps];
        let (counts, spikes) =
            run(&liquid, &u, 1, &[0, steps], InputMode::Current, Features::Counts, steps).unwrap();
        assert_eq!(counts[0] as u64, spikes);
        assert_eq!(spikes, 100);
    }

    #[test]
    fn spikes_propagate_with_sign() {
        // Neuron 0 (excitatory, driven) excites neuron 1; neuron 2 (inhibitory) is silent.
        let ptr = [0usize, 1, 1, 1];
        let inp_ptr = [0usize, 1];
        let liquid = Liquid {
            params: params(),
            excitatory: &[true, true, false],
            refractory: &[2, 2, 2],
            bias: &[0.0, 14.0, 0.0],
            v0: &[0.0, 14.0, 0.0],
            synapses: SparseRows { ptr: &ptr, col: &[1], val: &[60.0] },
            inputs: SparseRows { ptr: &inp_ptr, col: &[0], val: &[1.0] },
        };
        let u = vec![30.0; 200];
        let (c, _) = run(&liquid, &u, 1, &[0, 200], InputMode::Current, Features::Counts, 200).unwrap();
        assert!(c[0] > 5.0 && c[1] > 0.0 && c[2] == 0.0, "{c:?}");
    }

    #[test]
    fn bad_input_is_an_error() {
        let ptr = [0usize, 0];
        let liquid = Liquid {
            params: params(),
            excitatory: &[true],
            refractory: &[2],
            bias: &[0.0],
            v0: &[0.0],
            synapses: SparseRows { ptr: &ptr, col: &[], val: &[] },
            inputs: SparseRows { ptr: &[0, 1], col: &[3], val: &[1.0] },
        };
        assert!(run(&liquid, &[1.0], 1, &[0, 1], InputMode::Spikes, Features::Counts, 1).is_err());
    }
}
