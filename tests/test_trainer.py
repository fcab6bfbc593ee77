"""rnnrs.train: fit, evaluate, TBPTT state carrying, checkpoints, scheduled sampling, errors."""

import numpy as np
import pytest

import rnnrs
from rnnrs import train
from rnnrs.train import ScheduledSampling, batchify, evaluate, fit, load_checkpoint, save_checkpoint


def regression_task(t=12, n=16, seed=0):
    """Per-step targets: a decaying running sum of the input (needs memory)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(t, n, 1)).astype(np.float32)
    y = np.zeros_like(x)
    acc = np.zeros((n, 1), dtype=np.float32)
    for i in range(t):
        acc = 0.7 * acc + x[i]
        y[i] = acc
    return x, y


def reg_model(seed=0, dtype=np.float32):
    return rnnrs.Sequential(rnnrs.GRU(1, 8, seed=seed, dtype=dtype), rnnrs.Linear(8, 1, seed=seed + 1, dtype=dtype))


def token_task(n_tokens=3000, vocab=5, seed=0):
    """A noisy deterministic cycle of tokens: next-token prediction is learnable."""
    rng = np.random.default_rng(seed)
    seq = np.arange(n_tokens) % vocab
    flip = rng.random(n_tokens) < 0.05
    seq[flip] = rng.integers(0, vocab, flip.sum())
    s = batchify(seq, 8)
    return s[:-1], s[1:]


def token_model(vocab=5, seed=0):
    return rnnrs.Sequential(rnnrs.Embedding(vocab, 4, seed=seed), rnnrs.LSTM(4, 16, seed=seed + 1),
                            rnnrs.Linear(16, vocab, seed=seed + 2))


def test_fit_decreases_loss_and_returns_history():
    data = regression_task()
    model = reg_model()
    opt = rnnrs.optim.Adam(model.params, lr=1e-2)
    before = evaluate(model, data, "mse")
    hist = fit(model, data, "mse", opt, epochs=30, batch_size=4, seed=0, progress=False, validation=data)
    after = evaluate(model, data, "mse")
    assert after < 0.3 * before
    assert hist["epoch"] == list(range(1, 31))
    assert len(hist["train_loss"]) == len(hist["val_loss"]) == 30
    assert hist["step"][-1] == 30 * 4 == len(hist["step_loss"])
    assert hist["val_loss"][-1] == pytest.approx(after, rel=1e-6)
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_language_model_learns_with_tbptt():
    x, y = token_task()
    model = token_model()
    opt = rnnrs.optim.Adam(model.params, lr=2e-2)
    hist = fit(model, (x, y), "cross_entropy", opt, tbptt=25, clip_norm=1.0, epochs=3, progress=False)
    assert hist["train_loss"][-1] < 0.6 < np.log(5)  # from ~1.6 (uniform) to well below
    assert hist["step"][-1] == 3 * int(np.ceil(x.shape[0] / 25))


@pytest.mark.parametrize("tbptt", [None, 5, (5, 5), (3, 7), (4, 12), (1, 2)])
def test_tbptt_carries_state_exactly(tbptt):
    """With lr = 0 nothing changes, so the loss fit reports must equal the loss
    of one uninterrupted pass: every window starts from the carried state."""
    data = regression_task(t=23, n=6)
    model = reg_model(dtype=np.float64)
    data = (data[0].astype(np.float64), data[1].astype(np.float64))
    opt = rnnrs.optim.SGD(model.params, lr=0.0)
    hist = fit(model, data, "mse", opt, tbptt=tbptt, epochs=1, progress=False)
    assert hist["train_loss"][0] == pytest.approx(evaluate(model, data, "mse"), rel=1e-12)
    # A reset state at every chunk would score differently.
    fresh = np.mean([evaluate(model, (data[0][s:s + 5], data[1][s:s + 5]), "mse") for s in range(0, 20, 5)])
    assert abs(fresh - hist["train_loss"][0]) > 1e-6


def test_tbptt_window_gradient_matches_manual():
    """One BPTT(k1=2, k2=4) update: the gradient is that of the last 2 steps' loss
    back-propagated through the 4-step window started from the carried state."""
    x, y = regression_task(t=6, n=3)
    x, y = x.astype(np.float64), y.astype(np.float64)
    model = reg_model(dtype=np.float64)
    grads_seen = []

    class Recorder:
        def step(self, grads):
            grads_seen.append({k: v.copy() for k, v in grads.items()})

    fit(model, (x, y), "mse", Recorder(), tbptt=(2, 4), epochs=1, progress=False)
    assert len(grads_seen) == 3
    # Third window: steps 2..5, loss on 4..5; state at step 2 from an inference pass.
    _, state = model(x[:2])
    model.zero_grad()
    out, _ = model.forward(x[2:6], state)
    _, g = rnnrs.losses.mse(out[2:], y[4:6])
    dout = np.zeros_like(out)
    dout[2:] = g
    model.backward(dout)
    for k, v in model.grads.items():
        np.testing.assert_allclose(grads_seen[2][k], v, rtol=1e-12, atol=1e-14, err_msg=k)


def test_many_to_one_with_last_step():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(10, 64, 1)).astype(np.float32)
    y = x.sum(axis=0) / 10.0  # (N, 1): the mean of the sequence
    model = rnnrs.Sequential(rnnrs.LSTM(1, 8, seed=0), rnnrs.LastStep(), rnnrs.Linear(8, 1, seed=1))
    opt = rnnrs.optim.Adam(model.params, lr=2e-2)
    base = float(np.var(y))
    fit(model, (x, y), "mse", opt, epochs=40, batch_size=16, seed=1, progress=False)
    assert evaluate(model, (x, y), "mse") < 0.2 * base
    # Truncated many-to-one: the prefix only sets the state.
    hist = fit(model, (x, y), "mse", rnnrs.optim.SGD(model.params, lr=0.0), tbptt=4, epochs=1, progress=False)
    assert hist["train_loss"][0] == pytest.approx(evaluate(model, (x, y), "mse"), rel=1e-5)


def test_shuffling_is_seeded():
    data = regression_task(n=12)

    def run(seed):
        model = reg_model()
        fit(model, data, "mse", rnnrs.optim.Adam(model.params, lr=1e-2), epochs=3, batch_size=3, seed=seed,
            progress=False)
        return model.state_dict()

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_checkpoint_resume_continues_identically(tmp_path):
    data = regression_task(n=12)
    val = regression_task(n=4, seed=9)

    def fresh():
        m = reg_model()
        return m, rnnrs.optim.Adam(m.params, lr=1e-2)

    straight, opt = fresh()
    h_straight = fit(straight, data, "mse", opt, epochs=4, batch_size=5, seed=3, validation=val, progress=False)

    first, opt1 = fresh()
    path = tmp_path / "ckpt"
    fit(first, data, "mse", opt1, epochs=2, batch_size=5, seed=3, validation=val, progress=False,
        checkpoint=str(path))
    resumed, opt2 = fresh()
    ck = load_checkpoint(str(path) + ".npz", resumed, opt2)
    assert ck["epoch"] == 2
    h = fit(resumed, data, "mse", opt2, epochs=4, batch_size=5, seed=3, validation=val, progress=False,
            initial_epoch=ck["epoch"], history=ck["history"])
    for k, v in straight.params.items():
        np.testing.assert_array_equal(resumed.params[k], v, err_msg=k)
    for k in ("epoch", "train_loss", "val_loss", "step", "step_loss"):
        np.testing.assert_array_equal(h[k], h_straight[k], err_msg=k)
    with np.load(str(path) + ".npz", allow_pickle=False) as f:
        assert "model.0.weight_ih_l0" in f.files and "optim.optimizer" in f.files and "epoch" in f.files


def test_checkpoint_with_scheduler_and_bad_files(tmp_path):
    model = reg_model()
    opt = rnnrs.optim.SGD(model.params, lr=0.1, momentum=0.9)
    sched = rnnrs.optim.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    p = save_checkpoint(tmp_path / "a", model, opt, epoch=7, history={"train_loss": [1.0, 0.5]}, scheduler=sched)
    assert p.endswith("a.npz")
    m2 = reg_model(seed=4)
    opt2 = rnnrs.optim.SGD(m2.params, lr=0.1, momentum=0.9)
    sched2 = rnnrs.optim.StepLR(opt2, step_size=1, gamma=0.5)
    ck = load_checkpoint(p, m2, opt2, scheduler=sched2)
    assert ck == {"epoch": 7, "history": {"train_loss": [1.0, 0.5]}}
    assert opt2.lr == pytest.approx(0.05)
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="unexpected entry"):
        load_checkpoint(tmp_path / "other.npz", m2)
    save_checkpoint(tmp_path / "b.npz", model)
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(tmp_path / "b.npz", m2, opt2)
    with pytest.raises(KeyError):
        load_checkpoint(tmp_path / "b.npz", token_model())


def test_scheduled_sampling():
    ss = ScheduledSampling("inverse_sigmoid", k=10.0)
    probs = [ss.teacher_probability(i) for i in range(0, 200, 10)]
    assert probs[0] == pytest.approx(10 / 11) and all(a >= b for a, b in zip(probs, probs[1:]))
    assert ScheduledSampling("linear", k=100, min_teacher=0.25).teacher_probability(90) == 0.25
    assert ScheduledSampling("exponential", k=0.5).teacher_probability(3) == 0.125
    model = token_model()
    x, _ = token_task()
    xin = x[:10]
    always = ScheduledSampling(lambda i: 0.0)
    mixed = always.mix(model, xin, None, step=0)
    pred = np.argmax(model(xin)[0], axis=-1)
    np.testing.assert_array_equal(mixed[0], xin[0])
    np.testing.assert_array_equal(mixed[1:], pred[:-1])
    never = ScheduledSampling(lambda i: 1.0)
    assert never.mix(model, xin, None, step=0) is xin
    half = ScheduledSampling(lambda i: 0.5, sample=True, seed=3)
    np.testing.assert_array_equal(half.mix(model, xin, None, 5), half.mix(model, xin, None, 5))

    def run():
        m = token_model()
        fit(m, token_task(), "cross_entropy", rnnrs.optim.Adam(m.params, lr=1e-2), tbptt=20, epochs=1,
            scheduled_sampling=ScheduledSampling("linear", k=50, seed=1), progress=False)
        return m.state_dict()

    a, b = run(), run()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="schedule"):
        ScheduledSampling("cosine")
    with pytest.raises(ValueError, match="k:"):
        ScheduledSampling("exponential", k=2.0)


def test_progress_output(capsys, monkeypatch):
    data = regression_task(n=8)
    model = reg_model()
    opt = rnnrs.optim.SGD(model.params, lr=0.01)
    fit(model, data, "mse", opt, epochs=1, batch_size=2, progress=False)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(train, "_tqdm", None)
    fit(model, data, "mse", opt, epochs=1, batch_size=2, progress=True)
    out = capsys.readouterr().out
    assert "epoch 1/1: 4/4 updates" in out and "train loss" in out


def test_time_limit_and_callbacks_stop_early():
    data = regression_task()
    model = reg_model()
    opt = rnnrs.optim.SGD(model.params, lr=0.01)
    seen = []
    hist = fit(model, data, "mse", opt, epochs=10, progress=False, callbacks=[lambda e, logs: seen.append(e) or e == 3])
    assert seen == [1, 2, 3] and hist["epoch"] == [1, 2, 3]
    hist = fit(model, data, "mse", opt, epochs=1000, batch_size=1, progress=False, time_limit=1e-9)
    assert hist["step"] == [1]
    # Inside one batch too (one long stream in TBPTT chunks).
    hist = fit(model, data, "mse", opt, tbptt=2, epochs=1000, progress=False, time_limit=1e-9)
    assert hist["step"] == [1] and len(hist["step_loss"]) == 1


def test_optimizer_on_parameter_list():
    data = regression_task()
    a, b = reg_model(), reg_model()
    fit(a, data, "mse", rnnrs.optim.Adam(a.params, lr=1e-2), tbptt=4, epochs=2, progress=False)
    fit(b, data, "mse", rnnrs.optim.Adam(b.parameters(), lr=1e-2), tbptt=4, epochs=2, progress=False)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_bad_arguments():
    data = regression_task()
    model = reg_model()
    opt = rnnrs.optim.SGD(model.params, lr=0.01)
    cases = [
        (dict(tbptt=(5, 3)), ValueError, "k1 <= k2"),
        (dict(tbptt=0), ValueError, "tbptt"),
        (dict(tbptt="5"), TypeError, "tbptt"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(clip_norm=-1.0), ValueError, "clip_norm"),
        (dict(validation=np.zeros(3)), TypeError, "validation"),
        (dict(callbacks=[3]), TypeError, "callbacks"),
        (dict(scheduled_sampling=object()), TypeError, "scheduled_sampling"),
    ]
    for kwargs, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fit(model, data, "mse", opt, progress=False, **kwargs)
    with pytest.raises(ValueError, match="loss"):
        fit(model, data, "hinge", opt, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fit(model, data, "mse", object(), progress=False)
    with pytest.raises(TypeError, match="model"):
        fit(rnnrs.Linear(1, 1), data, "mse", opt, progress=False)
    with pytest.raises(ValueError, match="targets"):
        fit(model, (data[0], data[1][:, :3]), "mse", opt, progress=False)
    with pytest.raises(ValueError, match="time-major"):
        fit(model, (data[0][:, 0, 0], data[1]), "mse", opt, progress=False)
    bf = rnnrs.Sequential(rnnrs.GRU(1, 4, batch_first=True), rnnrs.Linear(4, 1))
    with pytest.raises(ValueError, match="batch_first"):
        fit(bf, data, "mse", rnnrs.optim.SGD(bf.params), progress=False)
    with pytest.raises(ValueError, match="n_streams"):
        batchify(np.arange(5), 4)
    with pytest.raises(ValueError, match="targets"):
        train.sequence_cross_entropy(np.zeros((3, 2, 4)), np.zeros((3, 4), dtype=np.int64))
