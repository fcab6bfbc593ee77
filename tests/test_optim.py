"""Optimizers and schedulers: PyTorch fixtures, NumPy reference trajectories,
state_dict round trips, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fixtures import fixture_params, load, tolerances

import rnnrs
from rnnrs import optim
from rnnrs.reference import train as ref


def _from_fixture(meta, params):
    h = dict(meta["hyper"])
    if meta["optimizer"] == "SGD":
        return optim.SGD(params, **h)
    cls = optim.Adam if meta["optimizer"] == "Adam" else optim.AdamW
    h["betas"] = tuple(h["betas"])
    return cls(params, **h)


@pytest.mark.parametrize("path", fixture_params("optim_*.npz"))
def test_optim_fixture_trajectory(path):
    meta, a = load(path)
    rtol, atol = tolerances(meta)
    n = meta["n_params"]
    params = [a[f"p0_{i}"].copy() for i in range(n)]
    opt = _from_fixture(meta, params)
    for k in range(1, meta["n_steps"] + 1):
        opt.step([a[f"grad_step{k}_{i}"] for i in range(n)])
        for i in range(n):
            np.testing.assert_allclose(
                params[i], a[f"param_step{k}_{i}"], rtol=rtol, atol=atol, err_msg=f"step {k}, param {i}"
            )


def _ref_step(name, p, g, st, h):
    fn = {
        "SGD": ref.sgd_step,
        "Adam": ref.adam_step,
        "AdamW": ref.adam_step,
        "RMSprop": ref.rmsprop_step,
        "Adagrad": ref.adagrad_step,
    }[name]
    extra = {"decoupled": True} if name == "AdamW" else {}
    return fn(p, g, st, **h, **extra)


hyper_sets = {
    "SGD": st.fixed_dictionaries(
        {
            "lr": st.floats(0.001, 0.5),
            "momentum": st.sampled_from([0.0, 0.5, 0.9]),
            "dampening": st.sampled_from([0.0, 0.3]),
            "weight_decay": st.sampled_from([0.0, 0.05]),
            "maximize": st.booleans(),
        }
    ),
    "Adam": st.fixed_dictionaries(
        {
            "lr": st.floats(0.001, 0.1),
            "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9)]),
            "eps": st.sampled_from([1e-8, 1e-3]),
            "weight_decay": st.sampled_from([0.0, 0.1]),
            "amsgrad": st.booleans(),
            "maximize": st.booleans(),
        }
    ),
    "RMSprop": st.fixed_dictionaries(
        {
            "lr": st.floats(0.001, 0.1),
            "alpha": st.sampled_from([0.99, 0.8]),
            "eps": st.sampled_from([1e-8, 1e-2]),
            "weight_decay": st.sampled_from([0.0, 0.1]),
            "momentum": st.sampled_from([0.0, 0.9]),
            "centered": st.booleans(),
            "maximize": st.booleans(),
        }
    ),
    "Adagrad": st.fixed_dictionaries(
        {
            "lr": st.floats(0.001, 0.5),
            "lr_decay": st.sampled_from([0.0, 0.1]),
            "weight_decay": st.sampled_from([0.0, 0.1]),
            "initial_accumulator_value": st.sampled_from([0.0, 0.5]),
            "eps": st.sampled_from([1e-10, 1e-3]),
            "maximize": st.booleans(),
        }
    ),
}
hyper_sets["AdamW"] = hyper_sets["Adam"]


@settings(max_examples=15, deadline=None)
@given(
    data=st.data(),
    name=st.sampled_from(sorted(hyper_sets)),
    seed=st.integers(0, 2**31),
    nesterov=st.booleans(),
)
def test_random_trajectories_match_reference(data, name, seed, nesterov):
    h = data.draw(hyper_sets[name])
    if name == "SGD" and nesterov and h["momentum"] > 0:
        h = dict(h, nesterov=True, dampening=0.0)
    rng = np.random.default_rng(seed)
    shapes = [(3,), (2, 4), (20_000,)]  # the last one spans two blocks
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    want = {k: v.copy() for k, v in params.items()}
    states = {k: {} for k in params}
    opt = getattr(optim, name)(params, **h)
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        opt.step(grads)
        for k in params:
            want[k], states[k] = _ref_step(name, want[k], grads[k], states[k], h)
    for k in params:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_float32_close_to_float64_reference(name):
    rng = np.random.default_rng(5)
    p64 = rng.standard_normal((5, 7))
    p32 = p64.astype(np.float32)
    h = {
        "SGD": {"lr": 0.1, "momentum": 0.9},
        "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5},
        "Adagrad": {"lr": 0.1},
    }.get(name, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01})
    opt = getattr(optim, name)([p32], **h)
    st_ = {}
    for _ in range(4):
        g = rng.standard_normal(p64.shape)
        opt.step([g.astype(np.float32)])
        p64, st_ = _ref_step(name, p64, g, st_, h)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_state_dict_round_trips_through_savez(tmp_path, name):
    rng = np.random.default_rng(0)
    h = {
        "SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        "RMSprop": {"centered": True, "momentum": 0.3},
        "Adam": {"amsgrad": True, "betas": (0.8, 0.95)},
    }.get(name, {})
    a = {"w": rng.standard_normal((3, 2)), "layer.bias": rng.standard_normal(4)}
    b = {k: v.copy() for k, v in a.items()}
    opt_a = getattr(optim, name)(a, **h)
    for _ in range(3):
        opt_a.step({k: rng.standard_normal(v.shape) for k, v in a.items()})
    np.savez(tmp_path / "opt.npz", **opt_a.state_dict())
    opt_b = getattr(optim, name)(b, lr=123.0)
    with np.load(tmp_path / "opt.npz") as z:
        opt_b.load_state_dict(dict(z))
    for k in a:
        np.copyto(b[k], a[k])
    assert opt_b.hyper == opt_a.hyper
    for _ in range(2):
        g = {k: rng.standard_normal(v.shape) for k, v in a.items()}
        opt_a.step(g)
        opt_b.step(g)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_none_grads_are_skipped_and_mixed_dtypes_work():
    p = [np.ones(3), np.ones(2, np.float32)]
    opt = optim.Adam(p, lr=0.1)
    opt.step([None, np.ones(2, np.float32)])
    np.testing.assert_array_equal(p[0], 1.0)
    np.testing.assert_allclose(p[1], 0.9, rtol=1e-6)
    opt.step([np.ones(3), np.ones(2)])  # float64 grads cast to the float32 parameter
    assert opt.state[0]["step"] == 1 and opt.state[1]["step"] == 2


def test_one_and_two_threads_give_identical_bits():
    rng = np.random.default_rng(2)
    start = rng.standard_normal(100_000).astype(np.float32)
    grads = [rng.standard_normal(100_000).astype(np.float32) for _ in range(3)]
    out = []
    try:
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            p = start.copy()
            opt = optim.Adam([p], lr=0.01, weight_decay=0.1, amsgrad=True)
            for g in grads:
                opt.step([g])
            out.append(p)
    finally:
        rnnrs.set_num_threads(0)
    assert out[0].tobytes() == out[1].tobytes()


def test_schedulers_follow_torch_formulas():
    p = [np.zeros(1)]
    opt = optim.SGD(p, lr=0.1)
    s = optim.StepLR(opt, step_size=3, gamma=0.5)
    lrs = [s.get_last_lr()[0]]
    for _ in range(7):
        s.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [0.1] * 3 + [0.05] * 3 + [0.025] * 2)
    opt = optim.Adam(p, lr=1.0)
    s = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    got = [opt.lr] + [(s.step(), opt.lr)[1] for _ in range(4)]
    np.testing.assert_allclose(got, [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)])
    opt = optim.Adam(p, lr=2.0)
    s = optim.ExponentialLR(opt, gamma=0.9)
    for _ in range(3):
        s.step()
    assert opt.lr == pytest.approx(2.0 * 0.9**3)
    sd = s.state_dict()
    opt2 = optim.Adam(p, lr=5.0)
    s2 = optim.ExponentialLR(opt2, gamma=0.9)
    s2.load_state_dict(sd)
    assert opt2.lr == pytest.approx(opt.lr)
    # Composition: linear warm-up times cosine, through LambdaLR.
    opt = optim.SGD(p, lr=1.0)
    s = optim.LambdaLR(opt, lambda e: min(1.0, (e + 1) / 3) * 0.5 * (1 + math.cos(math.pi * e / 10)))
    assert opt.lr == pytest.approx(1 / 3)
    s.step()
    assert opt.lr == pytest.approx(2 / 3 * 0.5 * (1 + math.cos(math.pi / 10)))


def test_bad_input_is_rejected_clearly():
    p = {"w": np.ones(3)}
    opt = optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        opt.step({"w": np.ones(4)})
    with pytest.raises(ValueError, match="unknown"):
        opt.step({"v": np.ones(3)})
    with pytest.raises(TypeError, match="dict"):
        opt.step([np.ones(3)])
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.Adam([np.ones(3, np.int64)])
    with pytest.raises(ValueError, match="C-contiguous"):
        optim.Adam([np.ones((3, 3))[:, 0]])
    w = np.ones(3)
    with pytest.raises(ValueError, match="twice"):
        optim.Adam([w, w])
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([w], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([w], lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="state_dict"):
        optim.Adam([w]).load_state_dict(optim.SGD([np.ones(3)]).state_dict())
    bad = optim.Adam([np.ones(3)])
    bad.step([np.ones(3)])
    sd = bad.state_dict()
    sd["state.0.exp_avg"] = np.ones(5)
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([w]).load_state_dict(sd)
    # A gradient aliasing its parameter is read before the write.
    v = np.array([1.0, 2.0])
    optim.SGD([v], lr=0.5).step([v])
    np.testing.assert_array_equal(v, [0.5, 1.0])
    # NaN gradients propagate, never crash.
    opt = optim.Adam([w])
    opt.step([np.array([np.nan, 1.0, 1.0])])
    assert np.isnan(w[0]) and np.isfinite(w[1:]).all()


def test_pack_grads_gives_the_container_step_takes():
    a, b = np.ones(3), np.ones((2, 2))
    as_dict = optim.SGD({"w": a, "b": b}, lr=0.5)
    assert as_dict.takes_dict
    packed = as_dict.pack_grads([np.full(3, 2.0), np.zeros((2, 2))])
    assert list(packed) == ["w", "b"]
    as_dict.step(packed)
    np.testing.assert_array_equal(a, np.zeros(3))
    as_list = optim.SGD([a, b], lr=0.5)
    assert not as_list.takes_dict
    as_list.step(as_list.pack_grads([np.full(3, -2.0), np.ones((2, 2))]))
    np.testing.assert_array_equal(a, np.ones(3))
    np.testing.assert_array_equal(b, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="grads_in_order"):
        as_list.pack_grads([a])
