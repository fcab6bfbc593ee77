//! The forward pass, level by level from the leaves.

use super::{check, gather_slots, mat, mm, zeros, Forest, TreeCell, TreeForward, TreeParams};
use crate::error::Result;
use crate::Float;

/// A level's scratch, reused from level to level.
#[derive(Default)]
struct Scratch<T> {
    /// The children's states (slots side by side, or their sum) and their
    /// product with the recurrent weights.
    kids: Vec<T>,
    pre: Vec<T>,
    /// Child-Sum LSTM: every edge's child state and its forget-gate product.
    edge_h: Vec<T>,
    edge_pre: Vec<T>,
}

/// Runs the cell over every node of the forest, leaves first.
pub fn forward<T: Float>(
    forest: &Forest,
    cell: TreeCell,
    p: &TreeParams<'_, T>,
    x: &[T],
    (d, h): (usize, usize),
) -> Result<TreeForward<T>> {
    check(forest, cell, p, x, (d, h))?;
    let n = forest.num_nodes();
    let g = cell.input_rows(h);
    // All nodes' input projections in one product.
    let mut xp = zeros::<T>(&[n, g], "input projection")?;
    mm(&mut xp, mat(x, n, d), mat(p.w_ih, g, d).t(), false);
    for row in xp.chunks_exact_mut(g) {
        for (v, b) in row.iter_mut().zip(p.bias) {
            *v += *b;
        }
    }
    let lstm = cell.is_lstm();
    let mut out = TreeForward {
        h: zeros(&[n, h], "h")?,
        c: if lstm { zeros(&[n, h], "c")? } else { Vec::new() },
        gates: if lstm { zeros(&[n, 3, h], "gates")? } else { Vec::new() },
        forget: if lstm { zeros(&[forest.num_edges(), h], "forget gates")? } else { Vec::new() },
    };
    let mut sc = Scratch::default();
    for l in 0..forest.num_levels() {
        let nodes = forest.level(l);
        recurrent_product(forest, cell, p, nodes, h, l > 0, &out.h, &mut sc);
        preactivations(forest, cell, p, nodes, (g, h), &xp, &mut out, &mut sc);
        if lstm {
            for &v in nodes {
                lstm_node(forest, v, h, &mut out);
            }
        }
    }
    Ok(out)
}

/// A level's children's states through the recurrent weights, into
/// `sc.pre` (zeros for the leaves, `has_children` false: they have none).
#[allow(clippy::too_many_arguments)]
fn recurrent_product<T: Float>(
    forest: &Forest,
    cell: TreeCell,
    p: &TreeParams<'_, T>,
    nodes: &[usize],
    h: usize,
    has_children: bool,
    states: &[T],
    sc: &mut Scratch<T>,
) {
    let m = nodes.len();
    let (hh_rows, hh_cols) = cell.hh_shape(h);
    sc.pre.clear();
    sc.pre.resize(m * hh_rows, T::ZERO);
    if !has_children {
        return;
    }
    sc.kids.clear();
    sc.kids.resize(m * hh_cols, T::ZERO);
    match cell {
        TreeCell::Recursive { arity } | TreeCell::NaryLstm { arity } => {
            gather_slots(forest, nodes, states, h, arity, &mut sc.kids)
        }
        TreeCell::ChildSumLstm => {
            for (r, &v) in nodes.iter().enumerate() {
                let sum = &mut sc.kids[r * h..][..h];
                for e in forest.edges(v) {
                    let k = forest.child_idx[e];
                    for (s, y) in sum.iter_mut().zip(&states[k * h..][..h]) {
                        *s += *y;
                    }
                }
            }
        }
    }
    mm(&mut sc.pre, mat(&sc.kids, m, hh_cols), mat(p.w_hh, hh_rows, hh_cols).t(), false);
}

