//! Unit tests: exact RTRL against finite differences, SnAp-1 against exact on
//! diagonal recurrences, UORO's mean, the memory guard.

use super::*;
use crate::cell::Mode;

fn data(n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + 1.0) * s).sin() * 0.6).collect()
}

const KINDS: [Mode; 9] = [
    Mode::RnnTanh,
    Mode::RnnRelu,
    Mode::Lstm,
    Mode::Gru,
    Mode::LstmNoForget,
    Mode::LstmCifg,
    Mode::LstmPeephole,
    Mode::Leaky,
    Mode::Mgu,
];

struct Case {
    sh: CellShape,
    t: usize,
    b: usize,
    p: Vec<f64>,
    x: Vec<f64>,
    dy: Vec<f64>,
    h0: Vec<f64>,
}

fn case(kind: Mode) -> Case {
    let sh = CellShape::new(kind, 3, 4).unwrap();
    let (t, b) = (5, 2);
    Case {
        sh,
        t,
        b,
        p: data(sh.n_params(), 0.37),
        x: data(t * b * 3, 0.91),
        dy: data(t * b * 4, 0.53),
        h0: data(b * 4, 0.29),
    }
}

fn run(c: &Case, method: Method, p: &[f64]) -> SequenceResult<f64> {
    let c0 = if c.sh.kind.has_c() { Some(&c.h0[..]) } else { None };
    gradient(c.sh, method, p, &c.x, &c.dy, c.t, c.b, Some(&c.h0), c0, None).unwrap()
}

#[test]
fn exact_matches_finite_differences() {
    for kind in KINDS {
        let c = case(kind);
        let g = run(&c, Method::Exact, &c.p).grad;
        let loss =
            |q: &[f64]| -> f64 { run(&c, Method::Exact, q).y.iter().zip(&c.dy).map(|(a, b)| a * b).sum() };
        for idx in 0..c.sh.n_params() {
            let mut q = c.p.clone();
            q[idx] += 1e-6;
            let lp = loss(&q);
            q[idx] -= 2e-6;
            let fd = (lp - loss(&q)) / 2e-6;
            assert!(
                (fd - g[idx]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{kind:?} param {idx}: fd {fd} vs rtrl {}",
                g[idx]
            );
        }
    }
}

#[test]
fn snap1_equals_exact_on_diagonal_recurrence() {
    for kind in KINDS {
        let mut c = case(kind);
        // Make every gate block of W_hh diagonal: J_t becomes unit-diagonal.
        let (h, off) = (c.sh.hidden, c.sh.off_whh());
        for row in 0..c.sh.rows() {
            for j in 0..h {
                if j != row % h {
                    c.p[off + row * h + j] = 0.0;
                }
            }
        }
        let e = run(&c, Method::Exact, &c.p).grad;
        let s = run(&c, Method::Snap1, &c.p).grad;
        for (a, b) in e.iter().zip(&s) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()), "{kind:?}: {a} vs {b}");
        }
        // ... and differs from exact on a dense one (the test can fail).
        let c = case(kind);
        let e = run(&c, Method::Exact, &c.p).grad;
        let s = run(&c, Method::Snap1, &c.p).grad;
        assert!(e.iter().zip(&s).any(|(a, b)| (a - b).abs() > 1e-6), "{kind:?}");
    }
}

#[test]
fn cells_without_rtrl_partials_are_refused() {
    for kind in [Mode::LayerNormLstm, Mode::LayerNormGru] {
        assert!(matches!(CellShape::new(kind, 3, 4), Err(Error::Value { .. })), "{kind:?}");
    }
}

#[test]
fn uoro_is_seeded_and_its_mean_approaches_exact() {
    let c = case(Mode::Gru);
    let exact = run(&c, Method::Exact, &c.p).grad;
    let a = run(&c, Method::Uoro { seed: 3 }, &c.p).grad;
    assert_eq!(a, run(&c, Method::Uoro { seed: 3 }, &c.p).grad);
    assert_ne!(a, run(&c, Method::Uoro { seed: 4 }, &c.p).grad);
    let k = 4000;
    let mut mean = vec![0.0; exact.len()];
    for s in 0..k {
        for (m, v) in mean.iter_mut().zip(run(&c, Method::Uoro { seed: s }, &c.p).grad) {
            *m += v / k as f64;
        }
    }
    let err: f64 = mean.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    let norm: f64 = exact.iter().map(|a| a * a).sum::<f64>().sqrt();
    assert!(err < 0.2 * norm, "relative error of the mean {}", err / norm);
}

