use super::decode::{decode, Method};
use super::*;

fn configs() -> Vec<Config> {
    let mut out = Vec::new();
    for cell in [CellKind::Lstm, CellKind::Gru] {
        for context in [
            Context::None,
            Context::Fixed,
            Context::Attention(Score::Dot),
            Context::Attention(Score::General),
            Context::Attention(Score::Additive),
        ] {
            out.push(Config::new(cell, context, 7, 6, 3, 4, 5).unwrap());
        }
    }
    out
}

fn params(cfg: &Config, seed: u64) -> Vec<f64> {
    let n = cfg.layout().total;
    (0..n).map(|i| ((i as f64 + 1.0) * 0.7311 + seed as f64 * 0.37).sin() * 0.6).collect()
}

// Source (3, 5) with lengths 5, 2, 3; target (3, 4) with lengths 4, 1, 3.
const SRC: [i64; 15] = [1, 2, 3, 4, 5, 6, 0, 9, 9, 9, 2, 2, 1, -1, 99];
const TGT: [i64; 12] = [1, 2, 3, 4, 5, 7, 7, 7, 0, 1, 2, 8];

fn batch() -> (Tokens<'static>, Tokens<'static>) {
    let src = Tokens::new("src", &SRC, 3, 5, &[5, 2, 3], 7).unwrap();
    let tgt = Tokens::new("tgt", &TGT, 3, 4, &[4, 1, 3], 6).unwrap();
    (src, tgt)
}

#[test]
fn gradients_match_finite_differences() {
    let (src, tgt) = batch();
    let feed = Feed { bos: 0, teacher_prob: 1.0, seed: 0 };
    for cfg in configs() {
        let p = params(&cfg, 1);
        let mut g = vec![0.0; p.len()];
        train_step(&cfg, &p, &mut g, &src, &tgt, &feed).unwrap();
        let eps = 1e-6;
        let mut worst = 0.0f64;
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] = p[i] + eps;
            let lp = forward(&cfg, &q, &src, &tgt, &feed).unwrap().loss;
            q[i] = p[i] - eps;
            let lm = forward(&cfg, &q, &src, &tgt, &feed).unwrap().loss;
            let num = (lp - lm) / (2.0 * eps);
            worst = worst.max((num - g[i]).abs() / (1e-6 + num.abs().max(g[i].abs())).max(1e-3));
        }
        assert!(worst < 1e-5, "{cfg:?}: worst relative error {worst}");
    }
}

#[test]
fn padding_is_never_read() {
    let (src, tgt) = batch();
    let feed = Feed { bos: 0, teacher_prob: 1.0, seed: 0 };
    let mut src2 = SRC;
    src2[7] = 3;
    src2[8] = 4;
    src2[13] = 0;
    let src2 = Tokens::new("src", &src2, 3, 5, &[5, 2, 3], 7).unwrap();
    for cfg in configs() {
        let p = params(&cfg, 2);
        let a = forward(&cfg, &p, &src, &tgt, &feed).unwrap();
        let b = forward(&cfg, &p, &src2, &tgt, &feed).unwrap();
        assert_eq!(a.logits, b.logits);
        assert_eq!(a.loss, b.loss);
    }
}

#[test]
fn attention_is_masked_and_normalised() {
    let (src, tgt) = batch();
    let feed = Feed { bos: 0, teacher_prob: 1.0, seed: 0 };
    let cfg = configs()[4];
    let out = forward(&cfg, &params(&cfg, 3), &src, &tgt, &feed).unwrap();
    for b in 0..3 {
        for t in 0..4 {
            let row = &out.attention[(b * 4 + t) * 5..(b * 4 + t + 1) * 5];
            let len = src.lengths[b];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(row[len..].iter().all(|&a| a == 0.0));
        }
    }
}

#[test]
fn free_running_differs_and_scheduled_sampling_is_seeded() {
    let (src, tgt) = batch();
    let cfg = configs()[2];
    let p = params(&cfg, 4);
    let tf = forward(&cfg, &p, &src, &tgt, &Feed { bos: 0, teacher_prob: 1.0, seed: 0 }).unwrap();
    let fr = forward(&cfg, &p, &src, &tgt, &Feed { bos: 0, teacher_prob: 0.0, seed: 0 }).unwrap();
    assert_ne!(tf.logits, fr.logits);
    let s1 = forward(&cfg, &p, &src, &tgt, &Feed { bos: 0, teacher_prob: 0.5, seed: 9 }).unwrap();
    let s2 = forward(&cfg, &p, &src, &tgt, &Feed { bos: 0, teacher_prob: 0.5, seed: 9 }).unwrap();
    assert_eq!(s1.logits, s2.logits);
}

#[test]
fn beam_of_width_one_is_greedy() {
    let (src, _) = batch();
    for cfg in configs() {
        let p = params(&cfg, 5);
        let g = decode(&cfg, &p, &src, 0, 5, 6, Method::Greedy).unwrap();
        let b = decode(&cfg, &p, &src, 0, 5, 6, Method::Beam { width: 1, length_penalty: 0.0 }).unwrap();
        assert_eq!(g.tokens, b.tokens, "{cfg:?}");
        assert_eq!(g.lengths, b.lengths);
        for (x, y) in g.scores.iter().zip(&b.scores) {
            assert!((x - y).abs() < 1e-9, "{x} {y}");
        }
    }
}

#[test]
fn bad_input_is_an_error() {
    assert!(Tokens::new("src", &SRC, 3, 5, &[5, 2], 7).is_err());
    assert!(Tokens::new("src", &SRC, 3, 5, &[5, 0, 3], 7).is_err());
    assert!(Tokens::new("src", &SRC, 3, 5, &[5, 2, 6], 7).is_err());
    assert!(Tokens::new("src", &SRC, 3, 5, &[5, 2, 4], 7).is_err()); // -1 inside
    assert!(Tokens::new("tgt", &TGT, 3, 4, &[4, 1, 4], 6).is_err()); // 8 >= vocab
    let (src, tgt) = batch();
    let cfg = configs()[0];
    let p = params(&cfg, 0);
    assert!(forward(&cfg, &p[1..], &src, &tgt, &Feed { bos: 0, teacher_prob: 1.0, seed: 0 }).is_err());
    assert!(forward(&cfg, &p, &src, &tgt, &Feed { bos: 6, teacher_prob: 1.0, seed: 0 }).is_err());
    assert!(decode(&cfg, &p, &src, 0, 5, 0, Method::Greedy).is_err());
    assert!(decode(&cfg, &p, &src, 0, 5, 3, Method::Sample { temperature: 0.0, top_k: 0, seed: 0 }).is_err());
    assert!(decode(&cfg, &p, &src, 0, 5, 3, Method::Beam { width: 0, length_penalty: 0.0 }).is_err());
}
