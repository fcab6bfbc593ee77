//! Recursive networks over batches of trees, batched level by level.
//!
//! A batch of trees is one `Forest`: the trees' nodes concatenated, each node
//! with an ordered list of children (CSR). Every node has an input vector
//! (leaves their word/feature vector; internal nodes may carry zeros). The
//! nodes are grouped by height (leaves 0, a parent one more than its highest
//! child); all nodes of one height, across the whole batch, go through the
//! recurrent product together, so a level costs a few large GEMMs instead of
//! one small product per node. The input projection of all nodes is one GEMM
//! up front, and its weight gradient one GEMM at the end.
//!
//! Cells (Tai et al. 2015 for the LSTMs; gate rows in the order below):
//! - `Recursive { arity }`: h = tanh(W x + U [h_1; ...; h_N] + b), absent
//!   children are zeros (Pollack 1990, Socher et al. 2011 with N = 2).
//! - `NaryLstm { arity }`: the N-ary Tree-LSTM. Gates i, o, u and one forget
//!   gate per child slot k, each from all children's states:
//!   f_k = sigmoid(W_f x + sum_l U_f^{kl} h_l + b_f);
//!   c = i * u + sum_k f_k * c_k, h = o * tanh(c).
//!   `w_hh` stacks the rows [U_i; U_o; U_u; U_f^1; ...; U_f^N] over [h_1; ...; h_N].
//! - `ChildSumLstm`: the Child-Sum Tree-LSTM. i, o, u from the sum of the
//!   children's states; one forget gate per child from that child's state:
//!   f_k = sigmoid(W_f x + U_f h_k + b_f). `w_hh` is [U_i; U_o; U_u], `w_hf` is U_f.
//!
//! Input weights `w_ih` (G x D) and `bias` (G) have G = H rows for the
//! recursive net and 4H rows [i; o; u; f] for the LSTMs (the forget gate's
//! input part and bias are shared by all children, as in the paper).
//!
//! Results do not depend on the thread count: only the GEMMs are parallel,
//! and they split the output, never the reduction.

//!
//! The forest and its level schedule are in `forest.rs`, the forward pass in
//! `forward.rs`, the backward pass in `backward.rs`.

mod backward;
mod forest;
mod forward;

pub use backward::backward;
pub use forest::Forest;
pub use forward::forward;

use crate::error::{checked_size, try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// The cell run at every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeCell {
    Recursive { arity: usize },
    NaryLstm { arity: usize },
    ChildSumLstm,
}

impl TreeCell {
    /// Rows of the input projection (`w_ih`, `bias`).
    pub fn input_rows(self, hidden: usize) -> usize {
        match self {
            TreeCell::Recursive { .. } => hidden,
            _ => 4 * hidden,
        }
    }
    /// Shape of `w_hh`.
    pub fn hh_shape(self, hidden: usize) -> (usize, usize) {
        match self {
            TreeCell::Recursive { arity } => (hidden, arity * hidden),
            TreeCell::NaryLstm { arity } => ((3 + arity) * hidden, arity * hidden),
            TreeCell::ChildSumLstm => (3 * hidden, hidden),
        }
    }
    /// Shape of `w_hf` (only the Child-Sum LSTM has one).
    pub fn hf_shape(self, hidden: usize) -> (usize, usize) {
        match self {
            TreeCell::ChildSumLstm => (hidden, hidden),
            _ => (0, 0),
        }
    }
    fn is_lstm(self) -> bool {
        !matches!(self, TreeCell::Recursive { .. })
    }
}

/// Parameters, borrowed row-major (shapes: see the module docs).
#[derive(Clone, Copy)]
pub struct TreeParams<'a, T> {
    pub w_ih: &'a [T],
    pub w_hh: &'a [T],
    pub w_hf: &'a [T],
    pub bias: &'a [T],
}

/// What the forward pass computes and the backward pass needs.
#[derive(Clone, Debug)]
pub struct TreeForward<T> {
    /// (N, H) hidden state of every node.
    pub h: Vec<T>,
    /// (N, H) memory cells (LSTMs; empty for the recursive net).
    pub c: Vec<T>,
    /// (N, 3H) activated gates i, o, u (LSTMs).
    pub gates: Vec<T>,
    /// (E, H) forget gate of every edge, in children-list order (LSTMs).
    pub forget: Vec<T>,
}

