//! A batch of trees as one forest: validated, with its level schedule
//! (nodes grouped by height, leaves first).

use crate::error::{Error, Result};

/// A validated batch of trees with its level schedule.
#[derive(Clone, Debug)]
pub struct Forest {
    child_ptr: Vec<usize>,
    pub(super) child_idx: Vec<usize>,
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
        check_offsets(tree_ptr, child_ptr, child_idx)?;
        let child_ptr: Vec<usize> = child_ptr.iter().map(|&p| p as usize).collect();
        let (kids, roots) = link(tree_ptr, &child_ptr, child_idx)?;
        let height = heights(tree_ptr, &child_ptr, &kids, &roots)?;
        let (order, level_ptr) = by_height(&height);
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
    pub(super) fn level(&self, l: usize) -> &[usize] {
        &self.order[self.level_ptr[l]..self.level_ptr[l + 1]]
    }
    /// Edge positions (indices into the children list) of node `v`.
    pub(super) fn edges(&self, v: usize) -> std::ops::Range<usize> {
        self.child_ptr[v]..self.child_ptr[v + 1]
    }
    pub(super) fn max_children(&self) -> usize {
        self.child_ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }
}

/// The offset arrays' own checks: trees non-empty and covering the `N`
/// nodes, children offsets non-decreasing and covering `child_idx`.
fn check_offsets(tree_ptr: &[i64], child_ptr: &[i64], child_idx: &[i64]) -> Result<()> {
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
            return Err(Error::value("trees", format!("tree {b} is empty (a tree needs at least one node)")));
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
    Ok(())
}

/// The children as node indices (each inside its own tree, not itself, with
/// one parent at most) and every tree's one root.
fn link(tree_ptr: &[i64], child_ptr: &[usize], child_idx: &[i64]) -> Result<(Vec<usize>, Vec<usize>)> {
    const NONE: usize = usize::MAX;
    let n = child_ptr.len() - 1;
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
            0 => return Err(Error::value("trees", format!("tree {b} has no root: its edges form a cycle"))),
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
    Ok((kids, roots))
}

/// Every node's height (leaves 0), computed in reverse preorder (children
/// before parents); nodes not reached from their tree's root lie on a cycle.
fn heights(tree_ptr: &[i64], child_ptr: &[usize], kids: &[usize], roots: &[usize]) -> Result<Vec<usize>> {
    let n = child_ptr.len() - 1;
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
    for &v in pre.iter().rev() {
        height[v] = kids[child_ptr[v]..child_ptr[v + 1]].iter().map(|&c| height[c] + 1).max().unwrap_or(0);
    }
    Ok(height)
}

/// The level schedule: the nodes sorted by height, stable in node index (a
/// counting sort), and where each level starts.
fn by_height(height: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let levels = height.iter().map(|&h| h + 1).max().unwrap_or(0);
    let mut level_ptr = vec![0usize; levels + 1];
    for &h in height {
        level_ptr[h + 1] += 1;
    }
    for l in 0..levels {
        level_ptr[l + 1] += level_ptr[l];
    }
    let mut fill = level_ptr.clone();
    let mut order = vec![0usize; height.len()];
    for (v, &h) in height.iter().enumerate() {
        order[fill[h]] = v;
        fill[h] += 1;
    }
    (order, level_ptr)
}
