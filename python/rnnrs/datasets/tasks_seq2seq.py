"""Synthetic sequence-to-sequence tasks and a character vocabulary.

- `dates`: date normalisation, human-written dates in many formats
  ("5 March 2021", "03/05/21", "Friday, March 5, 2021", ...) to ISO
  ``"2021-03-05"`` (the classic toy task of attention tutorials);
- `digit_reversal`, `digit_sorting`: digit strings to their reversal / sorted
  digits;
- `CharVocab`: characters <-> token ids with ``<pad>``, ``<bos>``, ``<eos>``,
  and padding of a list of strings into a ``(N, L)`` array plus lengths.

Every generator is seeded (``numpy.random.default_rng(seed)``) and returns
two lists of strings ``(sources, targets)``.
"""

from __future__ import annotations

import datetime as _dt
from numbers import Integral
from typing import Iterable, Sequence

import numpy as np

__all__ = ["CharVocab", "DATE_FORMATS", "dates", "digit_reversal", "digit_sorting"]

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _fmt(d: _dt.date, kind: str) -> str:
    month, day = _MONTHS[d.month - 1], _DAYS[d.weekday()]
    yy = f"{d.year % 100:02d}"
    return {
        "d Month yyyy": f"{d.day} {month} {d.year}",
        "dd Mon yyyy": f"{d.day:02d} {month[:3]} {d.year}",
        "mm/dd/yy": f"{d.month:02d}/{d.day:02d}/{yy}",
        "Weekday, Month d, yyyy": f"{day}, {month} {d.day}, {d.year}",
        "Month d, yyyy": f"{month} {d.day}, {d.year}",
        "Mon d yyyy": f"{month[:3]} {d.day} {d.year}",
        "d.m.yyyy": f"{d.day}.{d.month}.{d.year}",
        "yyyy/mm/dd": f"{d.year}/{d.month:02d}/{d.day:02d}",
        "dd-Mon-yy": f"{d.day:02d}-{month[:3]}-{yy}",
        "WEEKDAY D MONTH YYYY": f"{day} {d.day} {month} {d.year}".upper(),
        "Wkd d Mon yyyy": f"{day[:3]} {d.day} {month[:3]} {d.year}",
        "month d yyyy": f"{month.lower()} {d.day} {d.year}",
    }[kind]


#: The source formats `dates` draws from (two-digit years mean 1950-2049).
DATE_FORMATS = ("d Month yyyy", "dd Mon yyyy", "mm/dd/yy", "Weekday, Month d, yyyy", "Month d, yyyy",
                "Mon d yyyy", "d.m.yyyy", "yyyy/mm/dd", "dd-Mon-yy", "WEEKDAY D MONTH YYYY", "Wkd d Mon yyyy",
                "month d yyyy")


def _count(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {n!r}")
    return int(n)


def dates(n: int, seed: int | None = 0, formats: Sequence[str] | None = None,
          start: str = "1950-01-01", end: str = "2049-12-31") -> tuple[list[str], list[str]]:
    """``n`` random dates between ``start`` and ``end`` (ISO, inclusive).

    Returns ``(sources, targets)``: each source written in a format drawn
    uniformly from ``formats`` (default: all of `DATE_FORMATS`), each target
    ISO ``"yyyy-mm-dd"``. Two-digit years are only unambiguous within a
    century, so ``start``/``end`` must stay within 1950-2049 when ``mm/dd/yy``
    or ``dd-Mon-yy`` is used.

    >>> src, tgt = dates(2, seed=0)
    """
    n = _count("n", n)
    formats = tuple(DATE_FORMATS if formats is None else formats)
    if not formats:
        raise ValueError("formats: expected at least one format")
    bad = [f for f in formats if f not in DATE_FORMATS]
    if bad:
        raise ValueError(f"formats: unknown format {bad[0]!r}; expected names from DATE_FORMATS")
    try:
        lo, hi = _dt.date.fromisoformat(start), _dt.date.fromisoformat(end)
    except (TypeError, ValueError) as e:
        raise ValueError(f"start/end: expected ISO dates 'yyyy-mm-dd' ({e})") from None
    if hi < lo:
        raise ValueError(f"end: {end} is before start {start}")
    if any("yy" in f and "yyyy" not in f for f in formats) and (lo.year < 1950 or hi.year > 2049):
        raise ValueError("start/end: two-digit-year formats need dates within 1950-2049")
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, (hi - lo).days + 1, size=n)
    kinds = rng.integers(0, len(formats), size=n)
    src, tgt = [], []
    for off, k in zip(offsets, kinds):
        d = lo + _dt.timedelta(days=int(off))
        src.append(_fmt(d, formats[int(k)]))
        tgt.append(d.isoformat())
    return src, tgt


