"""Variational dropout of `rnnrs.RNN/LSTM/GRU`: ``input_dropout`` and ``recurrent_dropout``."""

import numpy as np
import pytest

import rnnrs
from rnnrs.reference import layers as ref

T, B, I, H = 5, 3, 4, 6

CASES = [
    ("RNN", {}),
    ("LSTM", {}),
    ("LSTM", {"proj_size": 3}),
    ("GRU", {}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
]


def make(kind, seed=0, **kw):
    return getattr(rnnrs, kind)(I, H, dtype=np.float64, seed=seed, **kw)


def masks(layer, rng, p=0.4):
    """An explicit (input, recurrent) mask pair, inverted-dropout scaled."""
    rows = layer.num_layers * (2 if layer.bidirectional else 1)
    h_out = layer.proj_size or layer.hidden_size
    im = (rng.random((B, I)) >= p) / (1 - p)
    rm = (rng.random((rows, B, h_out)) >= p) / (1 - p)
    return im, rm


def state(layer, rng):
    rows = layer.num_layers * (2 if layer.bidirectional else 1)
    h0 = rng.standard_normal((rows, B, layer.proj_size or H))
    if layer.mode == "LSTM":
        return h0, rng.standard_normal((rows, B, H))
    return h0


def reference_forward(layer, x, hx, im, rm):
    """A plain NumPy loop over the reference step functions with the masks applied."""
    nd = 2 if layer.bidirectional else 1
    h0, c0 = hx if layer.mode == "LSTM" else (hx, None)
    inp = x * im[None]
    for k in range(layer.num_layers):
        outs = []
        for d in range(nd):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w = {n: layer.params[n + sfx] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
                 if n + sfx in layer.params}
            row = k * nd + d
            h, c = h0[row], None if c0 is None else c0[row]
            ys = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                hm = h * rm[row]
                if layer.mode == "LSTM":
                    h, c = ref.lstm_step(inp[t], hm, c, w["weight_ih"], w["weight_hh"], w["bias_ih"],
                                         w["bias_hh"], w.get("weight_hr"))
                elif layer.mode == "GRU":
                    h_new, cache = ref.gru_step_forward(inp[t], hm, w["weight_ih"], w["weight_hh"],
                                                        w["bias_ih"], w["bias_hh"])
                    # The update gate mixes in the true (unmasked) previous state.
                    h = h_new + cache["z"] * (h - hm)
                else:
                    h = ref.elman_step(inp[t], hm, w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
                ys[t] = h
            outs.append(np.stack(ys))
        inp = np.concatenate(outs, axis=-1)
    return inp


def run(layer, x, hx, im, rm, train=True):
    layer._next_masks = (im, rm)
    return layer.forward(x, hx, train=train)


@pytest.mark.parametrize("kind,kw", CASES)
def test_forward_matches_reference_loop(kind, kw):
    rng = np.random.default_rng(1)
    layer = make(kind, input_dropout=0.4, recurrent_dropout=0.4, **kw)
    x = rng.standard_normal((T, B, I))
    hx = state(layer, rng)
    im, rm = masks(layer, rng)
    y, _ = run(layer, x, hx, im, rm)
    np.testing.assert_allclose(y, reference_forward(layer, x, hx, im, rm), rtol=1e-10, atol=1e-12)


def _loss(layer, x, hx, im, rm, wy, wh):
    y, st = run(layer, x, hx, im, rm)
    h_n = st[0] if layer.mode == "LSTM" else st
    return float(np.sum(y * wy) + np.sum(h_n * wh))


@pytest.mark.parametrize("kind,kw", CASES)
def test_gradients_match_finite_differences(kind, kw):
    rng = np.random.default_rng(2)
    layer = make(kind, input_dropout=0.3, recurrent_dropout=0.3, **kw)
    x = rng.standard_normal((T, B, I))
    hx = state(layer, rng)
    im, rm = masks(layer, rng, p=0.3)
    y, st = run(layer, x, hx, im, rm)
    wy = rng.standard_normal(y.shape)
    h_n = st[0] if layer.mode == "LSTM" else st
    wh = rng.standard_normal(h_n.shape)
    layer.zero_grad()
    dhx = (wh, np.zeros_like(st[1])) if layer.mode == "LSTM" else wh
    dx, dstate = layer.backward(wy, dhx)
    dh0 = dstate[0] if layer.mode == "LSTM" else dstate
    h0 = hx[0] if layer.mode == "LSTM" else hx

    def numeric(arr, eps=1e-6):
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = _loss(layer, x, hx, im, rm, wy, wh)
            arr[idx] = old - eps
            down = _loss(layer, x, hx, im, rm, wy, wh)
            arr[idx] = old
            g[idx] = (up - down) / (2 * eps)
        return g

    np.testing.assert_allclose(dx, numeric(x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dh0, numeric(h0), rtol=1e-5, atol=1e-7)
    for name in ("weight_hh_l0", "weight_ih_l0", "bias_hh_l0"):
        np.testing.assert_allclose(layer.grads[name], numeric(layer.params[name]), rtol=1e-5, atol=1e-7,
                                   err_msg=name)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_same_seed_same_masks_and_outputs(kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, I))
    a = make(kind, seed=7, input_dropout=0.5, recurrent_dropout=0.5)
    b = make(kind, seed=7, input_dropout=0.5, recurrent_dropout=0.5)
    ya, _ = a.forward(x)
    yb, _ = b.forward(x)
    np.testing.assert_array_equal(ya, yb)
    # A second call draws new masks.
    ya2, _ = a.forward(x)
    assert not np.array_equal(ya, ya2)
    # Dropout is really active in training.
    plain = make(kind, seed=7)
    assert not np.array_equal(ya, plain.forward(x)[0])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_inference_ignores_dropout(kind):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((T, B, I))
    layer = make(kind, input_dropout=0.5, recurrent_dropout=0.5)
    plain = make(kind)
    np.testing.assert_array_equal(layer(x)[0], plain(x)[0])
    np.testing.assert_array_equal(layer.forward(x, train=False)[0], plain(x)[0])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_zero_probability_is_exactly_no_dropout(kind):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, B, I))
    layer = make(kind, input_dropout=0.0, recurrent_dropout=0.0)
    plain = make(kind)
    y1, _ = layer.forward(x)
    y2, _ = plain.forward(x)
    np.testing.assert_array_equal(y1, y2)
    dy = rng.standard_normal(y1.shape)
    np.testing.assert_array_equal(layer.backward(dy)[0], plain.backward(dy)[0])
    for n in layer.grads:
        np.testing.assert_array_equal(layer.grads[n], plain.grads[n])
    # Ones as explicit masks give the unmasked run exactly, too.
    im, rm = np.ones((B, I)), np.ones((1, B, H))
    np.testing.assert_array_equal(run(layer, x, None, im, rm)[0], y1)


