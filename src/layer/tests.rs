//! Layer tests without Python: BPTT against central finite differences
//! (float64), inference vs training forward, thread-count independence,
//! truncated BPTT, and errors for bad input.

use super::*;

fn det(n: usize, seed: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + 1.0) * 0.7548776662 + seed).sin() * 0.8).collect()
}

struct Case {
    spec: RnnSpec,
    t: usize,
    b: usize,
    params: Vec<Vec<f64>>,
    x: Vec<f64>,
    h0: Vec<f64>,
    c0: Vec<f64>,
    wy: Vec<f64>,
    wh: Vec<f64>,
    wc: Vec<f64>,
    /// Sequence lengths (empty: none).
    lengths: Vec<usize>,
}

impl Case {
    fn new(mode: Mode, layers: usize, bidir: bool, bias: bool, proj: usize, t: usize, b: usize) -> Case {
        let spec = RnnSpec {
            mode,
            input_size: 3,
            hidden_size: 4,
            num_layers: layers,
            bidirectional: bidir,
            bias,
            proj_size: proj,
        };
        let params: Vec<Vec<f64>> = spec
            .param_shapes()
            .iter()
            .enumerate()
            .map(|(k, (_, s))| det(s.iter().product(), k as f64))
            .collect();
        let rows = layers * spec.num_directions();
        Case {
            x: det(t * b * 3, 10.0),
            h0: det(rows * b * spec.h_out(), 20.0),
            c0: det(rows * b * 4, 30.0),
            wy: det(t * b * spec.num_directions() * spec.h_out(), 40.0),
            wh: det(rows * b * spec.h_out(), 50.0),
            wc: det(rows * b * 4, 60.0),
            spec,
            t,
            b,
            params,
            lengths: Vec::new(),
        }
    }
    fn states<'a>(&'a self, h0: &'a [f64], c0: &'a [f64]) -> States<'a, f64> {
        States {
            h0: Some(h0),
            c0: (self.spec.mode.has_c()).then_some(c0),
            mask: None,
            lengths: (!self.lengths.is_empty()).then_some(self.lengths.as_slice()),
        }
    }
    fn refs(&self) -> Vec<&[f64]> {
        self.params.iter().map(|v| v.as_slice()).collect()
    }
    fn c0(&self) -> Option<&[f64]> {
        (self.spec.mode.has_c()).then_some(self.c0.as_slice())
    }
    fn loss_of(&self, params: &[Vec<f64>], x: &[f64], h0: &[f64], c0: &[f64]) -> f64 {
        let p: Vec<&[f64]> = params.iter().map(|v| v.as_slice()).collect();
        let (o, _) = forward_with(&self.spec, &p, x, self.t, self.b, self.states(h0, c0), false).unwrap();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        dot(&o.y, &self.wy) + dot(&o.h_n, &self.wh) + dot(&o.c_n, &self.wc[..o.c_n.len()])
    }
}

fn assert_close(got: f64, want: f64, what: &str) {
    let tol = 1e-7 * (1.0 + want.abs());
    assert!((got - want).abs() <= tol, "{what}: analytic {got} vs numeric {want}");
}

