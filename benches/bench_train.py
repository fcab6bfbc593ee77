"""pytest-benchmark: the training toolkit against plain NumPy doing the same
work (and against PyTorch when it is importable).

Run: ``python -m pytest benches/bench_train.py --benchmark-only``.
Workload: ~0.94M float32 parameters in 7 arrays (an LSTM I128 H256 with a
65-way readout, plus one 512K array) for clipping and an Adam step; logits
(6400, 65) (T100 x B64, 65 characters) for cross-entropy.
"""

import numpy as np
import pytest

import rnnrs
from rnnrs.reference import train as ref

SIZES = [1024 * 128, 1024 * 256, 1024, 1024, 65 * 256, 65, 1 << 19]


def _arrays(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n) * scale).astype(np.float32) for n in SIZES]


def _numpy_clip(grads, max_norm):
    total = np.sqrt(sum(float(np.dot(g, g)) for g in grads))
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= np.float32(coef)
    return total


@pytest.mark.benchmark(group="clip_grad_norm 0.94M f32")
def test_clip_rnnrs(benchmark):
    grads = _arrays(0)
    benchmark(rnnrs.clip_grad_norm_, grads, 1e30)


@pytest.mark.benchmark(group="clip_grad_norm 0.94M f32")
def test_clip_numpy(benchmark):
    grads = _arrays(0)
    benchmark(_numpy_clip, grads, 1e30)


@pytest.mark.benchmark(group="adam step 0.94M f32")
def test_adam_rnnrs(benchmark):
    params, grads = _arrays(1), _arrays(2, 0.01)
    opt = rnnrs.optim.Adam(params, lr=1e-3)
    benchmark(opt.step, grads)


@pytest.mark.benchmark(group="adam step 0.94M f32")
def test_adam_numpy(benchmark):
    params, grads = _arrays(1), _arrays(2, 0.01)
    states = [{} for _ in params]

    def step():
        for i, (p, g) in enumerate(zip(params, grads)):
            new, states[i] = ref.adam_step(p, g, states[i], lr=1e-3)
            p[...] = new

    benchmark(step)


def _ce_data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((6400, 65)).astype(np.float32) * 3, rng.integers(0, 65, 6400)


@pytest.mark.benchmark(group="cross_entropy (6400, 65) f32")
def test_cross_entropy_rnnrs(benchmark):
    x, t = _ce_data()
    benchmark(rnnrs.losses.cross_entropy, x, t)


@pytest.mark.benchmark(group="cross_entropy (6400, 65) f32")
def test_cross_entropy_numpy(benchmark):
    x, t = _ce_data()

    def ce():
        m = x.max(axis=1, keepdims=True)
        e = np.exp(x - m)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) + m[:, 0] - x[np.arange(len(t)), t])
        g = e / s
        g[np.arange(len(t)), t] -= 1
        return loss, g / len(t)

    benchmark(ce)


@pytest.mark.benchmark(group="cross_entropy (6400, 65) f32")
def test_cross_entropy_torch(benchmark):
    torch = pytest.importorskip("torch")
    x, t = _ce_data()
    xt, tt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(t)

    def ce():
        xt.grad = None
        loss = torch.nn.functional.cross_entropy(xt, tt)
        loss.backward()
        return loss

    benchmark(ce)


@pytest.mark.benchmark(group="adam step 0.94M f32")
def test_adam_torch(benchmark):
    torch = pytest.importorskip("torch")
    params = [torch.from_numpy(a).requires_grad_() for a in _arrays(1)]
    for p, g in zip(params, _arrays(2, 0.01)):
        p.grad = torch.from_numpy(g)
    opt = torch.optim.Adam(params, lr=1e-3)
    benchmark(opt.step)
