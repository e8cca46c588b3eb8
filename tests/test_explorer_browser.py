"""The neighbour explorer and the song map, driven like a user in headless Chromium.

The test types part of a song's title into the explorer's search box key by key, clicks the
song in the suggestions with the mouse, and checks that the rows shown are the run's neighbours
of that song as ``embench neighbours`` computes them from the exported vectors (ids, titles,
cosines, plays, flags); then it switches the first column's configuration with the keyboard and
checks again, hovers a point of the map, and saves a screenshot of the explorer: to
``$EMBENCH_TEST_ARTEFACTS/explorer.png`` when that variable names a folder (CI keeps it), else
to the test's temporary folder. Skipped only when no browser binary exists (see
tests/test_report_browser.py).
"""

import base64
import json
import os
import time
from pathlib import Path

import pytest

from embench.report.explorer_data import load_explorer
from embench.report.html import REPORT
from embench.report.load import load_run
from embench.report.neighbour_tables import neighbour_tables
from tests.test_explorer import explorer_run
from tests.test_report_browser import BROWSER, Browser

pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium/Chrome binary found (apt-get install chromium, or set EMBENCH_CHROMIUM)",
)
ARTEFACTS = "EMBENCH_TEST_ARTEFACTS"

ROWS = """JSON.stringify(Array.from(document.querySelectorAll(
    '.explorer-panel[data-panel="PANEL"] tbody tr')).map(tr => ({
      song: tr.dataset.song,
      cells: Array.from(tr.cells).slice(0, 6).map(td => td.textContent),
      flags: Array.from(tr.querySelectorAll('[data-flag]')).map(s => s.dataset.flag)})))"""


@pytest.fixture
def browser(tmp_path):
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = Browser(BROWSER, profile)
    yield driver
    driver.close()


def wait_until(browser, session, expression, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(session, expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


def centre(browser, session, selector):
    box = browser.evaluate(
        session,
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
        "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
        "return [r.x + r.width / 2, r.y + r.height / 2]; })()",
    )
    return box[0], box[1]


def click(browser, session, selector):
    x, y = centre(browser, session, selector)
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            session=session,
        )


def type_text(browser, session, text):
    for ch in text:
        browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch}, session=session)
        browser.send("Input.dispatchKeyEvent", {"type": "keyUp"}, session=session)


def expected_rows(run, song_id, configuration):
    """The rows ``embench neighbours`` prints, in the page's text form."""
    (table,) = neighbour_tables(run, song_id, configuration)
    rows = []
    for i, r in enumerate(table.rows, start=1):
        cells = [str(i), r["title"] or "", r["artist"] or "", r["genre"] or ""]
        cells += [f"{r['cosine']:.3f}", f"{r['plays']:,}"]
        flags = [f["key"] for f in table.flags if r["flags"][f["key"]]]
        rows.append({"song": r["song_id"], "cells": cells, "flags": flags})
    return rows


def test_the_explorer_shows_the_runs_neighbours(tmp_path_factory, tmp_path, browser):
    run_dir = explorer_run(tmp_path_factory)
    run = load_run(run_dir, journals=False)
    data = load_explorer(run_dir)
    session = browser.open((run_dir / REPORT).as_uri())
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    # a seed other than the one shown first, found by typing its title
    song = data.seeds[5]
    slot = data.seeds.index(song)
    title = data.songs.set_index("song_id").loc[song, "title"]
    click(browser, session, "#explorer-search")
    type_text(browser, session, title.lower())
    item = f'#explorer-suggestions li[data-seed="{slot}"]'
    wait_until(browser, session, f"!!document.querySelector('{item}')")
    click(browser, session, item)
    wait_until(
        browser,
        session,
        f"document.getElementById('explorer-seed').dataset.song === {json.dumps(song)}",
    )
    assert (
        browser.evaluate(session, "document.querySelectorAll('#explorer-suggestions li').length")
        == 0
    )
    shown = json.loads(browser.evaluate(session, ROWS.replace("PANEL", "0")))
    assert shown == expected_rows(run, song, "default")
    assert len(shown) == data.k
    second = json.loads(browser.evaluate(session, ROWS.replace("PANEL", "1")))
    assert second == expected_rows(run, song, "wide")

    # switch the first column to the other configuration, with the keyboard
    browser.evaluate(session, "document.querySelector('.explorer-panel select').focus(); true")
    for kind in ("keyDown", "keyUp"):
        browser.send(
            "Input.dispatchKeyEvent",
            {"type": kind, "key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40},
            session=session,
        )
    wait_until(
        browser, session, "document.querySelector('.explorer-panel select').value === 'wide'"
    )
    switched = json.loads(browser.evaluate(session, ROWS.replace("PANEL", "0")))
    assert switched == expected_rows(run, song, "wide") != shown

    # the map: the chosen song is ringed; hovering it names it
    ring = "#map-svg circle.seed"
    assert browser.evaluate(session, f"document.querySelectorAll('{ring}').length") == 1
    x, y = centre(browser, session, ring)
    browser.send(
        "Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, session=session
    )
    tip = wait_until(
        browser,
        session,
        "getComputedStyle(document.getElementById('map-tip')).display === 'block' && "
        "document.getElementById('map-tip').textContent",
    )
    assert tip.startswith(f"{title} \u2014 ")
    assert browser.errors() == []
    assert [u for u in browser.requested() if not u.startswith(("file:", "data:"))] == []

    # the screenshot, kept as an artefact
    top = browser.evaluate(
        session,
        "window.scrollTo(0, 0); document.getElementById('explorer').getBoundingClientRect().top",
    )
    shot = browser.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top - 8, "width": 1280, "height": 760, "scale": 1},
        },
        session=session,
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    folder = Path(os.environ.get(ARTEFACTS) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "explorer.png").write_bytes(png)