fn check_gradients(case: &Case) {
    let p = case.refs();
    let states = case.states(&case.h0, &case.c0);
    let (_, cache) = forward_with(&case.spec, &p, &case.x, case.t, case.b, states, true).unwrap();
    let cache = cache.unwrap();
    let mut grads: Vec<Vec<f64>> = case.params.iter().map(|v| vec![0.0; v.len()]).collect();
    let mut gref: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
    let wc = (case.spec.mode.has_c()).then_some(case.wc.as_slice());
    let g = backward(&p, &cache, &case.wy, Some(&case.wh), wc, &mut gref, true).unwrap();
    let eps = 1e-6;
    let num = |f: &dyn Fn(f64) -> f64| (f(eps) - f(-eps)) / (2.0 * eps);
    for (k, pv) in case.params.iter().enumerate() {
        for j in 0..pv.len() {
            let n = num(&|e| {
                let mut ps = case.params.clone();
                ps[k][j] += e;
                case.loss_of(&ps, &case.x, &case.h0, &case.c0)
            });
            assert_close(grads[k][j], n, &format!("param {k}[{j}]"));
        }
    }
    for j in 0..case.x.len() {
        let n = num(&|e| {
            let mut x = case.x.clone();
            x[j] += e;
            case.loss_of(&case.params, &x, &case.h0, &case.c0)
        });
        assert_close(g.dx[j], n, &format!("dx[{j}]"));
    }
    for j in 0..case.h0.len() {
        let n = num(&|e| {
            let mut h0 = case.h0.clone();
            h0[j] += e;
            case.loss_of(&case.params, &case.x, &h0, &case.c0)
        });
        assert_close(g.dh0[j], n, &format!("dh0[{j}]"));
    }
    if case.spec.mode.has_c() {
        for j in 0..case.c0.len() {
            let n = num(&|e| {
                let mut c0 = case.c0.clone();
                c0[j] += e;
                case.loss_of(&case.params, &case.x, &case.h0, &c0)
            });
            assert_close(g.dc0[j], n, &format!("dc0[{j}]"));
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    for mode in
        [Mode::RnnTanh, Mode::RnnRelu, Mode::Lstm, Mode::Gru, Mode::Gru1, Mode::Gru2, Mode::Gru3, Mode::Mgu]
    {
        check_gradients(&Case::new(mode, 1, false, true, 0, 3, 2));
        check_gradients(&Case::new(mode, 2, true, true, 0, 3, 2));
        check_gradients(&Case::new(mode, 1, true, false, 0, 2, 1));
    }
    check_gradients(&Case::new(Mode::Lstm, 2, true, true, 2, 3, 2));
    check_gradients(&Case::new(Mode::Lstm, 1, false, false, 3, 4, 1));
}

#[test]
fn peephole_gradients_match_finite_differences() {
    // Batch 17 runs each step as two blocks of rows (two accumulators of
    // the own-parameter gradient).
    check_gradients(&Case::new(Mode::LstmPeephole, 1, false, true, 0, 3, 2));
    check_gradients(&Case::new(Mode::LstmPeephole, 2, true, false, 2, 3, 17));
    let mut c = Case::new(Mode::LstmPeephole, 1, true, true, 0, 4, 17);
    c.lengths = (0..17).map(|i| 1 + i % 4).collect();
    check_gradients(&c);
}

#[test]
fn leaky_gradients_match_finite_differences() {
    check_gradients(&Case::new(Mode::Leaky, 1, false, true, 0, 3, 2));
    check_gradients(&Case::new(Mode::Leaky, 2, true, false, 0, 3, 17));
    let mut c = Case::new(Mode::Leaky, 1, true, true, 0, 4, 17);
    c.lengths = (0..17).map(|i| 1 + i % 4).collect();
    check_gradients(&c);
}

#[test]
fn layernorm_gradients_match_finite_differences() {
    for mode in [Mode::LayerNormLstm, Mode::LayerNormGru] {
        check_gradients(&Case::new(mode, 2, true, false, 0, 3, 2));
        let mut c = Case::new(mode, 1, false, false, 0, 4, 17);
        c.lengths = (0..17).map(|i| 1 + i % 4).collect();
        check_gradients(&c);
    }
}

#[test]
fn gradients_with_lengths_match_finite_differences() {
    for mode in [Mode::RnnTanh, Mode::Lstm, Mode::Gru] {
        let mut c = Case::new(mode, 2, true, true, 0, 4, 3);
        c.lengths = vec![2, 4, 1];
        check_gradients(&c);
    }
    let mut c = Case::new(Mode::Lstm, 1, true, true, 2, 3, 2);
    c.lengths = vec![1, 3];
    check_gradients(&c);
}

/// Sequence `col` of the case alone, cut to `len` steps: (y, h_n, c_n).
fn run_alone(c: &Case, col: usize, len: usize) -> Output<f64> {
    let (b, i, ho, h) = (c.b, c.spec.input_size, c.spec.h_out(), c.spec.hidden_size);
    let x: Vec<f64> = (0..len).flat_map(|t| c.x[(t * b + col) * i..(t * b + col + 1) * i].to_vec()).collect();
    let rows = c.spec.num_layers * c.spec.num_directions();
    let h0: Vec<f64> =
        (0..rows).flat_map(|r| c.h0[(r * b + col) * ho..(r * b + col + 1) * ho].to_vec()).collect();
    let c0: Vec<f64> =
        (0..rows).flat_map(|r| c.c0[(r * b + col) * h..(r * b + col + 1) * h].to_vec()).collect();
    let lstm = c.spec.mode.has_c();
    let p = c.refs();
    forward(&c.spec, &p, &x, len, 1, Some(&h0), lstm.then_some(c0.as_slice()), false).unwrap().0
}

#[test]
fn lengths_equal_running_each_sequence_alone() {
    for mode in [Mode::RnnRelu, Mode::Lstm, Mode::Gru] {
        let mut c = Case::new(mode, 2, true, true, 0, 5, 4);
        c.lengths = vec![3, 5, 1, 4];
        let p = c.refs();
        let (o, _) = forward_with(&c.spec, &p, &c.x, c.t, c.b, c.states(&c.h0, &c.c0), false).unwrap();
        let (w, ho, h, rows) = (2 * c.spec.h_out(), c.spec.h_out(), c.spec.hidden_size, 4);
        for (col, &len) in c.lengths.iter().enumerate() {
            let a = run_alone(&c, col, len);
            for t in 0..c.t {
                let got = &o.y[(t * c.b + col) * w..(t * c.b + col + 1) * w];
                if t < len {
                    for (u, v) in got.iter().zip(&a.y[t * w..(t + 1) * w]) {
                        assert!((u - v).abs() < 1e-13, "{mode:?} y[{t}, {col}]");
                    }
                } else {
                    assert!(got.iter().all(|&v| v == 0.0), "padding of {col} at {t}");
                }
            }
            for r in 0..rows {
                for (u, v) in o.h_n[(r * c.b + col) * ho..][..ho].iter().zip(&a.h_n[r * ho..(r + 1) * ho]) {
                    assert!((u - v).abs() < 1e-13, "{mode:?} h_n row {r} col {col}");
                }
                if mode == Mode::Lstm {
                    for (u, v) in o.c_n[(r * c.b + col) * h..][..h].iter().zip(&a.c_n[r * h..(r + 1) * h]) {
                        assert!((u - v).abs() < 1e-13, "c_n row {r} col {col}");
                    }
                }
            }
        }
    }
}

#[test]
fn zero_length_passes_the_state_through() {
    let mut c = Case::new(Mode::Lstm, 1, true, true, 0, 3, 2);
    c.lengths = vec![0, 3];
    let p = c.refs();
    let (o, cache) = forward_with(&c.spec, &p, &c.x, c.t, c.b, c.states(&c.h0, &c.c0), true).unwrap();
    let (ho, h) = (c.spec.h_out(), c.spec.hidden_size);
    for r in 0..2 {
        assert_eq!(&o.h_n[r * 2 * ho..][..ho], &c.h0[r * 2 * ho..][..ho]);
        assert_eq!(&o.c_n[r * 2 * h..][..h], &c.c0[r * 2 * h..][..h]);
    }
    let mut grads: Vec<Vec<f64>> = c.params.iter().map(|v| vec![0.0; v.len()]).collect();
    let mut gref: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
    let g = backward(&p, &cache.unwrap(), &c.wy, Some(&c.wh), Some(&c.wc), &mut gref, true).unwrap();
    for r in 0..2 {
        assert_eq!(&g.dh0[r * 2 * ho..][..ho], &c.wh[r * 2 * ho..][..ho]);
    }
}

#[test]
fn inference_equals_training_forward() {
    for mode in [Mode::RnnTanh, Mode::Lstm, Mode::Gru] {
        let c = Case::new(mode, 2, true, true, 0, 5, 3);
        let p = c.refs();
        let (a, _) = forward(&c.spec, &p, &c.x, c.t, c.b, Some(&c.h0), c.c0(), false).unwrap();
        let (b, _) = forward(&c.spec, &p, &c.x, c.t, c.b, Some(&c.h0), c.c0(), true).unwrap();
        for (u, v) in a.y.iter().zip(&b.y).chain(a.h_n.iter().zip(&b.h_n)).chain(a.c_n.iter().zip(&b.c_n)) {
            assert!((u - v).abs() < 1e-14);
        }
    }
}

#[test]
fn chunked_forward_carries_state() {
    let c = Case::new(Mode::Lstm, 2, false, true, 0, 6, 2);
    let p = c.refs();
    let (full, _) = forward(&c.spec, &p, &c.x, 6, 2, Some(&c.h0), c.c0(), false).unwrap();
    let (a, _) = forward(&c.spec, &p, &c.x[..4 * 2 * 3], 4, 2, Some(&c.h0), c.c0(), false).unwrap();
    let (b, _) = forward(&c.spec, &p, &c.x[4 * 2 * 3..], 2, 2, Some(&a.h_n), Some(&a.c_n), false).unwrap();
    for (u, v) in full.y[4 * 2 * 4..].iter().zip(&b.y).chain(full.h_n.iter().zip(&b.h_n)) {
        assert!((u - v).abs() < 1e-14);
    }
}

fn run_all(case: &Case) -> (Output<f64>, Gradients<f64>, Vec<Vec<f64>>) {
    let p = case.refs();
    let (o, cache) = forward(&case.spec, &p, &case.x, case.t, case.b, None, None, true).unwrap();
    let mut grads: Vec<Vec<f64>> = case.params.iter().map(|v| vec![0.0; v.len()]).collect();
    let mut gref: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
    let g = backward(&p, &cache.unwrap(), &case.wy, None, None, &mut gref, true).unwrap();
    (o, g, grads)
}

#[test]
fn results_do_not_depend_on_thread_count() {
    // Big enough that the GEMMs take the parallel path.
    let mut case = Case::new(Mode::Gru, 2, true, true, 0, 30, 48);
    case.spec.input_size = 64;
    case.spec.hidden_size = 96;
    let shapes = case.spec.param_shapes();
    case.params = shapes.iter().enumerate().map(|(k, (_, s))| det(s.iter().product(), k as f64)).collect();
    case.x = det(30 * 48 * 64, 1.0);
    case.wy = det(30 * 48 * 2 * 96, 2.0);
    crate::par::set_num_threads(1);
    let one = run_all(&case);
    crate::par::set_num_threads(2);
    let two = run_all(&case);
    crate::par::set_num_threads(0);
    assert_eq!(one.0.y, two.0.y);
    assert_eq!(one.1.dx, two.1.dx);
    assert_eq!(one.2, two.2);
    // With lengths: the same.
    case.lengths = (0..48).map(|k| 1 + (k * 7) % 30).collect();
    let run = |case: &Case| {
        let p = case.refs();
        let s = States { lengths: Some(&case.lengths), ..States::default() };
        let (o, cache) = forward_with(&case.spec, &p, &case.x, case.t, case.b, s, true).unwrap();
        let mut grads: Vec<Vec<f64>> = case.params.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut gref: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
        let g = backward(&p, &cache.unwrap(), &case.wy, None, None, &mut gref, true).unwrap();
        (o.y, g.dx, grads)
    };
    crate::par::set_num_threads(1);
    let one = run(&case);
    crate::par::set_num_threads(2);
    let two = run(&case);
    crate::par::set_num_threads(0);
    assert_eq!(one, two);
}

#[test]
fn bad_input_is_an_error() {
    let c = Case::new(Mode::Gru, 1, false, true, 0, 3, 2);
    let p = c.refs();
    assert!(forward(&c.spec, &p, &c.x[1..], 3, 2, None, None, false).is_err());
    assert!(forward(&c.spec, &p, &c.x, 0, 2, None, None, false).is_err());
    assert!(forward(&c.spec, &p[1..], &c.x, 3, 2, None, None, false).is_err());
    assert!(forward(&c.spec, &p, &c.x, 3, 2, Some(&c.h0[1..]), None, false).is_err());
    let mut spec = c.spec.clone();
    spec.proj_size = 2;
    assert!(forward(&spec, &p, &c.x, 3, 2, None, None, false).is_err());
    spec = c.spec.clone();
    spec.hidden_size = usize::MAX / 2;
    assert!(matches!(spec.validate(), Err(Error::Alloc { .. })));
    let (_, cache) = forward(&c.spec, &p, &c.x, 3, 2, None, None, true).unwrap();
    let mut grads: Vec<Vec<f64>> = c.params.iter().map(|v| vec![0.0; v.len()]).collect();
    let mut gref: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
    assert!(backward(&p, &cache.unwrap(), &c.wy[1..], None, None, &mut gref, true).is_err());
    assert!(Mode::parse("lstm").is_ok() && Mode::parse("xyz").is_err());
}

#[test]
fn nan_input_propagates_without_panic() {
    let mut c = Case::new(Mode::Lstm, 1, false, true, 0, 3, 1);
    c.x[0] = f64::NAN;
    let p = c.refs();
    let (o, _) = forward(&c.spec, &p, &c.x, 3, 1, None, None, false).unwrap();
    assert!(o.y.iter().all(|v| v.is_nan()));
}

#[test]
fn float32_matches_float64() {
    let c = Case::new(Mode::Lstm, 2, true, true, 0, 4, 2);
    let p32: Vec<Vec<f32>> = c.params.iter().map(|v| v.iter().map(|&a| a as f32).collect()).collect();
    let p32r: Vec<&[f32]> = p32.iter().map(|v| v.as_slice()).collect();
    let x32: Vec<f32> = c.x.iter().map(|&a| a as f32).collect();
    let (o32, _) = forward(&c.spec, &p32r, &x32, 4, 2, None, None, false).unwrap();
    let (o64, _) = forward(&c.spec, &c.refs(), &c.x, 4, 2, None, None, false).unwrap();
    for (a, b) in o32.y.iter().zip(&o64.y) {
        assert!((*a as f64 - b).abs() < 1e-5);
    }
}

#[test]
fn recurrent_mask_of_ones_is_no_mask_and_bad_mask_is_an_error() {
    let c = Case::new(Mode::Gru, 2, true, true, 0, 3, 2);
    let p = c.refs();
    let ones = vec![1.0; 4 * 2 * 4];
    let (a, _) = forward(&c.spec, &p, &c.x, 3, 2, Some(&c.h0), None, true).unwrap();
    let (b, _) = forward_masked(&c.spec, &p, &c.x, 3, 2, Some(&c.h0), None, Some(&ones), true).unwrap();
    assert_eq!(a.y, b.y);
    let half = vec![0.5; 4 * 2 * 4];
    let (h, _) = forward_masked(&c.spec, &p, &c.x, 3, 2, Some(&c.h0), None, Some(&half), true).unwrap();
    assert_ne!(a.y, h.y);
    assert!(forward_masked(&c.spec, &p, &c.x, 3, 2, None, None, Some(&ones[1..]), true).is_err());
}

#[test]
fn skipping_the_input_gradient_leaves_the_rest_unchanged() {
    // need_dx = false (data entering the first layer): no dx, and the same
    // parameter and initial-state gradients to the bit.
    for mode in [Mode::RnnTanh, Mode::Lstm, Mode::Gru] {
        let case = Case::new(mode, 2, true, true, 0, 3, 2);
        let p = case.refs();
        let run = |need_dx: bool| {
            let (_, cache) =
                forward(&case.spec, &p, &case.x, case.t, case.b, Some(&case.h0), case.c0(), true).unwrap();
            let mut grads: Vec<Vec<f64>> = case.params.iter().map(|v| vec![0.0; v.len()]).collect();
            let mut gref: Vec<&mut [f64]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
            let wc = (mode == Mode::Lstm).then_some(case.wc.as_slice());
            let g = backward(&p, &cache.unwrap(), &case.wy, Some(&case.wh), wc, &mut gref, need_dx).unwrap();
            (g, grads)
        };
        let ((with, gw), (without, gwo)) = (run(true), run(false));
        assert_eq!(with.dx.len(), case.x.len());
        assert!(without.dx.is_empty(), "{mode:?}: dx computed anyway");
        assert_eq!(gw, gwo, "{mode:?}: parameter gradients");
        assert_eq!((with.dh0, with.dc0), (without.dh0, without.dc0), "{mode:?}: state gradients");
    }
}
