"""The examples run in their reduced --quick mode and must learn something real."""

import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def example_main(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")["main"]


def test_char_rnn_quick_beats_unigram(capsys):
    result = example_main("char_rnn.py")(["--quick", "--plot", ""])
    out = capsys.readouterr().out
    assert "validation loss" in out and "sample (temperature" in out
    # A unigram model scores ~3.2 nats/char; context must help a lot even in seconds.
    assert result["unigram"] > 3.0
    assert result["val_loss"] < result["unigram"] - 0.7
    assert result["history"]["step"][-1] > 0


def test_adding_problem_quick_lstm_beats_constant(capsys):
    result = example_main("adding_problem.py")(["--quick"])
    out = capsys.readouterr().out
    assert "LSTM + clipping" in out and "Elman (tanh) + clipping" in out
    assert result["baseline"] == pytest.approx(1 / 6, abs=0.03)
    assert result["lstm"]["mse"] < 0.5 * result["baseline"]


def test_japanese_vowels_quick_learns(capsys):
    result = example_main("japanese_vowels.py")(["--quick"])
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert result["accuracy"] > 0.5  # chance is 1/9 after a few epochs


def test_cell_zoo_quick_runs_every_cell(capsys):
    results = runpy.run_path(str(EXAMPLES / "cell_zoo.py"), run_name="example")["main"](["--quick"])
    out = capsys.readouterr().out
    assert "test NRMSE" in out
    cells = runpy.run_path(str(EXAMPLES / "cell_zoo.py"), run_name="example")["CELLS"]
    assert set(results) == set(cells)
    for name, r in results.items():
        assert 0 < r["nrmse"] < 2.0, (name, r)  # finite, not diverged
        assert r["params"] > 0 and r["step_ms"] > 0
    h = 8  # --quick: LSTM(1, 8) + Linear(8, 1)
    assert results["LSTM"]["params"] == 4 * h * (1 + h + 2) + h + 1
