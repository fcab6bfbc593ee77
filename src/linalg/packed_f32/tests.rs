use super::*;

fn data(n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 1.0) * s).sin()).collect()
}

/// `op(x)` as a dense row-major matrix, from storage `(rows, cols, ld)`.
fn dense(o: &Op<'_, f32>) -> Vec<f64> {
    let (r, c) = o.shape();
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            let v = if o.trans { o.data[j * o.ld + i] } else { o.data[i * o.ld + j] };
            out[i * c + j] = v as f64;
        }
    }
    out
}

/// Naive `alpha * A B (+ C)` in f64 on the `m x n` part of a strided C.
fn naive(c: &[f32], ldc: usize, a: &Op<'_, f32>, b: &Op<'_, f32>, alpha: f32, acc: bool) -> Vec<f32> {
    let ((m, k), (_, n)) = (a.shape(), b.shape());
    let (ad, bd) = (dense(a), dense(b));
    let mut out = c.to_vec();
    for i in 0..m {
        for j in 0..n {
            let s: f64 = (0..k).map(|p| ad[i * k + p] * bd[p * n + j]).sum();
            let base = if acc { c[i * ldc + j] as f64 } else { 0.0 };
            out[i * ldc + j] = (base + alpha as f64 * s) as f32;
        }
    }
    out
}

/// Storage for an operand used as `(r, c)`, transposed or not, with padding.
fn operand(r: usize, c: usize, trans: bool, pad: usize, s: f32) -> (Vec<f32>, usize, usize, usize) {
    let (sr, sc) = if trans { (c, r) } else { (r, c) };
    let ld = sc + pad;
    (data(sr * ld, s), sr, sc, ld)
}

#[allow(clippy::too_many_arguments)]
fn check(m: usize, k: usize, n: usize, ta: bool, tb: bool, pad: usize, alpha: f32, acc: bool) {
    let (av, ar, ac, lda) = operand(m, k, ta, pad, 0.37);
    let (bv, br, bc, ldb) = operand(k, n, tb, pad, 0.11);
    let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: ta };
    let b = Op { data: &bv, rows: br, cols: bc, ld: ldb, trans: tb };
    let ldc = n + pad;
    let c0 = data(m * ldc, 0.23);
    let want = naive(&c0, ldc, &a, &b, alpha, acc);
    let mut got = c0.clone();
    gemm(&mut got, ldc, a, b, alpha, acc, false);
    for (idx, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let tol = 1e-5 * (k as f32 + 1.0);
        assert!((g - w).abs() <= tol, "m{m} k{k} n{n} ta{ta} tb{tb} pad{pad} acc{acc} at {idx}: {g} vs {w}");
    }
}

#[test]
fn matches_naive_product_on_edge_shapes() {
    if !available() {
        return;
    }
    let shapes = [
        (1, 1, 1),
        (1, 5, 3),
        (3, 1, 17),
        (MR, KC, NR),
        (MR + 1, KC + 1, NR + 1),
        (MR - 1, 7, NR - 1),
        (5, 9, NR / 2 + 3),
        (7, 33, NR / 2 - 1),
        (13, 300, 70),
        (MC + 5, 2 * KC + 3, 3 * NR + 5),
        (32, 256, 1024),
        (19, K_CHUNK + KC + 7, 40),
    ];
    for &(m, k, n) in &shapes {
        for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
            for &(pad, alpha, acc) in &[(0, 1.0, false), (3, 1.0, true), (1, -0.5, true), (2, 2.0, false)] {
                check(m, k, n, ta, tb, pad, alpha, acc);
            }
        }
    }
}

/// `alpha * A B (+ C)` as the kernels evaluate it: per element, fused
/// multiply-adds in order over each block of `KC` reduction indices,
/// then `alpha * block` (first block, not accumulating) or
/// `alpha * block + C` (fused).
fn fma_chain(c: &[f32], ldc: usize, a: &Op<'_, f32>, b: &Op<'_, f32>, alpha: f32, acc: bool) -> Vec<f32> {
    let ((m, k), (_, n)) = (a.shape(), b.shape());
    let (ad, bd) = (dense(a), dense(b));
    let mut out = c.to_vec();
    for i in 0..m {
        for j in 0..n {
            let mut cij = c[i * ldc + j];
            for p0 in (0..k).step_by(KC) {
                let mut s = 0.0f32;
                for p in p0..(p0 + KC).min(k) {
                    s = (ad[i * k + p] as f32).mul_add(bd[p * n + j] as f32, s);
                }
                cij = if acc || p0 > 0 { alpha.mul_add(s, cij) } else { alpha * s };
            }
            out[i * ldc + j] = cij;
        }
    }
    out
}

