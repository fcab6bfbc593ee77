//! Optimizer update rules, in place, with PyTorch's semantics (the
//! single-tensor `for`-loop implementations of `torch.optim`): SGD, Adam /
//! AdamW, RMSprop and Adagrad.
//!
//! A parameter comes with its gradient and up to three state buffers
//! (`Slots`); unused slots are empty. The updates are element-wise, so they
//! are split into fixed blocks run in parallel with identical results for any
//! thread count.

use super::blocks::BLOCK;
use crate::kernels::wide;
use crate::{Error, Float, Result};
use rayon::prelude::*;

/// One parameter, its gradient and its state buffers (empty when unused).
pub struct Slots<'a, T> {
    pub param: &'a mut [T],
    pub grad: &'a [T],
    pub state: [&'a mut [T]; 3],
}

impl<'a, T> Slots<'a, T> {
    fn split_at(self, k: usize) -> (Self, Self) {
        let (p0, p1) = self.param.split_at_mut(k);
        let (g0, g1) = self.grad.split_at(k);
        let [s0, s1, s2] = self.state;
        let cut = |s: &'a mut [T]| {
            if s.is_empty() {
                (Default::default(), Default::default())
            } else {
                s.split_at_mut(k)
            }
        };
        let ((a0, b0), (a1, b1), (a2, b2)) = (cut(s0), cut(s1), cut(s2));
        (
            Slots { param: p0, grad: g0, state: [a0, a1, a2] },
            Slots { param: p1, grad: g1, state: [b0, b1, b2] },
        )
    }
}

/// Checks every parameter: gradient and the `used` state slots have the
/// parameter's length, the other slots are empty or have that length too.
fn check<T>(params: &[Slots<'_, T>], used: [bool; 3], names: [&str; 3]) -> Result<()> {
    for (i, s) in params.iter().enumerate() {
        let n = s.param.len();
        if s.grad.len() != n {
            return Err(Error::shape(
                "grads",
                format!("gradient {i} has {} elements, its parameter {n}", s.grad.len()),
            ));
        }
        for k in 0..3 {
            let len = s.state[k].len();
            // Unused slots may be empty; anything else must match the parameter.
            if (used[k] || len != 0) && len != n {
                return Err(Error::shape(
                    "state",
                    format!("{} of parameter {i} has {len} elements, expected {n}", names[k]),
                ));
            }
        }
    }
    Ok(())
}

/// Runs the element-wise `update(p, g, s0, s1, s2)` over all parameters,
/// block by block in parallel.
fn run<T: Float>(params: Vec<Slots<'_, T>>, update: impl Fn(&mut Slots<'_, T>) + Sync) {
    let mut blocks = Vec::new();
    for mut s in params {
        while s.param.len() > BLOCK {
            let (head, tail) = s.split_at(BLOCK);
            blocks.push(head);
            s = tail;
        }
        blocks.push(s);
    }
    crate::par::install(|| blocks.into_par_iter().for_each(|mut b| update(&mut b)));
}

/// torch's `lerp(a, b, w)`: exact at both ends.
#[inline(always)]
fn lerp<T: Float>(a: T, b: T, w: T) -> T {
    if w < T::from_f64(0.5) {
        a + w * (b - a)
    } else {
        b - (b - a) * (T::ONE - w)
    }
}

/// torch.maximum: the larger value, NaN when either is NaN.
#[inline(always)]
fn nan_maximum<T: Float>(a: T, b: T) -> T {
    if a.is_nan() {
        a
    } else if b.is_nan() || b > a {
        b
    } else {
        a
    }
}

/// SGD hyper-parameters (torch names).
#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub maximize: bool,
}

/// One SGD step. Slot 0 is the momentum buffer (used when momentum != 0);
/// `first` says it is still unset: then `buf = g`, without dampening.
pub fn sgd_step<T: Float>(params: Vec<Slots<'_, T>>, h: &Sgd, first: bool) -> Result<()> {
    let with_buf = h.momentum != 0.0;
    check(&params, [with_buf, false, false], ["momentum_buffer", "unused state", "unused state"])?;
    let (lr, mom, damp, wd) = (
        T::from_f64(h.lr),
        T::from_f64(h.momentum),
        T::ONE - T::from_f64(h.dampening),
        T::from_f64(h.weight_decay),
    );
    let (nesterov, maximize, decay) = (h.nesterov, h.maximize, h.weight_decay != 0.0);
    run(params, |s| {
        for i in 0..s.param.len() {
            let mut g = if maximize { -s.grad[i] } else { s.grad[i] };
            if decay {
                g += wd * s.param[i];
            }
            if with_buf {
                let b = if first { g } else { s.state[0][i] * mom + damp * g };
                s.state[0][i] = b;
                g = if nesterov { g + mom * b } else { b };
            }
            s.param[i] += -lr * g;
        }
    });
    Ok(())
}

/// Adam / AdamW hyper-parameters (torch names).
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: `p *= 1 - lr * weight_decay` instead of adding `wd * p` to g.
    pub decoupled: bool,
}

