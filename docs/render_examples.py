"""Renders the examples into the documentation: one page per script with its
description, the command that was run, its printed output and its plots.

    python docs/render_examples.py [--only NAME ...] [--timeout SECONDS]

Runs each script in examples/ (in a temporary working directory, with
matplotlib's Agg backend when matplotlib is installed) and writes
docs/examples/<name>.md plus docs/examples/index.md. The pages are committed:
the documentation build itself never runs an example. The arguments below
are those of the recorded run; a page says which they were, the machine, and
the wall time.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "examples"

# Script -> arguments of the recorded run (full runs where they take about a
# minute or less on 2 cores; the documented quick mode otherwise, said so on the page).
RUNS: dict[str, list[str]] = {
    "adding_problem": ["--quick"],
    "cell_zoo": [],
    "char_rnn": ["--quick", "--plot", "char_rnn_loss.png"],
    "convlstm_next_frame": ["--quick"],
    "date_translation": ["--quick", "--plot", "date_translation_attention.png"],
    "esn_dask": [],
    "esn_japanese_vowels": ["--quick"],
    "esn_mackey_glass": [],
    "esn_search": ["--quick", "--plot", "esn_search.png"],
    "history_compressor": [],
    "hopfield_capacity": ["--plot", "hopfield_capacity.png"],
    "japanese_vowels": [],
    "lsm_classification": ["--quick"],
    "ntm_copy": ["--minutes", "3"],
    "nvar_lorenz": ["--quick"],
    "online_sines": [],
    "rtrl_online": [],
    "tree_expressions": ["--quick"],
}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def render(name: str, args: list[str], timeout: float) -> str:
    """Runs one example and writes its page; returns the page's title."""
    script = ROOT / "examples" / f"{name}.py"
    doc = _docstring(script)
    title = doc.splitlines()[0].rstrip(".") if doc else name
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(script), *args], cwd=tmp, env=env, capture_output=True,
                                  text=True, timeout=timeout)
            output, rc = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.returncode else ""), proc.returncode
        except subprocess.TimeoutExpired as e:
            output, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
        wall = time.perf_counter() - start
        images = sorted(p for p in Path(tmp).glob("*.png"))
        for p in images:
            shutil.copy(p, OUT / f"{name}--{p.name}")
    body = "\n".join(doc.splitlines()[1:]).strip()
    cmd = " ".join(["python", f"examples/{name}.py", *args])
    lines = [f"# {title}", "", body, "", "## Run", "",
             f"`{cmd}` — {wall:.0f} s wall on {os.cpu_count()} cores ({_cpu()}), "
             f"exit status {rc}, recorded {time.strftime('%Y-%m-%d')}.", "",
             "```text", output.rstrip() or "(no output)", "```", ""]
    for p in images:
        lines += [f"![{p.stem}]({name}--{p.name})", ""]
    lines += ["## Source", "", f"```python\n{script.read_text().rstrip()}\n```", ""]
    (OUT / f"{name}.md").write_text("\n".join(lines))
    print(f"{name}: {wall:.0f} s, exit {rc}, {len(images)} image(s)", flush=True)
    return title


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="render only these examples (default: all)")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    names = [p.stem for p in sorted((ROOT / "examples").glob("*.py"))]
    for name in names:
        if name not in RUNS:
            sys.exit(f"examples/{name}.py has no entry in RUNS of {__file__}")
    for name in args.only or names:
        render(name, RUNS[name], args.timeout)
    index = ["# Examples", "", "Every script in `examples/`, run, with its output and plots "
             "(`python docs/render_examples.py` re-records them).", ""]
    for name in names:
        title = _docstring(ROOT / "examples" / f"{name}.py").splitlines()[0].rstrip(".")
        index.append(f"- [{title}]({name}.md)")
    (OUT / "index.md").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
