//! Fixed-size blocks: the unit of parallel work of the training routines.
//! Block boundaries depend only on the data length, never on the number of
//! threads, which is what makes block-wise reductions reproducible.

use rayon::prelude::*;

/// Elements per block: large enough to amortise scheduling, small enough to
/// split a 1M-parameter array across a few threads.
pub const BLOCK: usize = 1 << 14;

/// `f(block)` for every block of every array, in parallel; the results come
/// back as one vector per array, blocks in order.
pub fn map_blocks<T, R, F>(arrays: &[&[T]], f: F) -> Vec<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let tasks: Vec<(usize, &[T])> =
        arrays.iter().enumerate().flat_map(|(i, a)| a.chunks(BLOCK).map(move |c| (i, c))).collect();
    let results: Vec<(usize, R)> = tasks.into_par_iter().map(|(i, c)| (i, f(c))).collect();
    let mut out: Vec<Vec<R>> = arrays.iter().map(|_| Vec::new()).collect();
    for (i, r) in results {
        out[i].push(r);
    }
    out
}

/// `f(block)` for every block of every mutable array, in parallel.
pub fn for_each_block_mut<T, F>(arrays: &mut [&mut [T]], f: F)
where
    T: Send,
    F: Fn(&mut [T]) + Sync,
{
    let tasks: Vec<&mut [T]> = arrays.iter_mut().flat_map(|a| a.chunks_mut(BLOCK)).collect();
    tasks.into_par_iter().for_each(&f);
}