/// One Adam step number `step` (1-based, already incremented). Slots:
/// `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (amsgrad only).
pub fn adam_step<T: Float>(params: Vec<Slots<'_, T>>, h: &Adam, step: u64) -> Result<()> {
    check(&params, [true, true, h.amsgrad], ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"])?;
    if step == 0 {
        return Err(Error::value("step", "Adam steps are numbered from 1"));
    }
    let k = step as f64;
    // Python floats in torch: computed in f64, applied in T.
    let c = AdamConsts {
        step_size: T::from_f64(h.lr / (1.0 - h.beta1.powf(k))),
        bc2_sqrt: T::from_f64((1.0 - h.beta2.powf(k)).sqrt()),
        b1w: T::from_f64(1.0 - h.beta1),
        b2: T::from_f64(h.beta2),
        b2w: T::from_f64(1.0 - h.beta2),
        eps: T::from_f64(h.eps),
        wd: T::from_f64(h.weight_decay),
        shrink: T::from_f64(1.0 - h.lr * h.weight_decay),
        decay: h.weight_decay != 0.0,
        decoupled: h.decoupled,
        maximize: h.maximize,
    };
    let amsgrad = h.amsgrad;
    run(params, |s| {
        let n = s.param.len();
        let Slots { param, grad, state: [m, v, vmax] } = s;
        let vmax = if amsgrad { Some(&mut vmax[..n]) } else { None };
        let (param, grad, m, v) = (&mut param[..n], &grad[..n], &mut m[..n], &mut v[..n]);
        wide(
            #[inline(always)]
            || adam_block(param, grad, m, v, vmax, c),
        );
    });
    Ok(())
}

/// Adam's per-step scalars, by value (so the element loop keeps them in
/// registers and vectorises).
#[derive(Clone, Copy)]
struct AdamConsts<T> {
    step_size: T,
    bc2_sqrt: T,
    b1w: T,
    b2: T,
    b2w: T,
    eps: T,
    wd: T,
    shrink: T,
    decay: bool,
    decoupled: bool,
    maximize: bool,
}

/// One block of Adam: moments, (AMSGrad maximum) and the parameter update.
#[inline(always)]
fn adam_block<T: Float>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: Option<&mut [T]>,
    c: AdamConsts<T>,
) {
    let (coupled, decoupled) = (c.decay && !c.decoupled, c.decay && c.decoupled);
    let sign = if c.maximize { -T::ONE } else { T::ONE };
    let moments = |p: &mut T, g: T, m: &mut T, v: &mut T| {
        let mut g = sign * g;
        if coupled {
            g += c.wd * *p;
        }
        if decoupled {
            *p *= c.shrink;
        }
        *m = lerp(*m, g, c.b1w);
        *v = *v * c.b2 + c.b2w * g * g;
    };
    let apply = |p: &mut T, m: T, second: T| {
        let denom = second.sqrt() / c.bc2_sqrt + c.eps;
        *p += (-c.step_size) * (m / denom);
    };
    match vmax {
        Some(vmax) => {
            for ((((p, &g), m), v), vm) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()).zip(vmax) {
                moments(p, g, m, v);
                *vm = nan_maximum(*vm, *v);
                apply(p, *m, *vm);
            }
        }
        None => {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                moments(p, g, m, v);
                apply(p, *m, *v);
            }
        }
    }
}

