//! The reservoir state update over sequences and batches, teacher-forced
//! output feedback and seeded noise (closed-loop generation: `generate`;
//! batches of plain equal-length sequences: `batch`).
//!
//! Update (ReservoirPy's "internal" equation), per unit `i`:
//!
//! ```text
//! s_i      = W[i,:] x[t] + (Win (u[t+1] + n_in))_i + bias_i + (Wfb (y[t] + n_fb))_i
//! x_i[t+1] = (1 - lr_i) x_i[t] + lr_i f(s_i) + n_rc,i
//! ```
//!
//! Parallelism never changes a result: every row product follows the order
//! of `rowdot` (the same in the single-sequence and the batched kernels); a
//! batch is split over sequences or groups of them (each computed serially), a
//! single long sequence over rows of W (a thread team from `team`, parts of
//! a step written by whichever thread claims them). Noise for sequence `b`
//! comes from its own stream `(seed, b)`, drawn serially.

use crate::error::{checked_size, try_zeros_float, Error, Result};
use crate::float::Float;
use crate::reservoir::batch::run_batch;
use crate::reservoir::csr::CsrRef;
use crate::reservoir::init::SeededRng;
use crate::reservoir::rowdot::{RowKernel, LANE_MULTIPLE};
use crate::reservoir::team::{run_steps, SharedMut};
use rayon::prelude::*;

/// Element-wise non-linearity `f`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Tanh,
    Identity,
    Sigmoid,
    Relu,
}

impl Activation {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "tanh" => Ok(Activation::Tanh),
            "identity" => Ok(Activation::Identity),
            "sigmoid" => Ok(Activation::Sigmoid),
            "relu" => Ok(Activation::Relu),
            _ => Err(Error::value(
                "activation",
                format!("expected 'tanh', 'identity', 'sigmoid' or 'relu', got {name:?}"),
            )),
        }
    }

    /// `x <- f(x)` over a block (SIMD kernels for tanh and sigmoid).
    #[inline]
    pub fn apply<T: Float>(self, x: &mut [T]) {
        match self {
            Activation::Tanh => crate::kernels::tanh_inplace(x),
            Activation::Sigmoid => crate::kernels::sigmoid_inplace(x),
            Activation::Relu => crate::kernels::relu_inplace(x),
            Activation::Identity => {}
        }
    }
}

/// The recurrent matrix `W` (units x units): sparse, or dense row-major.
#[derive(Clone, Copy, Debug)]
pub enum Recurrent<'a, T> {
    Sparse(CsrRef<'a, T>),
    Dense(&'a [T]),
}

/// Gains of the Gaussian noise terms (0 = none) and their seed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Noise {
    pub rc: f64,
    pub input: f64,
    pub feedback: f64,
    pub seed: u64,
}

/// A reservoir's weights, borrowed. Matrices are row-major.
#[derive(Clone, Copy, Debug)]
pub struct ReservoirRef<'a, T> {
    pub units: usize,
    pub inputs: usize,
    /// Feedback dimension (0: no feedback).
    pub outputs: usize,
    pub w: Recurrent<'a, T>,
    /// `(units, inputs)`.
    pub win: &'a [T],
    /// `(units,)`.
    pub bias: &'a [T],
    /// Leak rate per unit, `(units,)`, each in (0, 1].
    pub leak: &'a [T],
    /// `(units, outputs)`; empty without feedback.
    pub wfb: &'a [T],
    pub activation: Activation,
    pub noise: Noise,
}

/// Below this many multiply-adds per step, splitting a step over threads
/// costs more than it gains (the per-step barrier costs ~0.5 µs).
const ROW_PARALLEL_MIN_WORK: usize = 20_000;
/// Parts per thread when one step is split over rows (spare parts let a
/// thread that got ahead take over from one that was descheduled).
const PARTS_PER_THREAD: usize = 2;

