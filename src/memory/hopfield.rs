//! The classical binary Hopfield network (Hopfield 1982): units `s_i = ±1`,
//! symmetric weights with a zero diagonal, energy `E = -1/2 sᵀ W s`, update
//! `s_i <- sign(Σ_j W_ij s_j)` (a zero field keeps the unit as it is).
//!
//! Storage: the weights are one dense float32 `N x N` matrix (400 MB at
//! N = 10 000). Dense because the Storkey rule's weights are not a low-rank
//! function of the patterns, so one representation serves both rules; float32
//! because a sweep is memory-bound (it streams the whole matrix) and halving
//! the bytes halves its time, while the fields are summed in float64 so that
//! a field's sign does not depend on the summation order. States and patterns
//! are `i8` (±1).

use super::splitmix::SplitMix64;
use crate::error::{try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use rayon::prelude::*;

/// `Err` naming `arg` unless every entry is +1 or -1.
pub fn check_binary(values: &[i8], arg: &str) -> Result<()> {
    match values.iter().position(|&v| v != 1 && v != -1) {
        None => Ok(()),
        Some(k) => {
            Err(Error::value(arg, format!("expected only +1 and -1, got {} at flat index {k}", values[k])))
        }
    }
}

fn check_sizes(weights: &[f32], n: usize, rows: &[i8], arg: &str) -> Result<usize> {
    if n == 0 {
        return Err(Error::value("n_units", "expected at least one unit"));
    }
    if weights.len() != n * n {
        return Err(Error::shape("weights", format!("expected {n}x{n} values, got {}", weights.len())));
    }
    if !rows.len().is_multiple_of(n) {
        return Err(Error::shape(arg, format!("expected rows of {n} units, got {} values", rows.len())));
    }
    check_binary(rows, arg)?;
    Ok(rows.len() / n)
}

/// `Σ_j w_j s_j` in float64 (eight independent lanes so it vectorises).
#[inline]
fn field(w: &[f32], s: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut wc = w.chunks_exact(8);
    let mut sc = s.chunks_exact(8);
    for (a, b) in (&mut wc).zip(&mut sc) {
        for k in 0..8 {
            acc[k] += f64::from(a[k] * b[k]);
        }
    }
    let mut tail = 0.0f64;
    for (a, b) in wc.remainder().iter().zip(sc.remainder()) {
        tail += f64::from(a * b);
    }
    acc.iter().sum::<f64>() + tail
}

/// Hebbian rule: `W += (1/N) Σ_μ ξ^μ ξ^μᵀ`, diagonal kept at zero. The
/// pattern products are integers, summed exactly by a float32 GEMM in
/// blocks of rows (no second `N x N` buffer).
pub fn hebbian(weights: &mut [f32], n: usize, patterns: &[i8]) -> Result<()> {
    let p = check_sizes(weights, n, patterns, "patterns")?;
    if p >= 1 << 24 {
        return Err(Error::value("patterns", "at most 2^24 patterns at once"));
    }
    let xi: Vec<f32> = patterns.iter().map(|&v| f32::from(v)).collect();
    const BLOCK: usize = 256;
    let mut counts: Vec<f32> = try_zeros(BLOCK.min(n) * n, "Hebbian block")?;
    let inv_n = 1.0 / n as f64;
    crate::par::install(|| {
        for r0 in (0..n).step_by(BLOCK) {
            let rows = BLOCK.min(n - r0);
            // counts = ξ[:, r0..r0+rows]ᵀ ξ
            let a = Op { data: &xi[r0..], rows: p, cols: rows, ld: n, trans: true };
            gemm(Parallelism::Pool, &mut counts[..rows * n], n, a, Op::new(&xi, p, n), 1.0, false);
            weights[r0 * n..(r0 + rows) * n]
                .par_chunks_mut(n)
                .zip(counts.par_chunks(n))
                .enumerate()
                .for_each(|(i, (w, c))| {
                    for (wj, &cj) in w.iter_mut().zip(c) {
                        *wj = (f64::from(*wj) + f64::from(cj) * inv_n) as f32;
                    }
                    w[r0 + i] = 0.0;
                });
        }
    });
    Ok(())
}

/// Storkey (1997) rule, one pattern after the other:
/// `W_ij += (ξ_i ξ_j - ξ_i h_ji - h_ij ξ_j) / N` for `i != j`, with the local
/// field `h_ij = Σ_{k≠i,j} W_ik ξ_k`. With a zero diagonal `h_ij = f_i - W_ij ξ_j`
/// (`f = W ξ`), so with symmetric `W` the update is
/// `(ξ_i ξ_j - ξ_i f_j - f_i ξ_j + 2 W_ij) / N`, computed in float64.
pub fn storkey(weights: &mut [f32], n: usize, patterns: &[i8]) -> Result<()> {
    check_sizes(weights, n, patterns, "patterns")?;
    let inv_n = 1.0 / n as f64;
    let mut xf = vec![0.0f32; n];
    crate::par::install(|| {
        for xi in patterns.chunks_exact(n) {
            for (a, &b) in xf.iter_mut().zip(xi) {
                *a = f32::from(b);
            }
            let f: Vec<f64> = weights.par_chunks(n).map(|w| field(w, &xf)).collect();
            weights.par_chunks_mut(n).enumerate().for_each(|(i, w)| {
                let xi_i = f64::from(xi[i]);
                for (j, wj) in w.iter_mut().enumerate() {
                    let xi_j = f64::from(xi[j]);
                    let old = f64::from(*wj);
                    *wj = (old + (xi_i * xi_j - xi_i * f[j] - f[i] * xi_j + 2.0 * old) * inv_n) as f32;
                }
                w[i] = 0.0;
            });
        }
    });
    Ok(())
}

/// Energy `-1/2 sᵀ W s` of each state row.
pub fn energy(weights: &[f32], n: usize, states: &[i8]) -> Result<Vec<f64>> {
    check_sizes(weights, n, states, "states")?;
    Ok(crate::par::install(|| {
        states
            .par_chunks(n)
            .map(|s| {
                let sf: Vec<f32> = s.iter().map(|&v| f32::from(v)).collect();
                let mut e = 0.0f64;
                for (i, w) in weights.chunks_exact(n).enumerate() {
                    e += f64::from(s[i]) * field(w, &sf);
                }
                -0.5 * e
            })
            .collect()
    }))
}

/// How the units are updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// All units at once from the previous state (may end in a 2-cycle).
    Sync,
    /// One unit at a time, in a random order reshuffled every sweep
    /// (SplitMix64 seeded with `seed + row`, each sweep shuffling the previous
    /// order); always reaches a fixed point for symmetric weights with a
    /// non-negative diagonal.
    Async,
}

