"""The sections of the report page about the run and its results: header, notes, results
table, dataset, popularity buckets and play prediction (the studies' sections are in
:mod:`embench.report.study_sections`, the explorer's in :mod:`embench.report.explorer_section`)."""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

from embench.report import plots
from embench.report.console import COLUMNS, precision_notes
from embench.report.load import Run, RunDirError, value
from embench.report.markup import Plot, cell, figure_cell, figure_html, html_table, number_cell
from embench.stats import BETTER_THAN_BEST_SINGLE, BETTER_THAN_DEFAULT

POPULARITY_TABLE = "popularity.hitrate_by_popularity"
PLAY_METRIC = "play_prediction"
K_OCCURRENCE_TABLE = "health.k_occurrence_histogram"
HEALTH_TABLE = "health.health"
BUCKET_KEY = re.compile(r"_b\d+$")  # per-bucket values: shown in the popularity figure instead


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


def popularity_section(run: Run, best: str | None) -> tuple[str, list[Plot]]:
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


def health_section(run: Run) -> tuple[str, list[Plot]]:
    """The k-occurrence histogram of every configuration the health metric scored."""
    rows = [c for c in run.ok_configurations if K_OCCURRENCE_TABLE in (c.get("tables") or {})]
    if not rows:
        return "", []
    data = plots.k_occurrence_data({c["name"]: c["tables"][K_OCCURRENCE_TABLE] for c in rows})
    labels, sizes = {}, set()
    for row in rows:
        skewness, antihubs = value(row, "k_skewness"), value(row, "antihubs")
        labels[row["name"]] = (
            f"{row['name']} (skewness {skewness:.2f}, anti-hubs {antihubs:.1%})"
            if math.isfinite(skewness) and math.isfinite(antihubs)
            else row["name"]
        )
        summary = (row.get("tables") or {}).get(HEALTH_TABLE)
        if summary:
            first = dict(zip(summary["columns"], summary["data"][0], strict=True))
            sizes.add((first.get("k"), first.get("songs"), first.get("queries")))
    mean, counted = None, ""
    if len(sizes) == 1:  # every configuration counted the same lists: name them
        k, songs, queries = sizes.pop()
        if k and songs and queries:
            mean = k * queries / songs  # the mean k-occurrence over the songs with a vector
            counted = f" (the top-{k} lists of {queries:,} query songs, over {songs:,} songs)"
    figure = plots.plot_k_occurrence(data, mean=mean, labels=labels)
    plot = Plot(
        "k-occurrence",
        "k-occurrence histogram",
        f"Songs by k-occurrence N_k, the number of top-k neighbour lists a song is in"
        f"{counted}, one line per configuration, log-scaled counts. Hubs (a long right tail: "
        "the same few songs recommended everywhere) and anti-hubs (N_k = 0: never recommended) "
        "show as mass far from the mean; a healthy space is concentrated around it.",
        plots.to_png(figure),
    )
    return "<h2 id='health'>Embedding-space health</h2>" + figure_html(plot), [plot]


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
