"""`python -m rnnrs`: info and a quick demo reach their results."""

from __future__ import annotations

import subprocess
import sys

import rnnrs
from rnnrs.__main__ import demo, info


def test_info_reports_version_simd_threads_and_cpu():
    i = info()
    assert i["rnnrs"] == rnnrs.__version__
    assert i["simd"] in ("avx512", "avx2", "scalar", "neon")
    assert i["threads"] == rnnrs.get_num_threads() and i["cpu"]
    out = subprocess.run([sys.executable, "-m", "rnnrs", "info"], capture_output=True, text=True, check=True)
    assert f"rnnrs     {rnnrs.__version__}" in out.stdout and "threads" in out.stdout


def test_quick_demo_reaches_its_results(capsys):
    out = demo(quick=True)
    assert out["esn_nrmse"] < 0.05  # one-step Mackey-Glass forecast
    assert out["vowels_accuracy"] > 0.5  # 9 speakers: chance is 11 %
    assert out["char_sample"].startswith("The ") and len(out["char_sample"]) > 40
    printed = capsys.readouterr().out
    assert "Mackey-Glass" in printed and "Japanese Vowels" in printed and "Sample" in printed
