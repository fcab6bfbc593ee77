"""ConvLSTM in the Rust core: float32 against float64 and the reference over shapes and options,
gradients of the final states, input_grad=False, and bit-identical results for 1 and 2 threads
with every option on (peepholes, stacked, initial state, state gradients)."""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.conv import ConvLSTM
from rnnrs.reference import structure as ref


def _net(c, ch, layers, peephole, hw, dtype, seed=0, k=3):
    net = ConvLSTM(c, ch, kernel_size=k, num_layers=layers, peephole=peephole, frame_size=hw, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for name, p in net.params.items():
        if "weight_c" in name:
            p[...] = rng.normal(size=p.shape) * 0.5
    return net


@settings(max_examples=15, deadline=None)
@given(t=st.integers(1, 3), b=st.integers(1, 3), c=st.integers(1, 3), ch=st.integers(1, 3), h=st.integers(1, 5),
       w=st.integers(1, 5), layers=st.integers(1, 2), peephole=st.booleans(), k=st.sampled_from([1, 3, (3, 5)]),
       seed=st.integers(0, 50))
def test_forward_matches_reference_in_both_dtypes(t, b, c, ch, h, w, layers, peephole, k, seed):
    x = np.random.default_rng(seed).normal(size=(t, b, c, h, w))
    net64 = _net(c, ch, layers, peephole, (h, w), np.float64, seed, k)
    want = ref.convlstm_forward(x, net64.params, layers, ch, peephole)
    np.testing.assert_allclose(net64(x)[0], want, rtol=1e-10, atol=1e-12)
    net32 = _net(c, ch, layers, peephole, (h, w), np.float32, seed, k)
    net32.load_state_dict({n: p.astype(np.float32) for n, p in net64.params.items()})
    np.testing.assert_allclose(net32(x.astype(np.float32))[0], want, rtol=1e-4, atol=1e-5)


def test_final_state_gradients_match_finite_differences():
    T, B, C, H, W = 2, 2, 2, 3, 4
    net = _net(C, 2, 2, True, (H, W), np.float64, seed=3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(T, B, C, H, W))
    state = [(rng.normal(size=(B, 2, H, W)), rng.normal(size=(B, 2, H, W))) for _ in range(2)]
    gy = rng.normal(size=(T, B, 2, H, W))
    gs = [(rng.normal(size=(B, 2, H, W)), rng.normal(size=(B, 2, H, W))) for _ in range(2)]

    def f(x, h0, c0):
        y, finals = net(x, [(h0, c0), state[1]])
        return np.sum(gy * y) + sum(np.sum(dh * h) + np.sum(dc * c) for (dh, dc), (h, c) in zip(gs, finals))

    net.forward(x, state, train=True)
    dx, dstates = net.backward(gy, gs)
    assert rnnrs.gradcheck(f, [x, state[0][0], state[0][1]], [dx, dstates[0][0], dstates[0][1]]) <= 1e-6


def test_input_grad_false_skips_dx_only():
    net = _net(3, 4, 2, False, (5, 6), np.float64)
    x = np.random.default_rng(0).normal(size=(3, 2, 3, 5, 6))
    y, _ = net.forward(x, train=True)
    dx, states = net.backward(np.cos(y))
    grads = {n: g.copy() for n, g in net.grads.items()}
    net.zero_grad()
    none, states2 = net.backward(np.cos(y), input_grad=False)
    assert dx is not None and none is None
    for n in grads:
        np.testing.assert_allclose(net.grads[n], grads[n], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(states2[0][1], states[0][1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_bit_identical_with_every_option(dtype):
    T, B, C, H, W = 3, 3, 3, 12, 10
    net = _net(C, 6, 2, True, (H, W), dtype, seed=2)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(T, B, C, H, W)).astype(dtype)
    state = [tuple(rng.normal(size=(2, B, 6, H, W)).astype(dtype)) for _ in range(2)]
    gs = [tuple(rng.normal(size=(2, B, 6, H, W)).astype(dtype)) for _ in range(2)]
    before = rnnrs.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            net.zero_grad()
            y, finals = net.forward(x, state, train=True)
            dx, dstates = net.backward(np.cos(y), gs)
            runs.append([y, dx, *finals[1], *dstates[0]] + [g.copy() for g in net.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_bad_tape_and_state_shapes_raise():
    net = ConvLSTM(1, 2, dtype=np.float64)
    x = np.zeros((2, 1, 1, 4, 4))
    with pytest.raises(ValueError, match="state"):
        net.forward(x, [(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 4)))])
    y, _ = net.forward(x, train=True)
    with pytest.raises(ValueError, match="grad_state"):
        net.backward(y, [(np.zeros((1, 2, 4, 4)),) * 2] * 2)
    with pytest.raises(ValueError, match="grad_output"):
        net.backward(y[:1])
