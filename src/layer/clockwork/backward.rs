//! Backpropagation through a clockwork run: each module's recurrent
//! gradient is summed over the window a value was read in, then multiplied
//! once at the tick that set it (see the parent module).

use super::*;

/// One module's parameter gradients: `weight_ih` rows `(k, I)`, `weight_hh`
/// block `(readers, k)` (its columns), the bias sum `(k)`.
struct ModuleGrads<T> {
    w_ih: Vec<T>,
    w_hh: Vec<T>,
    bias: Vec<T>,
}

/// Gradients of a clockwork run.
pub struct ClockworkGrads<T> {
    /// `(T, B, I)`; empty without `input_grad`.
    pub dx: Vec<T>,
    /// `(B, H)`.
    pub dh0: Vec<T>,
}

/// BPTT through `cache`: `dy` `(T, B, H)` (ignored past each length),
/// `dh_n` `(B, H)` (zeros when None). Parameter gradients are ADDED into
/// `grads` (the shapes of `params`).
pub fn backward<T: Float>(
    params: &[&[T]],
    cache: &ClockworkCache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    input_grad: bool,
) -> Result<ClockworkGrads<T>> {
    let cw = &cache.cw;
    cw.check_params(params)?;
    varlen::check_backward(params, grads, dy, dh_n, (cache.t, cache.b, cw.hidden_size()))?;
    crate::par::install(|| run_backward(params, cache, dy, dh_n, grads, input_grad))
}

fn run_backward<T: Float>(
    params: &[&[T]],
    cache: &ClockworkCache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    input_grad: bool,
) -> Result<ClockworkGrads<T>> {
    let cw = &cache.cw;
    let pk = &cache.packing;
    let (h, i_sz) = (cw.hidden_size(), cw.input_size);
    let w_ih = params[0];
    let blocks = cw.blocks();
    let ticks: Vec<Ticks> = blocks.iter().map(|blk| Ticks::new(pk, blk.period)).collect();
    let cuts = cuts(pk);
    let loops = Loops::new(&blocks, &ticks, params[1], pk.batch() / cuts.len(), true)?;
    let dy = varlen::pack(pk, dy, h, "dy")?;
    let mut carry = varlen::sorted_rows(pk, dh_n, h)?;
    // Gradients w.r.t. each module's pre-activations at its active steps, `(ticks rows, k)`.
    let mut dz: Vec<Vec<T>> = blocks
        .iter()
        .zip(&ticks)
        // Every tick's rows are written (scratch: not zeroed).
        .map(|(blk, tk)| workspace::scratch(checked_size(&[tk.rows(), blk.k], "gradients")?, "gradients"))
        .collect::<Result<_>>()?;
    // Per module, the readers' summed gradients of each window (`Loops`):
    // window 0 (h0) then one per tick, each `(rows of the tick, readers)`.
    let mut stash: Vec<Vec<T>> = blocks
        .iter()
        .zip(&ticks)
        .map(|(blk, tk)| {
            let n = checked_size(&[tk.rows() + pk.batch(), blk.readers], "gradients")?;
            workspace::zeroed(n, "gradients")
        })
        .collect::<Result<_>>()?;
    {
        // Each block of rows runs the whole loop on its own rows of `carry`, `dz` and `stash`.
        let mut dz_parts: Vec<Vec<Vec<&mut [T]>>> = cuts.iter().map(|_| Vec::new()).collect();
        let mut stash_parts: Vec<Vec<Vec<&mut [T]>>> = cuts.iter().map(|_| Vec::new()).collect();
        for (((blk, d), st), tk) in blocks.iter().zip(dz.iter_mut()).zip(stash.iter_mut()).zip(&ticks) {
            let counts = tk.steps.iter().map(|&s| pk.size(s));
            for (part, p) in dz_parts.iter_mut().zip(cut_slots(d, counts, blk.k, &cuts)) {
                part.push(p);
            }
            for (part, p) in stash_parts.iter_mut().zip(cut_slots(st, tk.windows(pk), blk.readers, &cuts)) {
                part.push(p);
            }
        }
        let mut carry_parts = cut_slots(&mut carry, std::iter::once(pk.batch()), h, &cuts);
        let (st, dy) = (&cache.vals, &*dy);
        match (&mut carry_parts[..], &mut dz_parts[..], &mut stash_parts[..]) {
            ([c], [d], [w]) => loops.backward(pk, st, dy, 0, c[0], d, w)?,
            ([c0, c1], [d0, d1], [w0, w1]) => {
                let (a, b) = rayon::join(
                    || loops.backward(pk, st, dy, cuts[0], c0[0], d0, w0),
                    || loops.backward(pk, st, dy, cuts[1], c1[0], d1, w1),
                );
                a.and(b)?;
            }
            _ => {}
        }
    }
    add_param_grads(cache, &blocks, &ticks, &dz, &stash, grads)?;
    stash.into_iter().for_each(workspace::recycle);
    let dx = if input_grad { input_gradient(w_ih, pk, &blocks, &ticks, &dz, i_sz)? } else { Vec::new() };
    dz.into_iter().for_each(workspace::recycle);
    let dx = if input_grad { varlen::unpack(pk, dx, i_sz, "dx")? } else { dx };
    let dh0 = if pk.is_identity() { carry } else { pk.unsort_rows(&carry, h) };
    Ok(ClockworkGrads { dx, dh0 })
}

