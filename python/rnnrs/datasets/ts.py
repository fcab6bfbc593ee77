"""Reader for the UEA/UCR time-series archive's ``.ts`` format, and the shipped Japanese Vowels set.

The format (sktime/aeon): header lines ``@name value`` (``@problemName``, ``@timeStamps``,
``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
``@classLabel true|false labels...``, ``@targetLabel true|false``), comment lines starting with
``#``, then ``@data`` and one case per line: the dimensions separated by ``:``, each a
comma-separated series (all of one case the same length), then the class label or regression
target after the last ``:`` when the header declares one. ``?`` marks a missing value (read as NaN).
"""

from __future__ import annotations

import gzip
import io
import os
from importlib import resources
from typing import IO, NamedTuple, Union

import numpy as np

__all__ = ["TsData", "japanese_vowels", "load_ts"]

PathOrFile = Union[str, "os.PathLike[str]", IO[str]]


class TsData(NamedTuple):
    """What `load_ts` returns.

    ``X``: list of float64 arrays ``(T_i, dimensions)``, one per case (time along axis 0, as the
    recurrent layers with ``batch_first=False`` read one sequence); ``y``: class labels as strings
    (``@classLabel true``), float targets (``@targetLabel true``) or None; ``class_labels``: the
    labels the header declares, in its order (empty when there are none); ``meta``: the other
    header fields, lower-cased names to their raw values.
    """

    X: list
    y: np.ndarray | None
    class_labels: tuple
    meta: dict


def _bool(value: str, field: str, where: str) -> bool:
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise ValueError(f"{where}: @{field} expects true or false, got {value!r}")
    return v == "true"


def _open_text(source: PathOrFile) -> tuple[IO[str], str, bool]:
    """Text stream, a name for messages, and whether we opened it (and must close it)."""
    if hasattr(source, "read"):
        return source, getattr(source, "name", "<stream>"), False  # type: ignore[return-value]
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such .ts file: {path!r}")
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8"), path, True
    return open(path, encoding="utf-8"), path, True


def load_ts(path: PathOrFile) -> TsData:
    """Load a ``.ts`` file (plain or ``.gz``) of the UEA/UCR archive.

    Handles equal and variable length, univariate and multivariate series, class labels, regression
    targets and missing values (``?`` -> NaN). A malformed file raises ``ValueError`` naming the file
    and line. Time-stamped series (``@timeStamps true``) are not supported and say so.

    >>> data = load_ts("JapaneseVowels_TRAIN.ts")      # doctest: +SKIP
    >>> data.X[0].shape, data.y[0]                      # doctest: +SKIP
    ((20, 12), '1')
    """
    stream, name, owned = _open_text(path)
    try:
        return _parse(stream, name)
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: not a text .ts file ({e.reason})") from None
    except (OSError, EOFError) as e:  # truncated or corrupt gzip
        raise ValueError(f"{name}: cannot read the file ({e})") from None
    finally:
        if owned:
            stream.close()


def _parse(stream: IO[str], name: str) -> TsData:
    meta: dict = {}
    class_labels: tuple = ()
    has_class = has_target = False
    dims: int | None = None
    in_data = False
    X: list = []
    labels: list = []
    for lineno, raw in enumerate(stream, 1):
        line = raw.strip()
        where = f"{name}, line {lineno}"
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{where}: expected a header line starting with '@' before @data, got {line[:40]!r}")
            field, _, value = line[1:].partition(" ")
            field = field.lower()
            if field == "data":
                in_data = True
                continue
            if field == "classlabel":
                parts = value.split()
                if not parts:
                    raise ValueError(f"{where}: @classLabel expects true or false")
                has_class = _bool(parts[0], "classLabel", where)
                class_labels = tuple(parts[1:]) if has_class else ()
                if has_class and not class_labels:
                    raise ValueError(f"{where}: @classLabel true must list the labels")
            elif field == "targetlabel":
                has_target = _bool(value, "targetLabel", where)
            elif field == "timestamps":
                if _bool(value, "timeStamps", where):
                    raise ValueError(f"{where}: time-stamped series (@timeStamps true) are not supported")
            elif field == "dimensions":
                try:
                    dims = int(value)
                except ValueError:
                    raise ValueError(f"{where}: @dimensions expects an integer, got {value!r}") from None
                if dims < 1:
                    raise ValueError(f"{where}: @dimensions must be >= 1, got {dims}")
            meta[field] = value.strip()
            continue
        fields = line.split(":")
        labelled = has_class or has_target
        if labelled:
            if len(fields) < 2:
                raise ValueError(f"{where}: expected series and a label separated by ':'")
            label = fields.pop().strip()
            if has_class and label not in class_labels:
                raise ValueError(f"{where}: class label {label!r} is not one of {list(class_labels)}")
            labels.append(label)
        if dims is not None and len(fields) != dims:
            raise ValueError(f"{where}: expected {dims} dimensions, got {len(fields)}")
        try:
            series = [np.array([np.nan if v.strip() == "?" else float(v) for v in f.split(",")]) for f in fields]
        except ValueError as e:
            raise ValueError(f"{where}: not a number ({e})") from None
        lengths = {len(s) for s in series}
        if len(lengths) != 1:
            raise ValueError(f"{where}: the dimensions of one case differ in length: {sorted(lengths)}")
        X.append(np.stack(series, axis=1))
    if not in_data:
        raise ValueError(f"{name}: no @data section (is this a .ts file?)")
    if not X:
        raise ValueError(f"{name}: the @data section holds no cases")
    if dims is None and len({x.shape[1] for x in X}) != 1:
        raise ValueError(f"{name}: cases have different numbers of dimensions")
    if meta.get("equallength", "").lower() == "true" and len({x.shape[0] for x in X}) != 1:
        raise ValueError(f"{name}: @equalLength true but the cases differ in length")
    y: np.ndarray | None = None
    if has_class:
        y = np.array(labels)
    elif has_target:
        try:
            y = np.array([float(v) for v in labels])
        except ValueError as e:
            raise ValueError(f"{name}: a regression target is not a number ({e})") from None
    return TsData(X, y, class_labels, meta)


def japanese_vowels() -> tuple[list, np.ndarray, list, np.ndarray]:
    """The UCI Japanese Vowels set, shipped with rnnrs: ``(X_train, y_train, X_test, y_test)``.

    640 utterances of /ae/ by nine male speakers, each a sequence of 12 LPC cepstrum coefficients,
    7 to 29 frames long; the standard split of 270 training and 370 test cases. ``X_*`` are lists of
    float64 arrays ``(T_i, 12)``; ``y_*`` int64 speaker indices 0-8 (the file's labels 1-9 minus one).

    Source: M. Kudo, J. Toyama and M. Shimbo (1999), "Multidimensional curve classification using
    passing-through regions", Pattern Recognition Letters 20(11-13):1103-1111; UCI Machine Learning
    Repository, https://doi.org/10.24432/C5NS47. Licence: CC BY 4.0. Read from the UEA/UCR archive's
    ``.ts`` files (gzipped in the package) by `load_ts`.
    """
    out = []
    for split in ("TRAIN", "TEST"):
        ref = resources.files("rnnrs.datasets").joinpath(f"data/JapaneseVowels_{split}.ts.gz")
        with resources.as_file(ref) as path:
            data = load_ts(path)
        out += [data.X, np.array([data.class_labels.index(v) for v in data.y], dtype=np.int64)]
    return tuple(out)  # type: ignore[return-value]