/// The recurrent matrix as the kernels see it.
pub(super) enum Rows<'a, T> {
    Sparse(RowKernel<'a, T>),
    Dense(&'a [T]),
}

impl<T: Float> Rows<'_, T> {
    #[inline(always)]
    fn dot(&self, r: usize, x: &[T], n: usize) -> T {
        match self {
            Rows::Sparse(k) => k.dot(r, x),
            Rows::Dense(d) => {
                let row = &d[r * n..(r + 1) * n];
                let mut acc = T::ZERO;
                for (&a, &b) in row.iter().zip(x) {
                    acc += a * b;
                }
                acc
            }
        }
    }

    /// Multiply-adds of one step.
    fn work(&self, n: usize) -> usize {
        match self {
            Rows::Sparse(k) => k.csr().data.len(),
            Rows::Dense(_) => n * n,
        }
    }

    /// Row boundaries splitting one step into `parts` pieces of about equal
    /// work (`parts + 1` entries, from 0 to `n`).
    fn split(&self, n: usize, parts: usize) -> Vec<usize> {
        let mut bounds = vec![0];
        match self {
            Rows::Sparse(k) => {
                let indptr = k.csr().indptr;
                let total = indptr[n].max(1) as usize;
                let mut r = 0;
                for p in 1..parts {
                    let target = total * p / parts;
                    while r < n && (indptr[r] as usize) < target {
                        r += 1;
                    }
                    bounds.push(r);
                }
            }
            Rows::Dense(_) => bounds.extend((1..parts).map(|p| n * p / parts)),
        }
        bounds.push(n);
        bounds
    }

    /// Row boundaries for one sequence run on `threads` threads.
    pub(super) fn parts_for(&self, n: usize, threads: usize) -> Vec<usize> {
        if threads > 1 && self.work(n) >= ROW_PARALLEL_MIN_WORK {
            self.split(n, threads * PARTS_PER_THREAD)
        } else {
            vec![0, n]
        }
    }
}

impl<'a, T: Float> ReservoirRef<'a, T> {
    pub fn validate(&self) -> Result<()> {
        let n = self.units;
        if n == 0 {
            return Err(Error::value("units", "expected at least one unit"));
        }
        match self.w {
            Recurrent::Sparse(c) => {
                if c.rows != n || c.cols != n {
                    return Err(Error::shape(
                        "W",
                        format!("expected ({n}, {n}), got ({}, {})", c.rows, c.cols),
                    ));
                }
                c.validate()?;
            }
            Recurrent::Dense(d) => {
                if d.len() != checked_size(&[n, n], "W")? {
                    return Err(Error::shape("W", format!("expected {n} x {n} values, got {}", d.len())));
                }
            }
        }
        if self.win.len() != checked_size(&[n, self.inputs], "Win")? {
            return Err(Error::shape(
                "Win",
                format!("expected ({n}, {}), got {} values", self.inputs, self.win.len()),
            ));
        }
        if self.bias.len() != n {
            return Err(Error::shape("bias", format!("expected ({n},), got {} values", self.bias.len())));
        }
        if self.leak.len() != n {
            return Err(Error::shape(
                "leak_rate",
                format!("expected ({n},), got {} values", self.leak.len()),
            ));
        }
        if self.leak.iter().any(|&l| !(l > T::ZERO && l <= T::ONE)) {
            return Err(Error::value("leak_rate", "every leak rate must lie in (0, 1]"));
        }
        if self.wfb.len() != checked_size(&[n, self.outputs], "Wfb")? {
            return Err(Error::shape(
                "Wfb",
                format!("expected ({n}, {}), got {} values", self.outputs, self.wfb.len()),
            ));
        }
        for (g, name) in
            [(self.noise.rc, "noise_rc"), (self.noise.input, "noise_in"), (self.noise.feedback, "noise_fb")]
        {
            if !g.is_finite() || g < 0.0 {
                return Err(Error::value(name, format!("expected a finite gain >= 0, got {g}")));
            }
        }
        let finite = |s: &[T]| s.iter().all(|v| v.is_finite());
        let w_finite = match self.w {
            Recurrent::Sparse(c) => finite(c.data),
            Recurrent::Dense(d) => finite(d),
        };
        if !w_finite || !finite(self.win) || !finite(self.bias) || !finite(self.wfb) {
            return Err(Error::NonFinite("reservoir weights contain NaN or infinity".into()));
        }
        Ok(())
    }

