"""--lm-html: a self-contained page with tables and plots; rendered in headless Chromium when it is installed
(Debian packages chromium and chromium-driver; .ci/run installs them)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import arith_task, mc_task, write_task


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, a in self.found if t == tag and (cls is None or cls in (a.get("class") or "").split()))


@pytest.fixture
def html_report(pytester: pytest.Pytester) -> Path:
    write_task(pytester.path, "arith/task.json", arith_task(n=8, lmbench={"threshold": {"exact_str_match": 0.9}}))
    write_task(pytester.path, "colors/task.json", mc_task(n=12, lmbench={"verbalized_confidence": True}))
    result = pytester.runpytest("--lm-model=dummy:random?seed=1", "--lm-model=dummy:oracle",
                                "--lm-html=out/report.html", "--lm-report=r.json", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["lmbench html: out/report.html"])
    return pytester.path / "out" / "report.html"


def test_html_has_tables_and_plots_and_needs_no_network(html_report: Path) -> None:
    text = html_report.read_text(encoding="utf-8")
    page = _Elements()
    page.feed(text)
    assert page.count("table") >= 2
    assert page.count("svg", "bars") == 1  # score by model, two models
    assert page.count("svg", "scaling") == 2  # one score-against-model plot per task
    # reliability: one per log-prob diagram (colors, both models) and per stated-confidence diagram
    rows = json.loads((html_report.parent.parent / "r.json").read_text())["results"]
    diagrams = sum(bool(r["reliability"]) + bool(r["confidence_reliability"]) for r in rows)
    assert sum(bool(r["reliability"]) for r in rows) == 2 and diagrams >= 3
    assert page.count("svg", "reliability") == diagrams
    assert page.count("rect", "bin") >= 4 and page.count("circle", "point") == 4
    assert page.count("script") == 0 and page.count("link") == 0 and page.count("img") == 0
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert "model dummy:random<" in text and "failed" in text  # random misses the 0.9 threshold
    assert html_report.stat().st_mode & 0o044  # readable by others, as any report file


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_html_renders_in_headless_chromium(html_report: Path, tmp_path: Path) -> None:
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,1600"]
    dom = subprocess.run([*flags, "--dump-dom", html_report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = _Elements()
    rendered.feed(dom.stdout)
    parsed = _Elements()
    parsed.feed(html_report.read_text(encoding="utf-8"))
    assert rendered.count("svg") == parsed.count("svg") >= 6 and rendered.count("h2") >= 4
    shot = tmp_path / "shot.png"
    run = subprocess.run([*flags, f"--screenshot={shot}", html_report.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    assert _png_size(shot) == (1200, 1600) and shot.stat().st_size > 20_000  # a page with content, not blank
