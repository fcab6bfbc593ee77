"""rnnrs float64 BPTT against central finite differences (`rnnrs.gradcheck`),
for parameters, input and initial states, over all modes and options."""

import numpy as np
import pytest
import rnnrs
from layer_cases import loss, make_case, run_rnnrs

OPTIONS = [
    ("RNN_TANH", {"num_layers": 2, "bidirectional": True}),
    ("RNN_RELU", {"batch_first": True}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
    ("LSTM", {"bias": False, "unbatched": True}),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False}),
]


@pytest.mark.parametrize("mode,opts", OPTIONS)
def test_gradients_match_finite_differences(mode, opts):
    c = make_case(mode, 3, 2, 3, 3, seed=11, **opts)
    names = list(c["params"])
    inputs = [c["x"], c["h0"]] + ([c["c0"]] if mode == "LSTM" else []) + [c["params"][n] for n in names]

    def f(x, h0, *rest):
        c0 = rest[0] if mode == "LSTM" else None
        params = dict(zip(names, rest[1:] if mode == "LSTM" else rest))
        y, h_n, c_n, *_ = run_rnnrs(c, params=params, x=x, h0=h0, c0=c0)
        return loss(c, y, h_n, c_n)

    _, _, _, dx, dh0, dc0, grads = run_rnnrs(c)
    analytic = [dx, dh0] + ([dc0] if mode == "LSTM" else []) + [grads[n] for n in names]
    err = rnnrs.gradcheck(f, inputs, analytic, eps=1e-6, rtol=1e-6, atol=1e-8)
    assert err <= 1e-6


def test_gradients_accumulate():
    """A second backward adds the same amount again."""
    layer = rnnrs.GRU(3, 4, dtype=np.float64, seed=1)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    dy = np.ones((5, 2, 4))
    layer.forward(x)
    layer.backward(dy)
    once = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x)
    layer.backward(dy)
    for k, g in once.items():
        np.testing.assert_allclose(layer.grads[k], 2 * g, rtol=1e-12)
    layer.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_functional_accumulates_into_given_grads():
    import rnnrs.functional as F

    params = rnnrs.LSTM(3, 4, dtype=np.float64, seed=2).state_dict()
    x = np.random.default_rng(5).standard_normal((6, 2, 3))
    y, _, ctx = F.lstm(x, params, train=True)
    dy = np.ones_like(y)
    _, _, fresh = F.lstm_backward(ctx, dy)
    grads = {k: np.full_like(v, 1.0) for k, v in params.items()}
    _, _, same = F.lstm_backward(ctx, dy, grads=grads)
    assert same is grads
    for k, v in fresh.items():
        np.testing.assert_allclose(grads[k], 1.0 + v, rtol=1e-14)
    bad = dict(grads, weight_hh_l0=np.zeros((16, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        F.lstm_backward(ctx, dy, grads=bad)
    readonly = {k: v.copy() for k, v in grads.items()}
    readonly["bias_ih_l0"].flags.writeable = False
    with pytest.raises(ValueError, match="bias_ih_l0"):
        F.lstm_backward(ctx, dy, grads=readonly)
    with pytest.raises(TypeError, match="ctx"):
        F.lstm_backward(None, dy)
