"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket, no extra package).

``Chromium`` starts Debian's ``chromium`` with ``--remote-debugging-port=0`` and reads the port
it chose from ``DevToolsActivePort`` in its profile folder; ``Page`` talks to one tab: it sends
commands, keeps every event, and collects console errors, uncaught exceptions and network
requests as they arrive.

Also a tool: ``python tests/report/browser.py PAGE.html OUT.png`` saves a screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

INSTALL_HINT = ("install it with `make chromium` (as root: `apt-get update && apt-get install -y "
                "chromium`; `make test` does this), point FP_CHROMIUM at a Chromium binary, "
                "or set FP_SKIP_BROWSER_TESTS=1 to skip the browser tests")


def find_chromium() -> str | None:
    """The Chromium binary: $FP_CHROMIUM, else `chromium` or `chromium-browser` on PATH."""
    configured = os.environ.get("FP_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab: ``call`` a CDP method and get its result; events are kept in ``events``."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        self._ws = connect(ws_url, max_size=None, open_timeout=timeout)
        self._ids = itertools.count(1)
        self.timeout = timeout
        self.events: list[dict] = []

    def call(self, method: str, **params: object) -> dict:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._receive(deadline, method)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method} failed: {msg['error']}")
                return msg.get("result", {})

    def _receive(self, deadline: float, waiting_for: str) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer from Chromium for {waiting_for}")
        msg = json.loads(self._ws.recv(timeout=remaining))
        if "method" in msg:
            self.events.append(msg)
        return msg

    def wait_for(self, event: str) -> dict:
        """The first ``event`` not seen before (waits for it if needed)."""
        seen = next((e for e in self.events if e["method"] == event and not e.get("_used")), None)
        deadline = time.monotonic() + self.timeout
        while seen is None:
            msg = self._receive(deadline, event)
            if msg.get("method") == event:
                seen = msg
        seen["_used"] = True
        return seen

    def open(self, url: str) -> None:
        """Navigate with Runtime, Log, Network and Page events on, and wait for the load event."""
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> object:
        """The value of a JavaScript expression in the page (raises on a JS exception)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (CSP, failed loads)."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                out.append(f"exception: {details.get('exception', {}).get('description')}"
                           f" {details.get('text')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                  for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, *, width: int = 1280, height: int = 1600) -> Path:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        png = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(png))
        return path

    def close(self) -> None:
        self._ws.close()


class Chromium:
    """A headless Chromium process with remote debugging on a free port."""

    def __init__(self, binary: str, profile: Path, *, start_timeout: float = 60.0) -> None:
        self.profile = profile
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update",
             "--window-size=1280,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + start_timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None:
                raise RuntimeError("Chromium exited at start-up: "
                                   + self.proc.stderr.read().decode(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"Chromium did not start within {start_timeout:.0f} s")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])

    def new_page(self) -> Page:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        return Page(page["webSocketDebuggerUrl"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


def screenshot(html: Path, png: Path) -> Path:
    binary = find_chromium()
    if binary is None:
        raise SystemExit(f"Chromium not found: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory() as profile:
        browser = Chromium(binary, Path(profile))
        try:
            page = browser.new_page()
            page.open(html.resolve().as_uri())
            errors = page.errors()
            if errors:
                raise SystemExit("the page has errors:\n" + "\n".join(errors))
            page.screenshot(png)
            page.close()
        finally:
            browser.close()
    return png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python tests/report/browser.py PAGE.html OUT.png")
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