/// Every path (AVX-512, AVX2, NEON: the active one here, `make
/// test-simd` and `make test-aarch64` run each) gives exactly the bits of
/// the in-order FMA chain, hence the same bits as each other.
#[test]
fn every_path_gives_the_bits_of_the_fma_chain() {
    if !available() {
        return;
    }
    println!("packed f32 GEMM path: {:?}", path());
    for &(m, k, n, ta, tb) in
        &[(13, 300, 70, false, false), (20, 2 * KC + 9, 45, true, true), (6, 5, 16, false, true)]
    {
        let (av, ar, ac, lda) = operand(m, k, ta, 1, 0.37);
        let (bv, br, bc, ldb) = operand(k, n, tb, 2, 0.11);
        let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: ta };
        let b = Op { data: &bv, rows: br, cols: bc, ld: ldb, trans: tb };
        for &(alpha, acc) in &[(1.0f32, false), (-0.5, true)] {
            let c0 = data(m * n, 0.23);
            let want = fma_chain(&c0, n, &a, &b, alpha, acc);
            let mut got = c0.clone();
            gemm(&mut got, n, a, b, alpha, acc, false);
            assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "m{m} k{k} n{n}");
        }
    }
}

#[test]
fn empty_reduction_zeroes_or_keeps_c() {
    if !available() {
        return;
    }
    let (a, b) = ([0.0f32; 0], [0.0f32; 0]);
    let mut c = vec![5.0f32; 6];
    gemm(&mut c, 3, Op::new(&a, 2, 0), Op::new(&b, 0, 3), 1.0, true, false);
    assert_eq!(c, vec![5.0; 6]);
    gemm(&mut c, 3, Op::new(&a, 2, 0), Op::new(&b, 0, 3), 1.0, false, false);
    assert_eq!(c, vec![0.0; 6]);
}

#[test]
fn chunked_packing_of_a_tall_b_gives_identical_bits() {
    if !available() {
        return;
    }
    let (m, k, n) = (21, 2 * K_CHUNK + 100, 37);
    for &(ta, tb) in &[(false, false), (true, true)] {
        let (av, ar, ac, lda) = operand(m, k, ta, 2, 0.37);
        let (bv, br, bc, ldb) = operand(k, n, tb, 1, 0.11);
        let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: ta };
        let b = Op { data: &bv, rows: br, cols: bc, ld: ldb, trans: tb };
        let c0 = data(m * n, 0.3);
        let mut chunked = c0.clone();
        gemm(&mut chunked, n, a, b, 0.5, true, false);
        let mut whole = c0.clone();
        let mut packed = PackedB::new();
        packed.pack(b, false);
        gemm_packed(&mut whole, n, a, &packed, 0.5, true, false);
        assert_eq!(chunked, whole);
    }
}

#[test]
fn shared_a_products_match_separate_ones() {
    if !available() {
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (m, k) = (301, 300);
    let (av, ar, ac, lda) = operand(m, k, true, 3, 0.37);
    let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: true };
    let (b1v, b2v) = (data(k * 40, 0.11), data(k * 64, 0.13));
    let (mut p1, mut p2) = (PackedB::new(), PackedB::new());
    p1.pack(Op::new(&b1v, k, 40), false);
    p2.pack(Op::new(&b2v, k, 64), false);
    let (mut w1, mut w2) = (data(m * 40, 0.5), data(m * 64, 0.7));
    let (mut g1, mut g2) = (w1.clone(), w2.clone());
    gemm_packed(&mut w1, 40, a, &p1, 1.0, true, false);
    gemm_packed(&mut w2, 64, a, &p2, 1.0, true, false);
    for threads in [false, true] {
        let (mut h1, mut h2) = (g1.clone(), g2.clone());
        let mut outs = [Output { c: &mut h1, ldc: 40, b: &p1 }, Output { c: &mut h2, ldc: 64, b: &p2 }];
        pool.install(|| gemm_packed_multi(a, &mut outs, 1.0, true, threads));
        assert_eq!((&h1, &h2), (&w1, &w2));
    }
    // An empty reduction overwriting zeroes every output.
    let mut p0 = PackedB::new();
    p0.pack(Op::new(&[], 0, 40), false);
    let mut outs = [Output { c: &mut g1, ldc: 40, b: &p0 }, Output { c: &mut g2[..m * 40], ldc: 40, b: &p0 }];
    gemm_packed_multi(Op::new(&[], m, 0), &mut outs, 1.0, false, false);
    assert!(g1.iter().chain(&g2[..m * 40]).all(|&v| v == 0.0));
}