    /// The recurrent matrix ready for the row kernels (sparse structure
    /// validated once).
    pub(super) fn rows(&self) -> Result<Rows<'a, T>> {
        Ok(match self.w {
            Recurrent::Sparse(c) => Rows::Sparse(RowKernel::new(c)?),
            Recurrent::Dense(d) => Rows::Dense(d),
        })
    }

    /// `(Win u)_i`, summed over the inputs in order. Every path (single
    /// sequence, batch, generation) computes it here, so they agree bitwise.
    #[inline(always)]
    fn input_term(&self, i: usize, u: &[T]) -> T {
        let row = &self.win[i * self.inputs..(i + 1) * self.inputs];
        row.iter().zip(u).fold(T::ZERO, |acc, (&a, &b)| acc + a * b)
    }

    /// New states for rows `first..first + out.len()` from the input `u`
    /// (`inputs` values, noise included) of this step. `drive` is the
    /// per-unit extra drive (feedback), `noise` the additive state noise (or
    /// empty).
    /// The activation runs once over the whole block (SIMD kernels; an
    /// element's value does not depend on the block it is in).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_rows(
        &self,
        w: &Rows<T>,
        first: usize,
        x_prev: &[T],
        u: &[T],
        out: &mut [T],
        drive: &[T],
        noise: &[T],
    ) {
        let rows = first..first + out.len();
        // The recurrent products first (one kernel call for the range)...
        match w {
            Rows::Sparse(k) => k.dots(first, x_prev, out),
            Rows::Dense(_) => {
                out.iter_mut().zip(rows.clone()).for_each(|(o, i)| *o = w.dot(i, x_prev, self.units))
            }
        }
        // ...then `s = (Win u + bias) + W x (+ drive)`.
        if self.inputs == 1 && drive.is_empty() {
            // The common case (one input, no feedback) without per-unit
            // bounds checks and branches, in `input_term`'s order (`0 + w u`).
            let (u0, win, bias) = (u[0], &self.win[rows.clone()], &self.bias[rows.clone()]);
            for ((o, &w), &b) in out.iter_mut().zip(win).zip(bias) {
                *o = (T::ZERO + w * u0) + b + *o;
            }
        } else {
            for (o, i) in out.iter_mut().zip(rows.clone()) {
                let mut s = self.input_term(i, u) + self.bias[i] + *o;
                if !drive.is_empty() {
                    s += drive[i];
                }
                *o = s;
            }
        }
        self.activation.apply(out);
        self.leak_rows(first, x_prev, out, noise);
    }

    /// `out = (1 - lr) x_prev + lr out (+ noise)` for rows `first..`.
    #[inline(always)]
    fn leak_rows(&self, first: usize, x_prev: &[T], out: &mut [T], noise: &[T]) {
        let rows = first..first + out.len();
        for ((o, &lr), &xp) in out.iter_mut().zip(&self.leak[rows.clone()]).zip(&x_prev[rows.clone()]) {
            *o = (T::ONE - lr) * xp + lr * *o;
        }
        if !noise.is_empty() {
            for (o, &e) in out.iter_mut().zip(&noise[rows]) {
                *o += e;
            }
        }
    }

    /// `drive = Wfb (y + noise)`; `y_noisy` is scratch of `outputs` elements
    /// (allocated once by the caller, not per step).
    pub(super) fn feedback_drive(
        &self,
        y: &[T],
        rng: Option<&mut SeededRng>,
        y_noisy: &mut [T],
        drive: &mut [T],
    ) {
        let o = self.outputs;
        y_noisy.copy_from_slice(y);
        if let Some(rng) = rng {
            for v in y_noisy.iter_mut() {
                *v += T::from_f64(self.noise.feedback * rng.normal());
            }
        }
        for (i, d) in drive.iter_mut().enumerate() {
            let row = &self.wfb[i * o..(i + 1) * o];
            let mut acc = T::ZERO;
            for (&a, &b) in row.iter().zip(y_noisy.iter()) {
                acc += a * b;
            }
            *d = acc;
        }
    }
}

/// Checks that every value is finite, naming `arg` otherwise.
pub(crate) fn check_finite<T: Float>(v: &[T], arg: &str) -> Result<()> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite(format!("{arg}: contains NaN or infinity")));
    }
    Ok(())
}

