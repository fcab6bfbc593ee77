//! Shared plumbing of the layers that run their own time loop (the clockwork
//! and deep-transition RNNs): argument checks, and the state layout of a
//! variable-length batch.
//!
//! With `lengths` the batch is sorted once, longest first, and kept packed
//! (`Packing`): step `s` computes only its first `size(s)` rows. The states
//! buffer holds `h0` (`B` rows, sorted order) followed by every step's packed
//! rows, so the previous state of step `s`'s rows is always the first
//! `size(s)` rows of step `s - 1` (or of `h0`). Without lengths this is the
//! time-major `(T + 1, B, H)` layout and nothing is copied or reordered.

use super::packing::Packing;
use crate::error::{checked_size, try_zeros};
use crate::{Error, Float, Result};
use std::borrow::Cow;

/// Checks the input, initial state and lengths of a forward run over `x`
/// `(T, B, I)`; returns the batch's packing (the identity without lengths).
pub(crate) fn check_forward<T>(
    x: &[T],
    (t, b, i_sz): (usize, usize, usize),
    h0: Option<&[T]>,
    h: usize,
    lengths: Option<&[usize]>,
) -> Result<Packing> {
    if t == 0 {
        return Err(Error::shape("input", "the sequence is empty (T = 0)"));
    }
    if x.len() != checked_size(&[t, b, i_sz], "input")? {
        return Err(Error::shape("input", format!("expected ({t}, {b}, {i_sz}) values, got {}", x.len())));
    }
    if let Some(h0) = h0 {
        if h0.len() != b * h {
            return Err(Error::shape("h0", format!("expected (1, {b}, {h}), got {} values", h0.len())));
        }
    }
    match lengths {
        None => Ok(Packing::full(t, b)),
        Some(l) => {
            if let Some(i) = l.iter().position(|&v| v == 0) {
                return Err(Error::value(
                    "lengths",
                    format!("lengths[{i}] = 0: expected lengths in 1..={t}"),
                ));
            }
            Packing::new(l, t, b)
        }
    }
}

/// Checks the arguments of a backward run (`dy` `(T, B, H)`, `dh_n` `(B, H)`,
/// one gradient array per parameter, of its shape).
pub(crate) fn check_backward<T>(
    params: &[&[T]],
    grads: &[&mut [T]],
    dy: &[T],
    dh_n: Option<&[T]>,
    (t, b, h): (usize, usize, usize),
) -> Result<()> {
    if grads.len() != params.len() || grads.iter().zip(params).any(|(g, p)| g.len() != p.len()) {
        return Err(Error::shape("grads", "expected one array per parameter, of the parameter's shape"));
    }
    if dy.len() != t * b * h {
        return Err(Error::shape("dy", format!("expected ({t}, {b}, {h}), got {} values", dy.len())));
    }
    if let Some(d) = dh_n {
        if d.len() != b * h {
            return Err(Error::shape("dh_n", format!("expected (1, {b}, {h}), got {} values", d.len())));
        }
    }
    Ok(())
}

/// First row (in units of state rows) of step `s`'s previous states in a
/// states buffer laid out as the module doc says.
pub(crate) fn prev_row(pk: &Packing, s: usize) -> usize {
    if s == 0 {
        0
    } else {
        pk.batch() + pk.offset(s - 1)
    }
}

/// First row of step `s`'s own states.
pub(crate) fn cur_row(pk: &Packing, s: usize) -> usize {
    pk.batch() + pk.offset(s)
}

/// Steps run by each row of the sorted batch (`size(s) > r` for `s < len`).
pub(crate) fn sorted_lengths(pk: &Packing) -> Vec<usize> {
    let mut out = vec![0; pk.batch()];
    for s in 0..pk.steps() {
        for l in &mut out[..pk.size(s)] {
            *l = s + 1;
        }
    }
    out
}

/// The states buffer: `h0` (sorted; zeros when None) then zeros for every
/// packed row (a recycled buffer: see `workspace`).
pub(crate) fn new_states<T: Float>(pk: &Packing, h0: Option<&[T]>, h: usize) -> Result<Vec<T>> {
    let b = pk.batch();
    let mut states = super::workspace::zeroed(checked_size(&[pk.rows() + b, h], "states")?, "states")?;
    if let Some(h0) = h0 {
        if pk.is_identity() {
            states[..b * h].copy_from_slice(h0);
        } else {
            states[..b * h].copy_from_slice(&pk.sort_rows(h0, h));
        }
    }
    Ok(states)
}

