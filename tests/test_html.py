"""--lm-html: a self-contained page with tables and plots; rendered in headless Chromium when it is installed
(Debian packages chromium and chromium-driver; .ci/run installs them)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import arith_task, mc_task, write_task

from pytest_lmbench.core.compare import flips
from pytest_lmbench.core.gates import example_failed
from pytest_lmbench.core.results import ExampleResult, TaskResult, load_report
from pytest_lmbench.report.html import render_html


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
    # the only scripts: the examples' data (JSON, not run) and the inline script that renders it; none fetched
    scripts = [a for t, a in page.found if t == "script"]
    assert scripts and all("src" not in a for a in scripts)
    assert [a.get("id") for a in scripts if a.get("type") != "application/json"] == ["lmx-script"]
    assert page.count("link") == 0 and page.count("img") == 0
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


# ---------------------------------------------------------------------------------------- the examples

_DATA = re.compile(r'<script type="application/json" id="(lmx-data-\d+)">(.*?)</script>', re.S)
EVIL = "<script>alert(1)</script>"


def _sections(text: str) -> dict[tuple[str, int], dict]:
    """The examples' data embedded in a page, by (task, shots)."""
    out = {}
    for found in _DATA.finditer(text):
        section = json.loads(found.group(2))
        out[(section["task"], section["shots"])] = section
    return out


def _leaves(report: Path) -> list[TaskResult]:
    return [r for r in load_report(str(report)) if r.examples and not r.aggregate]


def _rows_by_id(section: dict) -> dict[str, dict]:
    rows = {row["id"]: row for row in section["rows"]}
    assert len(rows) == len(section["rows"])  # no example twice in these tasks
    return rows


def test_html_holds_every_example_of_every_item(html_report: Path) -> None:
    """Every answer of every item is in the page's data, as the JSON report has it, wrong ones first."""
    sections = _sections(html_report.read_text(encoding="utf-8"))
    results = _leaves(html_report.parent.parent / "r.json")
    assert len(results) == 4 and set(sections) == {(r.task, r.shots) for r in results}
    for r in results:
        section = sections[(r.task, r.shots)]
        assert section["models"] == ["dummy:random", "dummy:oracle"]
        col = section["models"].index(r.model)
        rows = _rows_by_id(section)
        wrong = 0
        for ex in r.examples:
            row = rows[ex.id]
            cell = row["a"][col]
            assert cell.get("p", row.get("p")) == ex.prompt and row["t"] == ex.targets and row["i"] == ex.index
            assert cell.get("r") == ex.response
            assert cell.get("rr") == (ex.raw_response if ex.raw_response != ex.response else None)
            assert cell.get("ch") == (ex.chosen if ex.choices is not None else None)
            assert cell.get("sc", {}) == ex.scores and cell.get("v") == ex.score
            assert cell.get("cf") == ex.confidence_text
            assert cell["s"] == ("w" if example_failed(ex, r) else "r")
            wrong += cell["s"] == "w"
            if ex.choices is not None:
                assert row["c"] == ex.choices and row["ts"] == ex.target_scores
                probs = cell["pr"]
                assert sum(probs) == pytest.approx(1.0, abs=1e-3)
                assert ex.chosen == ex.choices[max(range(len(probs)), key=probs.__getitem__)]
        assert section["counts"][col] == {"n": len(r.examples), "wrong": wrong, "right": len(r.examples) - wrong,
                                          "flipped": 0}
    for section in sections.values():  # rows some model got wrong come first, each part in the task's order
        ranks = [0 if any(c and c["s"] == "w" for c in row["a"]) else 1 for row in section["rows"]]
        assert ranks == sorted(ranks)
        for rank in (0, 1):
            indexes = [row["i"] for row, k in zip(section["rows"], ranks) if k == rank]
            assert indexes == sorted(indexes)
    random_arith = next(r for r in results if (r.task, r.model) == ("arith", "dummy:random"))
    assert any(example_failed(ex, random_arith) for ex in random_arith.examples)


def _evil_task() -> dict:
    return {"name": "evil", "description": "markup in prompts and targets", "keywords": ["escaping"],
            "metrics": ["exact_str_match"], "preferred_score": "exact_str_match",
            "examples": [{"input": f"{EVIL} 1 + 1 = </script><!-- & \u2028 \u2029 '\" end",
                          "target": f"</script>{EVIL}"},
                         {"input": "plain 2 + 2 =", "target": "4"}]}


@pytest.fixture
def evil_report(pytester: pytest.Pytester) -> Path:
    write_task(pytester.path, "evil/task.json", _evil_task())
    pytester.runpytest("--lm-model=dummy:oracle", "--lm-model=dummy:random?seed=1", "--lm-html=report.html",
                       "--lm-report=r.json", "-p", "no:cacheprovider")
    return pytester.path / "report.html"


