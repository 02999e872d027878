"""Regenerate docs/images/html-examples.png: the HTML report's examples of example_tasks/capitals, opened through
the address (``report.html#open=capitals``), from a run of capitals, opposites and small_addition on
dummy:random and dummy:oracle, screenshot in headless Chromium driven by Selenium (apt-get install chromium
chromium-driver; pip install selenium).

Run:  python bench/html_examples_screenshot.py [OUT.png]
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
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "images" / "html-examples.png").resolve()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        sys.exit("headless Chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        sys.exit("selenium is needed: pip install selenium")
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            shutil.copytree(ROOT / "example_tasks" / task, Path(tmp) / task)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--lm-model=dummy:random",
                        "--lm-model=dummy:oracle", "--lm-html=report.html"], cwd=tmp, capture_output=True)
        html = Path(tmp) / "report.html"
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
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
