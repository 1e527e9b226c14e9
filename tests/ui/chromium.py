"""Headless Chromium for the browser tests: Debian's ``chromium`` and ``chromium-driver``
packages, installed with apt-get by the test set-up when they are missing (as root, else
through ``sudo -n``), and a minimal W3C WebDriver client over HTTP (no Selenium).

The wait helpers poll with a bound so a page that never shows something fails with a clear
message; they assert nothing about speed.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

PACKAGES = ("chromium", "chromium-driver")
WAIT_S = 30.0
"""How long a wait polls before it fails (generous: two busy cores)."""


def _binaries() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def ensure_chromium() -> tuple[str, str]:
    """The paths of chromium and chromedriver, installing the Debian packages first if
    either is missing (idempotent: nothing is run when both are there)."""
    found = _binaries()
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"no chromium/chromedriver and no apt-get to install {PACKAGES}")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise RuntimeError(f"installing {PACKAGES} needs root or sudo; neither is here")
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", "DPkg::Lock::Timeout=600"]  # another apt run may hold the lock
    steps = [
        [*prefix, "apt-get", *wait, "update", "-qq"],
        [*prefix, "apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            tail = done.stderr[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{tail}")
    found = _binaries()
    if not found:
        raise RuntimeError(f"installed {PACKAGES} but chromium or chromedriver is not on PATH")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chromedriver(driver: str, log: Path) -> Iterator[str]:
    """chromedriver on a loopback port; yields its URL and stops it after."""
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [driver, f"--port={port}", "--allowed-ips=127.0.0.1"], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chromedriver exited: {log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/status", timeout=2).json()["value"]["ready"]:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromedriver is not ready: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Browser:
    """One WebDriver session of headless Chromium, its console read through
    ``goog:loggingPrefs`` (every entry kept in :attr:`console`)."""

    def __init__(self, driver_url: str, binary: str, *, width: int = 1400, height: int = 1000):
        self.http = httpx.Client(base_url=driver_url, timeout=120)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={width},{height}", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-default-apps", "--disable-sync", "--metrics-recording-only",
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }  # fmt: skip
        value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = f"/session/{value['sessionId']}"
        self.console: list[dict[str, Any]] = []

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, path, json=body if body is not None else None)
        data = r.json()
        if r.status_code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {data.get('value', data)}")
        return data["value"]

    def cmd(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, self.session + path, body)

    def close(self) -> None:
        try:
            self.cmd("DELETE", "")
        finally:
            self.http.close()

    # -- pages and elements -----------------------------------------------------------------

    def get(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find_all(self, css: str) -> list[str]:
        found = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [next(iter(e.values())) for e in found]

    def wait_for(self, css: str, *, count: int = 1, what: str = "") -> list[str]:
        """The elements matching ``css`` once there are at least ``count``."""
        return self.wait_until(
            lambda: (lambda found: found if len(found) >= count else None)(self.find_all(css)),
            what or f"{count} x {css}",
        )

    def wait_until(self, probe: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT_S
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                self.read_console()
                raise AssertionError(
                    f"the page never showed {what}; console: {self.console}; "
                    f"page text: {self.text('body')[:2000]!r}"
                )
            time.sleep(0.1)

    def click(self, css: str) -> None:
        (element, *_) = self.wait_for(css)
        self.cmd("POST", f"/element/{element}/click", {})

    def type(self, css: str, text: str) -> None:
        (element, *_) = self.wait_for(css)
        self.cmd("POST", f"/element/{element}/clear", {})
        self.cmd("POST", f"/element/{element}/value", {"text": text})

    def select(self, css: str, value: str) -> None:
        """Choose the option whose value is ``value`` of the select ``css``."""
        self.click(f"{css} option[value='{value}']")

    def text(self, css: str) -> str:
        script = f"const e = document.querySelector({css!r}); return e ? e.innerText : '';"
        return str(self.run(script))

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))
        return path

    def read_console(self) -> list[dict[str, Any]]:
        """The console entries since the last read (also appended to :attr:`console`)."""
        entries = self.cmd("POST", "/se/log", {"type": "browser"})
        self.console.extend(entries)
        return entries