/// Parameter and input gradients.
#[derive(Clone, Debug)]
pub struct TreeGrads<T> {
    pub w_ih: Vec<T>,
    pub w_hh: Vec<T>,
    pub w_hf: Vec<T>,
    pub bias: Vec<T>,
    /// (N, D) gradient of the node inputs.
    pub x: Vec<T>,
}

/// A row-major operand for `mm`.
struct Mat<'a, T>(&'a [T], usize, usize, bool);

fn mat<T>(d: &[T], rows: usize, cols: usize) -> Mat<'_, T> {
    Mat(d, rows, cols, false)
}
impl<T> Mat<'_, T> {
    fn t(self) -> Self {
        Mat(self.0, self.1, self.2, !self.3)
    }
}

/// `c (+)= a b` with `c` contiguous: this file's one use of the GEMM API.
fn mm<T: Float>(c: &mut [T], a: Mat<'_, T>, b: Mat<'_, T>, accumulate: bool) {
    fn op<T>(m: Mat<'_, T>) -> Op<'_, T> {
        let o = Op::new(m.0, m.1, m.2);
        if m.3 {
            o.t()
        } else {
            o
        }
    }
    let (a, b) = (op(a), op(b));
    gemm(Parallelism::Pool, c, b.shape().1, a, b, T::ONE, accumulate);
}

fn zeros<T: Float>(dims: &[usize], what: &str) -> Result<Vec<T>> {
    try_zeros(checked_size(dims, what)?, what)
}

/// Checks the arrays' sizes against the forest, the cell and `(d, h)`.
fn check<T>(
    forest: &Forest,
    cell: TreeCell,
    p: &TreeParams<'_, T>,
    x: &[T],
    (d, h): (usize, usize),
) -> Result<()> {
    if h == 0 {
        return Err(Error::value("hidden_size", "expected a positive size"));
    }
    let n = forest.num_nodes();
    let want = |arg: &str, got: usize, dims: &[usize]| -> Result<()> {
        let size = checked_size(dims, arg)?;
        if got != size {
            return Err(Error::shape(
                arg,
                format!("expected {dims:?} ({size} elements), got {got} elements"),
            ));
        }
        Ok(())
    };
    want("x", x.len(), &[n, d])?;
    let g = cell.input_rows(h);
    want("weight_ih", p.w_ih.len(), &[g, d])?;
    want("bias", p.bias.len(), &[g])?;
    let (r, c) = cell.hh_shape(h);
    want("weight_hh", p.w_hh.len(), &[r, c])?;
    let (r, c) = cell.hf_shape(h);
    want("weight_hf", p.w_hf.len(), &[r, c])?;
    if let TreeCell::Recursive { arity } | TreeCell::NaryLstm { arity } = cell {
        let k = forest.max_children();
        if k > arity {
            return Err(Error::value(
                "trees",
                format!("a node has {k} children; this cell takes at most {arity} (its arity)"),
            ));
        }
    }
    Ok(())
}

/// Copies the children's rows of `src` (N, H) side by side into `dst`
/// (n, arity * H), zeros for absent slots.
fn gather_slots<T: Float>(
    forest: &Forest,
    nodes: &[usize],
    src: &[T],
    h: usize,
    arity: usize,
    dst: &mut [T],
) {
    dst.fill(T::ZERO);
    for (r, &v) in nodes.iter().enumerate() {
        for (s, e) in forest.edges(v).enumerate() {
            let k = forest.child_idx[e];
            dst[(r * arity + s) * h..][..h].copy_from_slice(&src[k * h..][..h]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two trees: nodes 0..5 with 0 -> [1, 2], 1 -> [3, 4]; node 5 alone.
    fn forest() -> Forest {
        Forest::new(&[0, 5, 6], &[0, 2, 4, 4, 4, 4, 4], &[1, 2, 3, 4]).unwrap()
    }

    #[test]
    fn levels_group_nodes_by_height() {
        let f = forest();
        assert_eq!(f.num_levels(), 3);
        assert_eq!(f.level(0), &[2, 3, 4, 5]);
        assert_eq!(f.level(1), &[1]);
        assert_eq!(f.level(2), &[0]);
        assert_eq!(f.roots(), &[0, 5]);
    }

    #[test]
    fn bad_trees_are_errors() {
        // cycle 0 -> 1 -> 0: no root
        assert!(Forest::new(&[0, 2], &[0, 1, 2], &[1, 0]).is_err());
        // empty tree
        assert!(Forest::new(&[0, 0, 1], &[0, 0], &[]).is_err());
        // child outside its tree
        assert!(Forest::new(&[0, 1, 2], &[0, 1, 1], &[1]).is_err());
        // two parents
        assert!(Forest::new(&[0, 3], &[0, 1, 2, 2], &[2, 2]).is_err());
        // self loop
        assert!(Forest::new(&[0, 1], &[0, 1], &[0]).is_err());
        // two roots
        assert!(Forest::new(&[0, 2], &[0, 0, 0], &[]).is_err());
        // cycle beside a root: 0 root alone, 1 <-> 2
        assert!(Forest::new(&[0, 3], &[0, 0, 1, 2], &[2, 1]).is_err());
    }

    fn params(cell: TreeCell, d: usize, h: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut s = 1u64;
        let mut r = |len: usize| -> Vec<f64> {
            (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.8
                })
                .collect()
        };
        let g = cell.input_rows(h);
        let (a, b) = cell.hh_shape(h);
        let (c, e) = cell.hf_shape(h);
        (r(g * d), r(a * b), r(c * e), r(g))
    }

    #[test]
    fn gradients_match_finite_differences() {
        let f = forest();
        let (d, h) = (3, 2);
        for cell in
            [TreeCell::Recursive { arity: 2 }, TreeCell::NaryLstm { arity: 2 }, TreeCell::ChildSumLstm]
        {
            let (w_ih, w_hh, w_hf, bias) = params(cell, d, h);
            let x: Vec<f64> = (0..6 * d).map(|i| ((i * 7 % 11) as f64 - 5.0) / 7.0).collect();
            let dh: Vec<f64> = (0..6 * h).map(|i| ((i * 5 % 7) as f64 - 3.0) / 3.0).collect();
            let loss = |w_ih: &[f64], x: &[f64]| -> f64 {
                let p = TreeParams { w_ih, w_hh: &w_hh, w_hf: &w_hf, bias: &bias };
                let o = forward(&f, cell, &p, x, (d, h)).unwrap();
                o.h.iter().zip(&dh).map(|(a, b)| a * b).sum()
            };
            let p = TreeParams { w_ih: &w_ih, w_hh: &w_hh, w_hf: &w_hf, bias: &bias };
            let o = forward(&f, cell, &p, &x, (d, h)).unwrap();
            let gr = backward(&f, cell, &p, &x, (d, h), &o, &dh).unwrap();
            let eps = 1e-6;
            for j in 0..w_ih.len() {
                let (mut a, mut b) = (w_ih.clone(), w_ih.clone());
                a[j] += eps;
                b[j] -= eps;
                let num = (loss(&a, &x) - loss(&b, &x)) / (2.0 * eps);
                assert!((num - gr.w_ih[j]).abs() < 1e-7, "{cell:?} w_ih[{j}]: {num} vs {}", gr.w_ih[j]);
            }
            for j in 0..x.len() {
                let (mut a, mut b) = (x.clone(), x.clone());
                a[j] += eps;
                b[j] -= eps;
                let num = (loss(&w_ih, &a) - loss(&w_ih, &b)) / (2.0 * eps);
                assert!((num - gr.x[j]).abs() < 1e-7, "{cell:?} x[{j}]: {num} vs {}", gr.x[j]);
            }
        }
    }

    #[test]
    fn arity_is_checked() {
        let f = Forest::new(&[0, 4], &[0, 3, 3, 3, 3], &[1, 2, 3]).unwrap();
        let cell = TreeCell::Recursive { arity: 2 };
        let (w_ih, w_hh, w_hf, bias) = params(cell, 1, 1);
        let p = TreeParams { w_ih: &w_ih, w_hh: &w_hh, w_hf: &w_hf, bias: &bias };
        assert!(forward(&f, cell, &p, &[0.0; 4], (1, 1)).is_err());
    }
}
