"""Loading the PyTorch reference fixtures in ../shared/fixtures/torch/.

`fixture_params(pattern)` gives pytest parameters, one per file. Without the
folder the tests skip with a reason, except under CI (CI=true), where a
missing folder is an error: the fixtures are the compatibility contract.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("RNNRS_FIXTURES", _ROOT.parent / "shared" / "fixtures" / "torch"))


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def fixture_params(pattern: str) -> list:
    """One pytest.param per fixture file matching `pattern` (a glob)."""
    if not FIXTURES.is_dir():
        if _under_ci():
            raise RuntimeError(f"PyTorch fixtures folder missing under CI: {FIXTURES}")
        reason = f"PyTorch fixtures not found at {FIXTURES} (set RNNRS_FIXTURES)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-fixtures")]
    paths = sorted(FIXTURES.glob(pattern))
    if not paths:
        raise RuntimeError(f"no fixture matches {pattern!r} in {FIXTURES}")
    return [pytest.param(p, id=p.stem) for p in paths]


def load(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of one fixture file."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    return meta, arrays


def tolerances(meta: dict) -> tuple[float, float]:
    """(rtol, atol) of the fixtures README for the case's dtype."""
    return (1e-9, 1e-11) if meta["dtype"] == "float64" else (1e-4, 1e-5)
