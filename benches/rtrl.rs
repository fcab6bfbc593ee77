//! RTRL throughput: one step of exact RTRL (sensitivity GEMMs + structured
//! immediate Jacobian) next to a bare GEMM with the same flops,
//! `(n x H) x (H x B*P)` (the machine's faer GEMM throughput for that
//! product), and whole sequences of the O(P) methods. Throughput is counted
//! in floating-point operations (2 per multiply-add of the sensitivity
//! product), so criterion's "elem/s" reads as FLOP/s for the exact rows,
//! and in cell-steps (time steps x batch) for the O(P) rows.
//!
//! cargo bench --bench rtrl            (RTRL_BENCH_FULL=1 for n = 128 exact)

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rnnrs::cell::elementwise::ElemShape;
use rnnrs::cell::indrnn::IndRnn;
use rnnrs::cell::Mode;
use rnnrs::linalg::{gemm, Op, Parallelism};
use rnnrs::rtrl::diag::rtrl_gradient as elem_rtrl;
use rnnrs::rtrl::{gradient, CellShape, Method, Rtrl};
use std::hint::black_box;
use std::time::Duration;

const INPUT: usize = 8;

fn data(n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 1.0) * s).sin() * 0.3).collect()
}

fn exact_vs_gemm(c: &mut Criterion) {
    let full = std::env::var("RTRL_BENCH_FULL").is_ok();
    let mut g = c.benchmark_group("rtrl_exact_step");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for kind in [Mode::RnnTanh, Mode::Gru, Mode::Lstm] {
        for hidden in [16, 32, 64, 128] {
            for batch in [1, 16] {
                let sh = CellShape::new(kind, INPUT, hidden).unwrap();
                let flops = 2 * sh.state_len() * hidden * sh.n_params() * batch;
                if flops > 400_000_000 && !full {
                    continue;
                }
                g.throughput(Throughput::Elements(flops as u64));
                let params = data(sh.n_params(), 0.37);
                let x = data(batch * INPUT, 0.11);
                let d = data(batch * hidden, 0.23);
                let mut r = Rtrl::<f32>::new(sh, Method::Exact, batch, None).unwrap();
                let mut grad = vec![0.0f32; sh.n_params()];
                let id = format!("{kind:?}/n{hidden}/b{batch}");
                g.bench_function(format!("rtrl/{id}"), |b| {
                    b.iter(|| r.step(&params, black_box(&x), Some(&d), Some(&mut grad)).unwrap())
                });
                // The bare GEMM of the same shape: the throughput ceiling.
                let (m, k, n) = (sh.state_len(), hidden, batch * sh.n_params());
                let a = data(m * k, 0.5);
                let bm = data(k * n, 0.7);
                let mut out = vec![0.0f32; m * n];
                g.bench_function(format!("gemm/{id}"), |b| {
                    b.iter(|| {
                        rnnrs::par::install(|| {
                            gemm(
                                Parallelism::Pool,
                                &mut out,
                                n,
                                Op::new(&a, m, k),
                                Op::new(&bm, k, n),
                                1.0,
                                false,
                            )
                        })
                    })
                });
            }
        }
    }
    g.finish();
}

fn o_p_methods(c: &mut Criterion) {
    let mut g = c.benchmark_group("rtrl_o_p_sequence");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let (hidden, steps) = (64, 200);
    for batch in [1, 16] {
        g.throughput(Throughput::Elements((steps * batch) as u64));
        let x = data(steps * batch * INPUT, 0.11);
        let d = data(steps * batch * hidden, 0.23);
        let esh = ElemShape::new(INPUT, hidden).unwrap();
        let ep = data(esh.n_params(), 0.37);
        g.bench_function(format!("indrnn_diag/n{hidden}/b{batch}"), |b| {
            b.iter(|| elem_rtrl(&IndRnn::Tanh, &esh, &ep, black_box(&x), &d, None, steps, batch).unwrap())
        });
        for kind in [Mode::RnnTanh, Mode::Gru, Mode::Lstm] {
            let sh = CellShape::new(kind, INPUT, hidden).unwrap();
            let p = data(sh.n_params(), 0.37);
            for (name, m) in [("snap1", Method::Snap1), ("uoro", Method::Uoro { seed: 1 })] {
                g.bench_function(format!("{name}/{kind:?}/n{hidden}/b{batch}"), |b| {
                    b.iter(|| gradient(sh, m, &p, black_box(&x), &d, steps, batch, None, None, None).unwrap())
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, exact_vs_gemm, o_p_methods);
criterion_main!(benches);