impl Update {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sync" | "synchronous" => Ok(Update::Sync),
            "async" | "asynchronous" => Ok(Update::Async),
            _ => Err(Error::value("mode", format!("expected 'sync' or 'async', got {s:?}"))),
        }
    }
}

/// The outcome of running one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Sweeps (async) or synchronous updates performed.
    pub steps: usize,
    /// Whether the last of them changed no unit (a fixed point).
    pub converged: bool,
}

/// Updates every state row in place until a fixed point or `max_steps`
/// sweeps/updates; rows run in parallel and independently (same result for
/// any thread count).
pub fn run(
    weights: &[f32],
    n: usize,
    states: &mut [i8],
    mode: Update,
    max_steps: usize,
    seed: u64,
) -> Result<Vec<Run>> {
    check_sizes(weights, n, states, "states")?;
    Ok(crate::par::install(|| {
        let rows = states.len() / n;
        if mode == Update::Sync && rows == 1 {
            // One state: parallelise over the units instead.
            return vec![run_sync(weights, n, states, max_steps, true)];
        }
        states
            .par_chunks_mut(n)
            .enumerate()
            .map(|(r, s)| match mode {
                Update::Sync => run_sync(weights, n, s, max_steps, false),
                Update::Async => run_async(weights, n, s, max_steps, seed.wrapping_add(r as u64)),
            })
            .collect()
    }))
}

fn sign_or_keep(h: f64, current: i8) -> i8 {
    if h > 0.0 {
        1
    } else if h < 0.0 {
        -1
    } else {
        current
    }
}