#[test]
fn memory_guard_states_the_size() {
    let sh = CellShape::new(Mode::Lstm, 8, 512).unwrap();
    let e = Rtrl::<f64>::new(sh, Method::Exact, 4, Some(1 << 20)).err().unwrap();
    match e {
        Error::Alloc { bytes, what } => {
            assert_eq!(bytes, sensitivity_bytes::<f64>(&sh, Method::Exact, 4));
            assert!(what.contains("memory limit"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert!(Rtrl::<f64>::new(sh, Method::Snap1, 1, Some(1 << 30)).is_ok());
}

#[test]
fn bad_sizes_are_errors() {
    let sh = CellShape::new(Mode::RnnTanh, 2, 3).unwrap();
    let mut r = Rtrl::<f32>::new(sh, Method::Exact, 1, None).unwrap();
    assert!(matches!(r.step(&[0.0; 3], &[0.0; 2], None, None), Err(Error::Shape { .. })));
    assert!(matches!(r.step(&vec![0.0; sh.n_params()], &[0.0; 3], None, None), Err(Error::Shape { .. })));
    assert!(r.reset(None, Some(&[0.0; 3])).is_err());
    assert!(CellShape::new(Mode::Gru, 0, 3).is_err());
    assert!(Method::parse("diag", 0).is_err());
    // One mode parser for layers and RTRL: any case, a clear error otherwise.
    assert_eq!(Mode::parse("lstm").unwrap(), Mode::Lstm);
    assert!(matches!(Mode::parse("lstmx"), Err(Error::Value { .. })));
}

#[test]
fn thread_count_does_not_change_results() {
    let c = case(Mode::Lstm);
    crate::par::set_num_threads(1);
    let a = run(&c, Method::Exact, &c.p).grad;
    crate::par::set_num_threads(2);
    let b = run(&c, Method::Exact, &c.p).grad;
    crate::par::set_num_threads(0);
    assert_eq!(a, b);
}

#[test]
fn exact_blocks_of_any_width_agree() {
    // The fused step works on blocks of parameter columns; odd widths cut
    // parameter rows and regions anywhere. All must give the same result as
    // one block, the contraction inside `step` as the separate `accumulate`.
    for kind in KINDS {
        let c = case(kind);
        let p = c.sh.n_params();
        let run_width = |width: usize, fused: bool| {
            let mut r = Rtrl::new(c.sh, Method::Exact, c.b, None).unwrap();
            r.sens = Sens::Exact(exact::Exact::with_width(&c.sh, c.b, width).unwrap());
            let c0 = if kind.has_c() { Some(&c.h0[..]) } else { None };
            r.reset(Some(&c.h0), c0).unwrap();
            let mut g = vec![0.0; p];
            let (bi, bh) = (c.b * 3, c.b * 4);
            for t in 0..c.t {
                let (x, d) = (&c.x[t * bi..(t + 1) * bi], &c.dy[t * bh..(t + 1) * bh]);
                if fused {
                    r.step(&c.p, x, Some(d), Some(&mut g)).unwrap();
                } else {
                    r.step(&c.p, x, None, None).unwrap();
                    r.accumulate(d, &mut g).unwrap();
                }
            }
            g
        };
        let want = run_width(p, true);
        for width in [1, 3, 7, 16, p - 1] {
            for fused in [true, false] {
                let got = run_width(width, fused);
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{kind:?} width {width}: {a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn exact_whole_sequence_equals_step_by_step() {
    // `gradient` runs exact RTRL blocked in time (each column block through a
    // chunk of steps); it must agree with the online step-by-step recursion
    // for any block width and chunk length (chunks cut the sequence anywhere).
    for kind in KINDS {
        let c = case(kind);
        let p = c.sh.n_params();
        let c0 = if kind.has_c() { Some(&c.h0[..]) } else { None };
        let mut online = Rtrl::new(c.sh, Method::Exact, c.b, None).unwrap();
        online.reset(Some(&c.h0), c0).unwrap();
        let mut want = vec![0.0; p];
        let (bi, bh) = (c.b * 3, c.b * 4);
        let mut want_y = vec![0.0; c.t * bh];
        for t in 0..c.t {
            let d = &c.dy[t * bh..(t + 1) * bh];
            online.step(&c.p, &c.x[t * bi..(t + 1) * bi], Some(d), Some(&mut want)).unwrap();
            for b in 0..c.b {
                let n = c.sh.state_len();
                want_y[t * bh + b * 4..t * bh + b * 4 + 4].copy_from_slice(&online.state()[b * n..b * n + 4]);
            }
        }
        for (width, chunk) in [(p, 256), (7, 2), (16, 1), (p - 1, 3)] {
            let mut r = Rtrl::new(c.sh, Method::Exact, c.b, None).unwrap();
            let mut e = exact::Exact::with_width(&c.sh, c.b, width).unwrap();
            e.max_chunk = chunk;
            r.sens = Sens::Exact(e);
            r.reset(Some(&c.h0), c0).unwrap();
            let mut got = vec![0.0; p];
            let mut y = vec![0.0; c.t * bh];
            if let Sens::Exact(e) = &mut r.sens {
                e.run_sequence(&c.sh, &c.p, &c.x, &c.dy, c.t, &mut r.state, &mut r.next, &mut y, &mut got)
                    .unwrap();
            }
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "{kind:?} width {width} chunk {chunk}: {a} vs {b}"
                );
            }
            assert_eq!(y, want_y, "{kind:?}: hidden states");
            assert_eq!(r.state, online.state, "{kind:?}: final state");
        }
    }
}

#[test]
fn gru_variants_are_refused_in_their_own_layout() {
    for kind in [Mode::Gru1, Mode::Gru2, Mode::Gru3] {
        assert!(matches!(CellShape::new(kind, 2, 3), Err(Error::Value { .. })));
    }
}
