"""Debian's headless Chromium, driven by Selenium through Debian's chromedriver.

One browser per test module (a module-scoped fixture calls :func:`start`): a
start costs about a second. The flags keep Chromium off the network it would
otherwise reach for on its own (updates, sync, safe browsing), which this
machine and CI do not have.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from oracles import import_oracle, need_oracle

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--window-size=1500,1200",
)


def start() -> tuple[Any, str]:
    """A new browser and its profile directory (remove it after ``quit``)."""
    import_oracle("selenium")
    need_oracle("chromium", shutil.which(CHROMIUM) is not None)
    need_oracle("chromedriver", shutil.which(CHROMEDRIVER) is not None)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vmintro-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver named outright: Selenium Manager would try to download one
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    return driver, profile


def stop(driver: Any, profile: str) -> None:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """``check()``'s first true value; fails naming ``what`` after ``timeout``
    seconds (a bound on a hang, not a timed assertion)."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The browser console's errors since the last call."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
