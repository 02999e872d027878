"""Regenerate docs/images/html-report.png: the HTML report of three example tasks on dummy:random, smollm2
and dummy:oracle, screenshot in headless Chromium (apt-get install chromium).

Run:  python bench/html_screenshot.py [OUT.png]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("capitals", "opposites", "small_addition")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "images" / "html-report.png").resolve()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("headless Chromium is needed: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            shutil.copytree(ROOT / "example_tasks" / task, Path(tmp) / task)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--lm-model=dummy:random",
                        "--lm-model=smollm2", "--lm-model=dummy:oracle", "--lm-html=report.html"], cwd=tmp)
        html = Path(tmp) / "report.html"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1100,3000", f"--screenshot={out}", html.as_uri()], check=True,
                       capture_output=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
