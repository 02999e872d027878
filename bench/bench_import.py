"""What the plugin costs a project that does not use it: pytest loads the ``pytest11`` entry point of every
installed plugin in every run, so a one-test project pays for importing ``pytest_lmbench.plugin``.

    python bench/bench_import.py [--runs 15]

Times whole ``pytest`` processes on a one-test project, with the plugin and with ``-p no:lmbench``,
interleaved (so drift of a noisy machine hits both alike), and prints the medians and their difference;
then the modules the plugin's import brings in (``-X importtime``). Goal (docs/performance.md): at most 20 ms.
Bytecode is written and used as in an installed package, even where PYTHONDONTWRITEBYTECODE is set (an
editable install would otherwise compile the package's sources in every run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytest_timing import timed_pytest

TEST = "def test_one():\n    assert 1 + 1 == 2\n"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_cost() -> tuple[float, list[str]]:
    """(microseconds to import the plugin after pytest, the heaviest modules it imported)."""
    code = "import pytest; import pytest_lmbench.plugin"
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)  # bytecode written
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          check=True, env=ENV)
    rows = []
    seen_pytest = False
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not cumulative.isdigit():
            continue
        if name == "pytest":
            seen_pytest = True
            continue
        if seen_pytest:
            rows.append((int(cumulative), name))
    total = next((us for us, name in rows if name == "pytest_lmbench.plugin"), 0)
    heavy = [f"{us / 1000:6.1f} ms  {name}" for us, name in sorted(rows, reverse=True)[:8]]
    return total / 1000, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "test_one.py").write_text(TEST)
        timed_pytest([], root, env=ENV)  # warm the file system cache and write .pyc files
        timed_pytest(["-p", "no:lmbench"], root, env=ENV)
        on, off = [], []
        for _ in range(args.runs):
            on.append(timed_pytest([], root, ok=(0,), env=ENV))
            off.append(timed_pytest(["-p", "no:lmbench"], root, ok=(0,), env=ENV))
    with_plugin, without = statistics.median(on), statistics.median(off)
    print(f"one-test project, median of {args.runs} whole pytest processes each:")
    print(f"  with pytest-lmbench installed: {with_plugin * 1000:.0f} ms (range {min(on) * 1000:.0f}-"
          f"{max(on) * 1000:.0f})")
    print(f"  -p no:lmbench:                 {without * 1000:.0f} ms (range {min(off) * 1000:.0f}-"
          f"{max(off) * 1000:.0f})")
    print(f"  the plugin costs:              {(with_plugin - without) * 1000:+.0f} ms")
    total, heavy = import_cost()
    print(f"import pytest_lmbench.plugin after pytest: {total:.1f} ms; the largest imports (cumulative):")
    for line in heavy:
        print("  " + line)


if __name__ == "__main__":
    main()