/// Runs one sequence: `u` (T x inputs, noise included) in, `states`
/// (T x units) out; `teacher` (T x outputs) are the fed-back targets. Each
/// step is split into the row ranges `parts` (run by the thread team).
#[allow(clippy::too_many_arguments)]
fn run_sequence<T: Float>(
    res: &ReservoirRef<T>,
    w: &Rows<T>,
    u: &[T],
    states: &mut [T],
    x0: &[T],
    teacher: &[T],
    y0: &[T],
    seq_index: usize,
    parts: &[usize],
) {
    let n = res.units;
    let o = res.outputs;
    let steps = states.len() / n;
    let mut rng = SeededRng::new(res.noise.seed, 2 * seq_index as u64 + 1);
    let mut drive = if o > 0 { vec![T::ZERO; n] } else { Vec::new() };
    let mut y_noisy = vec![T::ZERO; o];
    let mut noise = if res.noise.rc != 0.0 { vec![T::ZERO; n] } else { Vec::new() };
    let (st, drive_s, noise_s) =
        (SharedMut::new(states), SharedMut::new(&mut drive), SharedMut::new(&mut noise));
    run_steps(
        steps,
        parts.len() - 1,
        |t| {
            // SAFETY (both closures): `prepare` runs while no part runs; parts
            // write disjoint row ranges of step t and read only step t - 1,
            // the drive and the noise.
            if o > 0 {
                let y = if t == 0 { y0 } else { &teacher[(t - 1) * o..t * o] };
                let r = if res.noise.feedback != 0.0 { Some(&mut rng) } else { None };
                res.feedback_drive(y, r, &mut y_noisy, unsafe { drive_s.get_mut(0..drive_s.len()) });
            }
            for v in unsafe { noise_s.get_mut(0..noise_s.len()) } {
                *v = T::from_f64(res.noise.rc * rng.normal());
            }
        },
        |t, k| {
            let rows = parts[k]..parts[k + 1];
            let x_prev = if t == 0 { x0 } else { unsafe { st.get((t - 1) * n..t * n) } };
            let out = unsafe { st.get_mut(t * n + rows.start..t * n + rows.end) };
            let (drive, noise) = unsafe { (drive_s.get(0..drive_s.len()), noise_s.get(0..noise_s.len())) };
            let ut = &u[t * res.inputs..(t + 1) * res.inputs];
            res.update_rows(w, rows.start, x_prev, ut, out, drive, noise);
        },
    );
}

