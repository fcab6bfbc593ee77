//! Criterion benchmarks of the reservoir core: state-update steps/s for
//! N = 100, 1000, 5000 (1-D input, connectivity 0.1, float64), a batch of 64
//! sequences, spectral-radius setup and ridge statistics.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rnnrs::reservoir::{
    ridge_accumulate, run, sparse_random, spectral_radius, Activation, Distribution, Noise, Recurrent,
    ReservoirRef, RidgeStats, SpectralOptions,
};
use std::hint::black_box;

struct Weights {
    w: rnnrs::reservoir::Csr<f64>,
    win: Vec<f64>,
    bias: Vec<f64>,
    leak: Vec<f64>,
}

fn weights(n: usize) -> Weights {
    let mut w = sparse_random(n, n, 0.1, Distribution::Normal, 1.0, 0, 0).unwrap();
    let rho =
        spectral_radius(w.as_ref(), SpectralOptions { tol: 1e-6, ..Default::default() }).unwrap().radius;
    w.data.iter_mut().for_each(|v| *v *= 1.25 / rho);
    Weights {
        win: sparse_random(n, 1, 1.0, Distribution::Bernoulli, 1.0, 0, 1).unwrap().to_dense().unwrap(),
        bias: vec![0.0; n],
        leak: vec![0.3; n],
        w,
    }
}

fn view(m: &Weights, n: usize) -> ReservoirRef<'_, f64> {
    ReservoirRef {
        units: n,
        inputs: 1,
        outputs: 0,
        w: Recurrent::Sparse(m.w.as_ref()),
        win: &m.win,
        bias: &m.bias,
        leak: &m.leak,
        wfb: &[],
        activation: Activation::Tanh,
        noise: Noise::default(),
    }
}

fn bench_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("reservoir_steps");
    g.sample_size(10);
    for &n in &[100usize, 1000, 5000] {
        let m = weights(n);
        let r = view(&m, n);
        let steps = if n >= 5000 { 200 } else { 1000 };
        let u: Vec<f64> = (0..steps).map(|k| (k as f64 * 0.1).sin()).collect();
        let x0 = vec![0.0; n];
        g.throughput(Throughput::Elements(steps as u64));
        g.bench_with_input(BenchmarkId::new("one_sequence", n), &n, |b, _| {
            b.iter(|| black_box(run(&r, &u, &[steps], &x0, &[], &[]).unwrap()))
        });
        let batch = 64;
        let bsteps = 100;
        let ub: Vec<f64> = (0..batch * bsteps).map(|k| (k as f64 * 0.1).sin()).collect();
        let x0b = vec![0.0; batch * n];
        g.throughput(Throughput::Elements((batch * bsteps) as u64));
        g.bench_with_input(BenchmarkId::new("batch64", n), &n, |b, _| {
            b.iter(|| black_box(run(&r, &ub, &vec![bsteps; batch], &x0b, &[], &[]).unwrap()))
        });
    }
    g.finish();
}

fn bench_setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("reservoir_setup");
    g.sample_size(10);
    for &n in &[1000usize, 5000] {
        g.bench_with_input(BenchmarkId::new("sparse_random_and_spectral_radius", n), &n, |b, &n| {
            b.iter(|| {
                let w = sparse_random(n, n, 0.1, Distribution::Normal, 1.0, 0, 0).unwrap();
                black_box(spectral_radius(w.as_ref(), SpectralOptions::default()).unwrap())
            })
        });
    }
    g.finish();
}

fn bench_ridge(c: &mut Criterion) {
    let mut g = c.benchmark_group("ridge");
    g.sample_size(10);
    let (f, rows) = (1000usize, 20_000usize);
    let x: Vec<f64> = (0..rows * f).map(|k| ((k * 2654435761) % 1000) as f64 / 500.0 - 1.0).collect();
    let y: Vec<f64> = (0..rows).map(|k| (k as f64).sin()).collect();
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function("accumulate_1000x20000", |b| {
        b.iter(|| {
            let (mut cxx, mut cxy, mut mx, mut my) =
                (vec![0.0; f * f], vec![0.0; f], vec![0.0; f], vec![0.0; 1]);
            let mut s =
                RidgeStats { cxx: &mut cxx, cxy: &mut cxy, mean_x: &mut mx, mean_y: &mut my, count: 0.0 };
            black_box(ridge_accumulate(&mut s, &x, &y, f, 1).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench_steps, bench_setup, bench_ridge);
criterion_main!(benches);
