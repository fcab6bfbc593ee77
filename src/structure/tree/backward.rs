//! The backward pass, level by level from the roots.

use super::{check, gather_slots, mat, mm, zeros, Forest, TreeCell, TreeForward, TreeGrads, TreeParams};
use crate::error::{Error, Result};
use crate::Float;

/// Gradients of `sum(dh * h)` (`dh`: (N, H), a loss gradient at any nodes)
/// with respect to the parameters and the node inputs. `fwd` is this
/// forest's forward pass with the same parameters.
pub fn backward<T: Float>(
    forest: &Forest,
    cell: TreeCell,
    p: &TreeParams<'_, T>,
    x: &[T],
    (d, h): (usize, usize),
    fwd: &TreeForward<T>,
    dh_out: &[T],
) -> Result<TreeGrads<T>> {
    check(forest, cell, p, x, (d, h))?;
    let n = forest.num_nodes();
    let lstm = cell.is_lstm();
    let consistent = fwd.h.len() == n * h
        && (!lstm
            || (fwd.c.len() == n * h
                && fwd.gates.len() == n * 3 * h
                && fwd.forget.len() == forest.num_edges() * h));
    if !consistent {
        return Err(Error::shape("cache", "does not belong to this forest and cell (run forward again)"));
    }
    if dh_out.len() != n * h {
        return Err(Error::shape("grad_h", format!("expected ({n}, {h}), got {} elements", dh_out.len())));
    }
    let g = cell.input_rows(h);
    let (hh_rows, hh_cols) = cell.hh_shape(h);
    let mut dh = dh_out.to_vec();
    let mut dc = if lstm { zeros::<T>(&[n, h], "dc")? } else { Vec::new() };
    let mut dxp = zeros::<T>(&[n, g], "input projection gradient")?;
    let mut gr = TreeGrads {
        w_ih: zeros(&[g, d], "weight_ih gradient")?,
        w_hh: zeros(&[hh_rows, hh_cols], "weight_hh gradient")?,
        w_hf: zeros(&[cell.hf_shape(h).0, cell.hf_shape(h).1], "weight_hf gradient")?,
        bias: zeros(&[g], "bias gradient")?,
        x: zeros(&[n, d], "x gradient")?,
    };
    let mut sc = Scratch { tmp: vec![T::ZERO; h], ..Scratch::default() };
    for l in (0..forest.num_levels()).rev() {
        let nodes = forest.level(l);
        gate_grads(forest, cell, nodes, (g, h), fwd, &dh, &mut dc, &mut dxp, &mut sc);
        if l > 0 {
            // (leaves have no children to pass gradients to)
            children_grads(forest, cell, p, nodes, h, fwd, &mut dh, &mut gr, &mut sc);
        }
    }
    mm(&mut gr.w_ih, mat(&dxp, n, g).t(), mat(x, n, d), false);
    for row in dxp.chunks_exact(g) {
        for (b, v) in gr.bias.iter_mut().zip(row) {
            *b += *v;
        }
    }
    mm(&mut gr.x, mat(&dxp, n, g), mat(p.w_ih, g, d), false);
    Ok(gr)
}

/// A level's scratch, reused from level to level.
#[derive(Default)]
struct Scratch<T> {
    /// Gradients w.r.t. the recurrent product's output (`dpre`) and input
    /// (`dkids`), and the children's states as they entered it.
    dpre: Vec<T>,
    kids: Vec<T>,
    dkids: Vec<T>,
    /// Child-Sum LSTM: every edge's child state, forget-gate gradient and
    /// the gradient through `w_hf`.
    edge_h: Vec<T>,
    edge_dpre: Vec<T>,
    dedge: Vec<T>,
    /// One node's `dL/dc` (H).
    tmp: Vec<T>,
}