#[test]
fn threads_and_row_splits_give_identical_bits() {
    if !available() {
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    // Row tasks (m large), panel tasks (m small), transposed operands.
    for &(m, k, n, ta, tb) in &[(300, 700, 130, false, true), (20, 900, 300, true, false)] {
        let (av, ar, ac, lda) = operand(m, k, ta, 1, 0.37);
        let (bv, br, bc, ldb) = operand(k, n, tb, 0, 0.11);
        let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: ta };
        let b = Op { data: &bv, rows: br, cols: bc, ld: ldb, trans: tb };
        let c0 = data(m * n, 0.3);
        let mut serial = c0.clone();
        gemm(&mut serial, n, a, b, 1.0, true, false);
        let mut parallel = c0.clone();
        pool.install(|| gemm(&mut parallel, n, a, b, 1.0, true, true));
        assert_eq!(serial, parallel);
        // The rows of a product, computed as two separate products.
        if !ta {
            let cut = 7;
            let mut split = c0.clone();
            let (top, bottom) = split.split_at_mut(cut * n);
            let a_top = Op { rows: cut, ..a };
            let a_bottom = Op { data: &av[cut * lda..], rows: m - cut, ..a };
            gemm(top, n, a_top, b, 1.0, true, false);
            gemm(bottom, n, a_bottom, b, 1.0, true, false);
            assert_eq!(serial, split);
        }
    }
}

#[test]
fn starting_from_a_row_gives_the_bits_of_filling_and_accumulating() {
    if !available() {
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    // Partial panels and vectors (n), partial row tiles (m), several
    // reduction blocks (k > KC), an empty reduction; serial and on 2 threads.
    for &(m, k, n) in &[(13, 300, 70), (200, 2 * KC + 9, 45), (7, 5, 16), (4, 0, 9)] {
        let (av, ar, ac, lda) = operand(m, k, false, 1, 0.37);
        let (bv, br, bc, ldb) = operand(k, n, true, 2, 0.11);
        let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: false };
        let b = Op { data: &bv, rows: br, cols: bc, ld: ldb, trans: true };
        let mut packed = PackedB::new();
        packed.pack(b, false);
        let (row, ldc) = (data(n, 0.29), n + 3);
        let mut want = data(m * ldc, 0.5);
        for r in 0..m {
            want[r * ldc..r * ldc + n].copy_from_slice(&row);
        }
        gemm_packed(&mut want, ldc, a, &packed, 0.75, true, false);
        for par in [false, true] {
            let mut got = data(m * ldc, 0.5);
            pool.install(|| gemm_packed_from_row(&mut got, ldc, a, &packed, &row, 0.75, par));
            assert!(
                got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()),
                "m{m} k{k} n{n} par{par}"
            );
        }
    }
}

/// Every row count of a partial micro-tile (its own kernel: 1 to `MR - 1`
/// rows, then a whole one), with A read in place and packed, partial column
/// blocks of a panel, and each way of starting C: the bits of the FMA chain.
#[test]
fn every_row_count_gives_the_bits_of_the_fma_chain() {
    if !available() {
        return;
    }
    let (k, n) = (KC + 3, NR + NR / 2 + 5);
    for m in 1..=2 * MR + 1 {
        for ta in [false, true] {
            let (av, ar, ac, lda) = operand(m, k, ta, 1, 0.37);
            let (bv, br, bc, ldb) = operand(k, n, true, 0, 0.11);
            let a = Op { data: &av, rows: ar, cols: ac, ld: lda, trans: ta };
            let b = Op { data: &bv, rows: br, cols: bc, ld: ldb, trans: true };
            let mut packed = PackedB::new();
            packed.pack(b, false);
            for (alpha, acc) in [(1.0f32, false), (-0.5, true)] {
                let c0 = data(m * n, 0.23);
                let want = fma_chain(&c0, n, &a, &b, alpha, acc);
                let mut got = c0.clone();
                gemm_packed(&mut got, n, a, &packed, alpha, acc, false);
                assert!(
                    got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()),
                    "m{m} ta{ta} acc{acc}"
                );
            }
            let row = data(n, 0.29);
            let mut filled: Vec<f32> = row.iter().copied().cycle().take(m * n).collect();
            let want = fma_chain(&filled, n, &a, &b, 0.75, true);
            gemm_packed_from_row(&mut filled, n, a, &packed, &row, 0.75, false);
            assert!(
                filled.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()),
                "m{m} ta{ta} from row"
            );
        }
    }
}
