//! Training toolkit throughput: global-norm clipping and one Adam step over
//! ~1M float32 parameters (the arrays of an LSTM I128 H256 + readout), and
//! cross-entropy with its gradient over (6400, 65) logits (T100 x B64, 65
//! characters). Each at 1 and 2 threads.

use criterion::{criterion_group, criterion_main, Criterion};
use rnnrs::train::clip::{clip_grad_norm, NormType};
use rnnrs::train::loss::{cross_entropy, CrossEntropy, Layout, Reduction, Target};
use rnnrs::train::optim::{adam_step, Adam, Slots};
use std::hint::black_box;

/// Sizes of the parameter arrays: W_ih, W_hh, b_ih, b_hh, readout W, b.
const SIZES: [usize; 6] = [1024 * 128, 1024 * 256, 1024, 1024, 65 * 256, 65];
/// Plus one 512K array, to reach ~0.95M parameters.
const EXTRA: usize = 1 << 19;

fn arrays(scale: f32) -> Vec<Vec<f32>> {
    SIZES
        .iter()
        .chain(std::iter::once(&EXTRA))
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| ((i * 31 + k * 7) as f32 * 0.001).sin() * scale).collect())
        .collect()
}

fn bench_clip_and_adam(c: &mut Criterion) {
    let total: usize = arrays(1.0).iter().map(Vec::len).sum();
    for threads in [1, 2] {
        rnnrs::set_num_threads(threads);
        let mut grads = arrays(1.0);
        c.bench_function(&format!("clip_grad_norm {total} f32 threads={threads}"), |b| {
            b.iter(|| {
                let mut views: Vec<&mut [f32]> = grads.iter_mut().map(|g| g.as_mut_slice()).collect();
                // max_norm large: the grads keep their values between iterations.
                black_box(clip_grad_norm(&mut views, 1e30, NormType::Two, false).unwrap())
            })
        });
        let mut params = arrays(0.5);
        let g = arrays(0.01);
        let mut m = arrays(0.0);
        let mut v = arrays(0.0);
        let h = Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled: false,
        };
        let mut step = 0u64;
        c.bench_function(&format!("adam_step {total} f32 threads={threads}"), |b| {
            b.iter(|| {
                step += 1;
                let slots: Vec<Slots<'_, f32>> = params
                    .iter_mut()
                    .zip(&g)
                    .zip(m.iter_mut().zip(v.iter_mut()))
                    .map(|((p, g), (m, v))| Slots { param: p, grad: g, state: [m, v, &mut []] })
                    .collect();
                adam_step(slots, &h, step).unwrap()
            })
        });
    }
    rnnrs::set_num_threads(0);
}

fn bench_cross_entropy(c: &mut Criterion) {
    let (n, classes) = (6400, 65);
    let logits: Vec<f32> = (0..n * classes).map(|i| ((i as f32) * 0.37).sin() * 4.0).collect();
    let targets: Vec<i64> = (0..n).map(|i| ((i * 7) % classes) as i64).collect();
    let opts =
        CrossEntropy { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 };
    for threads in [1, 2] {
        rnnrs::set_num_threads(threads);
        c.bench_function(&format!("cross_entropy (6400, 65) f32 threads={threads}"), |b| {
            b.iter(|| {
                let r = cross_entropy(
                    black_box(&logits),
                    Layout { n, c: classes, s: 1 },
                    Target::Index(&targets),
                    &opts,
                    None,
                    None,
                )
                .unwrap();
                black_box(r.loss[0])
            })
        });
    }
    rnnrs::set_num_threads(0);
}

criterion_group!(benches, bench_clip_and_adam, bench_cross_entropy);
criterion_main!(benches);