def _digits(n, min_len, max_len, seed):
    n = _count("n", n)
    min_len, max_len = _count("min_len", min_len), _count("max_len", max_len)
    if max_len < min_len:
        raise ValueError(f"max_len: expected >= min_len ({min_len}), got {max_len}")
    rng = np.random.default_rng(seed)
    lens = rng.integers(min_len, max_len + 1, size=n)
    return ["".join(map(str, rng.integers(0, 10, size=int(k)))) for k in lens]


def digit_reversal(n: int, min_len: int = 1, max_len: int = 10, seed: int | None = 0):
    """``n`` random digit strings (lengths uniform in [min_len, max_len]) and their reversals."""
    src = _digits(n, min_len, max_len, seed)
    return src, [s[::-1] for s in src]


def digit_sorting(n: int, min_len: int = 1, max_len: int = 10, seed: int | None = 0):
    """``n`` random digit strings and their digits sorted in ascending order."""
    src = _digits(n, min_len, max_len, seed)
    return src, ["".join(sorted(s)) for s in src]


class CharVocab:
    """Characters <-> token ids; ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>``.

    ``CharVocab(texts)`` collects the characters of ``texts`` (sorted, so
    the ids do not depend on the order of the texts).

    >>> v = CharVocab(["2021-03-05"])
    >>> x, lengths = v.encode(["2021", "05"], eos=True)   # (2, 5) int64, [5, 3]
    >>> v.decode(x, lengths)                               # ['2021', '05']
    """

    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("<pad>", "<bos>", "<eos>")

    def __init__(self, texts: Iterable[str]):
        chars = set()
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}]: expected a str, got {type(t).__name__}")
            chars.update(t)
        self.chars = sorted(chars)
        self.index = {c: i + len(self.SPECIALS) for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.SPECIALS) + len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} tokens: {''.join(self.chars)!r} + specials)"

    @property
    def pad(self) -> int:
        return self.PAD

    @property
    def bos(self) -> int:
        return self.BOS

    @property
    def eos(self) -> int:
        return self.EOS

    def encode(self, texts: Sequence[str], eos: bool = False, length: int | None = None):
        """Pads ``texts`` into ``(tokens (N, L) int64, lengths (N,) int64)``.

        With ``eos`` each sequence ends with the end token. ``L`` is the
        longest sequence, or ``length`` (which must fit them all). Unknown
        characters raise ValueError; an empty text raises too (sequences
        have at least one token).
        """
        if isinstance(texts, str):
            raise TypeError("texts: expected a sequence of str, got one str (wrap it in a list)")
        rows = []
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}]: expected a str, got {type(t).__name__}")
            try:
                ids = [self.index[c] for c in t]
            except KeyError as e:
                raise ValueError(f"texts[{i}]: character {e.args[0]!r} is not in the vocabulary") from None
            if eos:
                ids.append(self.EOS)
            if not ids:
                raise ValueError(f"texts[{i}]: empty sequence")
            rows.append(ids)
        if not rows:
            raise ValueError("texts: expected at least one text")
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        width = int(lengths.max()) if length is None else int(length)
        if width < lengths.max():
            raise ValueError(f"length: {length} is shorter than the longest sequence ({lengths.max()})")
        out = np.full((len(rows), width), self.PAD, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out, lengths

    def decode(self, tokens, lengths=None, strip: bool = True) -> list[str]:
        """Token rows back to strings; stops at each row's length and (with
        ``strip``) at the first end token; special tokens are dropped."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 2:
            raise ValueError(f"tokens: expected a (N, L) array, got shape {tokens.shape}")
        chars = list(self.SPECIALS) + self.chars
        out = []
        for i, row in enumerate(tokens):
            n = len(row) if lengths is None else int(lengths[i])
            s = []
            for t in row[:n]:
                t = int(t)
                if strip and t == self.EOS:
                    break
                if not 0 <= t < len(chars):
                    raise ValueError(f"tokens[{i}]: token {t} is not in the vocabulary of size {len(chars)}")
                if t >= len(self.SPECIALS):
                    s.append(chars[t])
            out.append("".join(s))
        return out
