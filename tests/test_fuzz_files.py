"""Fuzzing the loaders: broken files and bad state dicts either load or raise
a clear exception (never a crash, a pickle load or an unbounded allocation).

Files: truncated, bit-flipped, emptied, replaced by random bytes, or given
an entry with a huge declared shape; each loader must load or raise
`rnnrs.errors.FileFormatError` naming the file (a ValueError).
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs.errors import FileFormatError, RnnrsError

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _model():
    return rnnrs.Sequential(rnnrs.LSTM(3, 4, seed=0), rnnrs.Linear(4, 2, seed=1))


@pytest.fixture(scope="module")
def files():
    d = tempfile.mkdtemp()
    model = _model()
    opt = rnnrs.optim.Adam(model.params, lr=1e-3)
    ckpt = rnnrs.train.save_checkpoint(os.path.join(d, "ckpt.npz"), model, opt, epoch=3,
                                       history={"train_loss": [1.0, 0.5]})
    rng = np.random.default_rng(0)
    esn = rnnrs.ESN(units=20, seed=0).fit(rng.normal(size=(50, 2)), rng.normal(size=50))
    esn_path = os.path.join(d, "esn.npz")
    esn.save(esn_path)
    with open(ckpt, "rb") as f:
        ckpt_bytes = f.read()
    with open(esn_path, "rb") as f:
        esn_bytes = f.read()
    return d, ckpt_bytes, esn_bytes


def _load_checkpoint(path):
    model = _model()
    rnnrs.train.load_checkpoint(path, model, rnnrs.optim.Adam(model.params, lr=1e-3))


def _load_esn(path):
    rnnrs.ESN.load(path).predict(np.zeros((3, 2)))


LOADERS = {"checkpoint": (_load_checkpoint, 1), "esn": (_load_esn, 2)}


def _mutate(data: bytes, kind: str, pos: int, bit: int, junk: bytes) -> bytes:
    pos %= max(len(data), 1)
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        b = bytearray(data)
        b[pos] ^= 1 << bit
        return bytes(b)
    if kind == "overwrite":
        return data[:pos] + junk + data[pos + len(junk):]
    return junk  # random bytes


def _check(loader, path):
    try:
        loader(path)
    except FileFormatError as e:
        assert path in str(e) and e.path == path
        assert "expected" in str(e)


@FUZZ
@given(which=st.sampled_from(sorted(LOADERS)), kind=st.sampled_from(["truncate", "flip", "overwrite", "random"]),
       pos=st.integers(0, 10**6), bit=st.integers(0, 7), junk=st.binary(min_size=0, max_size=64))
def test_broken_files_load_or_raise_a_clear_error(files, which, kind, pos, bit, junk):
    d, *blobs = files
    loader, k = LOADERS[which]
    path = os.path.join(d, f"fuzz-{which}.npz")
    with open(path, "wb") as f:
        f.write(_mutate(blobs[k - 1], kind, pos, bit, junk))
    _check(loader, path)


@pytest.mark.parametrize("which", sorted(LOADERS))
def test_empty_and_truncated_files_name_the_file(files, which):
    d, *blobs = files
    loader, k = LOADERS[which]
    path = os.path.join(d, f"short-{which}.npz")
    for data in (b"", blobs[k - 1][: len(blobs[k - 1]) // 2]):
        with open(path, "wb") as f:
            f.write(data)
        with pytest.raises(FileFormatError, match="not a valid .npz file") as e:
            loader(path)
        assert e.value.path == path and isinstance(e.value, ValueError)


def test_esn_load_on_a_training_checkpoint_says_what_it_is(files):
    d, ckpt, _ = files
    path = os.path.join(d, "ckpt.npz")
    with pytest.raises(FileFormatError, match="training checkpoint.*load_checkpoint"):
        rnnrs.ESN.load(path)
    with pytest.raises(FileFormatError, match="ESN file"):
        _load_checkpoint(os.path.join(d, "esn.npz"))


def test_huge_declared_sizes_and_object_arrays_are_refused(files, tmp_path):
    d, ckpt, _ = files
    with np.load(os.path.join(d, "ckpt.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    # An entry whose header declares 8e18 bytes but stores none: refused before any allocation.
    path = tmp_path / "huge.npz"
    np.savez(path, **arrays)
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12, 10**6)})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("history.huge.npy", header.getvalue())
    with pytest.raises(FileFormatError, match="declares shape"):
        _load_checkpoint(str(path))
    # Object arrays would need pickle: refused without running anything.
    obj = tmp_path / "obj.npz"
    np.savez(obj, **dict(arrays, epoch=np.array([{"a": 1}], dtype=object)))
    with pytest.raises(FileFormatError, match="pickle"):
        _load_checkpoint(str(obj))


# --- in-memory state --------------------------------------------------------------------------------

VALUES = st.one_of(
    st.just(np.nan),
    st.sampled_from([np.float16, np.float32, np.float64, np.int64, np.bool_, object, "U3"]).map(
        lambda dt: np.zeros((16, 3), dtype=dt)),
    st.lists(st.integers(0, 20), max_size=3).map(lambda s: np.full(s, np.nan)),
    st.text(max_size=5),
    st.none(),
)


@FUZZ
@given(key=st.sampled_from(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "extra"]), value=VALUES)
def test_layer_load_state_dict_loads_or_raises(key, value):
    lstm = rnnrs.LSTM(3, 4, seed=0)
    sd = lstm.state_dict()
    sd[key] = value
    before = {k: v.copy() for k, v in lstm.state_dict().items()}
    try:
        lstm.load_state_dict(sd)
    except (KeyError, ValueError, TypeError) as e:
        assert key in str(e)
        for k, v in lstm.state_dict().items():  # nothing half-loaded
            np.testing.assert_array_equal(v, before[k])
        return
    y, _ = lstm(np.ones((2, 1, 3), np.float32))  # NaN parameters load and give NaN, never crash
    assert y.shape == (2, 1, 4)


@FUZZ
@given(key=st.sampled_from(["optimizer", "hyper.lr", "hyper.betas", "state.weight_ih_l0.exp_avg",
                            "state.weight_ih_l0.step", "state.nope.exp_avg", "hyper.nope"]), value=VALUES)
def test_optimizer_load_state_dict_loads_or_raises(key, value):
    lstm = rnnrs.LSTM(3, 4, seed=0)
    opt = rnnrs.optim.Adam(lstm.params, lr=1e-3)
    lstm.grads["weight_ih_l0"][:] = 1
    opt.step(lstm.grads)
    sd = opt.state_dict()
    sd[key] = value
    try:
        opt.load_state_dict(sd)
    except ValueError as e:
        assert "state_dict" in str(e)
        return
    try:
        opt.step(lstm.grads)  # e.g. a NaN learning rate: a clear error or NaN weights, never a crash
    except ValueError as e:
        assert "lr" in str(e) or "beta" in str(e) or "eps" in str(e)


# --- .ts files -----------------------------------------------------------------------------------

TS = b"""@problemName t
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true a b
@data
1,2,3:4,5,6:a
1,?,3:4,5,6:b
"""


@FUZZ
@given(kind=st.sampled_from(["truncate", "flip", "overwrite", "random"]), pos=st.integers(0, 10**4),
       bit=st.integers(0, 7), junk=st.binary(max_size=16), gz=st.booleans())
def test_ts_files_load_or_raise_naming_the_file(kind, pos, bit, junk, gz):
    data = _mutate(TS, kind, pos, bit, junk)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fuzz.ts.gz" if gz else "fuzz.ts")
        with open(path, "wb") as f:
            f.write(gzip.compress(data) if gz and kind != "random" else data)
        try:
            out = rnnrs.datasets.load_ts(path)
        except ValueError as e:
            assert path in str(e)
            return
        assert all(x.ndim == 2 for x in out.X)


def test_errors_form_one_family():
    with pytest.raises(RnnrsError) as e:
        rnnrs.set_num_threads(-1)
    assert isinstance(e.value, ValueError) and e.value.arg == "n" and "positive" in str(e.value)
    with pytest.raises(rnnrs.errors.ShapeError) as e:
        rnnrs._core.rnn_forward("LSTM", np.zeros((2, 3), np.float32), [], hidden_size=4)
    assert isinstance(e.value, ValueError) and e.value.arg == "input"
    with pytest.raises(rnnrs.errors.DTypeError) as e:
        rnnrs._core.rnn_forward("LSTM", np.zeros((2, 1, 3), np.int64), [], hidden_size=4)
    assert isinstance(e.value, TypeError) and e.value.arg == "input"


def test_a_list_as_layer_input_is_converted():
    lstm = rnnrs.LSTM(2, 3, seed=0)
    x = [[[0.5, -1.0]], [[1.0, 2.0]]]
    np.testing.assert_array_equal(lstm(x)[0], lstm(np.array(x, np.float32))[0])
    with pytest.raises(TypeError, match="input: expected numbers convertible to float32"):
        lstm([["a", "b"]])
