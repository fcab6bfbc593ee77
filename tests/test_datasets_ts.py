"""The `.ts` reader on written files (equal/variable length, labels, targets, missing values, bad
files) and the shipped Japanese Vowels set against the shared copy of the archive."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnrs.datasets import japanese_vowels, load_ts

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "uea" / "JapaneseVowels"

HEADER = "#comment\n@problemName toy\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n"


def write(tmp_path, text, name="x.ts"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_variable_length_multivariate_with_labels(tmp_path):
    text = HEADER + "@equalLength false\n@classLabel true a b\n@data\n1,2,3:4,5,6:a\n7,?:8,9:b\n"
    d = load_ts(write(tmp_path, text))
    assert [x.shape for x in d.X] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(d.X[0], [[1, 4], [2, 5], [3, 6]])
    assert np.isnan(d.X[1][1, 0]) and d.X[1][1, 1] == 9
    assert list(d.y) == ["a", "b"] and d.class_labels == ("a", "b")
    assert d.meta["problemname"] == "toy"


def test_regression_and_unlabelled(tmp_path):
    text = "@dimensions 1\n@equalLength true\n@targetLabel true\n@data\n1,2:0.5\n3,4:-1e3\n"
    d = load_ts(write(tmp_path, text))
    np.testing.assert_array_equal(d.y, [0.5, -1000.0])
    d = load_ts(write(tmp_path, "@classLabel false\n@data\n1,2\n3,4,5\n", "u.ts"))
    assert d.y is None and [x.shape for x in d.X] == [(2, 1), (3, 1)]


def test_gzip_and_stream(tmp_path):
    text = "@classLabel true 1 2\n@data\n1,2:1\n"
    p = tmp_path / "g.ts.gz"
    with gzip.open(p, "wt") as f:
        f.write(text)
    assert load_ts(p).y[0] == "1"
    with open(write(tmp_path, text), encoding="utf-8") as f:
        assert load_ts(f).X[0].shape == (2, 1)


@pytest.mark.parametrize(
    "text, match",
    [
        ("@dimensions 2\n@data\n1,2\n", "expected 2 dimensions"),
        ("@classLabel true a\n@data\n1,2:b\n", "not one of"),
        ("@data\n1,x,3\n", "not a number"),
        ("@dimensions 2\n@data\n1,2:3\n", "differ in length"),
        ("@classLabel true a\n", "no @data"),
        ("@data\n", "no cases"),
        ("@timeStamps true\n@data\n", "not supported"),
        ("hello\n@data\n1\n", "header line"),
        ("@dimensions two\n@data\n1\n", "integer"),
        ("@classLabel maybe\n@data\n1\n", "true or false"),
        ("@equalLength true\n@data\n1,2\n3\n", "differ in length"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(ValueError, match=match) as e:
        load_ts(p)
    assert "x.ts" in str(e.value)


def test_missing_binary_and_truncated_gzip(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        load_ts(tmp_path / "nope.ts")
    p = tmp_path / "b.ts"
    p.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match="b.ts"):
        load_ts(p)
    g = tmp_path / "t.ts.gz"
    g.write_bytes(gzip.compress(b"@data\n1,2\n" * 100)[:30])
    with pytest.raises(ValueError, match="t.ts.gz"):
        load_ts(g)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 2)), min_size=1, max_size=5), st.integers(1, 3))
def test_round_trip_written_cases(tmp_path_factory, cases, dims):
    rng = np.random.default_rng(len(cases) * 10 + dims)
    xs = [rng.standard_normal((t, dims)) for t, _ in cases]
    lines = ["@dimensions %d" % dims, "@classLabel true c0 c1 c2", "@data"]
    for x, (_, lab) in zip(xs, cases):
        lines.append(":".join(",".join(repr(float(v)) for v in x[:, d]) for d in range(dims)) + f":c{lab}")
    p = tmp_path_factory.mktemp("ts") / "r.ts"
    p.write_text("\n".join(lines) + "\n")
    d = load_ts(p)
    for a, b in zip(d.X, xs):
        np.testing.assert_array_equal(a, b)
    assert list(d.y) == [f"c{lab}" for _, lab in cases]


def test_japanese_vowels_shipped_matches_archive():
    X_tr, y_tr, X_te, y_te = japanese_vowels()
    assert (len(X_tr), len(X_te)) == (270, 370)
    assert all(x.shape[1] == 12 and 7 <= x.shape[0] <= 29 for x in X_tr + X_te)
    assert np.bincount(y_tr).tolist() == [30] * 9 and set(y_te.tolist()) == set(range(9))
    assert y_tr.dtype == np.int64
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not there to compare with")
    ref = load_ts(SHARED / "JapaneseVowels_TEST.ts")
    for a, b in zip(X_te, ref.X):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(y_te + 1, ref.y.astype(int))