/// Through a level's cells: from the states' gradients (`dh`, and `dc` for
/// the LSTMs) to the pre-activations' (`dxp`, the input side; `sc.dpre`
/// and `sc.edge_dpre`, the recurrent side); adds the children's `dc`.
#[allow(clippy::too_many_arguments)]
fn gate_grads<T: Float>(
    forest: &Forest,
    cell: TreeCell,
    nodes: &[usize],
    (g, h): (usize, usize),
    fwd: &TreeForward<T>,
    dh: &[T],
    dc: &mut [T],
    dxp: &mut [T],
    sc: &mut Scratch<T>,
) {
    let (hh_rows, _) = cell.hh_shape(h);
    let m = nodes.len();
    let (dpre, edge_dpre, tmp) = (&mut sc.dpre, &mut sc.edge_dpre, &mut sc.tmp);
    dpre.clear();
    dpre.resize(m * hh_rows, T::ZERO);
    edge_dpre.clear();
    match cell {
        TreeCell::Recursive { .. } => {
            for (r, &v) in nodes.iter().enumerate() {
                let row = &mut dpre[r * h..][..h];
                for ((o, y), gy) in row.iter_mut().zip(&fwd.h[v * h..][..h]).zip(&dh[v * h..][..h]) {
                    *o = *gy * (T::ONE - *y * *y);
                }
                dxp[v * g..][..h].copy_from_slice(row);
            }
        }
        TreeCell::NaryLstm { .. } | TreeCell::ChildSumLstm => {
            for (r, &v) in nodes.iter().enumerate() {
                let gv = &fwd.gates[v * 3 * h..][..3 * h];
                let (i, o, u) = (&gv[..h], &gv[h..2 * h], &gv[2 * h..]);
                // tmp = dL/dc of this node (from its parent and through h).
                tmp.copy_from_slice(&fwd.c[v * h..][..h]);
                crate::kernels::tanh_inplace(tmp);
                let dxr = &mut dxp[v * g..][..g];
                for j in 0..h {
                    let (tc, gy) = (tmp[j], dh[v * h + j]);
                    let dcv = dc[v * h + j] + gy * o[j] * (T::ONE - tc * tc);
                    tmp[j] = dcv;
                    dxr[j] = dcv * u[j] * i[j] * (T::ONE - i[j]);
                    dxr[h + j] = gy * tc * o[j] * (T::ONE - o[j]);
                    dxr[2 * h + j] = dcv * i[j] * (T::ONE - u[j] * u[j]);
                    dxr[3 * h + j] = T::ZERO;
                }
                for (s, e) in forest.edges(v).enumerate() {
                    let k = forest.child_idx[e];
                    let f = &fwd.forget[e * h..][..h];
                    let dst = match cell {
                        TreeCell::NaryLstm { .. } => &mut dpre[r * hh_rows + (3 + s) * h..][..h],
                        _ => {
                            edge_dpre.resize(edge_dpre.len() + h, T::ZERO);
                            let at = edge_dpre.len() - h;
                            &mut edge_dpre[at..]
                        }
                    };
                    for j in 0..h {
                        let df = tmp[j] * fwd.c[k * h + j] * f[j] * (T::ONE - f[j]);
                        dst[j] = df;
                        dxr[3 * h + j] += df;
                        dc[k * h + j] += tmp[j] * f[j];
                    }
                }
                dpre[r * hh_rows..][..3 * h].copy_from_slice(&dxr[..3 * h]);
            }
        }
    }
}

/// Through a level's recurrent product (and, Child-Sum, the per-edge
/// forget product): adds the recurrent weights' gradients into `gr` and the
/// children's state gradients into `dh`.
#[allow(clippy::too_many_arguments)]
fn children_grads<T: Float>(
    forest: &Forest,
    cell: TreeCell,
    p: &TreeParams<'_, T>,
    nodes: &[usize],
    h: usize,
    fwd: &TreeForward<T>,
    dh: &mut [T],
    gr: &mut TreeGrads<T>,
    sc: &mut Scratch<T>,
) {
    let (hh_rows, hh_cols) = cell.hh_shape(h);
    let m = nodes.len();
    let Scratch { dpre, kids, dkids, edge_h, edge_dpre, dedge, .. } = sc;
    kids.clear();
    kids.resize(m * hh_cols, T::ZERO);
    dkids.clear();
    dkids.resize(m * hh_cols, T::ZERO);
    match cell {
        TreeCell::Recursive { arity } | TreeCell::NaryLstm { arity } => {
            gather_slots(forest, nodes, &fwd.h, h, arity, kids);
            mm(&mut gr.w_hh, mat(dpre, m, hh_rows).t(), mat(kids, m, hh_cols), true);
            mm(dkids, mat(dpre, m, hh_rows), mat(p.w_hh, hh_rows, hh_cols), false);
            for (r, &v) in nodes.iter().enumerate() {
                for (s, e) in forest.edges(v).enumerate() {
                    let k = forest.child_idx[e];
                    for (a, b) in dh[k * h..][..h].iter_mut().zip(&dkids[(r * arity + s) * h..][..h]) {
                        *a += *b;
                    }
                }
            }
        }
        TreeCell::ChildSumLstm => {
            edge_h.clear();
            for (r, &v) in nodes.iter().enumerate() {
                for e in forest.edges(v) {
                    let k = forest.child_idx[e];
                    edge_h.extend_from_slice(&fwd.h[k * h..][..h]);
                    for (s, y) in kids[r * h..][..h].iter_mut().zip(&fwd.h[k * h..][..h]) {
                        *s += *y;
                    }
                }
            }
            let ne = edge_h.len() / h;
            mm(&mut gr.w_hh, mat(dpre, m, hh_rows).t(), mat(kids, m, h), true);
            mm(dkids, mat(dpre, m, hh_rows), mat(p.w_hh, hh_rows, h), false);
            mm(&mut gr.w_hf, mat(edge_dpre, ne, h).t(), mat(edge_h, ne, h), true);
            dedge.clear();
            dedge.resize(ne * h, T::ZERO);
            mm(dedge, mat(edge_dpre, ne, h), mat(p.w_hf, h, h), false);
            let mut j = 0;
            for (r, &v) in nodes.iter().enumerate() {
                for e in forest.edges(v) {
                    let k = forest.child_idx[e];
                    let from_sum = &dkids[r * h..][..h];
                    let from_edge = &dedge[j * h..][..h];
                    for ((a, b), c) in dh[k * h..][..h].iter_mut().zip(from_sum).zip(from_edge) {
                        *a += *b + *c;
                    }
                    j += 1;
                }
            }
        }
    }
}
