//! Seeded random weights: uniform, normal and Bernoulli (±1) values placed
//! with a given connectivity (each entry present independently with
//! probability `connectivity`), as sparse CSR or dense row-major matrices.
//!
//! One generator (xoshiro256++) per `(seed, stream)` pair, so W, Win, bias
//! and noise draw from independent streams and every result is a pure
//! function of the seed.

use crate::error::{Error, Result};
use crate::reservoir::csr::Csr;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The law of the nonzero values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on `[-1, 1)`.
    Uniform,
    /// Standard normal.
    Normal,
    /// `+1` or `-1` with probability 1/2 each.
    Bernoulli,
}

impl Distribution {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "uniform" => Ok(Distribution::Uniform),
            "normal" => Ok(Distribution::Normal),
            "bernoulli" => Ok(Distribution::Bernoulli),
            _ => Err(Error::value(
                "distribution",
                format!("expected 'uniform', 'normal' or 'bernoulli', got {name:?}"),
            )),
        }
    }
}

/// A seeded generator with the few draws the reservoir needs.
pub struct SeededRng {
    rng: Xoshiro256PlusPlus,
    spare_normal: Option<f64>,
}

/// SplitMix64 finaliser: spreads `(seed, stream)` over the whole state space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SeededRng {
    pub fn new(seed: u64, stream: u64) -> Self {
        let s = mix(seed ^ mix(stream.wrapping_add(0x5EED)));
        SeededRng { rng: Xoshiro256PlusPlus::seed_from_u64(s), spare_normal: None }
    }
    /// Uniform on `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }
    /// Standard normal by the Box–Muller transform (both variates used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 - U lies in (0, 1]: the log is finite.
        let r = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }
    pub fn draw(&mut self, dist: Distribution) -> f64 {
        match dist {
            Distribution::Uniform => 2.0 * self.uniform() - 1.0,
            Distribution::Normal => self.normal(),
            Distribution::Bernoulli => {
                if self.uniform() < 0.5 {
                    1.0
                } else {
                    -1.0
                }
            }
        }
    }
    /// Number of failures before the first success of a Bernoulli(p) trial:
    /// the gap to the next nonzero entry (O(nnz) sampling instead of O(n²)).
    /// `log_miss` is `ln(1 - p)` (computed once per matrix; 0 when p = 1).
    fn geometric_gap(&mut self, log_miss: f64) -> u64 {
        if log_miss == 0.0 {
            return 0;
        }
        let u = 1.0 - self.uniform(); // (0, 1]
        let g = (u.ln() / log_miss).floor();
        if g >= u64::MAX as f64 {
            u64::MAX
        } else {
            g as u64
        }
    }
}

fn check_connectivity(connectivity: f64, arg: &str) -> Result<()> {
    if !(connectivity > 0.0 && connectivity <= 1.0) {
        return Err(Error::value(arg, format!("expected a value in (0, 1], got {connectivity}")));
    }
    Ok(())
}

/// A `rows x cols` sparse random matrix: each entry nonzero with probability
/// `connectivity`, values from `dist` times `scale`.
pub fn sparse_random(
    rows: usize,
    cols: usize,
    connectivity: f64,
    dist: Distribution,
    scale: f64,
    seed: u64,
    stream: u64,
) -> Result<Csr<f64>> {
    check_connectivity(connectivity, "connectivity")?;
    let total = crate::error::checked_size(&[rows, cols], "sparse matrix")?;
    let expected = (total as f64 * connectivity * 1.1 + 16.0).min(total as f64) as usize;
    let mut rng = SeededRng::new(seed, stream);
    let mut indptr = Vec::with_capacity(rows + 1);
    let mut indices: Vec<i32> = Vec::new();
    let mut data: Vec<f64> = Vec::new();
    indices
        .try_reserve(expected)
        .map_err(|_| Error::Alloc { what: "sparse indices".into(), bytes: expected as u128 * 4 })?;
    data.try_reserve(expected)
        .map_err(|_| Error::Alloc { what: "sparse values".into(), bytes: expected as u128 * 8 })?;
    if cols > i32::MAX as usize {
        return Err(Error::value("cols", "at most 2^31 - 1 columns"));
    }
    // Walk the entries in row-major order, jumping by geometric gaps.
    let log_miss = if connectivity >= 1.0 { 0.0 } else { (-connectivity).ln_1p() };
    let mut pos: u64 = rng.geometric_gap(log_miss);
    indptr.push(0i64);
    for r in 0..rows {
        let row_end = (r as u64 + 1) * cols as u64;
        while pos < row_end {
            indices.push((pos - r as u64 * cols as u64) as i32);
            data.push(scale * rng.draw(dist));
            pos = pos.saturating_add(1).saturating_add(rng.geometric_gap(log_miss));
        }
        indptr.push(indices.len() as i64);
    }
    Ok(Csr { rows, cols, indptr, indices, data })
}

/// A dense row-major `rows x cols` random matrix with the same law as
/// `sparse_random` (absent entries are zeros).
pub fn dense_random(
    rows: usize,
    cols: usize,
    connectivity: f64,
    dist: Distribution,
    scale: f64,
    seed: u64,
    stream: u64,
) -> Result<Vec<f64>> {
    let sp = sparse_random(rows, cols, connectivity, dist, scale, seed, stream)?;
    sp.to_dense()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_matrix_other_seed_other_matrix() {
        let a = sparse_random(50, 40, 0.2, Distribution::Normal, 1.0, 7, 0).unwrap();
        let b = sparse_random(50, 40, 0.2, Distribution::Normal, 1.0, 7, 0).unwrap();
        let c = sparse_random(50, 40, 0.2, Distribution::Normal, 1.0, 8, 0).unwrap();
        assert_eq!(a.data, b.data);
        assert_eq!(a.indices, b.indices);
        assert_ne!(a.data, c.data);
    }

    #[test]
    fn density_and_moments_match_the_law() {
        let n = 400;
        let m = sparse_random(n, n, 0.1, Distribution::Uniform, 1.0, 1, 0).unwrap();
        let density = m.data.len() as f64 / (n * n) as f64;
        assert!((density - 0.1).abs() < 0.005, "density {density}");
        assert!(m.data.iter().all(|&v| (-1.0..1.0).contains(&v)));
        let mean = m.data.iter().sum::<f64>() / m.data.len() as f64;
        assert!(mean.abs() < 0.02);
        let z = sparse_random(n, n, 0.1, Distribution::Normal, 1.0, 2, 0).unwrap();
        let var = z.data.iter().map(|v| v * v).sum::<f64>() / z.data.len() as f64;
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
        let full = sparse_random(7, 9, 1.0, Distribution::Bernoulli, 2.0, 3, 0).unwrap();
        assert_eq!(full.data.len(), 63);
        assert!(full.data.iter().all(|&v| v == 2.0 || v == -2.0));
        m.validate().unwrap();
    }

    #[test]
    fn bad_connectivity_is_an_error() {
        for c in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(sparse_random(3, 3, c, Distribution::Normal, 1.0, 0, 0).is_err());
        }
        assert!(Distribution::parse("gamma").is_err());
    }
}