/// Each sequence's state after its own last step `(B, H)`, in batch order,
/// from `h0` (sorted) and the packed states of the steps (`ys`).
pub(crate) fn final_states<T: Float>(pk: &Packing, h0: &[T], ys: &[T], h: usize) -> Vec<T> {
    let b = pk.batch();
    if pk.is_identity() {
        return ys[(pk.steps() - 1) * b * h..].to_vec();
    }
    let mut sorted = vec![T::ZERO; b * h];
    for (r, (dst, &len)) in sorted.chunks_exact_mut(h.max(1)).zip(&sorted_lengths(pk)).enumerate() {
        let src = if len == 0 { &h0[r * h..] } else { &ys[(pk.offset(len - 1) + r) * h..] };
        dst.copy_from_slice(&src[..h]);
    }
    pk.unsort_rows(&sorted, h)
}

/// Packed rows `(rows, f)` as the time-major padded `(T, B, f)` array (zero
/// past each length); no copy without lengths.
pub(crate) fn unpack<T: Float>(pk: &Packing, packed: Vec<T>, f: usize, what: &str) -> Result<Vec<T>> {
    if pk.is_identity() {
        Ok(packed)
    } else {
        pk.unpack(&packed, f, what)
    }
}

/// A time-major `(T, B, f)` array in packed rows (padded steps dropped);
/// borrowed without lengths.
pub(crate) fn pack<'a, T: Float>(pk: &Packing, src: &'a [T], f: usize, what: &str) -> Result<Cow<'a, [T]>> {
    if pk.is_identity() {
        Ok(Cow::Borrowed(src))
    } else {
        Ok(Cow::Owned(pk.pack(src, f, what)?))
    }
}

/// `(B, f)` rows in sorted order (a copy; `None` gives zeros).
pub(crate) fn sorted_rows<T: Float>(pk: &Packing, src: Option<&[T]>, f: usize) -> Result<Vec<T>> {
    match src {
        Some(v) if pk.is_identity() => Ok(v.to_vec()),
        Some(v) => Ok(pk.sort_rows(v, f)),
        None => try_zeros(pk.batch() * f, "states"),
    }
}

/// The previous state of every packed row `(rows, h)`: a view of `states`
/// without lengths, else gathered step by step.
pub(crate) fn prev_states<'a, T: Float>(pk: &Packing, states: &'a [T], h: usize) -> Result<Cow<'a, [T]>> {
    if pk.is_identity() {
        return Ok(Cow::Borrowed(&states[..pk.rows() * h]));
    }
    let mut out = try_zeros(checked_size(&[pk.rows(), h], "states")?, "states")?;
    for s in 0..pk.steps() {
        let (p0, o, n) = (prev_row(pk, s), pk.offset(s), pk.size(s));
        out[o * h..(o + n) * h].copy_from_slice(&states[p0 * h..(p0 + n) * h]);
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_rows_and_final_states() {
        // Lengths [2, 3, 1] (T = 3): sorted order [1, 0, 2], sizes [3, 2, 1].
        let pk = Packing::new(&[2, 3, 1], 3, 3).unwrap();
        assert_eq!(sorted_lengths(&pk), vec![3, 2, 1]);
        assert_eq!((prev_row(&pk, 0), cur_row(&pk, 0), prev_row(&pk, 1), cur_row(&pk, 2)), (0, 3, 3, 8));
        // One value per row: h0 rows 0..3, then the packed rows 3..9 hold 10 + row.
        let h0 = [-1.0, -2.0, -3.0];
        let mut states = new_states(&pk, Some(&h0), 1).unwrap();
        assert_eq!(states[..3], [-2.0, -1.0, -3.0]);
        for (r, v) in states.iter_mut().enumerate().skip(3) {
            *v = 10.0 + r as f64;
        }
        // Sequence 0 (sorted row 1) ends at step 1: packed row 3 + 3 + 1 = 7.
        let (h0s, ys) = states.split_at(3);
        assert_eq!(final_states(&pk, h0s, ys, 1), vec![17.0, 18.0, 15.0]);
        assert!(check_forward(&[0.0; 9], (3, 3, 1), None, 1, Some(&[0, 3, 1])).is_err());
        assert!(check_forward(&[0.0; 9], (3, 3, 1), None, 1, Some(&[4, 3, 1])).is_err());
    }
}
