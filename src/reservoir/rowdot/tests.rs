use super::*;
use crate::reservoir::init::{sparse_random, Distribution};

/// `lanes` vectors of length n (sequence-major) -> lane-major
/// `n x stride` (padding lanes hold a marker the products must ignore).
fn lane_major<T: Float>(x: &[T], n: usize, lanes: usize, stride: usize) -> Vec<T> {
    let mut b = vec![T::from_f64(7.0); n * stride];
    for l in 0..lanes {
        for i in 0..n {
            b[i * stride + l] = x[l * n + i];
        }
    }
    b
}

/// Every lane of `rows_lanes` equals `dot` on that lane alone, for lane
/// counts that take every tile size (8 vectors of 4 or 8 lanes, then 4,
/// 2, 1) and rows of every length modulo 4.
fn check_lanes<T: Float>(k: RowKernel<T>, x: &[T], n: usize) {
    for (lanes, stride) in [(8, 8), (24, 32), (40, 40), (120, 128)] {
        let xs = &x[..lanes * n];
        let b = lane_major(xs, n, lanes, stride);
        for first in [0, 3] {
            let rows = n - first - 1;
            let mut out = vec![T::from_f64(-3.0); rows * stride];
            k.rows_lanes(first, &b, stride, lanes, &mut out);
            for r in 0..rows {
                for l in 0..stride {
                    let got = out[r * stride + l];
                    let want =
                        if l < lanes { k.dot(first + r, &xs[l * n..(l + 1) * n]) } else { T::from_f64(-3.0) };
                    assert_eq!(
                        got.to_f64().to_bits(),
                        want.to_f64().to_bits(),
                        "row {} lane {l} of {lanes}",
                        first + r
                    );
                }
            }
        }
    }
}

#[test]
fn single_and_batched_products_agree_bitwise_on_both_paths() {
    let n = 77;
    let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 3, 0).unwrap();
    let x: Vec<f64> = (0..120 * n).map(|i| (i as f64 * 0.37).sin()).collect();
    let fast = RowKernel::new(m.as_ref()).unwrap();
    for k in [fast, fast.portable()] {
        for r in 0..n {
            let mut many = vec![0.0; n - r];
            k.dots(r, &x[..n], &mut many);
            assert_eq!(many[0].to_bits(), k.dot(r, &x[..n]).to_bits());
            assert_eq!(many[n - r - 1].to_bits(), k.dot(n - 1, &x[..n]).to_bits());
            if r + 1 < n {
                let pair = k.dot2(r, &x[..n]);
                assert_eq!(pair[0].to_bits(), k.dot(r, &x[..n]).to_bits());
                assert_eq!(pair[1].to_bits(), k.dot(r + 1, &x[..n]).to_bits());
            }
        }
        check_lanes(k, &x, n);
    }
}

/// Float32 (vector kernels on the active path): a sequence inside a
/// batch gives the bits of the sequence alone.
#[test]
#[allow(clippy::needless_range_loop)]
fn float32_single_and_batched_products_agree_bitwise() {
    let n = 61;
    let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 7, 0).unwrap().cast::<f32>();
    let x: Vec<f32> = (0..120 * n).map(|i| (i as f32 * 0.41).sin()).collect();
    let k = RowKernel::new(m.as_ref()).unwrap();
    for kk in [k, k.portable()] {
        let mut all = vec![0.0f32; n];
        kk.dots(0, &x[..n], &mut all);
        for r in 0..n {
            assert_eq!(all[r].to_bits(), kk.dot(r, &x[..n]).to_bits());
        }
        check_lanes(kk, &x, n);
    }
}

/// The vector paths (one source) give the same bits as each other.
#[test]
fn vector_paths_agree_bitwise() {
    let n = 53;
    let m = sparse_random(n, n, 0.35, Distribution::Normal, 1.0, 5, 0).unwrap();
    let lanes = 40;
    let x: Vec<f64> = (0..lanes * n).map(|i| (i as f64 * 0.29).cos()).collect();
    let b = lane_major(&x, n, lanes, lanes);
    let active = RowKernel::new(m.as_ref()).unwrap();
    println!("row kernel path: {:?}", active.isa);
    let want = active.with_isa(Isa::best());
    let mut want_b = vec![0.0; n * lanes];
    want.rows_lanes(0, &b, lanes, lanes, &mut want_b);
    for isa in Isa::supported().into_iter().filter(|&i| i != Isa::Scalar) {
        let k = active.with_isa(isa);
        for r in 0..n {
            assert_eq!(k.dot(r, &x[..n]).to_bits(), want.dot(r, &x[..n]).to_bits(), "{isa:?}");
        }
        let mut got_b = vec![0.0; n * lanes];
        k.rows_lanes(0, &b, lanes, lanes, &mut got_b);
        assert!(got_b.iter().zip(&want_b).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa:?}");
    }
}

/// The compact copy's products equal the exact products with the values
/// rounded to f32, on every supported path (rows of every length mod 8).
#[test]
fn compact_products_match_the_rounded_matrix_on_every_path() {
    let n = 90;
    let m = sparse_random(n, n, 0.3, Distribution::Normal, 1.0, 13, 0).unwrap();
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.61).sin()).collect();
    let rounded: Vec<f64> = m.data.iter().map(|&v| f64::from(v as f32)).collect();
    let mut lengths = [false; 8];
    for isa in Isa::supported() {
        let k = RowKernel::new(m.as_ref()).unwrap().with_isa(isa);
        let c = Compact::new(&k).unwrap();
        assert_eq!(c.nnz(), m.data.len());
        let mut out = vec![0.0; n - 2];
        c.dots(2, &x, &mut out);
        for (r, &got) in (2..n).zip(&out) {
            let (a, b) = (m.indptr[r] as usize, m.indptr[r + 1] as usize);
            lengths[(b - a) % 8] = true;
            let want: f64 = (a..b).map(|e| rounded[e] * x[m.indices[e] as usize]).sum();
            let scale: f64 = (a..b).map(|e| (rounded[e] * x[m.indices[e] as usize]).abs()).sum();
            assert!((got - want).abs() <= 1e-14 * scale, "{isa:?} row {r}: {got} vs {want}");
        }
    }
    assert!(lengths.iter().all(|&l| l), "row lengths mod 8 not all covered: {lengths:?}");
}

#[test]
#[allow(clippy::needless_range_loop)]
fn products_match_the_dense_matrix() {
    let n = 45;
    let m = sparse_random(n, n, 0.4, Distribution::Normal, 1.0, 9, 0).unwrap();
    let d = m.to_dense().unwrap();
    let x: Vec<f64> = (0..n).map(|i| (i as f64).cos()).collect();
    let k = RowKernel::new(m.as_ref()).unwrap();
    let mut y = vec![0.0; n];
    k.matvec(&x, &mut y);
    for r in 0..n {
        let want: f64 = (0..n).map(|c| d[r * n + c] * x[c]).sum();
        assert!((y[r] - want).abs() < 1e-12);
        assert!((k.portable().dot(r, &x) - want).abs() < 1e-12);
    }
    let m32 = m.cast::<f32>();
    let k32 = RowKernel::new(m32.as_ref()).unwrap();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    for r in 0..n {
        assert!((k32.dot(r, &x32) as f64 - y[r]).abs() < 1e-4);
    }
}
