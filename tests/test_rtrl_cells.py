"""RTRL for the cells beyond the unit-local ones: Dilated, ClockworkRNN, Jordan, LayerNormLSTM,
LayerNormGRU, DeepTransitionRNN (`rnnrs.rtrl_cells`, `src/rtrl/dense*.rs`).

- exact RTRL == the layer's own BPTT gradient (float64, 1e-10 relative), random dloss at every step;
- SnAp-1 == the plain NumPy SnAp-1 of `rnnrs.reference.rtrl` (1e-10);
- online `RTRL` step by step == the whole-sequence call; float32 runs; 1 and 2 threads bit-identical;
- bad input and unsupported configurations raise ValueError naming the argument.
"""

import numpy as np
import pytest
import rnnrs as rr
from rnnrs import rtrl
from rnnrs.reference import rtrl as ref

T, B, I, H = 5, 2, 3, 4


def assert_rel(a, b, tol, what=""):
    scale = max(np.abs(b).max(), 1e-300)
    err = np.abs(np.asarray(a, np.float64) - b).max()
    assert err <= tol * scale, f"{what}: max error {err:.3e} vs scale {scale:.3e}"


def randomize(layer, seed):
    """Parameters away from their init (LayerNorm gains 1 / biases 0 would hide terms)."""
    rng = np.random.default_rng(seed)
    mask = layer.mask() if isinstance(layer, rr.ClockworkRNN) else None
    for k, v in layer.params.items():
        new = rng.uniform(-0.8, 0.8, v.shape) + (1.0 if "layernorm" in k and "weight" in k else 0.0)
        if mask is not None and k == "weight_hh_l0":
            new = new * mask
        v[...] = new.astype(v.dtype)
    return layer


# name -> (layer factory (dtype), output size, state arg builder for forward, reference step, owners)
def clockwork(dtype=np.float64):
    return randomize(rr.ClockworkRNN(I, [2, 1, 1], periods=[1, 2, 2], dtype=dtype, seed=0), 1)


def clockwork_nobias(dtype=np.float64):
    return randomize(rr.ClockworkRNN(I, [2, 2], periods=[1, 3], bias=False, dtype=dtype, seed=0), 2)


def jordan(dtype=np.float64):
    return randomize(rr.Jordan(I, H, 3, hidden_activation="tanh", output_activation="sigmoid", dtype=dtype,
                               seed=0), 3)


def ln_lstm(dtype=np.float64):
    return randomize(rr.LayerNormLSTM(I, H, dtype=dtype, seed=0), 4)


def ln_gru(dtype=np.float64):
    return randomize(rr.LayerNormGRU(I, H, dtype=dtype, seed=0), 5)


def deep(dtype=np.float64):
    return randomize(rr.DeepTransitionRNN(I, H, transition_depth=3, shortcut=True, dtype=dtype, seed=0), 6)


def deep_out(dtype=np.float64):
    return randomize(rr.DeepTransitionRNN(I, H, transition_depth=2, output_depth=2, dtype=dtype, seed=0), 7)


def deep_nobias(dtype=np.float64):
    return randomize(rr.DeepTransitionRNN(I, H, transition_depth=2, output_depth=1, bias=False, dtype=dtype,
                                          seed=0), 8)


def dilated_gru(dtype=np.float64):
    return rr.Dilated(rr.GRU(I, H, dtype=dtype, seed=1), 2)


def dilated_lstm(dtype=np.float64):
    return rr.Dilated(rr.LSTM(I, H, dtype=dtype, seed=2), 3)


def dilated_peephole(dtype=np.float64):
    return rr.Dilated(rr.LSTM(I, H, dtype=dtype, seed=3, peephole=True), 2)


CELLS = {"clockwork": clockwork, "clockwork_nobias": clockwork_nobias, "jordan": jordan, "ln_lstm": ln_lstm,
         "ln_gru": ln_gru, "deep": deep, "deep_out": deep_out, "deep_nobias": deep_nobias,
         "dilated_gru": dilated_gru, "dilated_lstm": dilated_lstm}


