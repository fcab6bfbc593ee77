//! Float32 GEMM on the shapes of a training step of model A (LSTM T=100,
//! B=64, I=128, H=256 + Linear(256, 128)): the packed GEMM of
//! `rnnrs::linalg::packed_f32` (AVX-512 or AVX2 micro-kernel, per
//! `RNNRS_SIMD`) vs faer, serial. Throughput is in
//! floating-point operations (2 m n k) per second (criterion's "elem/s").
//!
//! `cargo bench --bench gemm -- --warm-up-time 1 --measurement-time 2`
//! (`RNNRS_SIMD=avx2 cargo bench ...` for the AVX2 kernel on an AVX-512 CPU)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rnnrs::linalg::Op;

/// (name, m, k, n, A transposed, B transposed, B pre-packed once).
/// Whole-sequence shapes, and the per-chunk shapes (4 steps = 256 rows) the
/// layer runs: the input projection, the weight gradients and `dx` are formed
/// per chunk of steps with the weights packed once per call.
const SHAPES: [(&str, usize, usize, usize, bool, bool, bool); 12] = [
    ("step_fwd h.W_hh^T", 32, 256, 1024, false, true, true),
    ("step_bwd dG.W_hh", 32, 1024, 256, false, false, true),
    ("chunk_proj x.W_ih^T", 256, 128, 1024, false, true, true),
    ("chunk_dW_hh dG^T.h", 1024, 256, 256, true, false, false),
    ("chunk_dx dG.W_ih", 256, 1024, 128, false, false, true),
    ("input_proj x.W_ih^T", 6400, 128, 1024, false, true, false),
    ("dW_ih dG^T.x", 1024, 6400, 128, true, false, false),
    ("dW_hh dG^T.h", 1024, 6400, 256, true, false, false),
    ("dx dG.W_ih", 6400, 1024, 128, false, false, false),
    ("linear_fwd x.W^T", 6400, 256, 128, false, true, false),
    ("linear_dW dy^T.x", 128, 6400, 256, true, false, false),
    ("linear_dx dy.W", 6400, 128, 256, false, false, false),
];

fn data(n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 1.0) * s).sin()).collect()
}

/// An operand used as `(r, c)`: stored `(c, r)` when transposed.
fn operand(v: &[f32], r: usize, c: usize, trans: bool) -> Op<'_, f32> {
    if trans {
        Op::new(v, c, r).t()
    } else {
        Op::new(v, r, c)
    }
}

fn faer_view<'a>(o: &Op<'a, f32>) -> MatRef<'a, f32> {
    let m = MatRef::from_row_major_slice(&o.data[..o.rows * o.cols], o.rows, o.cols);
    if o.trans {
        m.transpose()
    } else {
        m
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32");
    for &(name, m, k, n, ta, tb, prepacked) in &SHAPES {
        let (av, bv) = (data(m * k, 0.37), data(k * n, 0.11));
        let (a, b) = (operand(&av, m, k, ta), operand(&bv, k, n, tb));
        let mut cv = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_function(BenchmarkId::new("faer", name), |bch| {
            bch.iter(|| {
                let cm: MatMut<'_, f32> = MatMut::from_column_major_slice_mut(&mut cv, n, m).transpose_mut();
                matmul(cm, Accum::Add, faer_view(&a), faer_view(&b), 1.0, Par::Seq);
                black_box(&cv);
            })
        });
        #[cfg(target_arch = "x86_64")]
        {
            use rnnrs::linalg::packed_f32::{available, gemm, gemm_packed, PackedB};
            if !available() {
                continue;
            }
            if prepacked {
                let mut packed = PackedB::new();
                packed.pack(b, false);
                g.bench_function(BenchmarkId::new("packed (B pre-packed)", name), |bch| {
                    bch.iter(|| {
                        gemm_packed(&mut cv, n, a, &packed, 1.0, true, false);
                        black_box(&cv);
                    })
                });
            }
            g.bench_function(BenchmarkId::new("packed", name), |bch| {
                bch.iter(|| {
                    gemm(&mut cv, n, a, b, 1.0, true, false);
                    black_box(&cv);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
