"""The style sheets and the script of the report page (inline: the page fetches nothing)."""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.error { color: #b00; } tr.infeasible td { color: #a60; } tr.failed td { color: #b00; }
.meta { color: #555; } .note { background: #fff8e0; padding: 0.4em 0.8em; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
img { max-width: 100%; height: auto; } details { margin: 0.5em 0; }
code { font-size: 0.85em; } .scroll { overflow-x: auto; }
"""

EXPLORER_STYLE = """
#explorer-search { width: 28em; padding: 0.3em; font-size: 1em; }
#explorer-suggestions { list-style: none; margin: 0; padding: 0; max-width: 40em;
    border: 1px solid #ccc; max-height: 18em; overflow-y: auto; }
#explorer-suggestions:empty { display: none; }
#explorer-suggestions li { padding: 0.2em 0.5em; cursor: pointer; }
#explorer-suggestions li:hover, #explorer-suggestions li.active { background: #e8f0fe; }
#explorer-seed { margin: 0.6em 0; font-weight: 600; }
.explorer-wide { width: min(96vw, 1800px); position: relative; left: 50%;
    transform: translateX(-50%); }
#explorer-panels { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.explorer-panel { flex: 1 1 34em; min-width: 0; }
.explorer-panel table { width: 100%; table-layout: fixed; font-size: 0.85em; }
.explorer-panel td, .explorer-panel th { white-space: nowrap; overflow: hidden;
    text-overflow: ellipsis; }
.explorer-panel td.flags { white-space: normal; }
.explorer-panel td.num { padding-left: 0.3em; }
.explorer-panel col.c-rank { width: 2.6em; } .explorer-panel col.c-title { width: 30%; }
.explorer-panel col.c-artist { width: 21%; } .explorer-panel col.c-genre { width: 12%; }
.explorer-panel col.c-cosine { width: 5.2em; } .explorer-panel col.c-plays { width: 5.2em; }
.explorer-panel col.c-flags { width: 20%; }
.flag { display: inline-block; border-radius: 3px; padding: 0 0.3em; margin: 0 0.1em;
    font-size: 0.8em; color: #fff; white-space: nowrap; }
.flag-same_artist { background: #6a3d9a; } .flag-same_genre { background: #1f78b4; }
.flag-next_song { background: #33a02c; } .flag-hard_negative { background: #e31a1c; }
.flag-other { background: #777; }
#map-box { position: relative; max-width: 760px; }
#map-svg { width: 100%; height: auto; border: 1px solid #ccc; background: #fff; }
#map-svg circle { stroke: none; } #map-svg circle.seed { stroke: #000; stroke-width: 0.012; }
#map-svg circle.neighbour { stroke: #000; stroke-width: 0.006; }
#map-tip { position: absolute; pointer-events: none; background: #fffbe6; border: 1px solid #aaa;
    padding: 0.2em 0.5em; font-size: 0.85em; display: none; white-space: nowrap; }
#map-legend span { display: inline-block; margin-right: 1em; font-size: 0.85em; }
#map-legend i { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em;
    border-radius: 50%; }
"""

# Plain JavaScript (no library, nothing fetched): builds the explorer and the map from the JSON
# embedded in #explorer-data. Text goes through textContent only, never innerHTML.
EXPLORER_SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const S = data.songs;  // [id, title, artist, genre, plays]
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#bcbd22", "#17becf", "#393b79"];
  const KNOWN = ["same_artist", "same_genre", "next_song", "hard_negative"];
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function label(p) {
    const s = S[p];
    return (s[1] || "?") + " \u2014 " + (s[2] || "?");
  }
  const search = document.getElementById("explorer-search");
  const list = document.getElementById("explorer-suggestions");
  const seedBox = document.getElementById("explorer-seed");
  const panels = Array.from(document.querySelectorAll(".explorer-panel"));
  let current = data.seeds.length ? 0 : -1;

  function matches(query) {
    const q = query.trim().toLowerCase();
    const out = [];
    for (let i = 0; i < data.seeds.length && out.length < 12; i++) {
      const s = S[data.seeds[i]];
      const text = [s[0], s[1] || "", s[2] || ""].join(" ").toLowerCase();
      if (!q || text.includes(q)) out.push(i);
    }
    return out;
  }
  function suggest() {
    list.replaceChildren();
    for (const i of matches(search.value)) {
      const s = S[data.seeds[i]];
      const item = el("li", {"role": "option", "data-seed": String(i)},
                      label(data.seeds[i]) + " (" + (s[3] || "no genre") + ", " +
                      s[4].toLocaleString("en") + " plays, " + s[0] + ")");
      item.addEventListener("mousedown", function (event) { event.preventDefault(); pick(i); });
      list.appendChild(item);
    }
  }
  function pick(i) {
    current = i;
    search.value = "";  // the song shows below; the box is ready for the next search
    list.replaceChildren();
    render();
  }
  search.addEventListener("input", suggest);
  search.addEventListener("focus", suggest);
  search.addEventListener("blur", function () { setTimeout(function () { list.replaceChildren(); }, 150); });
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      const first = list.querySelector("li");
      if (first) pick(Number(first.dataset.seed));
      event.preventDefault();
    } else if (event.key === "Escape") {
      list.replaceChildren();
    }
  });

  function badge(flag) {
    const klass = KNOWN.includes(flag.key) ? "flag-" + flag.key : "flag-other";
    return el("span", {"class": "flag " + klass, "title": flag.description,
                       "data-flag": flag.key}, flag.label);
  }
  function renderPanel(panel) {
    const name = panel.querySelector("select").value;
    const body = panel.querySelector("tbody");
    const note = panel.querySelector(".explorer-note");
    body.replaceChildren();
    note.textContent = "";
    if (current < 0) return;
    const rows = (data.neighbours[name] || [])[current] || [];
    if (!rows.length) note.textContent = "no vector for this song in " + name;
    rows.forEach(function (row, r) {
      const s = S[row[0]];
      const tr = el("tr", {"data-song": s[0], "data-rank": String(r + 1)});
      tr.appendChild(el("td", {"class": "num"}, r + 1));
      for (const text of [s[1] || "", s[2] || "", s[3] || ""]) {
        tr.appendChild(el("td", {"title": text}, text));  // the full text when cut short
      }
      tr.appendChild(el("td", {"class": "num"}, row[1].toFixed(3)));
      tr.appendChild(el("td", {"class": "num"}, s[4].toLocaleString("en")));
      const flags = el("td", {"class": "flags"});
      data.flags.forEach(function (flag, bit) {
        if (row[2] & (1 << bit)) flags.appendChild(badge(flag));
      });
      tr.appendChild(flags);
      body.appendChild(tr);
    });
  }
  function render() {
    if (current >= 0) {
      const p = data.seeds[current], s = S[p];
      seedBox.textContent = label(p) + " \u00b7 " + (s[3] || "no genre") + " \u00b7 " +
        s[4].toLocaleString("en") + " plays \u00b7 id " + s[0] +
        (data.chosen[current] ? " \u00b7 " + (data.chosen[current] === "listed" ?
          "listed" : "sample: " + data.chosen[current]) : "");
      seedBox.dataset.song = s[0];
    }
    panels.forEach(renderPanel);
    drawMap();
  }
  panels.forEach(function (panel) {
    panel.querySelector("select").addEventListener("change", render);
  });

  // -- the map ------------------------------------------------------------------------------
  const svg = document.getElementById("map-svg");
  const mapSelect = document.getElementById("map-configuration");
  const tip = document.getElementById("map-tip");
  const colour = {};
  data.genres.forEach(function (g, i) { colour[g] = PALETTE[i % PALETTE.length]; });
  function colourOf(genre) { return genre === null ? "#dddddd" : (colour[genre] || "#aaaaaa"); }
  function drawMap() {
    if (!svg) return;
    const name = mapSelect.value;
    const points = data.map[name] || [];
    const NS = "http://www.w3.org/2000/svg";
    const highlight = {};
    if (current >= 0) {
      ((data.neighbours[name] || [])[current] || []).forEach(function (row) {
        highlight[row[0]] = "neighbour";
      });
      highlight[data.seeds[current]] = "seed";
    }
    svg.replaceChildren();
    const late = [];
    points.forEach(function (pt) {
      const c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", pt[1]);
      c.setAttribute("cy", -pt[2]);
      c.setAttribute("r", highlight[pt[0]] === "seed" ? 0.03 : 0.013);
      c.setAttribute("fill", colourOf(S[pt[0]][3]));
      c.setAttribute("data-song", String(pt[0]));
      if (highlight[pt[0]]) { c.setAttribute("class", highlight[pt[0]]); late.push(c); }
      else svg.appendChild(c);
    });
    late.forEach(function (c) { svg.appendChild(c); });  // drawn on top
  }
  if (svg) {
    mapSelect.addEventListener("change", drawMap);
    const legend = document.getElementById("map-legend");
    data.genres.forEach(function (g) {
      const item = el("span", {}, g);
      const dot = el("i", {"style": "background:" + colourOf(g)});
      item.prepend(dot);
      legend.appendChild(item);
    });
    const other = el("span", {}, "other or no genre");
    other.prepend(el("i", {"style": "background:#aaaaaa"}));
    legend.appendChild(other);
    svg.addEventListener("mousemove", function (event) {
      const target = event.target;
      if (!target.dataset || target.dataset.song === undefined) { tip.style.display = "none"; return; }
      const s = S[Number(target.dataset.song)];
      tip.textContent = (s[1] || "?") + " \u2014 " + (s[2] || "?") + " \u00b7 " +
        (s[3] || "no genre") + " \u00b7 " + s[4].toLocaleString("en") + " plays";
      const box = svg.parentElement.getBoundingClientRect();
      tip.style.left = (event.clientX - box.left + 12) + "px";
      tip.style.top = (event.clientY - box.top + 12) + "px";
      tip.style.display = "block";
    });
    svg.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    svg.addEventListener("click", function (event) {
      const t = event.target;
      if (!t.dataset || t.dataset.song === undefined) return;
      const i = data.seeds.indexOf(Number(t.dataset.song));
      if (i >= 0) pick(i);
    });
  }
  if (current >= 0) pick(current); else render();
})();
"""
