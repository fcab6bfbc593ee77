//! 2-D convolution (cross-correlation, as in PyTorch) with its backward, on
//! the library's GEMM: NCHW, stride 1, "same" zero padding (odd kernels),
//! float32/float64. One image at a time: im2col turns the image into a
//! `(C*kh*kw, H*W)` matrix, so the forward pass is `W (O, C*kh*kw) x cols`,
//! the weight gradient `dY cols^T` and the input gradient `col2im(W^T dY)`.
//! Only the GEMMs are parallel (they split the output), so results do not
//! depend on the thread count.

use crate::error::{checked_size, try_zeros, Error, Result};
use crate::linalg::{gemm, Op, Parallelism};
use crate::Float;

/// Sizes of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
}

impl ConvShape {
    /// Checks the sizes (odd kernels for "same" padding, no overflow).
    pub fn check(&self) -> Result<()> {
        if self.kernel_h.is_multiple_of(2) || self.kernel_w.is_multiple_of(2) {
            return Err(Error::value(
                "weight",
                format!(
                    "expected odd kernel sizes for 'same' padding, got {}x{}",
                    self.kernel_h, self.kernel_w
                ),
            ));
        }
        checked_size(
            &[self.batch, self.in_channels.max(self.out_channels), self.height, self.width],
            "conv",
        )?;
        checked_size(&[self.in_channels, self.kernel_h, self.kernel_w, self.height, self.width], "im2col")?;
        Ok(())
    }
    fn pixels(&self) -> usize {
        self.height * self.width
    }
    fn patch(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.pixels()
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.pixels()
    }
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch()
    }
}

fn check_lens<T>(s: &ConvShape, x: &[T], w: &[T]) -> Result<()> {
    s.check()?;
    if x.len() != s.input_len() {
        return Err(Error::shape("input", format!("expected {} elements, got {}", s.input_len(), x.len())));
    }
    if w.len() != s.weight_len() {
        return Err(Error::shape("weight", format!("expected {} elements, got {}", s.weight_len(), w.len())));
    }
    Ok(())
}

