//! Closed-loop runs: the reservoir with its readout in the loop, the
//! readout's output fed back as feedback and (without external inputs) as
//! the next input. Rows of a step are split over the thread team as in a
//! single-sequence run, so the result does not depend on the thread count.

use crate::error::{checked_size, try_zeros, Error, Result};
use crate::float::Float;
use crate::reservoir::init::SeededRng;
use crate::reservoir::run::{check_finite, ReservoirRef};
use crate::reservoir::team::{run_steps, SharedMut};

/// Runs the reservoir with its readout in the loop: the readout's output is
/// fed back as feedback (when the reservoir has feedback) and, without
/// external `inputs`, as the next input (closed-loop generation).
///
/// * `wout`: readout `(units, n_out)`, `bout`: `(n_out,)`; `n_out` must equal
///   the number of feedback outputs (if any), and without `inputs` the
///   number of inputs.
/// * `inputs`: optional external inputs `(steps, inputs)`.
/// * `x0`: the state to start from; `y0`: the output at that state (fed as
///   first input).
///
/// Returns `(outputs (steps, n_out), states (steps, units))`.
pub fn generate<T: Float>(
    res: &ReservoirRef<T>,
    wout: &[T],
    bout: &[T],
    x0: &[T],
    y0: &[T],
    steps: usize,
    inputs: Option<&[T]>,
) -> Result<(Vec<T>, Vec<T>)> {
    res.validate()?;
    let (n, i) = (res.units, res.inputs);
    let m = bout.len();
    if let Some(ext) = inputs {
        if ext.len() != checked_size(&[steps, i], "inputs")? {
            return Err(Error::shape("X", format!("expected ({steps}, {i}), got {} values", ext.len())));
        }
        check_finite(ext, "X")?;
    } else if m != i {
        return Err(Error::shape(
            "readout",
            format!("closed loop needs as many outputs as inputs ({i}), got {m}"),
        ));
    }
    if res.outputs != 0 && res.outputs != m {
        return Err(Error::shape(
            "readout",
            format!("feedback expects {} outputs, readout gives {m}", res.outputs),
        ));
    }
    if wout.len() != checked_size(&[n, m], "Wout")? {
        return Err(Error::shape("Wout", format!("expected ({n}, {m}), got {} values", wout.len())));
    }
    if x0.len() != n || y0.len() != m {
        return Err(Error::shape("x0", format!("expected a state of {n} and an output of {m} values")));
    }
    check_finite(wout, "Wout")?;
    check_finite(bout, "bias_out")?;
    check_finite(x0, "x0")?;
    check_finite(y0, "y0")?;
    let mut outputs = try_zeros::<T>(checked_size(&[steps, m], "outputs")?, "outputs")?;
    let mut states = try_zeros::<T>(checked_size(&[steps, n], "states")?, "states")?;
    let w = res.rows()?;
    crate::par::install(|| {
        let parts = w.parts_for(n, crate::par::num_threads());
        let mut rng = SeededRng::new(res.noise.seed, u64::MAX);
        let mut y = y0.to_vec();
        let mut drive = if res.outputs > 0 { vec![T::ZERO; n] } else { Vec::new() };
        let mut y_noisy = vec![T::ZERO; res.outputs];
        let mut noise = if res.noise.rc != 0.0 { vec![T::ZERO; n] } else { Vec::new() };
        let mut u = vec![T::ZERO; i];
        let u_s = SharedMut::new(&mut u);
        // y = x Wout + b, each output summed over units in order.
        let readout = |x: &[T], y: &mut [T]| {
            for (k, yk) in y.iter_mut().enumerate() {
                let mut acc = bout[k];
                for (r, &xr) in x.iter().enumerate() {
                    acc += xr * wout[r * m + k];
                }
                *yk = acc;
            }
        };
        let (st, drive_s, noise_s) =
            (SharedMut::new(&mut states), SharedMut::new(&mut drive), SharedMut::new(&mut noise));
        run_steps(
            steps,
            parts.len() - 1,
            |t| {
                // SAFETY (all accesses): `prepare` runs while no part runs;
                // parts write disjoint rows of step t and read step t - 1, the
                // drive and the noise.
                if t > 0 {
                    readout(unsafe { st.get((t - 1) * n..t * n) }, &mut y);
                    outputs[(t - 1) * m..t * m].copy_from_slice(&y);
                }
                if res.outputs > 0 {
                    let r = if res.noise.feedback != 0.0 { Some(&mut rng) } else { None };
                    res.feedback_drive(&y, r, &mut y_noisy, unsafe { drive_s.get_mut(0..drive_s.len()) });
                }
                let u = unsafe { u_s.get_mut(0..i) };
                match inputs {
                    Some(ext) => u.copy_from_slice(&ext[t * i..(t + 1) * i]),
                    None => u.copy_from_slice(&y),
                }
                if res.noise.input != 0.0 {
                    for v in u.iter_mut() {
                        *v += T::from_f64(res.noise.input * rng.normal());
                    }
                }
                for v in unsafe { noise_s.get_mut(0..noise_s.len()) } {
                    *v = T::from_f64(res.noise.rc * rng.normal());
                }
            },
            |t, k| {
                let rows = parts[k]..parts[k + 1];
                let x_prev = if t == 0 { x0 } else { unsafe { st.get((t - 1) * n..t * n) } };
                let out = unsafe { st.get_mut(t * n + rows.start..t * n + rows.end) };
                let (drive, noise) =
                    unsafe { (drive_s.get(0..drive_s.len()), noise_s.get(0..noise_s.len())) };
                res.update_rows(&w, rows.start, x_prev, unsafe { u_s.get(0..i) }, out, drive, noise);
            },
        );
        if steps > 0 {
            readout(unsafe { st.get((steps - 1) * n..steps * n) }, &mut y);
            outputs[(steps - 1) * m..steps * m].copy_from_slice(&y);
        }
    });
    crate::interrupt::check()?;
    Ok((outputs, states))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservoir::init::{sparse_random, Distribution};
    use crate::reservoir::run::run;
    use crate::reservoir::run::tests::{owned, view};

    #[test]
    fn parallel_generation_matches_one_thread_and_replay() {
        // Big enough for the row-split thread team (> ROW_PARALLEL_MIN_WORK).
        let (n, i) = (600, 1);
        let mut m = owned(n, i, 0);
        m.w = sparse_random(n, n, 0.2, Distribution::Normal, 0.05, 4, 0).unwrap();
        let r = view(&m, n, i, 0);
        let wout: Vec<f64> = (0..n).map(|k| 0.002 * (k as f64).sin()).collect();
        let x0: Vec<f64> = (0..n).map(|k| 0.1 * (k as f64).cos()).collect();
        crate::par::set_num_threads(1);
        let a = generate(&r, &wout, &[0.1], &x0, &[0.5], 30, None).unwrap();
        crate::par::set_num_threads(2);
        let b = generate(&r, &wout, &[0.1], &x0, &[0.5], 30, None).unwrap();
        crate::par::set_num_threads(0);
        assert_eq!(a, b);
        let mut u = vec![0.5];
        u.extend_from_slice(&a.0[..29]);
        let replay = run(&r, &u, &[30], &x0, &[], &[]).unwrap();
        assert_eq!(a.1, replay);
    }

    #[test]
    fn generation_feeds_outputs_back_as_inputs() {
        let (n, i) = (20, 1);
        let m = owned(n, i, 0);
        let r = view(&m, n, i, 0);
        let wout: Vec<f64> = (0..n).map(|k| 0.01 * k as f64).collect();
        let (ys, xs) = generate(&r, &wout, &[0.1], &vec![0.0; n], &[0.5], 5, None).unwrap();
        // Replay with run(), feeding the generated outputs as inputs.
        let mut u = vec![0.5];
        u.extend_from_slice(&ys[..4]);
        let replay = run(&r, &u, &[5], &vec![0.0; n], &[], &[]).unwrap();
        for (a, b) in xs.iter().zip(&replay) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
