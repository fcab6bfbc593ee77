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

use crate::error::{checked_size, try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// A validated batch of trees with its level schedule.
#[derive(Clone, Debug)]
pub struct Forest {
    child_ptr: Vec<usize>,
    child_idx: Vec<usize>,
    /// Nodes sorted by height, leaves first (ties in node order).
    order: Vec<usize>,
    /// `order[level_ptr[l]..level_ptr[l + 1]]` are the nodes of height `l`.
    level_ptr: Vec<usize>,
    roots: Vec<usize>,
}

impl Forest {
    /// Builds the forest from `tree_ptr` (B + 1 offsets: tree `b` is nodes
    /// `tree_ptr[b]..tree_ptr[b + 1]`), `child_ptr` (N + 1 offsets into
    /// `child_idx`) and `child_idx` (the children of every node, in order,
    /// as global node indices). Errors name what is wrong: an empty tree, an
    /// index out of range or outside its tree, a node with two parents, a tree
    /// without exactly one root, a cycle.
    pub fn new(tree_ptr: &[i64], child_ptr: &[i64], child_idx: &[i64]) -> Result<Forest> {
        if child_ptr.is_empty() {
            return Err(Error::shape("child_ptr", "expected N + 1 offsets, got an empty array"));
        }
        let n = child_ptr.len() - 1;
        if tree_ptr.len() < 2 {
            return Err(Error::value("trees", "expected at least one tree"));
        }
        if tree_ptr[0] != 0 || tree_ptr[tree_ptr.len() - 1] != n as i64 {
            return Err(Error::value(
                "tree_ptr",
                format!(
                    "expected offsets from 0 to the node count {n}, got {:?}..{:?}",
                    tree_ptr[0],
                    tree_ptr.last()
                ),
            ));
        }
        for (b, w) in tree_ptr.windows(2).enumerate() {
            if w[1] <= w[0] {
                return Err(Error::value(
                    "trees",
                    format!("tree {b} is empty (a tree needs at least one node)"),
                ));
            }
        }
        if child_ptr[0] != 0
            || child_ptr[n] != child_idx.len() as i64
            || child_ptr.windows(2).any(|w| w[1] < w[0])
        {
            return Err(Error::value(
                "child_ptr",
                format!("expected non-decreasing offsets from 0 to {}", child_idx.len()),
            ));
        }
        let child_ptr: Vec<usize> = child_ptr.iter().map(|&p| p as usize).collect();
        const NONE: usize = usize::MAX;
        let mut parent = vec![NONE; n];
        let mut kids = Vec::with_capacity(child_idx.len());
        let mut roots = Vec::with_capacity(tree_ptr.len() - 1);
        for (b, w) in tree_ptr.windows(2).enumerate() {
            let (lo, hi) = (w[0] as usize, w[1] as usize);
            for v in lo..hi {
                for &c in &child_idx[child_ptr[v]..child_ptr[v + 1]] {
                    if c < lo as i64 || c >= hi as i64 {
                        return Err(Error::value(
                            "children",
                            format!(
                                "child {c} of node {} in tree {b} is not a node of that tree (0..{})",
                                v - lo,
                                hi - lo
                            ),
                        ));
                    }
                    let c = c as usize;
                    if c == v {
                        return Err(Error::value(
                            "children",
                            format!("node {} of tree {b} is its own child (a cycle)", v - lo),
                        ));
                    }
                    if parent[c] != NONE {
                        return Err(Error::value(
                            "children",
                            format!(
                                "node {} of tree {b} has two parents ({} and {})",
                                c - lo,
                                parent[c] - lo,
                                v - lo
                            ),
                        ));
                    }
                    parent[c] = v;
                    kids.push(c);
                }
            }
            let tree_roots: Vec<usize> = (lo..hi).filter(|&v| parent[v] == NONE).collect();
            match tree_roots.len() {
                1 => roots.push(tree_roots[0]),
                0 => {
                    return Err(Error::value(
                        "trees",
                        format!("tree {b} has no root: its edges form a cycle"),
                    ))
                }
                k => {
                    return Err(Error::value(
                        "trees",
                        format!(
                            "tree {b} has {k} roots (nodes {:?}); a tree has exactly one",
                            tree_roots.iter().map(|r| r - lo).collect::<Vec<_>>()
                        ),
                    ))
                }
            }
        }
        // Heights in reverse preorder (children before parents); nodes not
        // reached from their tree's root lie on a cycle.
        let mut height = vec![0usize; n];
        let mut seen = 0usize;
        let mut stack = Vec::new();
        let mut pre = Vec::with_capacity(n);
        for (b, &r) in roots.iter().enumerate() {
            let start = pre.len();
            stack.push(r);
            while let Some(v) = stack.pop() {
                pre.push(v);
                stack.extend_from_slice(&kids[child_ptr[v]..child_ptr[v + 1]]);
            }
            let size = (tree_ptr[b + 1] - tree_ptr[b]) as usize;
            if pre.len() - start != size {
                return Err(Error::value(
                    "trees",
                    format!("tree {b} contains a cycle (nodes unreachable from its root)"),
                ));
            }
            seen += size;
        }
        debug_assert_eq!(seen, n);
        let mut levels = 0;
        for &v in pre.iter().rev() {
            let h = kids[child_ptr[v]..child_ptr[v + 1]].iter().map(|&c| height[c] + 1).max().unwrap_or(0);
            height[v] = h;
            levels = levels.max(h + 1);
        }
        // Counting sort by height (stable in node index).
        let mut level_ptr = vec![0usize; levels + 1];
        for &h in &height {
            level_ptr[h + 1] += 1;
        }
        for l in 0..levels {
            level_ptr[l + 1] += level_ptr[l];
        }
        let mut fill = level_ptr.clone();
        let mut order = vec![0usize; n];
        for (v, &h) in height.iter().enumerate() {
            order[fill[h]] = v;
            fill[h] += 1;
        }
        Ok(Forest { child_ptr, child_idx: kids, order, level_ptr, roots })
    }

    pub fn num_nodes(&self) -> usize {
        self.order.len()
    }
    pub fn num_edges(&self) -> usize {
        self.child_idx.len()
    }
    /// The root of every tree, in tree order.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }
    /// Number of levels (the height of the tallest tree plus one).
    pub fn num_levels(&self) -> usize {
        self.level_ptr.len() - 1
    }
    fn level(&self, l: usize) -> &[usize] {
        &self.order[self.level_ptr[l]..self.level_ptr[l + 1]]
    }
    /// Edge positions (indices into the children list) of node `v`.
    fn edges(&self, v: usize) -> std::ops::Range<usize> {
        self.child_ptr[v]..self.child_ptr[v + 1]
    }
    fn max_children(&self) -> usize {
        self.child_ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }
}

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
    let (hh_rows, hh_cols) = cell.hh_shape(h);
    let mut kids = Vec::new();
    let mut pre = Vec::new();
    let mut edge_h = Vec::new();
    let mut edge_pre = Vec::new();
    for l in 0..forest.num_levels() {
        let nodes = forest.level(l);
        let m = nodes.len();
        // Children's states through the recurrent weights (leaves have none).
        pre.clear();
        pre.resize(m * hh_rows, T::ZERO);
        if l > 0 {
            kids.clear();
            kids.resize(m * hh_cols, T::ZERO);
            match cell {
                TreeCell::Recursive { arity } | TreeCell::NaryLstm { arity } => {
                    gather_slots(forest, nodes, &out.h, h, arity, &mut kids)
                }
                TreeCell::ChildSumLstm => {
                    for (r, &v) in nodes.iter().enumerate() {
                        let sum = &mut kids[r * h..][..h];
                        for e in forest.edges(v) {
                            let k = forest.child_idx[e];
                            for (s, y) in sum.iter_mut().zip(&out.h[k * h..][..h]) {
                                *s += *y;
                            }
                        }
                    }
                }
            }
            mm(&mut pre, mat(&kids, m, hh_cols), mat(p.w_hh, hh_rows, hh_cols).t(), false);
        }
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
                edge_h.clear();
                for &v in nodes {
                    for e in forest.edges(v) {
                        let k = forest.child_idx[e];
                        edge_h.extend_from_slice(&out.h[k * h..][..h]);
                    }
                }
                let ne = edge_h.len() / h;
                edge_pre.clear();
                edge_pre.resize(ne * h, T::ZERO);
                if ne > 0 {
                    mm(&mut edge_pre, mat(&edge_h, ne, h), mat(p.w_hf, h, h).t(), false);
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
                        for ((o, a), b) in fe.iter_mut().zip(&edge_pre[j * h..][..h]).zip(&xr[3 * h..]) {
                            *o = *a + *b;
                        }
                        j += 1;
                    }
                }
            }
        }
        if lstm {
            for &v in nodes {
                lstm_node(forest, v, h, &mut out);
            }
        }
    }
    Ok(out)
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
    let mut dpre = Vec::new();
    let mut kids = Vec::new();
    let mut dkids = Vec::new();
    let mut edge_h = Vec::new();
    let mut edge_dpre = Vec::new();
    let mut dedge = Vec::new();
    let mut tmp = vec![T::ZERO; h];
    for l in (0..forest.num_levels()).rev() {
        let nodes = forest.level(l);
        let m = nodes.len();
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
                    crate::kernels::tanh_inplace(&mut tmp);
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
        if l == 0 {
            continue; // leaves have no children to pass gradients to
        }
        kids.clear();
        kids.resize(m * hh_cols, T::ZERO);
        dkids.clear();
        dkids.resize(m * hh_cols, T::ZERO);
        match cell {
            TreeCell::Recursive { arity } | TreeCell::NaryLstm { arity } => {
                gather_slots(forest, nodes, &fwd.h, h, arity, &mut kids);
                mm(&mut gr.w_hh, mat(&dpre, m, hh_rows).t(), mat(&kids, m, hh_cols), true);
                mm(&mut dkids, mat(&dpre, m, hh_rows), mat(p.w_hh, hh_rows, hh_cols), false);
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
                mm(&mut gr.w_hh, mat(&dpre, m, hh_rows).t(), mat(&kids, m, h), true);
                mm(&mut dkids, mat(&dpre, m, hh_rows), mat(p.w_hh, hh_rows, h), false);
                mm(&mut gr.w_hf, mat(&edge_dpre, ne, h).t(), mat(&edge_h, ne, h), true);
                dedge.clear();
                dedge.resize(ne * h, T::ZERO);
                mm(&mut dedge, mat(&edge_dpre, ne, h), mat(p.w_hf, h, h), false);
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
    mm(&mut gr.w_ih, mat(&dxp, n, g).t(), mat(x, n, d), false);
    for row in dxp.chunks_exact(g) {
        for (b, v) in gr.bias.iter_mut().zip(row) {
            *b += *v;
        }
    }
    mm(&mut gr.x, mat(&dxp, n, g), mat(p.w_ih, g, d), false);
    Ok(gr)
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