/// Adds the parameter gradients into `grads`: one product per module over
/// its steps (its windows for W_hh); the modules in parallel, each product
/// serial, so the result does not depend on the thread count.
fn add_param_grads<T: Float>(
    cache: &ClockworkCache<T>,
    blocks: &[Block],
    ticks: &[Ticks],
    dz: &[Vec<T>],
    stash: &[Vec<T>],
    grads: &mut [&mut [T]],
) -> Result<()> {
    let (cw, pk) = (&cache.cw, &cache.packing);
    let (h, i_sz) = (cw.hidden_size(), cw.input_size);
    let (gw, rest) = grads.split_at_mut(1);
    let (gh, rest) = rest.split_at_mut(1);
    let per_module = |j: usize| -> Result<ModuleGrads<T>> {
        let (blk, tk) = (&blocks[j], &ticks[j]);
        let (n, k) = (tk.rows(), blk.k);
        let mut out = ModuleGrads {
            w_ih: workspace::scratch(checked_size(&[k, i_sz], "weight_ih")?, "weight_ih")?,
            w_hh: workspace::scratch(checked_size(&[blk.readers, k], "weight_hh")?, "weight_hh")?,
            bias: vec![T::ZERO; k],
        };
        let xg = gather(&cache.x, pk, tk, blk.period, i_sz)?;
        let dzt = Op::new(&dz[j], n, k).t();
        gemm(Parallelism::Serial, &mut out.w_ih, i_sz, dzt, Op::new(&xg, n, i_sz), T::ONE, false);
        if let Cow::Owned(v) = xg {
            workspace::recycle(v);
        }
        // W_hh[0..readers, j] += stash^T (the value of j each window read).
        let rows = tk.rows() + pk.batch();
        let (stt, vals) = (Op::new(&stash[j], rows, blk.readers).t(), Op::new(&cache.vals[j], rows, k));
        gemm(Parallelism::Serial, &mut out.w_hh, k, stt, vals, T::ONE, false);
        if cw.bias {
            for row in dz[j].chunks_exact(k) {
                out.bias.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
            }
        }
        Ok(out)
    };
    let parts: Vec<Result<ModuleGrads<T>>> = (0..blocks.len()).into_par_iter().map(per_module).collect();
    for (blk, part) in blocks.iter().zip(parts) {
        let part = part?;
        let add = |dst: &mut [T], src: &[T]| dst.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
        add(&mut gw[0][blk.row * i_sz..(blk.row + blk.k) * i_sz], &part.w_ih);
        for (r, src) in part.w_hh.chunks_exact(blk.k).enumerate() {
            add(&mut gh[0][r * h + blk.row..r * h + blk.row + blk.k], src);
        }
        for g in rest.iter_mut() {
            add(&mut g[blk.row..blk.row + blk.k], &part.bias);
        }
        workspace::recycle(part.w_ih);
        workspace::recycle(part.w_hh);
    }
    Ok(())
}

/// The input gradient `(T, B, I)` rows of the packing, one product per
/// module over its steps. A first module of period 1 writes every row of
/// dx (scratch: not zeroed), the others add.
fn input_gradient<T: Float>(
    w_ih: &[T],
    pk: &Packing,
    blocks: &[Block],
    ticks: &[Ticks],
    dz: &[Vec<T>],
    i_sz: usize,
) -> Result<Vec<T>> {
    let first_writes = blocks[0].period == 1;
    let len = checked_size(&[pk.rows(), i_sz], "dx")?;
    let mut dx = if first_writes { workspace::scratch(len, "dx")? } else { workspace::zeroed(len, "dx")? };
    for (m, ((blk, dzm), tk)) in blocks.iter().zip(dz).zip(ticks).enumerate() {
        let (n, k) = (tk.rows(), blk.k);
        let dzop = Op::new(dzm, n, k);
        let w = Op { data: &w_ih[blk.row * i_sz..], rows: k, cols: i_sz, ld: i_sz, trans: false };
        if blk.period == 1 {
            gemm(Parallelism::Pool, &mut dx, i_sz, dzop, w, T::ONE, !(m == 0 && first_writes));
        } else {
            let mut part = workspace::scratch(checked_size(&[n, i_sz], "dx")?, "dx")?;
            gemm(Parallelism::Pool, &mut part, i_sz, dzop, w, T::ONE, false);
            for (j, &s) in tk.steps.iter().enumerate() {
                let o = pk.offset(s) * i_sz;
                let src = &part[tk.offsets[j] * i_sz..tk.offsets[j + 1] * i_sz];
                dx[o..o + src.len()].iter_mut().zip(src).for_each(|(d, &v)| *d += v);
            }
            workspace::recycle(part);
        }
    }
    Ok(dx)
}