/// States of a batch of sequences of possibly different lengths.
///
/// * `u`: all sequences' inputs stacked in time, `(sum(lengths), inputs)`.
/// * `x0`: initial states `(batch, units)`.
/// * `teacher`, `y0`: with feedback, the targets `(sum(lengths), outputs)` fed
///   back one step late, and the outputs before the first step `(batch, outputs)`.
///
/// Returns the states `(sum(lengths), units)`.
pub fn run<T: Float>(
    res: &ReservoirRef<T>,
    u: &[T],
    lengths: &[usize],
    x0: &[T],
    teacher: &[T],
    y0: &[T],
) -> Result<Vec<T>> {
    res.validate()?;
    let w = res.rows()?;
    let (n, i, o, b) = (res.units, res.inputs, res.outputs, lengths.len());
    let total = lengths
        .iter()
        .try_fold(0usize, |a, &l| a.checked_add(l))
        .ok_or_else(|| Error::value("lengths", "overflow"))?;
    if u.len() != checked_size(&[total, i], "inputs")? {
        return Err(Error::shape("X", format!("expected {total} x {i} values, got {}", u.len())));
    }
    if x0.len() != checked_size(&[b, n], "x0")? {
        return Err(Error::shape("x0", format!("expected ({b}, {n}), got {} values", x0.len())));
    }
    if teacher.len() != checked_size(&[total, o], "teacher")? {
        return Err(Error::shape(
            "y",
            format!("feedback targets: expected ({total}, {o}), got {} values", teacher.len()),
        ));
    }
    if y0.len() != checked_size(&[b, o], "y0")? {
        return Err(Error::shape("y0", format!("expected ({b}, {o}), got {} values", y0.len())));
    }
    check_finite(u, "X")?;
    check_finite(x0, "x0")?;
    check_finite(teacher, "y")?;
    check_finite(y0, "y0")?;

    // Zeroed pages from the allocator: no serial fill pass before the
    // threads write the states (the batched runs write every value); huge
    // pages where offered (far fewer page faults on the first writes).
    let mut states = try_zeros_float::<T>(checked_size(&[total, n], "states")?, "states")?;
    crate::reservoir::pages::advise_huge_pages(&mut states);
    let completed = crate::par::install(|| {
        // Inputs with their noise (drawn serially per sequence).
        let noisy;
        let u_used: &[T] = if res.noise.input != 0.0 {
            let mut v = u.to_vec();
            let mut start = 0;
            for (s, &len) in lengths.iter().enumerate() {
                let mut rng = SeededRng::new(res.noise.seed, 2 * s as u64 + 2);
                for val in &mut v[start * i..(start + len) * i] {
                    *val += T::from_f64(res.noise.input * rng.normal());
                }
                start += len;
            }
            noisy = v;
            &noisy
        } else {
            u
        };

        let threads = crate::par::num_threads();
        let equal_lengths = lengths.iter().all(|&l| l == lengths[0]);
        if let Rows::Sparse(k) = &w {
            let plain = o == 0 && res.noise.rc == 0.0;
            if b >= 2 && equal_lengths && plain && b.div_ceil(LANE_MULTIPLE) >= threads {
                return run_batch(res, k, u_used, &mut states, lengths[0], b, x0);
            }
        }

        // Split the states buffer into one slice per sequence.
        let mut pieces: Vec<(usize, &mut [T], usize)> = Vec::with_capacity(b);
        let mut rest: &mut [T] = &mut states;
        let mut start = 0;
        for (s, &len) in lengths.iter().enumerate() {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len * n);
            pieces.push((s, head, start));
            rest = tail;
            start += len;
        }
        let job = |(s, piece, start): (usize, &mut [T], usize), parts: &[usize]| {
            let len = piece.len() / n;
            run_sequence(
                res,
                &w,
                &u_used[start * i..(start + len) * i],
                piece,
                &x0[s * n..(s + 1) * n],
                &teacher[start * o..(start + len) * o],
                &y0[s * o..(s + 1) * o],
                s,
                parts,
            );
        };
        if threads == 1 {
            // Serial: rayon would use its global pool here (see `par::install`).
            pieces.into_iter().for_each(|p| job(p, &[0, n]));
        } else if b >= threads {
            let whole = [0, n];
            pieces.into_par_iter().for_each(|p| job(p, &whole));
        } else {
            let parts = w.parts_for(n, threads);
            for p in pieces {
                job(p, &parts);
            }
        }
        true
    });
    crate::interrupt::check()?;
    if !completed {
        return Err(Error::Interrupted);
    }
    Ok(states)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::reservoir::init::{sparse_random, Distribution};

    pub(crate) struct Owned {
        pub(crate) w: crate::reservoir::Csr<f64>,
        pub(crate) win: Vec<f64>,
        pub(crate) bias: Vec<f64>,
        pub(crate) leak: Vec<f64>,
        pub(crate) wfb: Vec<f64>,
    }

    pub(crate) fn owned(n: usize, i: usize, o: usize) -> Owned {
        Owned {
            w: sparse_random(n, n, 0.2, Distribution::Normal, 0.3, 1, 0).unwrap(),
            win: sparse_random(n, i, 1.0, Distribution::Uniform, 1.0, 1, 1).unwrap().to_dense().unwrap(),
            bias: (0..n).map(|k| 0.01 * k as f64).collect(),
            leak: (0..n).map(|k| 0.2 + 0.6 * (k as f64 / n as f64)).collect(),
            wfb: vec![0.1; n * o],
        }
    }

    pub(crate) fn view(m: &Owned, n: usize, i: usize, o: usize) -> ReservoirRef<'_, f64> {
        ReservoirRef {
            units: n,
            inputs: i,
            outputs: o,
            w: Recurrent::Sparse(m.w.as_ref()),
            win: &m.win,
            bias: &m.bias,
            leak: &m.leak,
            wfb: &m.wfb,
            activation: Activation::Tanh,
            noise: Noise::default(),
        }
    }

    /// The update written out with dense matrices.
    fn naive(m: &Owned, n: usize, i: usize, u: &[f64]) -> Vec<f64> {
        let w = m.w.to_dense().unwrap();
        let steps = u.len() / i;
        let mut x = vec![0.0; n];
        let mut out = Vec::new();
        for t in 0..steps {
            let mut xn = vec![0.0; n];
            for r in 0..n {
                let mut s = m.bias[r];
                for c in 0..n {
                    s += w[r * n + c] * x[c];
                }
                for c in 0..i {
                    s += m.win[r * i + c] * u[t * i + c];
                }
                xn[r] = (1.0 - m.leak[r]) * x[r] + m.leak[r] * s.tanh();
            }
            x = xn;
            out.extend_from_slice(&x);
        }
        out
    }

    #[test]
    fn matches_naive_update_and_batches_equal_single_runs() {
        let (n, i) = (37, 2);
        let m = owned(n, i, 0);
        let r = view(&m, n, i, 0);
        let u: Vec<f64> = (0..2 * 25).map(|k| (k as f64 * 0.3).sin()).collect();
        let got = run(&r, &u, &[25], &vec![0.0; n], &[], &[]).unwrap();
        let want = naive(&m, n, i, &u);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
        // Two sequences in one call equal two separate calls.
        let u2: Vec<f64> = (0..2 * 10).map(|k| (k as f64 * 0.7).cos()).collect();
        let mut both = u.clone();
        both.extend_from_slice(&u2);
        let batch = run(&r, &both, &[25, 10], &vec![0.0; 2 * n], &[], &[]).unwrap();
        let single2 = run(&r, &u2, &[10], &vec![0.0; n], &[], &[]).unwrap();
        assert_eq!(&batch[..25 * n], &got[..]);
        assert_eq!(&batch[25 * n..], &single2[..]);
    }

    #[test]
    fn large_batches_equal_single_runs_for_any_thread_count() {
        let (n, i) = (50, 2);
        let m = owned(n, i, 0);
        let r = view(&m, n, i, 0);
        let (b, len) = (37, 12);
        let u: Vec<f64> = (0..b * len * i).map(|k| (k as f64 * 0.13).sin()).collect();
        let x0: Vec<f64> = (0..b * n).map(|k| 0.1 * (k as f64 * 0.7).cos()).collect();
        let mut singles = Vec::new();
        for s in 0..b {
            let one = run(&r, &u[s * len * i..(s + 1) * len * i], &[len], &x0[s * n..(s + 1) * n], &[], &[]);
            singles.extend(one.unwrap());
        }
        // 1 and 2 threads: groups of two blocks of 8 (the last one partial);
        // 3 threads: groups of one block.
        for threads in [1, 2, 3] {
            crate::par::set_num_threads(threads);
            let got = run(&r, &u, &vec![len; b], &x0, &[], &[]).unwrap();
            crate::par::set_num_threads(0);
            assert!(got.iter().zip(&singles).all(|(a, b)| a.to_bits() == b.to_bits()), "threads {threads}");
        }
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let (n, i) = (600, 1);
        let mut m = owned(n, i, 0);
        m.w = sparse_random(n, n, 0.2, Distribution::Normal, 0.05, 2, 0).unwrap();
        let r = view(&m, n, i, 0);
        let u: Vec<f64> = (0..40).map(|k| (k as f64 * 0.3).sin()).collect();
        crate::par::set_num_threads(1);
        let a = run(&r, &u, &[40], &vec![0.0; n], &[], &[]).unwrap();
        crate::par::set_num_threads(2);
        let b = run(&r, &u, &[40], &vec![0.0; n], &[], &[]).unwrap();
        crate::par::set_num_threads(0);
        assert_eq!(a, b);
    }

    #[test]
    fn bad_input_is_an_error() {
        let (n, i) = (5, 1);
        let m = owned(n, i, 0);
        let r = view(&m, n, i, 0);
        assert!(run(&r, &[1.0, f64::NAN], &[2], &vec![0.0; n], &[], &[]).is_err());
        assert!(run(&r, &[1.0, 2.0], &[3], &vec![0.0; n], &[], &[]).is_err());
        let mut bad = r;
        let leak = vec![1.5; n];
        bad.leak = &leak;
        assert!(run(&bad, &[1.0], &[1], &vec![0.0; n], &[], &[]).is_err());
    }
}
