"""Regenerate the HTML report's screenshots in docs/images, in headless Chromium (apt-get install chromium).

- ``html-report.png``: the report of three example tasks (capitals, opposites, small_addition) on dummy:random,
  smollm2 and dummy:oracle, the whole page;
- with ``--examples``, ``html-examples.png``: the examples of capitals from a run on dummy:random and
  dummy:oracle, opened through the address (``report.html#open=capitals``), driven by Selenium through the
  system's chromedriver (apt-get install chromium-driver; pip install selenium).

Run:  python bench/html_screenshot.py [--examples] [OUT.png]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("capitals", "opposites", "small_addition")


def report(tmp: str, models: list[str]) -> Path:
    """The HTML report of TASKS on ``models``, written in ``tmp``."""
    for task in TASKS:
        shutil.copytree(ROOT / "example_tasks" / task, Path(tmp) / task)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    *(f"--lm-model={m}" for m in models), "--lm-html=report.html"], cwd=tmp, capture_output=True)
    return Path(tmp) / "report.html"


def page(chromium: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        html = report(tmp, ["dummy:random", "smollm2", "dummy:oracle"])
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1100,3000", f"--screenshot={out}", html.as_uri()], check=True,
                       capture_output=True)


def examples(chromium: str, out: Path) -> None:
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        sys.exit("chromedriver is needed: apt-get install chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        sys.exit("selenium is needed: pip install selenium")
    with tempfile.TemporaryDirectory() as tmp:
        html = report(tmp, ["dummy:random", "dummy:oracle"])
        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,1300"):
            options.add_argument(flag)
        options.binary_location = chromium
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        try:
            driver.get(html.as_uri() + "#open=capitals")
            WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
            driver.execute_script("document.querySelector('details.lmx[open]').scrollIntoView()")
            driver.save_screenshot(str(out))
        finally:
            driver.quit()


def main() -> None:
    args = sys.argv[1:]
    drill_down = "--examples" in args
    args = [a for a in args if a != "--examples"]
    name = "html-examples.png" if drill_down else "html-report.png"
    out = Path(args[0] if args else ROOT / "docs" / "images" / name).resolve()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("headless Chromium is needed: apt-get install chromium")
    (examples if drill_down else page)(chromium, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
