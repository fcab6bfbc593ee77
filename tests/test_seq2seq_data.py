"""rnnrs.datasets seq2seq tasks: dates, digit reversal/sorting, CharVocab."""

import datetime as dt
import re

import numpy as np
import pytest

from rnnrs.datasets import DATE_FORMATS, CharVocab, dates, digit_reversal, digit_sorting


def test_dates_are_seeded_iso_and_cover_every_format():
    src, tgt = dates(600, seed=3)
    assert (src, tgt) == dates(600, seed=3)
    assert src != dates(600, seed=4)[0]
    for t in tgt:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", t)
        assert 1950 <= dt.date.fromisoformat(t).year <= 2049
    # every format shows up, and a few known renderings are right
    for f in DATE_FORMATS:
        s, t = dates(1, seed=0, formats=[f], start="2021-03-05", end="2021-03-05")
        assert t == ["2021-03-05"]
    one = lambda f: dates(1, formats=[f], start="2021-03-05", end="2021-03-05")[0][0]  # noqa: E731
    assert one("d Month yyyy") == "5 March 2021"
    assert one("mm/dd/yy") == "03/05/21"
    assert one("Weekday, Month d, yyyy") == "Friday, March 5, 2021"
    assert one("d.m.yyyy") == "5.3.2021"
    assert len(set(src)) > 500


def test_dates_errors():
    with pytest.raises(ValueError, match="n"):
        dates(0)
    with pytest.raises(ValueError, match="formats"):
        dates(3, formats=["yyyy.dd"])
    with pytest.raises(ValueError, match="start/end"):
        dates(3, start="1900-01-01")
    with pytest.raises(ValueError, match="end"):
        dates(3, start="2020-01-02", end="2020-01-01", formats=["d Month yyyy"])


def test_digit_tasks():
    src, tgt = digit_reversal(50, 2, 6, seed=1)
    assert all(t == s[::-1] and 2 <= len(s) <= 6 and s.isdigit() for s, t in zip(src, tgt))
    src, tgt = digit_sorting(50, 1, 4, seed=1)
    assert all(t == "".join(sorted(s)) for s, t in zip(src, tgt))
    with pytest.raises(ValueError, match="max_len"):
        digit_sorting(3, 5, 2)


def test_char_vocab_round_trip_and_errors():
    v = CharVocab(["2021-03-05", "abc"])
    assert len(v) == 3 + len(set("2021-03-05abc"))
    x, lengths = v.encode(["2021", "05", "c"], eos=True)
    assert x.dtype == np.int64 and x.shape == (3, 5)
    np.testing.assert_array_equal(lengths, [5, 3, 2])
    assert x[0, 4] == v.eos and x[2, 2] == v.pad
    assert v.decode(x, lengths) == ["2021", "05", "c"]
    assert v.decode(x) == ["2021", "05", "c"]
    with pytest.raises(ValueError, match="character 'z'"):
        v.encode(["az"])
    with pytest.raises(ValueError, match="empty"):
        v.encode([""])
    with pytest.raises(TypeError, match="one str"):
        v.encode("abc")
    with pytest.raises(ValueError, match="length"):
        v.encode(["abc"], length=2)
