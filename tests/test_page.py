"""The page at ``/`` in a real headless browser: Debian's Chromium driven by Selenium
(``scripts/install-chromium.sh`` installs both; nothing is downloaded at run time).
Paste a BBC article, click Classify, read the top label, check the words are shaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

CHROMIUM = os.environ.get("TEXTRNN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TEXTRNN_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).exists() or shutil.which(path)):
            pytest.fail(f"{path} missing: run bash scripts/install-chromium.sh")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,1400", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_classifies_a_bbc_article_and_shades_words(server, browser, bbc, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    article = next(t for t, y in zip(bbc.texts, bbc.labels) if bbc.label_names[y] == "Sport")
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "classifier" in d.find_element(By.ID, "model-line").text)
    box = browser.find_element(By.ID, "text")
    box.send_keys(article[:80])      # typed, as a user would
    browser.execute_script("arguments[0].value = arguments[1];", box, article)   # pasted
    browser.find_element(By.ID, "classify").click()
    wait.until(EC.visibility_of_element_located((By.ID, "result")))
    wait.until(lambda d: d.find_element(By.ID, "top-label").text.strip())
    top = browser.find_element(By.ID, "top-label").text.strip()
    api = httpx.post(server.url + "/predict", json={"texts": [article]}).json()
    assert top == api["predictions"][0]["labels"][0]["label"]
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
    assert len(bars) == 5 and bars[0].get_attribute("data-label") == top
    words = browser.find_elements(By.CSS_SELECTOR, "#words .word")
    assert len(words) > 50
    shaded = [w for w in words if w.value_of_css_property("background-color")
              not in ("rgba(0, 0, 0, 0)", "transparent")]
    assert len(shaded) >= 10, len(shaded)
    # the page shows the article as pasted: the words' text, in order, is the article's
    assert browser.find_element(By.ID, "words").text.split()[:5] == article.split()[:5]
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000
