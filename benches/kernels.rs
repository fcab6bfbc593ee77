//! Element-wise activation kernels: elements/s of the SIMD paths vs the
//! portable scalar path and plain std loops (`v.tanh()` ...), for f32 and
//! f64 at 4096 and 65536 elements.
//!
//! `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rnnrs::kernels::{apply_with, Activation, Isa, Kernels};
use rnnrs::Float;

const SIZES: [usize; 2] = [4096, 65536];

/// Inputs spread over [-5, 5]: both tanh branches, typical gate range.
fn inputs<T: Float>(n: usize) -> Vec<T> {
    // A fixed low-discrepancy sequence: reproducible without an RNG.
    (0..n).map(|i| T::from_f64(((i as f64 * 0.618_033_988_749_895) % 1.0) * 10.0 - 5.0)).collect()
}

/// The plain std loop the kernels replace.
fn std_loop<T: Float>(f: Activation, x: &mut [T]) {
    match f {
        Activation::Exp => x.iter_mut().for_each(|v| *v = Float::exp(*v)),
        Activation::Tanh => x.iter_mut().for_each(|v| *v = Float::tanh(*v)),
        Activation::Sigmoid => x.iter_mut().for_each(|v| *v = Float::sigmoid(*v)),
    }
}

fn bench_type<T: Float + Kernels>(c: &mut Criterion) {
    for f in Activation::ALL {
        let mut group = c.benchmark_group(format!("{f:?}/{}", T::NAME).to_lowercase());
        for n in SIZES {
            let src = inputs::<T>(n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new("std", n), &src, |b, src| {
                b.iter_batched_ref(|| src.clone(), |x| std_loop(f, black_box(x)), BatchSize::LargeInput)
            });
            for isa in Isa::supported() {
                let id = BenchmarkId::new(format!("{isa:?}").to_lowercase(), n);
                group.bench_with_input(id, &src, |b, src| {
                    b.iter_batched_ref(
                        || src.clone(),
                        |x| apply_with(f, isa, black_box(x)),
                        BatchSize::LargeInput,
                    )
                });
            }
        }
        group.finish();
    }
}

fn kernels(c: &mut Criterion) {
    bench_type::<f32>(c);
    bench_type::<f64>(c);
}

criterion_group!(benches, kernels);
criterion_main!(benches);
