"""rnnrs.conv: Rust conv2d against the direct reference, RCL and ConvLSTM against the reference,
float64 gradients against finite differences, errors, threads, the moving-shapes generator."""

import numpy as np
import pytest
import rnnrs
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.conv import RCL, ConvLSTM, conv2d, conv2d_backward, local_response_norm
from rnnrs.reference import structure as ref


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
       kh=st.sampled_from([1, 3, 5]), kw=st.sampled_from([1, 3]), seed=st.integers(0, 100))
def test_conv2d_matches_reference(b, c, o, h, w, kh, kw, seed):
    rng = np.random.default_rng(seed)
    x, wt, bias = rng.normal(size=(b, c, h, w)), rng.normal(size=(o, c, kh, kw)), rng.normal(size=o)
    np.testing.assert_allclose(conv2d(x, wt, bias), ref.conv2d(x, wt, bias), rtol=1e-12, atol=1e-12)
    y32 = conv2d(x.astype(np.float32), wt.astype(np.float32), bias.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref.conv2d(x, wt, bias), rtol=1e-4, atol=1e-4)


def test_conv2d_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x, wt, b = rng.normal(size=(2, 2, 4, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    g = rng.normal(size=(2, 3, 4, 5))
    dx, dw, db = conv2d_backward(x, wt, g)
    err = rnnrs.gradcheck(lambda x, wt, b: np.sum(g * conv2d(x, wt, b)), [x, wt, b], [dx, dw, db])
    assert err <= 1e-6
    assert conv2d_backward(x, wt, g, input_grad=False)[0] is None


def test_conv2d_bad_input_raises():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="odd"):
        conv2d(x, np.zeros((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="same C"):
        conv2d(x, np.zeros((1, 3, 3, 3)))
    with pytest.raises(TypeError, match="float64"):
        conv2d(x, np.zeros((1, 2, 3, 3), np.float32))
    with pytest.raises(TypeError):
        conv2d(x.astype(np.int64), np.zeros((1, 2, 3, 3), np.int64))


def test_lrn_matches_reference_and_gradient():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 3, 3)) * 5
    g = rng.normal(size=x.shape)
    y, dx = local_response_norm(x, 2, alpha=0.5, grad_output=g)
    np.testing.assert_allclose(y, ref.local_response_norm(x, 2, alpha=0.5), rtol=1e-12)
    err = rnnrs.gradcheck(lambda x: np.sum(g * local_response_norm(x, 2, alpha=0.5)), [x], [dx])
    assert err <= 1e-6


@pytest.mark.parametrize("lrn", [False, True])
def test_rcl_matches_reference_and_gradients(lrn):
    layer = RCL(2, 9, steps=2, lrn=lrn, dtype=np.float64, seed=3)
    rng = np.random.default_rng(4)
    u = rng.normal(size=(2, 2, 4, 4))
    np.testing.assert_allclose(layer(u), ref.rcl_forward(u, layer.params, 2, lrn), rtol=1e-10, atol=1e-12)
    g = rng.normal(size=(2, 9, 4, 4))
    names = list(layer.params)
    layer.forward(u, train=True)
    du = layer.backward(g)
    analytic = [du] + [layer.grads[n].copy() for n in names]
    originals = [layer.params[n].copy() for n in names]

    def f(u, *ps):
        for n, p in zip(names, ps):
            layer.params[n][...] = p
        return np.sum(g * layer(u))

    assert rnnrs.gradcheck(f, [u] + originals, analytic, rtol=1e-5, atol=1e-7) <= 1e-5


@pytest.mark.parametrize("peephole", [False, True])
def test_convlstm_matches_reference_and_gradients(peephole):
    T, B, C, H, W = 3, 2, 2, 4, 3
    net = ConvLSTM(C, 2, kernel_size=3, num_layers=2, peephole=peephole, frame_size=(H, W), dtype=np.float64, seed=5)
    rng = np.random.default_rng(6)
    if peephole:
        for k, p in net.params.items():
            if "weight_c" in k:
                p[...] = rng.normal(size=p.shape) * 0.5
    x = rng.normal(size=(T, B, C, H, W))
    y, _ = net(x)
    np.testing.assert_allclose(y, ref.convlstm_forward(x, net.params, 2, 2, peephole), rtol=1e-10, atol=1e-12)
    g = rng.normal(size=y.shape)
    names = list(net.params)
    net.forward(x, train=True)
    dx, _ = net.backward(g)
    analytic = [dx] + [net.grads[n].copy() for n in names]
    originals = [net.params[n].copy() for n in names]

    def f(x, *ps):
        for n, p in zip(names, ps):
            net.params[n][...] = p
        return np.sum(g * net(x)[0])

    assert rnnrs.gradcheck(f, [x] + originals, analytic, rtol=1e-5, atol=1e-7) <= 1e-5


def test_convlstm_initial_state_gradient():
    net = ConvLSTM(1, 2, num_layers=1, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 1, 1, 3, 3))
    h0, c0 = rng.normal(size=(1, 2, 3, 3)), rng.normal(size=(1, 2, 3, 3))
    g = rng.normal(size=(2, 1, 2, 3, 3))
    net.forward(x, [(h0, c0)], train=True)
    _, [(dh0, dc0)] = net.backward(g)
    err = rnnrs.gradcheck(lambda h0, c0: np.sum(g * net(x, [(h0, c0)])[0]), [h0, c0], [dh0, dc0])
    assert err <= 1e-6


def test_convlstm_errors():
    with pytest.raises(ValueError, match="frame_size"):
        ConvLSTM(1, 2, peephole=True)
    with pytest.raises(ValueError, match="odd"):
        ConvLSTM(1, 2, kernel_size=2)
    net = ConvLSTM(1, 2)
    with pytest.raises(ValueError, match=r"\(T, B, 1, H, W\)"):
        net(np.zeros((2, 1, 3, 4, 4), np.float32))
    with pytest.raises(TypeError):
        net(np.zeros((2, 1, 1, 4, 4)))
    with pytest.raises(RuntimeError, match="forward"):
        net.backward(np.zeros((2, 1, 2, 4, 4), np.float32))


def test_convlstm_one_and_two_threads_bit_identical():
    net = ConvLSTM(4, 8, num_layers=1, seed=1)
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 16, 16)).astype(np.float32)
    before = rnnrs.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            rnnrs.set_num_threads(n)
            net.zero_grad()
            y, _ = net.forward(x, train=True)
            dx, _ = net.backward(np.cos(y))
            runs.append([y, dx] + [g.copy() for g in net.grads.values()])
    finally:
        rnnrs.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_moving_shapes():
    v = rnnrs.datasets.moving_shapes(3, length=6, size=12, seed=2)
    assert v.shape == (6, 3, 1, 12, 12) and v.dtype == np.float32
    assert v.min() == 0 and v.max() == 1
    np.testing.assert_array_equal(v, rnnrs.datasets.moving_shapes(3, length=6, size=12, seed=2))
    assert (v[1:] != v[:-1]).any()  # the shapes move
    with pytest.raises(ValueError, match="shape_size"):
        rnnrs.datasets.moving_shapes(1, size=3, shape_size=4)