def test_html_examples_keep_markup_as_text(evil_report: Path) -> None:
    """A prompt or answer holding </script> or <script>alert(1)</script> can neither end the data nor run: the
    raw page has it only escaped, and the data parses back to the same text."""
    text = evil_report.read_text(encoding="utf-8")
    assert EVIL not in text and "alert(1)</script>" not in text and "<!--" not in text
    assert text.count("</script>") == text.count("<script") >= 2  # each script ends where it should
    for found in _DATA.finditer(text):
        assert "\u2028" not in found.group(2) and "\u2029" not in found.group(2) and "&" not in found.group(2)
    sections = _sections(text)
    results = _leaves(evil_report.parent / "r.json")
    assert len(results) == 2
    for r in results:
        section = sections[("evil", 0)]
        rows = _rows_by_id(section)
        for ex in r.examples:
            cell = rows[ex.id]["a"][section["models"].index(r.model)]
            assert cell.get("p", rows[ex.id].get("p")) == ex.prompt and rows[ex.id]["t"] == ex.targets
            assert cell.get("r") == ex.response and cell.get("rr") == (
                ex.raw_response if ex.raw_response != ex.response else None)
    evil = next(row for row in sections[("evil", 0)]["rows"] if EVIL in row["p"])
    assert "</script><!--" in evil["p"] and EVIL in evil["t"][0]
    assert EVIL in evil["a"][section["models"].index("dummy:oracle")]["r"]  # the oracle answers the target


