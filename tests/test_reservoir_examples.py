"""The reservoir examples run in their --quick mode and reach their stated results."""

import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _main(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")["main"]


def test_japanese_vowels_example_quick(capsys):
    results = _main("esn_japanese_vowels.py")(["--quick"])
    assert "ReservoirPy tutorial reports" in capsys.readouterr().out
    assert results["mean state, ridge (defaults)"] >= 0.95


def test_nvar_lorenz_example_quick(capsys):
    results = _main("nvar_lorenz.py")(["--quick", "--data", "rk4", "--ridge", "1e-3", "--trials", "1"])
    assert "NRMSE over one Lyapunov time" in capsys.readouterr().out
    assert results["rnnrs"] < 0.05


def test_search_example_quick(capsys, tmp_path):
    pytest.importorskip("distributed")
    results = _main("esn_search.py")(["--quick", "--plot", ""])
    assert results["same_as_serial"] and results["best_score"] > 0.3