/// `cols[(c, i, j), (y, x)] = img[c, y + i - kh/2, x + j - kw/2]` (0 outside).
fn im2col<T: Float>(s: &ConvShape, img: &[T], cols: &mut [T]) {
    let (h, w, ph, pw) = (s.height, s.width, s.kernel_h / 2, s.kernel_w / 2);
    let mut row = 0;
    for c in 0..s.in_channels {
        let plane = &img[c * h * w..][..h * w];
        for i in 0..s.kernel_h {
            for j in 0..s.kernel_w {
                let out = &mut cols[row * h * w..][..h * w];
                for y in 0..h {
                    let line = &mut out[y * w..][..w];
                    let sy = y as isize + i as isize - ph as isize;
                    if sy < 0 || sy >= h as isize {
                        line.fill(T::ZERO);
                        continue;
                    }
                    let src = &plane[sy as usize * w..][..w];
                    for (x, v) in line.iter_mut().enumerate() {
                        let sx = x as isize + j as isize - pw as isize;
                        *v = if sx < 0 || sx >= w as isize { T::ZERO } else { src[sx as usize] };
                    }
                }
                row += 1;
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back into the image.
fn col2im_add<T: Float>(s: &ConvShape, cols: &[T], img: &mut [T]) {
    let (h, w, ph, pw) = (s.height, s.width, s.kernel_h / 2, s.kernel_w / 2);
    let mut row = 0;
    for c in 0..s.in_channels {
        let plane = &mut img[c * h * w..][..h * w];
        for i in 0..s.kernel_h {
            for j in 0..s.kernel_w {
                let src = &cols[row * h * w..][..h * w];
                for y in 0..h {
                    let sy = y as isize + i as isize - ph as isize;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[sy as usize * w..][..w];
                    for (x, v) in src[y * w..][..w].iter().enumerate() {
                        let sx = x as isize + j as isize - pw as isize;
                        if sx >= 0 && sx < w as isize {
                            dst[sx as usize] += *v;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// `c (+)= op(a) op(b)` on contiguous row-major matrices: this file's one
/// use of the GEMM API. `a`/`b` are `(data, rows, cols, transposed)`.
fn mm<T: Float>(c: &mut [T], a: (&[T], usize, usize, bool), b: (&[T], usize, usize, bool), accumulate: bool) {
    fn op<T>((d, r, k, t): (&[T], usize, usize, bool)) -> Op<'_, T> {
        let o = Op::new(d, r, k);
        if t {
            o.t()
        } else {
            o
        }
    }
    let (a, b) = (op(a), op(b));
    gemm(Parallelism::Pool, c, b.shape().1, a, b, T::ONE, accumulate);
}

/// `y = conv(x, w) + bias` (or `y += ...` with `accumulate`). Shapes: `x`
/// (B, C, H, W), `w` (O, C, kh, kw), `bias` (O) or empty, `y` (B, O, H, W).
pub fn conv2d_forward<T: Float>(
    s: &ConvShape,
    x: &[T],
    w: &[T],
    bias: &[T],
    y: &mut [T],
    accumulate: bool,
) -> Result<()> {
    check_lens(s, x, w)?;
    if !bias.is_empty() && bias.len() != s.out_channels {
        return Err(Error::shape(
            "bias",
            format!("expected {} elements, got {}", s.out_channels, bias.len()),
        ));
    }
    if y.len() != s.output_len() {
        return Err(Error::shape("output", format!("expected {} elements, got {}", s.output_len(), y.len())));
    }
    let (p, k, o) = (s.pixels(), s.patch(), s.out_channels);
    let mut cols = try_zeros::<T>(checked_size(&[k, p], "im2col")?, "im2col")?;
    for b in 0..s.batch {
        im2col(s, &x[b * s.in_channels * p..][..s.in_channels * p], &mut cols);
        let yb = &mut y[b * o * p..][..o * p];
        mm(yb, (w, o, k, false), (&cols, k, p, false), accumulate);
        if !bias.is_empty() {
            for (plane, &bv) in yb.chunks_exact_mut(p).zip(bias) {
                for v in plane {
                    *v += bv;
                }
            }
        }
    }
    Ok(())
}

/// Gradients of `sum(dy * conv(x, w))`: adds into `dw` (O, C, kh, kw), `db`
/// (O, or empty to skip) and `dx` (B, C, H, W, or empty to skip).
pub fn conv2d_backward<T: Float>(
    s: &ConvShape,
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: &mut [T],
    dw: &mut [T],
    db: &mut [T],
) -> Result<()> {
    check_lens(s, x, w)?;
    if dy.len() != s.output_len() {
        return Err(Error::shape(
            "grad_output",
            format!("expected {} elements, got {}", s.output_len(), dy.len()),
        ));
    }
    let lens_ok = dw.len() == s.weight_len()
        && (db.is_empty() || db.len() == s.out_channels)
        && (dx.is_empty() || dx.len() == s.input_len());
    if !lens_ok {
        return Err(Error::shape("gradients", "buffers do not match the convolution's shapes"));
    }
    let (p, k, o, c) = (s.pixels(), s.patch(), s.out_channels, s.in_channels);
    let mut cols = try_zeros::<T>(checked_size(&[k, p], "im2col")?, "im2col")?;
    let mut dcols = if dx.is_empty() { Vec::new() } else { try_zeros::<T>(k * p, "im2col gradient")? };
    for b in 0..s.batch {
        let dyb = &dy[b * o * p..][..o * p];
        im2col(s, &x[b * c * p..][..c * p], &mut cols);
        mm(dw, (dyb, o, p, false), (&cols, k, p, true), true);
        if !db.is_empty() {
            for (g, plane) in db.iter_mut().zip(dyb.chunks_exact(p)) {
                *g += plane.iter().copied().sum::<T>();
            }
        }
        if !dx.is_empty() {
            mm(&mut dcols, (w, o, k, true), (dyb, o, p, false), false);
            col2im_add(s, &dcols, &mut dx[b * c * p..][..c * p]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(s: &ConvShape, x: &[f64], w: &[f64]) -> Vec<f64> {
        let (h, wd, ph, pw) =
            (s.height as isize, s.width as isize, (s.kernel_h / 2) as isize, (s.kernel_w / 2) as isize);
        let mut y = vec![0.0; s.output_len()];
        for b in 0..s.batch {
            for o in 0..s.out_channels {
                for yy in 0..h {
                    for xx in 0..wd {
                        let mut acc = 0.0;
                        for c in 0..s.in_channels {
                            for i in 0..s.kernel_h as isize {
                                for j in 0..s.kernel_w as isize {
                                    let (sy, sx) = (yy + i - ph, xx + j - pw);
                                    if sy >= 0 && sy < h && sx >= 0 && sx < wd {
                                        let xi = ((b * s.in_channels + c) as isize * h + sy) * wd + sx;
                                        let wi = ((o * s.in_channels + c) * s.kernel_h + i as usize)
                                            * s.kernel_w
                                            + j as usize;
                                        acc += x[xi as usize] * w[wi];
                                    }
                                }
                            }
                        }
                        y[((b * s.out_channels + o) as isize * h + yy) as usize * wd as usize
                            + xx as usize] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn forward_matches_direct_and_backward_is_adjoint() {
        let s = ConvShape {
            batch: 2,
            in_channels: 3,
            out_channels: 4,
            height: 5,
            width: 6,
            kernel_h: 3,
            kernel_w: 5,
        };
        let x: Vec<f64> = (0..s.input_len()).map(|i| ((i * 7 % 13) as f64 - 6.0) / 5.0).collect();
        let w: Vec<f64> = (0..s.weight_len()).map(|i| ((i * 5 % 11) as f64 - 5.0) / 7.0).collect();
        let mut y = vec![0.0; s.output_len()];
        conv2d_forward(&s, &x, &w, &[], &mut y, false).unwrap();
        let want = direct(&s, &x, &w);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
        // <dy, conv(x, w)> is bilinear: its gradients are exact directional derivatives.
        let dy: Vec<f64> = (0..s.output_len()).map(|i| ((i * 3 % 7) as f64 - 3.0) / 2.0).collect();
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; 4]);
        conv2d_backward(&s, &x, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let f = dot(&dy, &y);
        assert!((dot(&dx, &x) - f).abs() < 1e-9 * f.abs().max(1.0));
        assert!((dot(&dw, &w) - f).abs() < 1e-9 * f.abs().max(1.0));
        let sums: Vec<f64> =
            dy.chunks(30).collect::<Vec<_>>().chunks(4).fold(vec![0.0; 4], |mut acc, img| {
                for (a, plane) in acc.iter_mut().zip(img) {
                    *a += plane.iter().sum::<f64>();
                }
                acc
            });
        for (a, b) in db.iter().zip(&sums) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn even_kernels_and_bad_lengths_are_errors() {
        let s = ConvShape {
            batch: 1,
            in_channels: 1,
            out_channels: 1,
            height: 3,
            width: 3,
            kernel_h: 2,
            kernel_w: 3,
        };
        assert!(conv2d_forward(&s, &[0.0; 9], &[0.0; 6], &[], &mut [0.0; 9], false).is_err());
        let s = ConvShape { kernel_h: 3, ..s };
        assert!(conv2d_forward(&s, &[0.0; 8], &[0.0; 9], &[], &mut [0.0; 9], false).is_err());
    }
}
