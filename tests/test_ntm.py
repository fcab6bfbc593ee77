"""Neural Turing Machine: Rust vs rnnrs.reference.memory (forward and BPTT), finite differences on every
parameter (float64), the training protocol, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs as rr
from rnnrs.reference import memory as ref
from rnnrs.reference.gradcheck import numerical_grad


def make(seed=0, **kw):
    opts = dict(input_size=3, output_size=2, controller_size=4, memory_slots=5, memory_width=3, read_heads=1,
                write_heads=1, shift_range=1, memory_init=0.1, dtype=np.float64, seed=seed)
    opts.update(kw)
    ntm = rr.NTM(**opts)
    # Larger weights than the default init so that every path carries signal.
    rng = np.random.default_rng(seed + 100)
    for p in ntm.params.values():
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    return ntm


def ref_init(ntm):
    return None if ntm.memory_init == "learned" else ntm.memory_init


# (controller, controller_size, activation): every recurrent cell and feed-forward stacks.
CONTROLLERS = [
    ("lstm", 4, "tanh"),
    ("gru", 4, "tanh"),
    ("rnn_tanh", 4, "tanh"),
    ("rnn_relu", 3, "tanh"),
    ("lstm_noforget", 3, "tanh"),
    ("lstm_cifg", 3, "tanh"),
    ("ff", [4, 3], "tanh"),
    ("ff", 4, "sigmoid"),
    ("ff", [5, 4, 3], "relu"),
]


def ctrl_kw(case):
    kind, size, act = case
    return dict(controller=kind, controller_size=size, activation=act)


@settings(max_examples=20, deadline=None)
@given(
    reads=st.integers(0, 2), writes=st.integers(0, 2), shift=st.integers(0, 2), slots=st.integers(5, 7),
    steps=st.integers(1, 5), batch=st.integers(1, 3), learned=st.booleans(), seed=st.integers(0, 1000),
    case=st.sampled_from(CONTROLLERS),
)
def test_forward_and_backward_match_reference(reads, writes, shift, slots, steps, batch, learned, seed, case):
    if reads + writes == 0:
        writes = 1
    ntm = make(seed, read_heads=reads, write_heads=writes, shift_range=shift, memory_slots=slots,
               memory_init="learned" if learned else 0.1, **ctrl_kw(case))
    kind = dict(controller=ntm.controller, activation=ntm.activation)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps, batch, 3))
    dy = rng.normal(size=(steps, batch, 2))
    y = ntm.forward(x)
    ntm.zero_grad()
    dx = ntm.backward(dy)
    total = {k: np.zeros_like(v) for k, v in ntm.params.items()}
    for b in range(batch):
        ry, _ = ref.ntm_forward(ntm.params, x[:, b], slots, shift, ref_init(ntm), **kind)
        np.testing.assert_allclose(y[:, b], ry, rtol=1e-10, atol=1e-10)
        rdx, g = ref.ntm_backward(ntm.params, x[:, b], dy[:, b], slots, shift, ref_init(ntm), **kind)
        np.testing.assert_allclose(dx[:, b], rdx, rtol=1e-8, atol=1e-10)
        for k in total:
            total[k] += g[k]
    for k, g in total.items():
        np.testing.assert_allclose(ntm.grads[k], g, rtol=1e-8, atol=1e-10, err_msg=k)


@pytest.mark.parametrize(
    "memory_init, case",
    [(0.1, c) for c in CONTROLLERS] + [("learned", CONTROLLERS[0]), ("learned", CONTROLLERS[6])],
    ids=lambda v: f"{v[0]}-{v[2]}" if isinstance(v, tuple) else str(v),
)
def test_every_parameter_against_finite_differences(memory_init, case):
    ntm = make(1, read_heads=1, write_heads=2, memory_init=memory_init, **ctrl_kw(case))
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 2))
    ntm.forward(x)
    ntm.zero_grad()
    dx = ntm.backward(w)
    names = list(ntm.params)

    def loss(*arrays):
        for k, a in zip(names, arrays):
            ntm.params[k][...] = a
        return (ntm(x) * w).sum()

    saved = [ntm.params[k].copy() for k in names]
    numeric = numerical_grad(loss, saved)
    for k, a in zip(names, saved):
        ntm.params[k][...] = a
    for k, g in zip(names, numeric):
        np.testing.assert_allclose(ntm.grads[k], g, rtol=1e-6, atol=1e-8, err_msg=k)
    (ndx,) = numerical_grad(lambda xx: (ntm(xx) * w).sum(), [x])
    np.testing.assert_allclose(dx, ndx, rtol=1e-6, atol=1e-8)


def test_layouts_dtypes_and_weightings():
    ntm = make(2)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 2, 3))
    y = ntm(x)
    np.testing.assert_allclose(ntm(x[:, 1]), y[:, 1], atol=1e-14)  # unbatched
    np.testing.assert_allclose(ntm(x.transpose(1, 0, 2), batch_first=True), y.transpose(1, 0, 2), atol=1e-14)
    ntm.forward(x)
    w = ntm.weightings()
    assert w.shape == (6, 2, 2, 5)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)
    n32 = rr.NTM(3, 2, 4, 5, 3, memory_init=0.1, dtype=np.float32)
    n32.load_state_dict({k: v.astype(np.float32) for k, v in ntm.state_dict().items()})
    y32 = n32(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y, atol=1e-4)
    rr.set_num_threads(1)
    a = n32(x.astype(np.float32))
    rr.set_num_threads(2)
    b = n32(x.astype(np.float32))
    rr.set_num_threads(0)
    np.testing.assert_array_equal(a, b)


def test_trains_with_optim_and_clipping():
    ntm = rr.NTM(9, 8, controller_size=16, memory_slots=16, memory_width=6, seed=0)
    opt = rr.optim.Adam(ntm.params, lr=1e-2)
    x, y, mask = rr.datasets.copy_task(8, 3, rng=0)

    def loss_and_grad():
        logits = ntm.forward(x)
        p = 1 / (1 + np.exp(-logits))
        m = mask[..., None]
        loss = -(m * (y * np.log(p + 1e-7) + (1 - y) * np.log(1 - p + 1e-7))).sum() / m.sum()
        return loss, (m * (p - y) / m.sum()).astype(np.float32)

    first, _ = loss_and_grad()
    for _ in range(30):
        loss, dy = loss_and_grad()
        ntm.zero_grad()
        ntm.backward(dy)
        rr.clip_grad_norm_(ntm.grads, 10.0)
        opt.step(ntm.grads)
    assert np.isfinite(loss) and loss < 0.9 * first


def test_errors():
    with pytest.raises(ValueError, match="shift_range"):
        rr.NTM(3, 2, memory_slots=4, shift_range=2)
    with pytest.raises(ValueError, match="read_heads"):
        rr.NTM(3, 2, read_heads=0, write_heads=0)
    with pytest.raises(ValueError, match="memory_slots"):
        rr.NTM(3, 2, memory_slots=0)
    with pytest.raises(ValueError, match="memory_init"):
        rr.NTM(3, 2, memory_init="zeros")
    with pytest.raises(TypeError, match="dtype"):
        rr.NTM(3, 2, dtype=np.int32)
    ntm = make()
    with pytest.raises(RuntimeError, match="forward"):
        ntm.backward(np.zeros((1, 1, 2)))
    with pytest.raises(ValueError, match="empty"):
        ntm.forward(np.zeros((0, 1, 3)))
    with pytest.raises(ValueError, match="input_size"):
        ntm.forward(np.zeros((2, 1, 4)))
    with pytest.raises(TypeError, match="float64"):
        ntm.forward(np.zeros((2, 1, 3), np.float32))
    ntm.forward(np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="dy"):
        ntm.backward(np.zeros((3, 1, 2)))
    ntm.params["heads.weight"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="heads.weight"):
        ntm(np.zeros((2, 1, 3)))


def test_task_generators():
    x, y, m = rr.datasets.copy_task(4, (1, 5), rng=0)
    assert x.shape[1:] == (4, 9) and y.shape[1:] == (4, 8) and m.shape == x.shape[:2]
    for b in range(4):
        n = int(m[:, b].sum())
        np.testing.assert_array_equal(y[n + 1 : 2 * n + 1, b], x[:n, b, :8])
        assert x[n, b, 8] == 1
    x, y, m = rr.datasets.repeat_copy(3, (1, 4), (1, 3), rng=1)
    assert x.shape[2] == 10 and y.shape[2] == 9 and y[..., 8].sum() == 3
    x, y, m = rr.datasets.associative_recall(3, (2, 4), rng=2)
    assert m.sum() == 9
    x, y, m = rr.datasets.priority_sort(2, 5, 3, rng=3)
    assert m.sum() == 6
    assert rr.datasets.bit_errors(np.where(y > 0, 5.0, -5.0), y, m).sum() == 0
    with pytest.raises(ValueError, match="length"):
        rr.datasets.copy_task(2, (5, 1))


def test_controller_layouts_threads_and_errors():
    ff = rr.NTM(3, 2, controller="ff", controller_size=[6, 5], activation="relu", memory_slots=8, memory_width=4,
                dtype=np.float32, seed=3)
    assert list(ff.params)[:4] == ["controller.0.weight", "controller.0.bias", "controller.1.weight",
                                   "controller.1.bias"]
    assert ff.params["controller.0.weight"].shape == (6, 3 + 4) and ff.params["heads.weight"].shape[1] == 5
    assert "controller='ff'" in repr(ff)
    gru = rr.NTM(3, 2, controller="GRU", controller_size=4, memory_width=20)
    assert gru.controller == "gru" and gru.params["controller.weight_ih_l0"].shape == (12, 3 + 20)
    x = np.random.default_rng(0).normal(size=(7, 3, 3)).astype(np.float32)
    for ntm in (ff, gru):
        y = ntm(x)
        np.testing.assert_allclose(ntm(x[:, 2]), y[:, 2], atol=1e-6)
        rr.set_num_threads(1)
        a = ntm(x)
        ntm.forward(x)
        da = ntm.backward(np.ones_like(y))
        rr.set_num_threads(2)
        b = ntm(x)
        ntm.forward(x)
        db = ntm.backward(np.ones_like(y))
        rr.set_num_threads(0)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(da, db)
    for kw, name in [
        (dict(controller="transformer"), "controller"),
        (dict(controller=3), "controller"),
        (dict(controller="ff", activation="gelu"), "activation"),
        (dict(controller="lstm", activation="relu"), "activation"),
        (dict(controller="ff", controller_size=[]), "controller_size"),
        (dict(controller="ff", controller_size=[4, 0]), "controller_size"),
        (dict(controller="lstm", controller_size=[4, 3]), "controller_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            rr.NTM(3, 2, **kw)
