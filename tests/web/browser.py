"""Debian's headless Chromium under selenium, and a web server in a thread for it to load."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from reconciler.web import serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Quiet, private, self-contained: Chromium must reach nothing but the page under test.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Skip where Chromium is not installed; in CI (which installs it) fail instead."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def start_chromium(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


NETWORK_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:")


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the browser asked the network for since the last call (the DevTools
    network log). Chromium's own pages (``chrome-untrusted://new-tab-page`` and the
    like, which newer versions load into a fresh tab) never leave the browser."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = str(message["params"]["request"]["url"])
            if url.startswith(NETWORK_SCHEMES):
                urls.append(url)
    return urls


class ServerThread:
    """An aiohttp application served on 127.0.0.1 from a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = 0
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="web-test-server", daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("the web server did not start within 30 s")
        if self._failure is not None:
            raise RuntimeError("the web server failed to start") from self._failure

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the web server did not stop"

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.origin + path, timeout=10) as response:
            return json.load(response)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self.app) as port:
            self.port = port
            self._started.set()
            await self._stop.wait()
