"""The report page's neighbour explorer and song map: the HTML around them and the JSON of
:func:`embench.report.explorer_data.page_data` they read (the script is
:data:`embench.report.assets.EXPLORER_SCRIPT`)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from embench.report.assets import EXPLORER_SCRIPT
from embench.report.explorer_data import EXPLORER, load_explorer, page_data
from embench.report.load import Run

EXPLORER_PANELS = 3  # configurations side by side in the explorer (each column has a picker)
EXPLORER_COLUMNS = ("rank", "title", "artist", "genre", "cosine", "plays", "flags")
KNOWN_FLAGS = ("same_artist", "same_genre", "next_song", "hard_negative")  # with a colour


def json_for_script(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: every ``<`` (only ever inside a string) is
    written ``\\u003c``, so no ``</script>`` or ``<!--`` can end or confuse the element."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c")


def explorer_section(run: Run) -> str:
    """The neighbour explorer and the song map, from the run's ``explorer/`` export."""
    data = load_explorer(run.path)
    if data is None:
        return (
            "<h2 id='explorer'>Neighbour explorer</h2><p class='meta'>This run has no "
            f"<code>{EXPLORER}/</code> export (made by an older embench, or its export "
            "failed): rerun the benchmark to get the explorer and the map.</p>"
        )
    order = [c["name"] for c in run.configurations]
    default = run.default_name
    if default in order:
        order.remove(default)
        order.insert(0, default)
    page = page_data(data, order)
    names = page["configurations"]
    if not names or not page["seeds"]:
        return (
            "<h2 id='explorer'>Neighbour explorer</h2><p class='meta'>No configuration has "
            "vectors, or no song was chosen: nothing to explore.</p>"
        )
    chosen = (
        "the songs listed in <code>[report] songs</code>"
        if data.meta.get("listed")
        else "a seeded sample of popular and long-tail songs across the top genres "
        "(<code>[report] sample</code>; list your own in <code>[report] songs</code>)"
    )
    flags = "".join(
        f"<li><span class='flag {('flag-' + f['key']) if f['key'] in KNOWN_FLAGS else 'flag-other'}'>"
        f"{escape(f['label'])}</span> {escape(f['description'])}</li>"
        for f in page["flags"]
    )
    panels = []
    for i in range(min(len(names), EXPLORER_PANELS)):
        options = "".join(
            f"<option value='{escape(n)}'{' selected' if j == i else ''}>{escape(n)}</option>"
            for j, n in enumerate(names)
        )
        panels.append(
            f"<div class='explorer-panel' data-panel='{i}'><label>configuration "
            f"<select class='panel-configuration' aria-label='configuration {i + 1}'>{options}"
            "</select></label><p class='meta explorer-note'></p><table class='neighbours'>"
            + "<colgroup>"
            + "".join(f"<col class='c-{c}'>" for c in EXPLORER_COLUMNS)
            + "</colgroup><thead><tr><th>#</th><th>title</th><th>artist</th><th>genre</th><th>cosine</th>"
            "<th>plays</th><th>flags</th></tr></thead><tbody></tbody></table></div>"
        )
    explorer_html = (
        "<h2 id='explorer'>Neighbour explorer</h2>"
        f"<p class='meta'>Pick one of {len(page['seeds'])} songs ({chosen}) by typing part of "
        f"its title, artist or id: each configuration's top {page['k']} neighbours by cosine "
        "similarity, side by side (choose the configuration above each column). Plays: "
        "occurrences in the whole dataset. Flags:</p>"
        f"<ul class='meta'>{flags}</ul>"
        "<label>Song <input id='explorer-search' type='search' autocomplete='off' "
        "placeholder='type a title, artist or song id' aria-autocomplete='list'></label>"
        "<ul id='explorer-suggestions' role='listbox'></ul>"
        "<div id='explorer-seed'></div>"
        f"<div id='explorer-panels' class='explorer-wide'>{''.join(panels)}</div>"
    )
    map_html = ""
    if any(page["map"].values()):
        method = "t-SNE" if page["map_method"] == "tsne" else "PCA (first two components)"
        counts = {n: len(p) for n, p in page["map"].items()}
        options = "".join(
            f"<option value='{escape(n)}'>{escape(n)} ({counts[n]} songs)</option>" for n in names
        )
        map_html = (
            "<h2 id='map'>Song map</h2>"
            f"<p class='meta'>A 2-D projection ({method}) of the L2-normalised vectors of a "
            "sample of songs (the explorer's songs and more of the top genres), coloured by "
            "genre; hover over a point to see the song, click an explorer song to pick it. "
            "Genres that separate show as coloured regions (high VRC); a space that collapsed "
            "shows as one blob or a line. The explorer's song is ringed, its neighbours "
            "outlined.</p>"
            f"<label>configuration <select id='map-configuration'>{options}</select></label>"
            "<div id='map-legend'></div><div id='map-box'>"
            "<svg id='map-svg' viewBox='-1.08 -1.08 2.16 2.16' role='img' "
            "aria-label='song map'></svg><div id='map-tip'></div></div>"
        )
    return (
        explorer_html
        + map_html
        + "<script type='application/json' id='explorer-data'>"
        + json_for_script(page)
        + "</script><script>"
        + EXPLORER_SCRIPT
        + "</script>"
    )
