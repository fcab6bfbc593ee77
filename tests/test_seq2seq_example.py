"""examples/date_translation.py in its --quick mode learns something real."""

import pathlib
import runpy

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "date_translation.py"


def test_date_translation_quick(capsys):
    result = runpy.run_path(str(EXAMPLE), run_name="example")["main"](["--quick"])
    out = capsys.readouterr().out
    assert "held-out exact match" in out and "beam search" in out and "#" in out
    # Uniform guessing over 14 tokens costs ln 14 = 2.6 nats per token.
    assert result["loss"] < 0.5
    assert result["accuracy"] > 0.5  # 86 % in this mode; reaches >= 99 % in the full run
