//! The NTM's forward run: controller, head parameters, then addressing,
//! reads and writes of every sequence in parallel.

use super::addressing::{address, head, row_norms, Head};
use super::{prev_next, rows, MemoryInit, NtmParams, NtmSpec, Tape};
use crate::error::{checked_size, try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::memory::controller::{cols, CtrlStep};
use crate::Float;
use rayon::prelude::*;

/// Every row of `c` (each `bias.len()` wide) set to `bias`.
fn fill_rows<T: Float>(c: &mut [T], bias: &[T]) {
    for row in c.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

/// Runs the NTM over `x` (`(steps, batch, input)`, time-major); returns the
/// outputs `(steps, batch, output)` and the tape (`keep`: every step, for
/// `backward`).
pub fn forward<T: Float>(
    spec: &NtmSpec,
    params: &NtmParams<'_, T>,
    x: &[T],
    steps: usize,
    batch: usize,
    keep: bool,
) -> Result<(Vec<T>, Tape<T>)> {
    spec.validate()?;
    if steps == 0 {
        return Err(Error::value("x", "expected a sequence of at least one step, got an empty one"));
    }
    if batch == 0 {
        return Err(Error::value("x", "expected a batch of at least one sequence"));
    }
    if x.len() != checked_size(&[steps, batch, spec.input], "x")? {
        return Err(Error::shape(
            "x",
            format!("expected {steps}x{batch}x{} values, got {}", spec.input, x.len()),
        ));
    }
    if (spec.memory_init == MemoryInit::Learned) != params.memory0.is_some() {
        return Err(Error::value("memory0", "given if and only if the memory initialisation is learned"));
    }
    let (b, hid, nh, n) = (batch, spec.hidden(), spec.heads(), spec.slots);
    let ctrl = &spec.controller;
    let (ns, nt) = if keep { (steps + 1, steps) } else { (2, 1) };
    let alloc = |per: usize, count: usize, what: &str| -> Result<Vec<T>> {
        try_zeros(checked_size(&[per, count, b], what)?, what)
    };
    let mut tape = Tape {
        spec: spec.clone(),
        steps,
        batch,
        keep,
        x: if keep { x.to_vec() } else { Vec::new() },
        gates: alloc(ctrl.gate_width(), nt, "controller gates")?,
        extra: alloc(ctrl.extra_width(), nt, "controller values")?,
        p: alloc(spec.head_params(), nt, "head parameters")?,
        cos: alloc(nh * n, nt, "cosine similarities")?,
        wc: alloc(nh * n, nt, "content weightings")?,
        wg: alloc(nh * n, nt, "gated weightings")?,
        wt: alloc(nh * n, nt, "shifted weightings")?,
        h: alloc(hid, ns, "h")?,
        c: alloc(ctrl.c_width(), ns, "c")?,
        mem: alloc(spec.cells(), ns, "memory")?,
        w: alloc(nh * n, ns, "weightings")?,
        r: alloc(spec.reads(), ns, "reads")?,
    };
    let mut y: Vec<T> = try_zeros(checked_size(&[steps, b, spec.output], "y")?, "y")?;
    // State 0.
    for row in tape.mem[..b * spec.cells()].chunks_exact_mut(spec.cells()) {
        match (spec.memory_init, params.memory0) {
            (_, Some(m0)) => row.copy_from_slice(m0),
            (MemoryInit::Constant(v), None) => row.fill(T::from_f64(v)),
            (MemoryInit::Learned, None) => unreachable!("checked above"),
        }
    }
    for row in tape.w[..b * nh * n].chunks_exact_mut(n) {
        row[0] = T::ONE;
    }
    if spec.reads() > 0 {
        fill_rows(&mut tape.r[..b * spec.reads()], params.read0);
    }
    let bias = ctrl.prepare_bias(&params.controller);
    let mut rec = vec![T::ZERO; b * ctrl.gate_width()];
    crate::par::install(|| {
        for t in 0..steps {
            step_forward(
                spec,
                params,
                &bias,
                &mut tape,
                &x[t * b * spec.input..(t + 1) * b * spec.input],
                t,
                &mut rec,
            );
            let yt = &mut y[t * b * spec.output..(t + 1) * b * spec.output];
            output(spec, params, &tape, t, yt);
        }
    });
    Ok((y, tape))
}

fn output<T: Float>(spec: &NtmSpec, params: &NtmParams<'_, T>, tape: &Tape<T>, t: usize, yt: &mut [T]) {
    let (b, hid, rm, o) = (tape.batch, spec.hidden(), spec.reads(), spec.output);
    let sn = tape.state_at(t + 1);
    fill_rows(yt, params.out_bias);
    let h = &tape.h[sn * b * hid..(sn + 1) * b * hid];
    gemm(
        Parallelism::Pool,
        yt,
        o,
        Op::new(h, b, hid),
        cols(params.out_weight, o, hid + rm, 0, hid).t(),
        T::ONE,
        true,
    );
    if rm > 0 {
        let r = &tape.r[sn * b * rm..(sn + 1) * b * rm];
        gemm(
            Parallelism::Pool,
            yt,
            o,
            Op::new(r, b, rm),
            cols(params.out_weight, o, hid + rm, hid, rm).t(),
            T::ONE,
            true,
        );
    }
}

fn step_forward<T: Float>(
    spec: &NtmSpec,
    params: &NtmParams<'_, T>,
    bias: &(Vec<T>, Vec<T>),
    tape: &mut Tape<T>,
    xt: &[T],
    t: usize,
    rec: &mut [T],
) {
    let (b, hid, rm) = (tape.batch, spec.hidden(), spec.reads());
    let (sp, sn, st) = (tape.state_at(t), tape.state_at(t + 1), tape.step_at(t));
    let ctrl = &spec.controller;
    let (gw, ew, cw) = (ctrl.gate_width(), ctrl.extra_width(), ctrl.c_width());
    let (h_prev, h_new) = prev_next(&mut tape.h, b * hid, sp, sn);
    let (c_prev, c_new) = prev_next(&mut tape.c, b * cw, sp, sn);
    ctrl.forward(
        &params.controller,
        bias,
        CtrlStep {
            xt,
            r_prev: &tape.r[sp * b * rm..(sp + 1) * b * rm],
            h_prev,
            c_prev,
            gates: &mut tape.gates[st * b * gw..(st + 1) * b * gw],
            extra: &mut tape.extra[st * b * ew..(st + 1) * b * ew],
            c_new,
            h_new,
        },
        b,
        rec,
    );
    let h_new = &tape.h[sn * b * hid..(sn + 1) * b * hid];
    // Head parameters.
    let ph = spec.head_params();
    let p = &mut tape.p[st * b * ph..(st + 1) * b * ph];
    fill_rows(p, params.head_bias);
    gemm(
        Parallelism::Pool,
        p,
        ph,
        Op::new(h_new, b, hid),
        Op::new(params.head_weight, ph, hid).t(),
        T::ONE,
        true,
    );
    // Addressing, reads and writes, one sequence at a time.
    let (n, m, nh) = (spec.slots, spec.width, spec.heads());
    let hn = nh * n;
    let (mem_prev, mem_new) = prev_next(&mut tape.mem, b * spec.cells(), sp, sn);
    let (w_prev, w_new) = prev_next(&mut tape.w, b * hn, sp, sn);
    let (_, r_new) = prev_next(&mut tape.r, b * rm, sp, sn);
    let at = st * b * hn..(st + 1) * b * hn;
    let outs = (rows(&mut tape.cos[at.clone()], b).into_iter())
        .zip(rows(&mut tape.wc[at.clone()], b))
        .zip(rows(&mut tape.wg[at.clone()], b))
        .zip(rows(&mut tape.wt[at], b))
        .zip(rows(w_new, b))
        .zip(rows(r_new, b))
        .zip(rows(mem_new, b))
        .map(|((((((cos, wc), wg), wt), w), r), mem)| RowOut { cos, wc, wg, wt, w, r, mem })
        .collect::<Vec<_>>();
    let p: &[T] = p;
    let (cells, w_prev): (&[T], &[T]) = (mem_prev, w_prev);
    // Every sequence on its own (in parallel; each row's arithmetic is the
    // same for any thread count).
    outs.into_par_iter().enumerate().for_each(|(bi, out)| {
        let mp = &cells[bi * n * m..(bi + 1) * n * m];
        let pr = &p[bi * ph..(bi + 1) * ph];
        row_forward(spec, pr, mp, &w_prev[bi * hn..(bi + 1) * hn], out);
    });
}

/// One sequence's outputs of the memory part of a step (see `Tape`).
struct RowOut<'a, T> {
    cos: &'a mut [T],
    wc: &'a mut [T],
    wg: &'a mut [T],
    wt: &'a mut [T],
    w: &'a mut [T],
    r: &'a mut [T],
    mem: &'a mut [T],
}

/// Addressing, reads and the write of one sequence: from its head
/// parameters `pr`, memory `mp` and weightings `w_prev`.
fn row_forward<T: Float>(spec: &NtmSpec, pr: &[T], mp: &[T], w_prev: &[T], out: RowOut<'_, T>) {
    let (n, m, nh) = (spec.slots, spec.width, spec.heads());
    let mut mnorms = vec![T::ZERO; n];
    row_norms(mp, m, &mut mnorms);
    let heads: Vec<Head<'_, T>> = (0..nh).map(|h| head(spec, pr, h)).collect();
    for (h, hd) in heads.iter().enumerate() {
        let o = h * n..(h + 1) * n;
        address(
            spec,
            hd,
            mp,
            &mnorms,
            &w_prev[o.clone()],
            &mut out.cos[o.clone()],
            &mut out.wc[o.clone()],
            &mut out.wg[o.clone()],
            &mut out.wt[o.clone()],
            &mut out.w[o],
        );
    }
    let wof = |h: usize| &out.w[h * n..(h + 1) * n];
    // Reads from M_{t-1}.
    for h in 0..spec.read_heads {
        let r = &mut out.r[h * m..(h + 1) * m];
        r.fill(T::ZERO);
        for (row, &wi) in mp.chunks_exact(m).zip(wof(h)) {
            for (a, &v) in r.iter_mut().zip(row) {
                *a += wi * v;
            }
        }
    }
    // Erase, then add.
    let mn = out.mem;
    mn.copy_from_slice(mp);
    let writes = || heads.iter().enumerate().skip(spec.read_heads);
    for (h, hd) in writes() {
        for (row, &wi) in mn.chunks_exact_mut(m).zip(wof(h)) {
            for (v, &e) in row.iter_mut().zip(&hd.erase) {
                *v *= T::ONE - wi * e;
            }
        }
    }
    for (h, hd) in writes() {
        for (row, &wi) in mn.chunks_exact_mut(m).zip(wof(h)) {
            for (v, &a) in row.iter_mut().zip(&hd.add) {
                *v += wi * a;
            }
        }
    }
}
