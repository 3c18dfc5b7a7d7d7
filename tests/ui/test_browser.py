"""The UI in a real headless Chromium: the runs list, a run's graph and a DataFrame's preview.

Runs under ``tox -e ui``. It needs Selenium and Debian's ``chromium`` and
``chromium-driver`` (nothing is downloaded at run time); without them the tests skip,
except under ``tox -e ui`` (``PAYLOADKIT_REQUIRE_BROWSER=1``), where a missing browser is a
failure. Screenshots are saved
under the test's temporary directory, or ``$PAYLOADKIT_UI_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.ui._flows import Failing, FanOut, run_app
from tests.ui.conftest import Served

import payloadkit as pk
from payloadkit.app._demo import DemoFlow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (tox -e ui installs it)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return None


@pytest.fixture(scope="module")
def browser_factory() -> Iterator[Callable[..., Any]]:
    """Start headless Chromium sessions (laptop or phone sized); all quit at the end."""
    why = _missing()
    if why is not None:
        if os.environ.get("PAYLOADKIT_REQUIRE_BROWSER") == "1":  # set by `tox -e ui`
            pytest.fail(why)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    started: list[Any] = []

    def start(width: int = 1366, height: int = 900, phone: bool = False) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in _FLAGS:
            options.add_argument(flag)
        if phone:
            metrics = {"width": width, "height": height, "pixelRatio": 2}
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
        else:
            options.add_argument(f"--window-size={width},{height}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.quit()


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, Any]]]:
    """The demo's store (the demo App run for real, plus a fan-out and a failed run), served."""
    store = pk.open_store(tmp_path_factory.mktemp("demo") / "store")
    demo = pk.App(DemoFlow(500, 6, None), storage=store, executor="process").run()
    runs = {"demo": demo, "fan": run_app(FanOut(12), store), "failed": run_app(Failing(), store)}
    served = Served(store)
    yield served, runs
    served.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go."""
    chosen = os.environ.get("PAYLOADKIT_UI_SCREENSHOTS")
    target = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _save(driver: Any, shots: Path, name: str, full: bool = True) -> Path:
    """A screenshot of the page (its whole height when ``full``)."""
    if full:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.execute_script("return window.innerWidth")
        driver.set_window_size(width, min(int(height) + 120, 4000))
    path = shots / f"{name}.png"
    assert driver.save_screenshot(str(path))
    return path


def test_runs_list_shows_every_run(browser_factory: Any, demo_site: Any, shots: Path) -> None:
    """The runs list in a browser shows each run with its app and outcome, newest first."""
    from selenium.webdriver.common.by import By

    served, runs = demo_site
    driver = browser_factory()
    driver.get(served.url + "/")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert len(rows) == 3
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "payloadkit.app._demo:DemoFlow" in text
    assert "failed" in text
    assert runs["failed"]["run_id"] in rows[0].text
    _save(driver, shots, "ui-runs")


def test_run_graph_draws_works_and_payloads(
    browser_factory: Any, demo_site: Any, shots: Path
) -> None:
    """A run page draws each Work as a node and each hand-over as an edge, on screen."""
    from selenium.webdriver.common.by import By

    served, runs = demo_site
    driver = browser_factory()
    driver.get(f"{served.url}/runs/{runs['fan']['run_id']}")
    nodes = driver.find_elements(By.CSS_SELECTOR, "svg.graph g.node")
    edges = driver.find_elements(By.CSS_SELECTOR, "svg.graph g.edge")
    assert len(nodes) == 14
    assert len(edges) == 24
    graph = driver.find_element(By.CSS_SELECTOR, "svg.graph")
    assert graph.size["width"] > 600
    assert graph.is_displayed()
    _save(driver, shots, "ui-graph")
    driver.get(f"{served.url}/runs/{runs['demo']['run_id']}")
    labels = [n.text for n in driver.find_elements(By.CSS_SELECTOR, "svg.graph g.node text.name")]
    assert labels == ["src", "dst"]
    _save(driver, shots, "ui-run")


def test_failed_run_marks_the_work(browser_factory: Any, demo_site: Any, shots: Path) -> None:
    """The failed Work is drawn marked and its traceback is on the page."""
    from selenium.webdriver.common.by import By

    served, runs = demo_site
    driver = browser_factory()
    driver.get(f"{served.url}/runs/{runs['failed']['run_id']}")
    failed = driver.find_elements(By.CSS_SELECTOR, "svg.graph g.node.status-failed")
    assert [f.find_element(By.CSS_SELECTOR, "text.name").text for f in failed] == ["breaks"]
    assert (
        "Traceback (most recent call last)"
        in driver.find_element(By.CSS_SELECTOR, "pre.error").text
    )
    _save(driver, shots, "ui-failed")


def test_dataframe_preview(browser_factory: Any, demo_site: Any, shots: Path) -> None:
    """The demo's DataFrame shows its schema and first rows, on a laptop and on a phone."""
    from selenium.webdriver.common.by import By

    served, runs = demo_site
    digest = runs["demo"]["works"]["root.src"]["state"]["frame"]["ref"]["digest"]
    for name, driver in [
        ("ui-dataframe", browser_factory()),
        ("ui-phone", browser_factory(390, 844, phone=True)),
    ]:
        driver.get(f"{served.url}/payloads/{digest}")
        schema = driver.find_elements(By.CSS_SELECTOR, "table.schema tr td:first-child")
        assert [c.text for c in schema] == [f"c{i}" for i in range(6)]
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")) == 20
        assert "rows\n500" in driver.find_element(By.CSS_SELECTOR, "dl.facts:not(.manifest)").text
        _save(driver, shots, name)
    driver.get(served.url + "/payloads")
    assert driver.find_elements(By.CSS_SELECTOR, "table.payloads tbody tr")
    _save(driver, shots, "ui-payloads")


def test_screenshots_are_images(shots: Path) -> None:
    """Every screenshot saved is a PNG file (copied to docs/assets by hand when they change)."""
    saved = sorted(shots.glob("ui-*.png"))
    if not saved:
        pytest.skip("no screenshots were taken (no browser)")
    for path in saved:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
