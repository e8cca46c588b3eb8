"""The HTML report of a run: one self-contained ``report.html`` plus the same plots as PNG files.

Everything comes from the files of a finished run (:mod:`embench.report.load`, and the
``explorer/`` export of :mod:`embench.report.explorer`), so ``embench report RUN_DIR`` rebuilds
it without training anything. The page fetches nothing: plots are embedded as base64 PNG, the
style sheet is inline, and the neighbour explorer and the song map are plain JavaScript over a
JSON block embedded in the page.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from embench.io import write_bytes, write_text
from embench.report.console import (
    COLUMNS,
    format_figure,
    format_value,
    is_approximate,
    precision_notes,
)
from embench.report.explorer import EXPLORER, load_explorer, page_data
from embench.report.load import Run, RunDirError, StudyRecords, load_run, value
from embench.stats import BETTER_THAN_BEST_SINGLE, BETTER_THAN_DEFAULT
from embench.summary import RunSummary

REPORT = "report.html"
PNG_PREFIX = "report-"  # the PNG files beside the report: report-NAME.png
POPULARITY_TABLE = "popularity.hitrate_by_popularity"
PLAY_METRIC = "play_prediction"
BUCKET_KEY = re.compile(r"_b\d+$")  # per-bucket values: shown in the popularity figure instead
EXPLORER_PANELS = 3  # configurations side by side in the explorer (each column has a picker)
EXPLORER_COLUMNS = ("rank", "title", "artist", "genre", "cosine", "plays", "flags")
KNOWN_FLAGS = ("same_artist", "same_genre", "next_song", "hard_negative")  # with a colour

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


@dataclass
class Plot:
    """One figure: written as ``report-NAME.png`` and embedded in the page."""

    name: str
    title: str
    caption: str
    png: bytes

    @property
    def filename(self) -> str:
        return f"{PNG_PREFIX}{self.name}.png"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", text)


# -- choosing what to show -----------------------------------------------------------------------
def table_keys(configurations: list[dict[str, Any]]) -> list[str]:
    """The results-table columns: the paper's order first, then the other values (per-bucket
    and in-/out-of-set variants are left to their own sections)."""
    keys: list[str] = []
    for row in configurations:
        for key in row.get("metrics") or {}:
            if key not in keys:
                keys.append(key)
    ordered = [k for k in COLUMNS if k in keys]
    ordered += [
        k
        for k in keys
        if k not in ordered and not k.endswith(("_in", "_out")) and not BUCKET_KEY.search(k)
    ]
    return ordered


def best_configuration(run: Run, among: list[str], exclude: str | None) -> str | None:
    """The configuration with the highest HitRate (else the first value key) among ``among``."""
    rows = [run.configuration(n) for n in among if n != exclude]
    if not rows:
        return None
    keys = run.value_keys()
    key = "hitrate" if "hitrate" in keys else (keys[0] if keys else None)
    if key is None:
        return rows[0]["name"]
    scored = [(value(r, key), -i, r["name"]) for i, r in enumerate(rows)]
    scored = [s for s in scored if not math.isnan(s[0])] or scored
    return max(scored)[2]


# -- HTML helpers --------------------------------------------------------------------------------
def cell(text: Any, cls: str | None = None, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    klass = f' class="{cls}"' if cls else ""
    return f"<td{klass}{extra}>{escape(str(text))}</td>"


def html_table(
    header: list[str],
    rows: list[list[str]],
    *,
    id: str | None = None,
    row_classes: list[str] | None = None,
) -> str:
    """``rows`` hold ready-made ``<td>`` cells."""
    ident = f' id="{escape(id)}"' if id else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        klass = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{klass}>{''.join(row)}</tr>")
    return (
        f"<div class='scroll'><table{ident}><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def number_cell(x: Any, marks: str = "") -> str:
    shown = format_value(x if isinstance(x, int | float) else None) if x is not None else "-"
    return cell(shown + marks, "num")


def figure_cell(row: dict[str, Any], key: str, marks: str = "") -> str:
    """A results-table figure: ``±`` the half-width of a sampled figure's 95% interval,
    ``≈`` when an approximate index served it; the tooltip gives the interval and sizes."""
    if not isinstance(value(row, key), float) or math.isnan(value(row, key)):
        return number_cell(None, marks)
    details = []
    interval = (row.get("intervals") or {}).get(key)
    if interval:
        n, population = interval["n"], interval["population"]
        if n < population and interval.get("low") is not None:
            details.append(
                f"95% CI [{interval['low']:.4f}, {interval['high']:.4f}], "
                f"n = {n:,} of {population:,} queries"
            )
        elif n >= population:
            details.append(f"exact: all {population:,} queries")
    if is_approximate(row, key):
        details.append("computed through an approximate neighbour index")
    attrs = {"title": "; ".join(details)} if details else {}
    return cell(format_figure(row, key) + marks, "num", **attrs)


def figure_html(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(plot.title)}" '
        f'data-plot="{escape(plot.name)}"><figcaption>{escape(plot.caption)} '
        f"(<code>{escape(plot.filename)}</code>)</figcaption></figure>"
    )


# -- sections ------------------------------------------------------------------------------------
def results_section(run: Run) -> str:
    configurations = run.configurations
    keys = table_keys(configurations)
    header = ["configuration", "embedder", "study", "status", *keys, "train s"]
    rows, classes = [], []
    for row in configurations:
        cells = [cell(row["name"]), cell(row.get("embedder", "")), cell(row.get("study") or "")]
        status = row.get("status", "?")
        cells.append(cell(status))
        if status != "ok":
            error = row.get("error") or status
            cells.append(f'<td class="error" colspan="{len(keys) + 1}">{escape(str(error))}</td>')
        else:
            marks = row.get("marks") or {}
            cells += [figure_cell(row, k, marks.get(k, "")) for k in keys]
            cells.append(number_cell(row.get("train_seconds")))
        rows.append(cells)
        classes.append("" if status == "ok" else "failed")
    default = run.default_name
    legend = (
        f"<p class='meta'>{BETTER_THAN_DEFAULT}: significantly better than the default "
        f"configuration ('{escape(str(default))}'); {BETTER_THAN_BEST_SINGLE}: significantly "
        "better than the best configuration of a single-objective study (paired t-test on "
        "per-query values, Bonferroni-corrected, p &lt; 0.01). Scored on the "
        f"{escape(str(run.summary.get('evaluated_on', '?')))} part.</p>"
    )
    notes = precision_notes([r for r in configurations if r.get("status") == "ok"], keys)
    if notes:
        legend += (
            "<p class='meta'>±: half-width of the 95% confidence interval of a sampled "
            "figure (hover a figure for the interval and its sample size); "
            + "; ".join(escape(n) for n in notes)
            + ".</p>"
        )
    return (
        "<h2 id='results'>Results</h2>"
        + html_table(header, rows, id="results-table", row_classes=classes)
        + legend
    )


def dataset_section(run: Run) -> str:
    dataset = run.summary.get("dataset") or {}
    stats = dataset.get("stats") or {}
    if not stats:
        return ""
    rows = []
    for key, x in stats.items():
        shown = f"{x:,.2f}" if isinstance(x, float) else f"{x:,}" if isinstance(x, int) else x
        rows.append([cell(key), cell(shown, "num")])
    for part, count in (dataset.get("split") or {}).items():
        rows.append([cell(f"{part} sequences"), cell(f"{count:,}", "num")])
    plugin = escape(str(dataset.get("plugin", "?")))
    return (
        f"<h2 id='dataset'>Dataset</h2><p class='meta'>dataset plugin '{plugin}' "
        "(the paper's Table 2: sequence lengths in songs)</p>"
        + html_table(["figure", "value"], rows, id="dataset-table")
    )


def trial_table(study: StudyRecords) -> str:
    keys = [o["key"] for o in study.objectives]
    header = ["trial", "status", *keys, *(f"{k} SE" for k in keys), "fidelity", "work"]
    header += ["train s", "predicted s", "params", "error"]
    default_work = (study.default or {}).get("work")
    rows, classes = [], []
    for record in study.trials:
        objectives = list(record.get("objectives") or [])
        objectives += [None] * (len(keys) - len(objectives))
        errors = list(record.get("objective_se") or [])
        errors += [None] * (len(keys) - len(errors))
        params = json.dumps(record.get("params") or {}, separators=(", ", "="))[1:-1]
        fidelity = ", ".join(f"{k} {v:g}" for k, v in (record.get("fidelity") or {}).items())
        work = record.get("work")
        relative = work / default_work if work is not None and default_work else None
        rows.append(
            [
                cell(record["number"], "num"),
                cell(record.get("status", "?")),
                *(number_cell(v) for v in objectives[: len(keys)]),
                *(number_cell(v) for v in errors[: len(keys)]),
                cell(fidelity or "full"),
                number_cell(relative),
                number_cell(record.get("train_seconds")),
                number_cell(record.get("predicted_seconds")),
                cell(params.replace('"', "")),
                cell(record.get("error") or "", "error"),
            ]
        )
        status = record.get("status")
        classes.append("trial" + (f" {status}" if status != "ok" else ""))
    return (
        f"<details><summary>all {len(study.trials)} trials of study "
        f"{escape(study.name)}</summary>"
        + html_table(header, rows, id=f"trials-{safe_name(study.name)}", row_classes=classes)
        + "</details>"
    )


def study_plots(run: Run, name: str, study: StudyRecords, chosen: list[int]) -> list[Plot]:
    from embench.report import plots

    out = []
    statuses = ("ok", "infeasible", "failed", "skipped")
    counts = {s: sum(r.get("status") == s for r in study.trials) for s in statuses}
    figure = plots.plot_history(study, study.default)
    out.append(
        Plot(
            f"history-{safe_name(name)}",
            f"optimisation history of study {name}",
            f"Study {name}: the objective of each of its {len(study.trials)} trials "
            f"({', '.join(f'{counts[s]} {s}' for s in statuses)}; those without a value are "
            "marked at the bottom) with +-1 standard error (from the per-query values: a gap "
            "smaller than the bars is validation noise), reduced-fidelity trials hollow, and "
            "the best full-training value so far, starting from the default configuration's.",
            plots.to_png(figure),
        )
    )
    if study.multi_objective:
        figure = plots.plot_pareto(study, chosen, study.default)
        out.append(
            Plot(
                f"pareto-{safe_name(name)}",
                f"Pareto front of study {name}",
                f"Study {name}: feasible trials, the non-dominated ones joined, the points "
                f"chosen for the final evaluation starred ({', '.join(f'#{n}' for n in chosen)}).",
                plots.to_png(figure),
            )
        )
    return out


def studies_section(run: Run) -> tuple[str, list[Plot]]:
    summaries = run.summary.get("studies") or {}
    studies = {**run.studies, **run.scale_studies}
    if not studies:
        return "", []
    parts = ["<h2 id='studies'>Studies</h2>"]
    header = ["study", "objectives", "trials", "ok", "infeasible", "failed", "skipped"]
    header += ["optimisation s", "result"]
    scale_seconds = {
        f"{r.get('study')}@{float(r.get('rate', 0)):g}": r.get("optimisation_seconds")
        for r in run.summary.get("scale") or []
    }
    rows = []
    for name, study in studies.items():
        statuses = [r.get("status") for r in study.trials]
        objectives = ", ".join(f"{o['key']} ({o.get('direction')})" for o in study.objectives)
        summary = summaries.get(name) or {}
        rows.append(
            [
                cell(name),
                cell(objectives),
                cell(len(study.trials), "num"),
                *(
                    cell(statuses.count(s), "num")
                    for s in ("ok", "infeasible", "failed", "skipped")
                ),
                number_cell(summary.get("optimisation_seconds", scale_seconds.get(name))),
                cell(OUTCOMES.get(summary.get("outcome") or "", "")),
            ]
        )
    parts.append(html_table(header, rows, id="studies-table"))
    for name in studies:
        for note in (summaries.get(name) or {}).get("notes") or []:
            parts.append(f"<p class='meta'>study {escape(name)}: {escape(note)}</p>")
    curves = work_curve_plot(studies)
    if curves is not None:
        parts.append(figure_html(curves))
    plots: list[Plot] = []
    for name, study in studies.items():
        chosen = [b.get("number") for b in (summaries.get(name) or {}).get("best") or []]
        header_info = study.header
        parts.append(
            f"<h3>{escape(name)}</h3><p class='meta'>optimiser "
            f"'{escape(str(header_info.get('optimiser', '?')))}', embedder "
            f"'{escape(str(header_info.get('embedder', '?')))}', seed "
            f"{escape(str(header_info.get('seed', '?')))}"
            + (
                f", on a {header_info['subsample']:g} subsample of the training sequences"
                if isinstance(header_info.get("subsample"), int | float)
                else ""
            )
            + "</p>"
        )
        made = study_plots(run, name, study, [n for n in chosen if isinstance(n, int)])
        parts += [figure_html(p) for p in made]
        parts.append(trial_table(study))
        plots += made
    if curves is not None:
        plots.append(curves)
    return "".join(parts), plots


OUTCOMES = {
    "improved": "better than the default",
    "default": "nothing better than the default: the result is the default",
    "no_feasible_trial": "no feasible trial: the result is the default",
}


def work_curve_plot(studies: dict[str, StudyRecords]) -> Plot | None:
    """The best validation objective of every single-objective study against its cumulative
    training work (journals with work units only), in default trainings on the full data."""
    from embench.report import plots

    chosen = {
        name: study
        for name, study in studies.items()
        if not study.multi_objective and not plots.work_curve_data(study).empty
    }
    if not chosen:
        return None
    full = [s for s in chosen.values() if not s.header.get("subsample")]
    work = (full[0].default or {}).get("work") if full else None
    unit = float(work) if isinstance(work, int | float) and work > 0 else None
    figure = plots.plot_work_curves(chosen, unit)
    return Plot(
        "work-curves",
        "best objective against training work",
        "The best validation objective found so far (the default configuration's first, then "
        "full trainings only; band: +-1 standard error) against the training work spent, in "
        "trainings of the default configuration on the full data: a multi-fidelity study pays "
        "little for the configurations it drops. A [scale] study (dashed) is scored on "
        "validation after training on its subsample only, so its values are not comparable "
        "with a full training's; its best is retrained on the full data for the results table.",
        plots.to_png(figure),
    )


def popularity_section(run: Run, best: str | None) -> tuple[str, list[Plot]]:
    from embench.report import plots

    with_table = [
        c["name"] for c in run.ok_configurations if POPULARITY_TABLE in (c.get("tables") or {})
    ]
    if not with_table:
        return "", []
    named = run.default_name
    default: str = named if named is not None and named in with_table else with_table[0]
    why = "chosen"
    if best is None:
        best, why = best_configuration(run, with_table, exclude=default), "the highest HitRate"
    elif best not in with_table:
        run.configuration(best)  # unknown names get "did you mean"
        raise RunDirError(f"configuration '{best}' has no popularity table ({POPULARITY_TABLE})")
    if best is None or best == default:
        return "", []
    tables = {
        name: plots.table_from_split(run.configuration(name)["tables"][POPULARITY_TABLE])
        for name in (default, best)
    }
    figure = plots.plot_popularity(tables)
    plot = Plot(
        "popularity",
        "HitRate by popularity bucket",
        f"HitRate per (query bucket, target bucket), buckets of songs holding equal shares of "
        f"the plays, 0 the most played (the paper's Figure 2): '{default}' and '{best}' "
        f"({why}), and the difference of their diagonals.",
        plots.to_png(figure),
    )
    return "<h2 id='popularity'>Popularity buckets</h2>" + figure_html(plot), [plot]


def play_section(run: Run, best: str | None) -> tuple[str, list[Plot]]:
    from embench.report import plots

    frame = run.per_query(PLAY_METRIC)
    if frame is None or not len(frame):
        return "", []
    names = [c["name"] for c in run.ok_configurations]
    present = [n for n in names if (frame["configuration"] == n).any()]
    if not present:
        return "", []
    named = run.default_name
    default: str = named if named is not None and named in present else present[0]
    if best not in present:
        best = best_configuration(run, present, exclude=default)
    shown = [default] + ([best] if best and best != default else [])
    frames = {n: frame[frame["configuration"] == n] for n in shown}
    if not any(len(plots.play_data(f)) for f in frames.values()):
        return "", []
    figure = plots.plot_play_prediction(frames)
    plot = Plot(
        "play-prediction",
        "play rate against cosine similarity",
        "Play rate (successful / organic plays) of each (seed, recommended song) pair of the "
        "play log against the cosine similarity of the two songs (the paper's Figure 3); "
        "frequent pairs darker.",
        plots.to_png(figure),
    )
    return "<h2 id='play-prediction'>Play prediction</h2>" + figure_html(plot), [plot]


def scale_section(run: Run) -> str:
    scale = run.summary.get("scale") or []
    if not scale:
        return ""
    rows_data = list(scale)
    studies = run.summary.get("studies") or {}
    for name in dict.fromkeys(r.get("study") for r in scale):
        for row in run.configurations:
            if row.get("study") == name:
                rows_data.append(
                    {
                        "rate": 1.0,
                        "study": name,
                        "configuration": row["name"],
                        "optimisation_seconds": (studies.get(name) or {}).get(
                            "optimisation_seconds"
                        ),
                        "status": row.get("status"),
                        "metrics": row.get("metrics") or {},
                    }
                )
    rows_data.sort(key=lambda r: (str(r.get("study")), float(r.get("rate", 0))))
    keys = table_keys([{"metrics": r.get("metrics") or {}} for r in rows_data])
    header = ["study", "subsample", "configuration", "status", "optimisation s", *keys]
    rows = []
    for r in rows_data:
        rate = float(r.get("rate", math.nan))
        rows.append(
            [
                cell(r.get("study", "")),
                cell(f"{rate:.0%}" if rate >= 0.01 else f"{rate:.2%}", "num"),
                cell(r.get("configuration", "")),
                cell(r.get("status", "")),
                number_cell(r.get("optimisation_seconds")),
                *(number_cell(value(r, k)) for k in keys),
            ]
        )
    return (
        "<h2 id='scale'>Optimisation at scale</h2><p class='meta'>Studies run on subsamples of "
        "the training sequences, their best configuration retrained on the full training set "
        "(the paper's Table 6); 100%: the study on the full training set.</p>"
        + html_table(header, rows, id="scale-table")
    )


# -- the neighbour explorer and the song map -----------------------------------------------------
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


def _json_for_script(data: Any) -> str:
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
        + _json_for_script(page)
        + "</script><script>"
        + EXPLORER_SCRIPT
        + "</script>"
    )


def header_section(run: Run) -> str:
    s = run.summary
    description = (run.config.get("benchmark") or {}).get("description") or ""
    versions = s.get("versions") or {}
    facts = [
        ("run directory", str(run.path)),
        ("benchmark file", s.get("source", "?")),
        ("seed", s.get("seed", "?")),
        ("threads", s.get("threads", "?")),
        ("started", s.get("started", "?")),
        ("finished", s.get("finished", "?")),
        ("embench", versions.get("embench", "?")),
    ]
    meta = "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in facts)
    version_list = ", ".join(f"{k} {v}" for k, v in versions.items())
    machine = ", ".join(f"{k}: {v}" for k, v in (s.get("machine") or {}).items())
    return (
        f"<h1>embench: {escape(run.name)}</h1>"
        + (f"<p>{escape(description)}</p>" if description else "")
        + f"<ul class='meta'>{meta}</ul>"
        + f"<details><summary>versions and machine</summary><p class='meta'>"
        f"{escape(version_list)}</p><p class='meta'>{escape(machine)}</p></details>"
    )


def notes_section(run: Run) -> str:
    notes = list(run.notes)
    failed = [c["name"] for c in run.configurations if c.get("status") != "ok"]
    if failed:
        notes.append(f"configuration(s) not ok: {', '.join(failed)}")
    if not notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f"<h2 id='notes'>Notes</h2><ul class='note'>{items}</ul>"


def build_report(run: Run, best: str | None = None) -> tuple[str, list[Plot]]:
    """The page and its plots, from a loaded run; ``best`` picks the configuration shown
    against the default in the popularity and play-prediction figures."""
    if best is not None:
        run.configuration(best)
    studies_html, study_plots_ = studies_section(run)
    popularity_html, popularity_plots = popularity_section(run, best)
    play_html, play_plots = play_section(run, best)
    body = "".join(
        [
            header_section(run),
            notes_section(run),
            results_section(run),
            dataset_section(run),
            explorer_section(run),
            popularity_html,
            play_html,
            studies_html,
            scale_section(run),
        ]
    )
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>embench report: {escape(run.name)}</title><style>{STYLE}{EXPLORER_STYLE}</style>"
        "</head>"
        f"<body>{body}</body></html>\n"
    )
    return page, [*popularity_plots, *play_plots, *study_plots_]


def write_report(
    path: str | Path, *, best: str | None = None, summary: RunSummary | None = None
) -> Path:
    """Rebuild ``report.html`` and its PNG files in the run directory ``path``.

    The PNG files are written first and the page last, each atomically; PNG files of an
    earlier report that this one no longer has are removed. ``summary``: the run's summary
    when ``summary.json`` is not written yet (``embench run`` writes it after the report).
    """
    run = load_run(path, summary=summary)
    page, plots = build_report(run, best=best)
    written = set()
    for plot in plots:
        write_bytes(run.path / plot.filename, plot.png)
        written.add(plot.filename)
    for stale in run.path.glob(f"{PNG_PREFIX}*.png"):
        if stale.name not in written:
            stale.unlink()
    return write_text(run.path / REPORT, page)


def write_report_after_run(
    path: Path, console=None, summary: RunSummary | None = None
) -> Path | None:
    """What ``embench run`` calls (with the summary it is about to write): a report that
    cannot be built is a warning, not a lost run (``embench report`` rebuilds it)."""
    try:
        return write_report(path, summary=summary)
    except Exception as exc:  # the run's results are safe on disk either way
        if os.environ.get("EMBENCH_DEBUG"):
            raise
        if console is not None:
            console.print(
                f"[yellow]report not written ({type(exc).__name__}: {exc}); "
                f"rebuild it with: embench report {path}[/yellow]"
            )
        return None