/// A level's pre-activations: the recurrent product plus the input
/// projection `xp`; the recursive net's `h` right away (tanh), the LSTMs'
/// gates and per-edge forget gates (activated by `lstm_node`).
#[allow(clippy::too_many_arguments)]
fn preactivations<T: Float>(
    forest: &Forest,
    cell: TreeCell,
    p: &TreeParams<'_, T>,
    nodes: &[usize],
    (g, h): (usize, usize),
    xp: &[T],
    out: &mut TreeForward<T>,
    sc: &mut Scratch<T>,
) {
    let (hh_rows, _) = cell.hh_shape(h);
    let pre = &sc.pre;
    match cell {
        TreeCell::Recursive { .. } => {
            for (r, &v) in nodes.iter().enumerate() {
                let hv = &mut out.h[v * h..][..h];
                for ((o, a), b) in hv.iter_mut().zip(&pre[r * h..][..h]).zip(&xp[v * g..][..h]) {
                    *o = *a + *b;
                }
                crate::kernels::tanh_inplace(hv);
            }
        }
        TreeCell::NaryLstm { .. } => {
            for (r, &v) in nodes.iter().enumerate() {
                let row = &pre[r * hh_rows..][..hh_rows];
                let xr = &xp[v * g..][..g];
                let gv = &mut out.gates[v * 3 * h..][..3 * h];
                for ((o, a), b) in gv.iter_mut().zip(&row[..3 * h]).zip(&xr[..3 * h]) {
                    *o = *a + *b;
                }
                for (s, e) in forest.edges(v).enumerate() {
                    let fe = &mut out.forget[e * h..][..h];
                    for ((o, a), b) in fe.iter_mut().zip(&row[(3 + s) * h..][..h]).zip(&xr[3 * h..]) {
                        *o = *a + *b;
                    }
                }
            }
        }
        TreeCell::ChildSumLstm => {
            // One forget gate per edge, from that child's own state.
            sc.edge_h.clear();
            for &v in nodes {
                for e in forest.edges(v) {
                    let k = forest.child_idx[e];
                    sc.edge_h.extend_from_slice(&out.h[k * h..][..h]);
                }
            }
            let ne = sc.edge_h.len() / h;
            sc.edge_pre.clear();
            sc.edge_pre.resize(ne * h, T::ZERO);
            if ne > 0 {
                mm(&mut sc.edge_pre, mat(&sc.edge_h, ne, h), mat(p.w_hf, h, h).t(), false);
            }
            let mut j = 0;
            for (r, &v) in nodes.iter().enumerate() {
                let xr = &xp[v * g..][..g];
                let gv = &mut out.gates[v * 3 * h..][..3 * h];
                for ((o, a), b) in gv.iter_mut().zip(&pre[r * 3 * h..][..3 * h]).zip(&xr[..3 * h]) {
                    *o = *a + *b;
                }
                for e in forest.edges(v) {
                    let fe = &mut out.forget[e * h..][..h];
                    for ((o, a), b) in fe.iter_mut().zip(&sc.edge_pre[j * h..][..h]).zip(&xr[3 * h..]) {
                        *o = *a + *b;
                    }
                    j += 1;
                }
            }
        }
    }
}

/// Activates node `v`'s gate pre-activations and computes its c and h:
/// c = i * u + sum_k f_k * c_k, h = o * tanh(c).
fn lstm_node<T: Float>(forest: &Forest, v: usize, h: usize, out: &mut TreeForward<T>) {
    let gv = &mut out.gates[v * 3 * h..][..3 * h];
    crate::kernels::sigmoid_inplace(&mut gv[..2 * h]);
    crate::kernels::tanh_inplace(&mut gv[2 * h..]);
    let edges = forest.edges(v);
    crate::kernels::sigmoid_inplace(&mut out.forget[edges.start * h..edges.end * h]);
    let (i, rest) = gv.split_at(h);
    let (o, u) = rest.split_at(h);
    let mut c: Vec<T> = i.iter().zip(u).map(|(a, b)| *a * *b).collect();
    for e in edges {
        let k = forest.child_idx[e];
        for ((cv, f), ck) in c.iter_mut().zip(&out.forget[e * h..][..h]).zip(&out.c[k * h..][..h]) {
            *cv += *f * *ck;
        }
    }
    let hv = &mut out.h[v * h..][..h];
    hv.copy_from_slice(&c);
    crate::kernels::tanh_inplace(hv);
    for (y, og) in hv.iter_mut().zip(o) {
        *y *= *og;
    }
    out.c[v * h..][..h].copy_from_slice(&c);
}