def test_one_and_two_threads_are_bit_identical():
    rng = np.random.default_rng(6)
    # Large enough for the parallel paths (split batch rows, both directions at once).
    t, b, i, h = 40, 32, 64, 128
    x = rng.standard_normal((t, b, i))
    out = []
    old = rnnrs.get_num_threads() if hasattr(rnnrs, "get_num_threads") else None
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            layer = rnnrs.LSTM(i, h, bidirectional=True, dtype=np.float64, seed=0, input_dropout=0.3,
                               recurrent_dropout=0.3)
            y, _ = layer.forward(x)
            dx, _ = layer.backward(np.ones_like(y))
            out.append((y, dx, layer.grads["weight_hh_l0"].copy()))
    finally:
        if old is not None:
            rnnrs.set_num_threads(old)
    for a, b_ in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, b_)


def test_batch_first_and_unbatched():
    rng = np.random.default_rng(7)
    layer = rnnrs.GRU(I, H, batch_first=True, dtype=np.float64, seed=0, input_dropout=0.3, recurrent_dropout=0.3)
    x = rng.standard_normal((T, B, I))
    im, rm = masks(layer, rng, p=0.3)
    y, _ = run(layer, x.transpose(1, 0, 2), None, im, rm)
    tm = make("GRU", input_dropout=0.3, recurrent_dropout=0.3)
    y_tm, _ = run(tm, x, None, im, rm)
    np.testing.assert_allclose(y.transpose(1, 0, 2), y_tm, rtol=1e-12)
    dx, _ = layer.backward(np.ones_like(y))
    dx_tm, _ = tm.backward(np.ones_like(y_tm))
    np.testing.assert_allclose(dx.transpose(1, 0, 2), dx_tm, rtol=1e-12)
    # Unbatched input: masks of batch 1.
    y1, _ = run(tm, x[:, 0], None, im[:1], rm[:, :1])
    y1b, _ = run(tm, x[:, :1], None, im[:1], rm[:, :1])
    np.testing.assert_allclose(y1, y1b[:, 0], rtol=1e-12)


@pytest.mark.parametrize("arg", ["input_dropout", "recurrent_dropout"])
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, True, "0.3"])
def test_bad_probability_names_argument(arg, bad):
    with pytest.raises(ValueError, match=arg):
        rnnrs.LSTM(I, H, **{arg: bad})


def test_bad_mask_shape_is_rejected():
    layer = make("RNN", recurrent_dropout=0.2)
    with pytest.raises(ValueError, match="rec_mask"):
        run(layer, np.zeros((T, B, I)), None, None, np.ones((2, B, H)))
