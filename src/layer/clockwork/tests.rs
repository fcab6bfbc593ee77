use super::*;

fn spec() -> Clockwork {
    Clockwork { input_size: 3, module_sizes: vec![2, 1, 2], periods: vec![1, 2, 2], bias: true }
}

fn params(cw: &Clockwork) -> Vec<Vec<f64>> {
    cw.param_shapes()
        .iter()
        .enumerate()
        .map(|(k, (_, s))| {
            (0..s.iter().product::<usize>()).map(|i| ((i * 7 + k * 3) as f64 * 0.37).sin() * 0.5).collect()
        })
        .collect()
}

/// Loss `sum(y * dy)` for the finite-difference check.
fn loss(cw: &Clockwork, p: &[Vec<f64>], x: &[f64], t: usize, b: usize, dy: &[f64]) -> f64 {
    let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
    let (y, _, _) = forward(cw, &ps, x, t, b, None, false).unwrap();
    y.iter().zip(dy).map(|(a, b)| a * b).sum()
}

#[test]
fn blocks_read_equal_or_slower_modules() {
    let bl = spec().blocks();
    let view = |b: &Block| (b.row, b.k, b.peers, b.readers);
    assert_eq!(view(&bl[0]), (0, 2, 0, 2));
    // Modules 1 and 2 share period 2: both read both, and every module reads them.
    assert_eq!(view(&bl[1]), (2, 1, 1, 5));
    assert_eq!(view(&bl[2]), (3, 2, 1, 5));
}

#[test]
fn windows_name_the_value_a_step_reads() {
    // Step 0 reads h0; steps 1..=p the value set at step 0; steps p+1..=2p the one set at step p.
    assert_eq!((0..8).map(|s| window(s, 3)).collect::<Vec<_>>(), [0, 1, 1, 1, 2, 2, 2, 3]);
    assert_eq!((0..4).map(|s| window(s, 1)).collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
fn slow_modules_keep_their_state_between_ticks() {
    let cw = spec();
    let p = params(&cw);
    let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
    let (t, b) = (5, 2);
    let x: Vec<f64> = (0..t * b * 3).map(|i| (i as f64 * 0.3).cos()).collect();
    let (y, h_n, _) = forward(&cw, &ps, &x, t, b, None, false).unwrap();
    let h = 5;
    for s in [1, 3] {
        for r in 0..b {
            let (now, before) = ((s * b + r) * h, ((s - 1) * b + r) * h);
            assert_eq!(y[now + 2..now + 5], y[before + 2..before + 5]);
            assert_ne!(y[now], y[before]);
        }
    }
    assert_eq!(h_n, y[(t - 1) * b * h..]);
}

#[test]
fn weight_gradient_matches_finite_differences_and_masked_entries_are_zero() {
    let g = gradient_matches_finite_differences(&spec(), 4, 2);
    // weight_hh rows of module 1 (row 2) do not read module 0 (columns 0, 1).
    assert_eq!(g[1][2 * 5..2 * 5 + 2], [0.0, 0.0]);
}

#[test]
fn gradient_matches_finite_differences_with_periods_that_do_not_divide() {
    // Module 2 ticks at 0, 3, 6: windows of module 1 (period 2) straddle its ticks.
    let cw =
        Clockwork { input_size: 2, module_sizes: vec![1, 2, 1, 2], periods: vec![1, 2, 3, 3], bias: true };
    gradient_matches_finite_differences(&cw, 8, 3);
}

/// The parameter gradients against central differences; returns them.
fn gradient_matches_finite_differences(cw: &Clockwork, t: usize, b: usize) -> Vec<Vec<f64>> {
    let p = params(cw);
    let (i_sz, h) = (cw.input_size, cw.hidden_size());
    let x: Vec<f64> = (0..t * b * i_sz).map(|i| (i as f64 * 0.3).cos()).collect();
    let dy: Vec<f64> = (0..t * b * h).map(|i| (i as f64 * 0.71).sin()).collect();
    let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
    let (_, _, cache) = forward(cw, &ps, &x, t, b, None, true).unwrap();
    let mut g: Vec<Vec<f64>> = p.iter().map(|v| vec![0.0; v.len()]).collect();
    let mut gs: Vec<&mut [f64]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
    backward(&ps, cache.as_ref().unwrap(), &dy, None, &mut gs, true).unwrap();
    let eps = 1e-6;
    for k in 0..p.len() {
        for i in 0..p[k].len() {
            let mut q = p.clone();
            q[k][i] += eps;
            let fp = loss(cw, &q, &x, t, b, &dy);
            q[k][i] -= 2.0 * eps;
            let fm = loss(cw, &q, &x, t, b, &dy);
            let num = (fp - fm) / (2.0 * eps);
            assert!((num - g[k][i]).abs() < 1e-7, "param {k}[{i}]: {num} vs {}", g[k][i]);
        }
    }
    g
}

#[test]
fn bad_options_are_errors() {
    let mut cw = spec();
    cw.periods = vec![2, 1, 4];
    assert!(matches!(cw.validate(), Err(Error::Value { arg, .. }) if arg == "periods"));
    cw.periods = vec![1, 0, 4];
    assert!(cw.validate().is_err());
    cw.periods = vec![1, 2];
    assert!(cw.validate().is_err());
}
