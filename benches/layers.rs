//! Criterion benches of the recurrent layers (Rust API, no Python): forward
//! (inference) and training forward + BPTT for LSTM, GRU and Elman on the
//! compare.py workloads A (T=100, B=64, I=128, H=256) and B (T=100, B=1,
//! I=32, H=64), float32, on the default thread count.

use criterion::{criterion_group, criterion_main, Criterion};
use rnnrs::layer::{backward, forward, Mode, RnnSpec};
use std::hint::black_box;

struct Setup {
    spec: RnnSpec,
    t: usize,
    b: usize,
    params: Vec<Vec<f32>>,
    x: Vec<f32>,
    dy: Vec<f32>,
}

fn setup(mode: Mode, t: usize, b: usize, i: usize, h: usize) -> Setup {
    let spec = RnnSpec {
        mode,
        input_size: i,
        hidden_size: h,
        num_layers: 1,
        bidirectional: false,
        bias: true,
        proj_size: 0,
    };
    let k = 1.0 / (h as f32).sqrt();
    let params = spec
        .param_shapes()
        .iter()
        .enumerate()
        .map(|(n, (_, s))| {
            (0..s.iter().product::<usize>()).map(|j| k * ((j * 7 + n) as f32 * 0.37).sin()).collect()
        })
        .collect();
    let x = (0..t * b * i).map(|j| (j as f32 * 0.11).sin()).collect();
    let dy = vec![1.0; t * b * h];
    Setup { spec, t, b, params, x, dy }
}

fn bench_layers(c: &mut Criterion) {
    let mut group = c.benchmark_group("layers");
    group.sample_size(10);
    for (load, (t, b, i, h)) in [("A", (100, 64, 128, 256)), ("B", (100, 1, 32, 64))] {
        for (name, mode) in [("lstm", Mode::Lstm), ("gru", Mode::Gru), ("rnn", Mode::RnnTanh)] {
            let s = setup(mode, t, b, i, h);
            let p: Vec<&[f32]> = s.params.iter().map(|v| v.as_slice()).collect();
            group.bench_function(format!("{name}_{load}_forward"), |bench| {
                bench.iter(|| black_box(forward(&s.spec, &p, &s.x, s.t, s.b, None, None, false).unwrap()))
            });
            let mut grads: Vec<Vec<f32>> = s.params.iter().map(|v| vec![0.0; v.len()]).collect();
            group.bench_function(format!("{name}_{load}_fwd_bwd"), |bench| {
                bench.iter(|| {
                    let (_, cache) = forward(&s.spec, &p, &s.x, s.t, s.b, None, None, true).unwrap();
                    let mut g: Vec<&mut [f32]> = grads.iter_mut().map(|v| v.as_mut_slice()).collect();
                    black_box(backward(&p, &cache.unwrap(), &s.dy, None, None, &mut g, true).unwrap())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_layers);
criterion_main!(benches);