def out_size(layer):
    return layer.output_size if isinstance(layer, rr.Jordan) else H


def has_c(layer):
    inner = getattr(layer, "layer", layer)
    return isinstance(inner, rr.LSTM)


def problem(layer, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(layer.layer.dtype if isinstance(layer, rr.Dilated) else layer.dtype)
    x = rng.standard_normal((T, B, I)).astype(dt)
    dy = rng.standard_normal((T, B, out_size(layer))).astype(dt)
    h0 = (0.5 * rng.standard_normal((B, out_size(layer)))).astype(dt)
    c0 = (0.5 * rng.standard_normal((B, H))).astype(dt) if has_c(layer) else None
    return x, dy, h0, c0


def bptt(layer, x, dy, h0, c0):
    """The layer's own forward + backward: (y, grads)."""
    for g in layer.grads.values():
        g[...] = 0
    hx = h0[None] if c0 is None else (h0[None], c0[None])
    y, _ = layer.forward(x, hx, train=True)
    layer.backward(dy)
    return y, {k: np.array(v) for k, v in layer.grads.items()}


@pytest.mark.parametrize("name", [*CELLS, "dilated_peephole"])
def test_exact_rtrl_equals_bptt(name):
    layer = {**CELLS, "dilated_peephole": dilated_peephole}[name]()
    x, dy, h0, c0 = problem(layer)
    y_ref, g_ref = bptt(layer, x, dy, h0, c0)
    grads, y, (h_n, c_n) = rtrl.gradient(layer, x, dy, h0=h0, c0=c0, method="exact")
    assert_rel(y, y_ref, 1e-12, "y")
    assert set(grads) == set(g_ref)
    for k in g_ref:
        assert_rel(grads[k], g_ref[k], 1e-10, k)
    # online, step by step, the same
    r = rtrl.RTRL(layer, "exact", batch=B)
    r.reset(h0=h0, c0=c0)
    for t in range(T):
        h_t, _ = r.step(x[t], dy[t])
        assert_rel(h_t, y_ref[t], 1e-12, f"h_{t}")
    for k in g_ref:
        assert_rel(r.grads[k], g_ref[k], 1e-10, f"online {k}")


def reference_snap1(name, layer, x, dy, h0, c0):
    p = {k: np.array(v, np.float64) for k, v in layer.params.items()}
    if name.startswith("dilated"):
        inner = layer.layer
        mode = rtrl._as_cell(layer).mode
        d = layer.dilation
        s = -(-T // d)

        def interleave(a):
            pad = np.zeros((s * d,) + a.shape[1:])
            pad[:T] = a
            return pad.reshape(s, d * B, a.shape[2])

        cell = rtrl.Cell(mode, I, H, params=p)
        g, y = ref.rtrl_gradient(mode, interleave(x), interleave(dy), cell.params, np.tile(h0, (d, 1)),
                                 None if c0 is None else np.tile(c0, (d, 1)), method="snap1")
        del inner
        return cell.unflatten(g), y.reshape(s * d, B, H)[:T]
    if name.startswith("clockwork"):
        step = ref.clockwork_step(layer.module_sizes, layer.periods)
        mask = layer.mask()
        return ref.dense_rtrl(step, p, x, dy, h0, H, "snap1", ref.clockwork_owners,
                              exists=lambda k, idx: k != "weight_hh_l0" or mask[idx])
    if name == "jordan":
        step = ref.jordan_step(layer.hidden_activation, layer.output_activation)
        return ref.dense_rtrl(step, p, x, dy, h0, 3, "snap1", ref.jordan_owners(3))
    if name == "ln_lstm":
        return ref.dense_rtrl(ref.layernorm_lstm_step(H), p, x, dy, np.concatenate([h0, c0], 1), H, "snap1",
                              ref.unit_owners(H, 2))
    if name == "ln_gru":
        return ref.dense_rtrl(ref.layernorm_gru_step(H), p, x, dy, h0, H, "snap1", ref.unit_owners(H))
    step = ref.deep_transition_step(H, layer.transition_depth, layer.output_depth, layer.shortcut)
    comps = 2 if layer.output_depth else 1
    s0 = np.concatenate([np.zeros_like(h0), h0], 1) if comps == 2 else h0
    return ref.dense_rtrl(step, p, x, dy, s0, H, "snap1", ref.unit_owners(H, comps))


@pytest.mark.parametrize("name", CELLS)
def test_snap1_equals_reference(name):
    layer = CELLS[name]()
    x, dy, h0, c0 = problem(layer, seed=1)
    grads, y, _ = rtrl.gradient(layer, x, dy, h0=h0, c0=c0, method="snap1")
    g_ref, y_ref = reference_snap1(name, layer, x, dy, h0, c0)
    assert_rel(y, y_ref, 1e-12, "y")
    for k in g_ref:
        assert_rel(grads[k], g_ref[k], 1e-10, k)
    exact, _, _ = rtrl.gradient(layer, x, dy, h0=h0, c0=c0, method="exact")
    assert max(np.abs(grads[k] - exact[k]).max() for k in exact) > 1e-6, "SnAp-1 here is an approximation"
    r = rtrl.RTRL(layer, "snap1", batch=B)
    r.reset(h0=h0, c0=c0)
    for t in range(T):
        r.step(x[t], dy[t])
    for k in g_ref:
        assert_rel(r.grads[k], g_ref[k], 1e-10, f"online {k}")


def test_reference_exact_equals_bptt():
    """The reference's complex-step recursion (exact) is itself BPTT's gradient."""
    layer = ln_lstm()
    x, dy, h0, c0 = problem(layer, seed=2)
    _, g_bptt = bptt(layer, x, dy, h0, c0)
    p = {k: np.array(v) for k, v in layer.params.items()}
    g, _ = ref.dense_rtrl(ref.layernorm_lstm_step(H), p, x, dy, np.concatenate([h0, c0], 1), H, "exact")
    for k in g_bptt:
        assert_rel(g[k], g_bptt[k], 1e-10, k)


@pytest.mark.parametrize("name", ["clockwork", "jordan", "ln_lstm", "ln_gru", "deep_out", "dilated_gru"])
def test_float32_runs_close_to_float64(name):
    l64, l32 = CELLS[name](np.float64), CELLS[name](np.float32)
    for k, v in l64.params.items():
        l32.params[k][...] = v.astype(np.float32)
    x, dy, h0, c0 = problem(l64, seed=3)

    def cast(a):
        return None if a is None else a.astype(np.float32)

    for method in ("exact", "snap1"):
        g64, _, _ = rtrl.gradient(l64, x, dy, h0=h0, c0=c0, method=method)
        g32, y32, _ = rtrl.gradient(l32, cast(x), cast(dy), h0=cast(h0), c0=cast(c0), method=method)
        assert y32.dtype == np.float32
        for k in g64:
            assert g32[k].dtype == np.float32
            assert_rel(g32[k], g64[k], 1e-4, f"{method} {k}")


BIG = {  # large enough that a step splits its sequences across threads
    "clockwork": lambda: rr.ClockworkRNN(8, 32, n_modules=4, dtype=np.float64, seed=0),
    "ln_lstm": lambda: randomize(rr.LayerNormLSTM(8, 16, dtype=np.float64, seed=0), 9),
    "deep_out": lambda: rr.DeepTransitionRNN(8, 16, transition_depth=2, output_depth=1, dtype=np.float64, seed=0),
    "dilated_lstm": lambda: rr.Dilated(rr.LSTM(8, 32, dtype=np.float64, seed=0), 2),
}


@pytest.mark.parametrize("name", BIG)
def test_threads_bit_identical(name):
    layer = BIG[name]()
    rng = np.random.default_rng(4)
    t, b = 3, 4
    x = rng.standard_normal((t, b, 8))
    dy = rng.standard_normal((t, b, layer.hidden_size if hasattr(layer, "hidden_size") else 32))
    out, before = [], rr.get_num_threads()
    try:
        for n in (1, 2):
            rr.set_num_threads(n)
            out.append([rtrl.gradient(layer, x, dy, method=m)[0] for m in ("exact", "snap1")])
    finally:
        rr.set_num_threads(before)
    for a, b_ in zip(out[0], out[1]):
        for k in a:
            assert np.array_equal(a[k], b_[k]), k


def test_sensitivity_bytes():
    for name in CELLS:
        layer = CELLS[name]()
        ex, s1 = rtrl.sensitivity_bytes(layer, "exact", 2), rtrl.sensitivity_bytes(layer, "snap1", 2)
        assert ex > s1 > 0, name
    d = dilated_gru()
    assert rtrl.sensitivity_bytes(d, "exact", 3) == 2 * rtrl.sensitivity_bytes(d.layer, "exact", 3)


def test_memory_guard():
    layer = ln_lstm()
    x = np.zeros((1, 1, I))
    with pytest.raises(MemoryError, match="memory limit"):
        rtrl.gradient(layer, x, np.zeros((1, 1, H)), memory_limit=100)


def test_bad_input_and_unsupported_configurations():
    with pytest.raises(ValueError, match="cell: .*single"):
        rtrl.RTRL(rr.LayerNormLSTM(I, H, num_layers=2, dtype=np.float64))
    with pytest.raises(ValueError, match="cell: .*unidirectional"):
        rtrl.gradient(rr.LayerNormGRU(I, H, bidirectional=True, dtype=np.float64), np.zeros((2, 1, I)),
                      np.zeros((2, 1, H)))
    with pytest.raises(ValueError, match="cell: .*single"):
        rtrl.RTRL(rr.Jordan(I, H, 2, num_layers=2, dtype=np.float64))
    with pytest.raises(ValueError, match="cell: .*single layer"):
        rtrl.RTRL(rr.DilatedRNN("GRU", I, H, dilations=[1, 2], dtype=np.float64))
    with pytest.raises(ValueError, match="cell: .*unidirectional"):
        rtrl.RTRL(rr.Dilated(rr.GRU(I, H, bidirectional=True, dtype=np.float64), 2))
    with pytest.raises(ValueError, match="method"):
        rtrl.RTRL(clockwork(), "uoro")
    with pytest.raises(ValueError, match="method"):
        rtrl.sensitivity_bytes(jordan(), "diag")
    layer = clockwork()
    with pytest.raises(ValueError, match="c0"):
        rtrl.gradient(layer, np.zeros((2, 1, I)), np.zeros((2, 1, H)), c0=np.zeros((1, H)))
    with pytest.raises(ValueError, match="x"):
        rtrl.gradient(layer, np.zeros((2, 1, I + 1)), np.zeros((2, 1, H)))
    with pytest.raises(ValueError, match="dloss_dh"):
        rtrl.gradient(layer, np.zeros((2, 1, I)), np.zeros((3, 1, H)))
    with pytest.raises(ValueError, match="h0"):
        rtrl.gradient(layer, np.zeros((2, 1, I)), np.zeros((2, 1, H)), h0=np.zeros((2, H)))
    r = rtrl.RTRL(layer, "exact", batch=2)
    with pytest.raises(ValueError, match="x_t"):
        r.step(np.zeros((2, I + 1)))
    # one-layer DilatedRNN is a Dilated layer
    one = rr.DilatedRNN("RNN", I, H, dilations=[2], dtype=np.float64, seed=0)
    x, dy, _, _ = problem(one.layers[0])
    g, _, _ = rtrl.gradient(one, x, dy)
    assert set(g) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