/// RMSprop hyper-parameters (torch names).
#[derive(Clone, Copy, Debug)]
pub struct RmsProp {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

/// One RMSprop step. Slots: `square_avg`, `momentum_buffer` (momentum > 0),
/// `grad_avg` (centered).
pub fn rmsprop_step<T: Float>(params: Vec<Slots<'_, T>>, h: &RmsProp) -> Result<()> {
    let with_buf = h.momentum > 0.0;
    check(&params, [true, with_buf, h.centered], ["square_avg", "momentum_buffer", "grad_avg"])?;
    let (lr, alpha, aw) = (T::from_f64(h.lr), T::from_f64(h.alpha), T::from_f64(1.0 - h.alpha));
    let (eps, wd, mom) = (T::from_f64(h.eps), T::from_f64(h.weight_decay), T::from_f64(h.momentum));
    let (decay, centered, maximize) = (h.weight_decay != 0.0, h.centered, h.maximize);
    run(params, |s| {
        let [sq, buf, gavg] = &mut s.state;
        for i in 0..s.param.len() {
            let mut g = if maximize { -s.grad[i] } else { s.grad[i] };
            if decay {
                g += wd * s.param[i];
            }
            sq[i] = sq[i] * alpha + aw * g * g;
            let avg = if centered {
                gavg[i] = lerp(gavg[i], g, aw);
                (sq[i] - gavg[i] * gavg[i]).sqrt() + eps
            } else {
                sq[i].sqrt() + eps
            };
            if with_buf {
                buf[i] = buf[i] * mom + g / avg;
                s.param[i] += -lr * buf[i];
            } else {
                s.param[i] += -lr * (g / avg);
            }
        }
    });
    Ok(())
}

/// Adagrad hyper-parameters (torch names).
#[derive(Clone, Copy, Debug)]
pub struct Adagrad {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub eps: f64,
    pub maximize: bool,
}

/// One Adagrad step number `step` (1-based). Slot 0: `sum`.
pub fn adagrad_step<T: Float>(params: Vec<Slots<'_, T>>, h: &Adagrad, step: u64) -> Result<()> {
    check(&params, [true, false, false], ["sum", "unused state", "unused state"])?;
    if step == 0 {
        return Err(Error::value("step", "Adagrad steps are numbered from 1"));
    }
    let clr = T::from_f64(h.lr / (1.0 + (step as f64 - 1.0) * h.lr_decay));
    let (eps, wd) = (T::from_f64(h.eps), T::from_f64(h.weight_decay));
    let (decay, maximize) = (h.weight_decay != 0.0, h.maximize);
    run(params, |s| {
        let sum = &mut s.state[0];
        for i in 0..s.param.len() {
            let mut g = if maximize { -s.grad[i] } else { s.grad[i] };
            if decay {
                g += wd * s.param[i];
            }
            sum[i] += g * g;
            let std = sum[i].sqrt() + eps;
            s.param[i] += -clr * (g / std);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots<'a>(
        p: &'a mut [f64],
        g: &'a [f64],
        s0: &'a mut [f64],
        s1: &'a mut [f64],
        s2: &'a mut [f64],
    ) -> Slots<'a, f64> {
        Slots { param: p, grad: g, state: [s0, s1, s2] }
    }

    #[test]
    fn sgd_momentum_first_step_sets_buffer() {
        let h = Sgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            nesterov: false,
            weight_decay: 0.0,
            maximize: false,
        };
        let (mut p, g, mut b) = ([1.0], [2.0], [0.0]);
        sgd_step(vec![slots(&mut p, &g, &mut b, &mut [], &mut [])], &h, true).unwrap();
        assert_eq!((p[0], b[0]), (1.0 - 0.2, 2.0));
        sgd_step(vec![slots(&mut p, &g, &mut b, &mut [], &mut [])], &h, false).unwrap();
        assert!((b[0] - (0.9 * 2.0 + 0.5 * 2.0)).abs() < 1e-15);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // After one step m/(sqrt(v)) = sign(g) after bias correction.
        let h = Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 0.0,
            weight_decay: 0.0,
            amsgrad: true,
            maximize: false,
            decoupled: false,
        };
        let (mut p, g) = ([1.0, -1.0], [3.0, -0.5]);
        let (mut m, mut v, mut vm) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        adam_step(vec![slots(&mut p, &g, &mut m, &mut v, &mut vm)], &h, 1).unwrap();
        assert!((p[0] - 0.99).abs() < 1e-12 && (p[1] + 0.99).abs() < 1e-12, "{p:?}");
        assert_eq!(vm, v);
    }

    #[test]
    fn missing_state_is_an_error() {
        let h = Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled: true,
        };
        let (mut p, g, mut m) = ([1.0, 2.0], [1.0, 1.0], [0.0, 0.0]);
        let r = adam_step(vec![slots(&mut p, &g, &mut m, &mut [], &mut [])], &h, 1);
        assert!(matches!(r, Err(Error::Shape { .. })));
        let r = adam_step(vec![slots(&mut p, &g[..1], &mut m, &mut [0.0; 2], &mut [])], &h, 1);
        assert!(r.is_err());
    }

    #[test]
    fn blocks_cover_large_arrays_exactly() {
        // Same result whole or in blocks: the update is element-wise.
        let n = 3 * BLOCK + 5;
        let g: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let mut p = vec![0.5; n];
        let mut s = vec![0.1; n];
        let h = Adagrad { lr: 0.1, lr_decay: 0.01, weight_decay: 0.1, eps: 1e-10, maximize: false };
        adagrad_step(vec![slots(&mut p, &g, &mut s, &mut [], &mut [])], &h, 2).unwrap();
        let clr = 0.1 / 1.01;
        for i in [0, BLOCK - 1, BLOCK, n - 1] {
            let gi = g[i] + 0.1 * 0.5;
            let si = 0.1 + gi * gi;
            assert_eq!(p[i], 0.5 + -clr * (gi / (si.sqrt() + 1e-10)));
            assert_eq!(s[i], si);
        }
    }

    #[test]
    fn rmsprop_centered_momentum() {
        let h = RmsProp {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.9,
            centered: true,
            maximize: false,
        };
        let (mut p, g) = ([1.0], [2.0]);
        let (mut sq, mut b, mut ga) = ([0.0], [0.0], [0.0]);
        rmsprop_step(vec![slots(&mut p, &g, &mut sq, &mut b, &mut ga)], &h).unwrap();
        let sqv: f64 = 0.01 * 4.0;
        let gav: f64 = 0.01 * 2.0;
        let avg = (sqv - gav * gav).sqrt() + 1e-8;
        assert!((p[0] - (1.0 - 0.01 * 2.0 / avg)).abs() < 1e-12);
    }
}
