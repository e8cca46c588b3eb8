"""The report in a real headless browser (Chromium over the DevTools protocol, no extra package).

Chromium runs with ``--remote-debugging-pipe``: commands go to its fd 3 and answers come from
its fd 4, NUL-separated JSON. The test loads the report of a real run, then checks that the
page logged no error, fetched nothing but itself and embedded data, shows the results table,
and that every plot is a decoded, displayed image. Skipped only when no browser binary exists
(Debian: ``apt-get install chromium``; or set EMBENCH_CHROMIUM to a Chrome/Chromium binary).
"""

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from embench.report.html import REPORT
from embench.report.markup import PNG_PREFIX
from tests.test_report import full_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT = 30.0


def find_browser() -> str | None:
    wanted = os.environ.get("EMBENCH_CHROMIUM")
    if wanted:
        return shutil.which(wanted) or (wanted if os.access(wanted, os.X_OK) else None)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium/Chrome binary found (apt-get install chromium, or set EMBENCH_CHROMIUM)",
)


class Browser:
    """A headless Chromium driven through the DevTools protocol over a pipe."""

    def __init__(self, binary: str, profile) -> None:
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def connect_pipes():  # in the child: fd 3 reads commands, fd 4 writes answers
            read, write = (
                fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)
            )
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(profile / "stderr.log", "wb"),  # noqa: SIM115 (closed with the process)
            preexec_fn=connect_pipes,
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.profile = profile
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def stderr_tail(self) -> str:
        return (self.profile / "stderr.log").read_text(errors="replace")[-2000:]

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from the browser; its stderr:\n{self.stderr_tail()}")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise EOFError(f"the browser exited; its stderr:\n{self.stderr_tail()}")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, method: str) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def open(self, url: str) -> str:
        """Load ``url`` in the page target; returns the session id once it has loaded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired")
        return session

    def evaluate(self, session: str, expression: str):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"]["value"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:300])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def requested(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, EOFError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)


@pytest.fixture
def browser(tmp_path):
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = Browser(BROWSER, profile)
    yield driver
    driver.close()


IMAGES = """JSON.stringify(Array.from(document.images).map(img => ({
    plot: img.dataset.plot, complete: img.complete, natural: img.naturalWidth,
    height: img.naturalHeight, shown: img.getBoundingClientRect().width})))"""
TABLE = """JSON.stringify({rows: document.querySelectorAll('#results-table tbody tr').length,
    headers: Array.from(document.querySelectorAll('#results-table th')).map(th => th.textContent),
    title: document.title})"""


def test_report_opens_in_a_headless_browser(tmp_path_factory, browser):
    run_dir = full_run(tmp_path_factory)
    session = browser.open((run_dir / REPORT).as_uri())
    images = json.loads(browser.evaluate(session, IMAGES))
    table = json.loads(browser.evaluate(session, TABLE))
    assert browser.errors() == []
    outside = [u for u in browser.requested() if not u.startswith(("file:", "data:"))]
    assert outside == []  # self-contained: no network
    plots = sorted(p.name[len(PNG_PREFIX) : -4] for p in run_dir.glob(f"{PNG_PREFIX}*.png"))
    assert len(plots) == 7 and sorted(i["plot"] for i in images) == plots
    for image in images:
        assert image["complete"] and image["natural"] > 0 and image["height"] > 0, image
        assert image["shown"] > 0, image
    summary = json.loads((run_dir / "summary.json").read_text())
    assert table["rows"] == len(summary["configurations"])
    assert {"configuration", "hitrate", "ndcg"} <= set(table["headers"])
    assert table["title"] == "embench report: full"


def test_the_browser_check_sees_broken_pages(tmp_path, browser):
    """The harness itself: a script error and an undecodable image are caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        '<img src="data:image/png;base64,AAAA" data-plot="bad">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    session = browser.open(page.as_uri())
    images = json.loads(browser.evaluate(session, IMAGES))
    assert images[0]["natural"] == 0
    errors = " ".join(browser.errors())
    assert "boom" in errors and "undefinedFunction" in errors