# ------------------------------------------------------------------------------- in a real browser

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Selenium through the system's chromedriver (nothing is downloaded), with the
    browser's console log kept."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    driver_path = shutil.which("chromedriver")
    if CHROMIUM is None or driver_path is None:
        pytest.skip("headless Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _load(driver: Any, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # a fresh load, even where only the address's #part changes
    driver.get_log("browser")  # forget what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _section(driver: Any, task: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'details.lmx[data-task="{task}"]')


def _rows(section: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return section.find_elements(By.CSS_SELECTOR, "tbody > tr.lmx-row")


def _until_rows(section: Any, n: int) -> list[Any]:
    """The section's rendered rows, once there are ``n`` of them (the text filter waits for typing to pause)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(section.parent, 10).until(lambda _: len(_rows(section)) == n,
                                            f"expected {n} rows, have {len(_rows(section))}")
    return _rows(section)


def _matched(section: Any) -> int:
    from selenium.webdriver.common.by import By

    return int(section.find_element(By.CSS_SELECTOR, ".lmx-count").get_attribute("data-matched"))


def _severe(driver: Any) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _text_of(ex: ExampleResult) -> list[str]:
    return [ex.prompt, *ex.targets, *(ex.choices or []), *(x for x in (ex.response, ex.raw_response, ex.chosen,
                                                                       ex.confidence_text) if x is not None)]


def test_html_examples_in_chromium(html_report: Path, browser: Any) -> None:
    """Sections render on opening, with every model's answers; the text filter and the right/wrong select show
    the rows the JSON report implies; #open= opens a section; the console stays free of errors."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    results = _leaves(html_report.parent.parent / "r.json")
    by_task: dict[str, dict[str, TaskResult]] = {}
    for r in results:
        by_task.setdefault(r.task, {})[r.model] = r
    _load(browser, html_report.as_uri())
    assert browser.find_elements(By.CSS_SELECTOR, "tr.lmx-row") == []  # nothing rendered before it is opened

    arith = _section(browser, "arith")
    arith.find_element(By.TAG_NAME, "summary").click()
    rows = _until_rows(arith, 8)
    models = [th.text for th in arith.find_elements(By.CSS_SELECTOR, "thead th")][1:]
    assert models == ["dummy:random", "dummy:oracle"]
    examples = {m: {ex.id: ex for ex in by_task["arith"][m].examples} for m in models}
    for tr in rows:
        answers = [td.find_element(By.CSS_SELECTOR, ".lmx-answer").get_attribute("textContent")
                   for td in tr.find_elements(By.CSS_SELECTOR, "td.lmx-ans")]
        assert answers == [examples[m][tr.get_attribute("data-id")].response for m in models]

    # the text filter: prompts, targets and answers, any model's, case-insensitive
    query = arith.find_element(By.CSS_SELECTOR, "input.lmx-q")
    for text in ("3 + 3", "1"):
        expected = sum(1 for i in examples["dummy:oracle"]
                       if any(text.lower() in t.lower() for m in models for t in _text_of(examples[m][i])))
        assert 0 < expected < 8 or text == "1"
        query.send_keys(Keys.CONTROL, "a")
        query.send_keys(text)
        _until_rows(arith, expected)
        assert _matched(arith) == expected
    query.send_keys(Keys.CONTROL, "a")
    query.send_keys(Keys.BACKSPACE)
    _until_rows(arith, 8)

    # right / wrong, per model and for any model, as gates.example_failed says of the JSON report's examples
    colors = _section(browser, "colors")
    colors.find_element(By.TAG_NAME, "summary").click()
    _until_rows(colors, 12)
    show = Select(colors.find_element(By.CSS_SELECTOR, "select.lmx-show"))
    model = Select(colors.find_element(By.CSS_SELECTOR, "select.lmx-model"))
    failed = {m: {ex.id for ex in r.examples if example_failed(ex, r)} for m, r in by_task["colors"].items()}
    assert 0 < len(failed["dummy:random"]) < 12 and not failed["dummy:oracle"]
    for label in models:
        model.select_by_value(label)
        show.select_by_value("wrong")
        _until_rows(colors, len(failed[label]))
        assert {tr.get_attribute("data-id") for tr in _rows(colors)} == failed[label]
        show.select_by_value("right")
        _until_rows(colors, 12 - len(failed[label]))
    model.select_by_value("")  # any model
    show.select_by_value("wrong")
    _until_rows(colors, len(failed["dummy:random"] | failed["dummy:oracle"]))
    show.select_by_value("disagree")
    _until_rows(colors, len(failed["dummy:random"] ^ failed["dummy:oracle"]))
    assert _severe(browser) == []

    # an address opens a section, filtered
    _load(browser, html_report.as_uri() + "#open=colors&show=wrong&model=dummy:random")
    colors = _section(browser, "colors")
    assert colors.get_attribute("open") is not None and _section(browser, "arith").get_attribute("open") is None
    assert {tr.get_attribute("data-id") for tr in _until_rows(colors, len(failed["dummy:random"]))} \
        == failed["dummy:random"]
    assert _severe(browser) == []
    # the check above can fail: an error on the page is in the log
    browser.execute_script("console.error('deliberate error from the test')")
    assert any("deliberate error from the test" in e["message"] for e in _severe(browser))


def test_html_examples_flipped_against_the_baseline_come_first(pytester: pytest.Pytester, browser: Any) -> None:
    """With --lm-baseline the examples whose correctness flipped lead the section (newly failing, then newly
    passing), marked, with what the baseline answered; the "flipped" select shows them alone."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    write_task(pytester.path, "colors/task.json", mc_task(n=30))
    pytester.runpytest("--lm-model=dummy:random?seed=1", "--lm-report=base.json", "-p", "no:cacheprovider")
    pytester.runpytest("--lm-model=dummy:random?seed=2", "--lm-baseline=base.json", "--lm-html=cand.html",
                       "--lm-report=cand.json", "-p", "no:cacheprovider")
    (base,), (cand,) = _leaves(pytester.path / "base.json"), _leaves(pytester.path / "cand.json")
    flipped = flips(cand, base)
    directions = [f.direction for f in flipped]
    assert "newly failing" in directions and "newly passing" in directions
    section_data = _sections((pytester.path / "cand.html").read_text(encoding="utf-8"))[("colors", 0)]
    assert section_data["counts"][0]["flipped"] == len(flipped)

    _load(browser, pytester.path.joinpath("cand.html").as_uri() + "#open=colors")
    rows = _until_rows(_section(browser, "colors"), 30)
    assert [tr.get_attribute("data-id") for tr in rows[:len(flipped)]] == [f.id for f in flipped]
    assert all("lmx-flipped" in tr.get_attribute("class") for tr in rows[:len(flipped)])
    assert not any("lmx-flipped" in tr.get_attribute("class") for tr in rows[len(flipped):])
    for tr, flip in zip(rows, flipped):
        said = tr.find_element(By.CSS_SELECTOR, ".lmx-flip.lmx-small").get_attribute("textContent")
        assert said.startswith(flip.direction)
        assert tr.find_element(By.CSS_SELECTOR, "code.lmx-base").get_attribute("textContent") == flip.baseline.chosen
    section = _section(browser, "colors")
    Select(section.find_element(By.CSS_SELECTOR, "select.lmx-show")).select_by_value("flipped")
    assert [tr.get_attribute("data-id") for tr in _until_rows(section, len(flipped))] == [f.id for f in flipped]
    assert _severe(browser) == []


def test_html_examples_markup_stays_text_in_chromium(evil_report: Path, browser: Any) -> None:
    """The prompt and the answers holding <script>alert(1)</script> show as text: no alert, no new element."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _load(browser, evil_report.as_uri() + "#open=evil")
    section = _section(browser, "evil")
    rows = _until_rows(section, 2)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018  (reading it is the check)
    assert section.find_elements(By.CSS_SELECTOR, "tbody script, tbody b") == []
    prompt = _evil_task()["examples"][0]["input"]
    shown = [tr.find_element(By.CSS_SELECTOR, "td.lmx-ex pre").get_attribute("textContent") for tr in rows]
    assert any(EVIL in text and "</script><!--" in text for text in shown)
    assert any(prompt.split(" end")[0][:40] in text for text in shown)
    answers = [td.get_attribute("textContent") for td in section.find_elements(By.CSS_SELECTOR, ".lmx-answer")]
    assert any(EVIL in a for a in answers)
    assert _severe(browser) == []


def _odd_results() -> list[TaskResult]:
    """One item of every kind of example the drill-down shows: a chat conversation, repeats' samples, a judge's
    verdicts (one, sampled, a panel, pairwise), Inspect's scorers, an mc=letters pick, target log-probs, a NaN
    score; and a second model that saw another prompt and lacks an example."""
    chat = ExampleResult(
        id="a1", index=0, prompt="<|user|>Say hi", targets=["hi"], response="hi there",
        raw_response="<think>x</think>hi there",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
        scores={"judge_score": 0.5, "weird": float("nan")}, score=0.5, confidence_text="90%",
        samples=[{"response": "hi", "raw_response": "hi!", "score": 1.0, "correct": True},
                 {"response": "bye", "score": 0.0, "correct": False}],
        judge={"panel": [{"judge": "j1", "prompt": "JUDGE PROMPT", "text": "fine", "grade": 4, "weighted": 3.9},
                         {"judge": "j2", "samples": [{"prompt": "P", "text": "meh", "grade": None, "weighted": None}]},
                         {"judge": "j3", "mode": "pairwise", "other": "ref", "verdicts": ["A", "TIE"], "outcome": 0.5,
                          "first": {"prompt": "P", "text": "A wins"}, "second": {"prompt": "P", "text": "tie"}}]},
        scorer={"match": {"value": "C", "answer": "hi there", "explanation": "matched <b>hi</b>"}})
    letters = ExampleResult(id="b2", index=1, prompt="Pick: A) red B) blue", targets=["red"], choices=["red", "blue"],
                            target_scores={"red": 1.0, "blue": 0.0}, picked=None, response="C", scores={}, score=0.0,
                            target_log_probs=[-0.5, -1.25])
    result = TaskResult(task="odd", model="m1", shots=0, n_examples=2, scores={"judge_score": 0.5},
                        preferred_score="judge_score", low_score=0.0, high_score=1.0, examples=[chat, letters])
    other = ExampleResult(id="a1", index=0, prompt="[raw] Say hi", targets=["hi"], response="hello", score=1.0)
    result2 = TaskResult(task="odd", model="m2", shots=0, n_examples=1, scores={"judge_score": 1.0},
                         preferred_score="judge_score", low_score=0.0, high_score=1.0, examples=[other])
    return [result, result2]


def test_html_examples_show_every_field_in_chromium(tmp_path: Path, browser: Any) -> None:
    """Conversations, samples, verdicts, scorers and picks render (as text), and nothing throws."""
    from selenium.webdriver.common.by import By

    results = _odd_results()
    page = tmp_path / "odd.html"
    text = render_html(results, [], models=["m1", "m2"])
    page.write_text(text, encoding="utf-8")
    data = _sections(text)[("odd", 0)]
    assert "JUDGE PROMPT" not in text  # the judge's prompts are left out (the JSON report has them)
    assert data["rows"][0]["a"][0]["sc"]["weird"] == "nan" and data["rows"][1]["a"][1] is None
    _load(browser, page.as_uri() + "#open=odd")
    section = _section(browser, "odd")
    _until_rows(section, 2)
    shown = section.get_attribute("textContent")
    for said in ("Be brief.", "hi there", "<think>x</think>hi there", "2 samples, 1 right", "bye", "grade 4",
                 "unread", "verdicts A then TIE", "A wins", "scorer match:", "matched <b>hi</b>", "stated confidence:",
                 "90%", "(no option named)", "target log-probs:", "-0.5, -1.25", "[raw] Say hi", "hello",
                 "(no such example for this model)", "weird nan"):
        assert said in shown, said
    assert section.find_elements(By.CSS_SELECTOR, "tbody b") == []
    assert _severe(browser) == []