fn run_sync(weights: &[f32], n: usize, s: &mut [i8], max_steps: usize, par: bool) -> Run {
    let mut sf: Vec<f32> = s.iter().map(|&v| f32::from(v)).collect();
    let mut next = vec![0i8; n];
    for step in 1..=max_steps {
        let update = |(i, (w, out)): (usize, (&[f32], &mut i8))| *out = sign_or_keep(field(w, &sf), s[i]);
        if par {
            weights.par_chunks(n).zip(next.par_iter_mut()).enumerate().for_each(update);
        } else {
            weights.chunks_exact(n).zip(next.iter_mut()).enumerate().for_each(update);
        }
        if next == s {
            return Run { steps: step, converged: true };
        }
        s.copy_from_slice(&next);
        for (a, &b) in sf.iter_mut().zip(s.iter()) {
            *a = f32::from(b);
        }
    }
    Run { steps: max_steps, converged: false }
}

fn run_async(weights: &[f32], n: usize, s: &mut [i8], max_steps: usize, seed: u64) -> Run {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut sf: Vec<f32> = s.iter().map(|&v| f32::from(v)).collect();
    for step in 1..=max_steps {
        rng.shuffle(&mut order);
        let mut changed = false;
        for &i in &order {
            let v = sign_or_keep(field(&weights[i * n..(i + 1) * n], &sf), s[i]);
            if v != s[i] {
                s[i] = v;
                sf[i] = f32::from(v);
                changed = true;
            }
        }
        if !changed {
            return Run { steps: step, converged: true };
        }
    }
    Run { steps: max_steps, converged: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(p: usize, n: usize, seed: u64) -> Vec<i8> {
        let mut r = SplitMix64::new(seed);
        (0..p * n).map(|_| if r.next_u64() & 1 == 1 { 1 } else { -1 }).collect()
    }

    #[test]
    fn hebbian_matches_outer_products_and_recalls() {
        let (n, p) = (300, 5);
        let xi = patterns(p, n, 1);
        let mut w = vec![0.0f32; n * n];
        hebbian(&mut w, n, &xi).unwrap();
        for &(i, j) in &[(0, 1), (17, 250), (299, 3)] {
            let want: f64 = (0..p).map(|m| f64::from(xi[m * n + i] * xi[m * n + j])).sum::<f64>() / n as f64;
            assert!((f64::from(w[i * n + j]) - want).abs() < 1e-7);
        }
        assert_eq!(w[5 * n + 5], 0.0);
        // A corrupted pattern falls back to the stored one, both ways.
        for mode in [Update::Sync, Update::Async] {
            let mut s = xi[..n].to_vec();
            for v in s.iter_mut().take(30) {
                *v = -*v;
            }
            let r = run(&w, n, &mut s, mode, 50, 7).unwrap();
            assert!(r[0].converged);
            assert_eq!(&s[..], &xi[..n]);
        }
    }

    #[test]
    fn storkey_stores_what_hebbian_loses_and_energy_drops() {
        let (n, p) = (100, 20); // load 0.2: above the Hebbian limit
        let xi = patterns(p, n, 2);
        let mut wh = vec![0.0f32; n * n];
        let mut ws = vec![0.0f32; n * n];
        hebbian(&mut wh, n, &xi).unwrap();
        storkey(&mut ws, n, &xi).unwrap();
        let stable = |w: &[f32]| {
            (0..p)
                .filter(|&m| {
                    let mut s = xi[m * n..(m + 1) * n].to_vec();
                    run(w, n, &mut s, Update::Sync, 1, 0).unwrap()[0].converged
                })
                .count()
        };
        assert!(stable(&ws) > stable(&wh), "storkey {} hebbian {}", stable(&ws), stable(&wh));
        let mut s = patterns(1, n, 9);
        let e0 = energy(&ws, n, &s).unwrap()[0];
        run(&ws, n, &mut s, Update::Async, 100, 3).unwrap();
        assert!(energy(&ws, n, &s).unwrap()[0] <= e0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut w = vec![0.0f32; 9];
        assert!(hebbian(&mut w, 3, &[1, 0, -1]).is_err());
        assert!(hebbian(&mut w, 3, &[1, 1]).is_err());
        assert!(run(&w, 2, &mut [1, 1], Update::Sync, 1, 0).is_err());
        assert!(Update::parse("both").is_err());
    }
}
