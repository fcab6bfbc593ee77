//! The dense pieces around a recurrent layer: an affine map (`Linear`) and the
//! gradient of an embedding lookup. GEMMs go through `crate::linalg::gemm`
//! (split along outputs); the bias and embedding gradients are summed over
//! rows in order, so results never depend on the thread count.

use crate::error::try_zeros;
use crate::linalg::{gemm, Op, Parallelism};
use crate::{Error, Float, Result};

/// Shape of a linear map applied to `rows` input vectors.
#[derive(Clone, Copy, Debug)]
pub struct LinearShape {
    pub rows: usize,
    pub in_features: usize,
    pub out_features: usize,
}

/// `got == product of dims`, or a shape error (also when the product overflows).
fn check_len(arg: &str, got: usize, dims: &[usize]) -> Result<()> {
    let want = crate::error::checked_size(dims, arg)?;
    if got != want {
        return Err(Error::shape(arg, format!("expected {want} elements, got {got}")));
    }
    Ok(())
}

/// `y = x W^T + b` for `x (rows, in)`, `W (out, in)`, `b (out)`.
pub fn linear_forward<T: Float>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    sh: LinearShape,
) -> Result<Vec<T>> {
    let LinearShape { rows, in_features: i, out_features: o } = sh;
    check_len("input", x.len(), &[rows, i])?;
    check_len("weight", weight.len(), &[o, i])?;
    if let Some(b) = bias {
        check_len("bias", b.len(), &[o])?;
    }
    let size = crate::error::checked_size(&[rows, o], "output")?;
    let mut y = try_zeros::<T>(size, "output")?;
    if let Some(b) = bias {
        for r in y.chunks_mut(o.max(1)) {
            r.copy_from_slice(b);
        }
    }
    crate::par::install(|| {
        gemm(
            Parallelism::Pool,
            &mut y,
            o,
            Op::new(x, rows, i),
            Op::new(weight, o, i).t(),
            T::ONE,
            bias.is_some(),
        )
    });
    Ok(y)
}

/// Backward of `linear_forward`: returns `dx = dy W` and adds `dy^T x` to
/// `grad_weight` and the column sums of `dy` to `grad_bias`.
pub fn linear_backward<T: Float>(
    x: &[T],
    weight: &[T],
    dy: &[T],
    grad_weight: &mut [T],
    grad_bias: Option<&mut [T]>,
    sh: LinearShape,
) -> Result<Vec<T>> {
    let LinearShape { rows, in_features: i, out_features: o } = sh;
    check_len("input", x.len(), &[rows, i])?;
    check_len("weight", weight.len(), &[o, i])?;
    check_len("dy", dy.len(), &[rows, o])?;
    check_len("grad_weight", grad_weight.len(), &[o, i])?;
    if let Some(b) = &grad_bias {
        check_len("grad_bias", b.len(), &[o])?;
    }
    let mut dx = try_zeros::<T>(rows * i, "dx")?;
    crate::par::install(|| {
        gemm(Parallelism::Pool, &mut dx, i, Op::new(dy, rows, o), Op::new(weight, o, i), T::ONE, false);
        gemm(Parallelism::Pool, grad_weight, i, Op::new(dy, rows, o).t(), Op::new(x, rows, i), T::ONE, true);
    });
    if let Some(b) = grad_bias {
        for r in dy.chunks(o.max(1)) {
            for (acc, &v) in b.iter_mut().zip(r) {
                *acc += v;
            }
        }
    }
    Ok(dx)
}

/// Embedding backward: `grad_weight[indices[k]] += dy[k]` for every k in
/// order (scatter-add), skipping `padding_idx`. Rows of `dim` elements.
pub fn embedding_backward<T: Float>(
    indices: &[i64],
    dy: &[T],
    grad_weight: &mut [T],
    dim: usize,
    padding_idx: Option<i64>,
) -> Result<()> {
    check_len("dy", dy.len(), &[indices.len(), dim])?;
    let num = grad_weight.len().checked_div(dim).unwrap_or(0);
    check_len("grad_weight", grad_weight.len(), &[num, dim])?;
    if let Some((k, &bad)) = indices.iter().enumerate().find(|(_, &v)| v < 0 || v as u64 >= num as u64) {
        return Err(Error::value(
            "indices",
            format!("index {bad} at position {k} is out of range [0, {num})"),
        ));
    }
    if dim == 0 {
        return Ok(());
    }
    for (&idx, row) in indices.iter().zip(dy.chunks(dim)) {
        if Some(idx) == padding_idx {
            continue;
        }
        let start = idx as usize * dim;
        for (acc, &v) in grad_weight[start..start + dim].iter_mut().zip(row) {
            *acc += v;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_forward_and_backward_by_hand() {
        // x (2, 3), W (2, 3), b (2)
        let x = [1.0, 2.0, 3.0, -1.0, 0.0, 1.0];
        let w = [0.5, -1.0, 2.0, 1.0, 1.0, 1.0];
        let b = [0.1, -0.2];
        let sh = LinearShape { rows: 2, in_features: 3, out_features: 2 };
        let y = linear_forward(&x, &w, Some(&b), sh).unwrap();
        assert_eq!(y, vec![0.5 - 2.0 + 6.0 + 0.1, 6.0 - 0.2, -0.5 + 2.0 + 0.1, 0.0 - 0.2]);
        let dy = [1.0, 0.0, 0.0, 2.0];
        let mut gw = [1.0; 6];
        let mut gb = [0.0; 2];
        let dx = linear_backward(&x, &w, &dy, &mut gw, Some(&mut gb), sh).unwrap();
        assert_eq!(dx, vec![0.5, -1.0, 2.0, 2.0, 2.0, 2.0]);
        assert_eq!(gw, [2.0, 3.0, 4.0, -1.0, 1.0, 3.0]);
        assert_eq!(gb, [1.0, 2.0]);
    }

    #[test]
    fn embedding_scatter_add_with_padding() {
        let mut gw = [0.0f32; 6];
        embedding_backward(&[2, 0, 2, 1], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0], &mut gw, 2, Some(1))
            .unwrap();
        assert_eq!(gw, [2.0, 2.0, 0.0, 0.0, 4.0, 4.0]);
        assert!(embedding_backward(&[3], &[1.0, 1.0], &mut gw, 2, None).is_err());
    }
}
