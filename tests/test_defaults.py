"""Every default that changes a published figure is pinned to what the docs say.

A default changed in the code without the docs (or the other way round) fails here. The values
are read from the docs, so a deliberate change is one edit of the code and one of the page.
Paper definitions (Table 3, 98/1/1, k = 100, time budget 1.25) are also pinned literally: changing
one of those is changing what the benchmark measures, and docs/results.md with it.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import pytest

from embench import config
from embench.data.split import make_split
from embench.plugins import get_plugin_manager

DOCS = Path(__file__).resolve().parents[1] / "docs"


# -- reading documented values -------------------------------------------------------------------
def parse_value(text: str):
    """A documented default: ``true``, ``none``, ``"error"``, ``50,000``, ``1e-7``, ``0.75``."""
    text = text.strip().strip("`").strip()
    if text in ("true", "false"):
        return text == "true"
    if text == "none":
        return None
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return float(text.replace(",", "").replace("_", ""))


def same(documented, default) -> bool:
    if isinstance(default, bool) or default is None or isinstance(default, str):
        return documented == default
    return isinstance(documented, float) and math.isclose(documented, float(default), rel_tol=1e-12)


def option_sections(page: Path) -> dict[str, dict]:
    """``## heading`` -> {"names": backticked plugin names before 'module', "rows": [(names, value)]}.

    Rows come from the first ``| option | default |`` table under the heading. A row may name
    several options with a qualifier (``genre: `k`, `genres``` | ``50, 10``) or give a value per
    qualifier (``1 (genre), 2 (artist)``); qualifiers select metrics by the end of their name.
    """
    sections: dict[str, dict] = {}
    current = None
    in_table = False
    for line in page.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (.+?)\s*$", line)
        if heading:
            title = heading.group(1)
            names = re.findall(r"`([\w.]+)`", title.split("module")[0])
            current = sections.setdefault(title, {"names": names, "rows": [], "tables": 0})
            in_table = False
            continue
        if current is None:
            continue
        if line.startswith("| option | default"):
            current["tables"] += 1
            in_table = current["tables"] == 1
            continue
        if in_table and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set(cells[0]) <= {"-", " "}:
                continue
            current["rows"].append((cells[0], cells[1]))
        elif in_table:
            in_table = False
    return sections


def documented_defaults(rows: list[tuple[str, str]], metric: str) -> dict[str, object]:
    """{option: documented default} for ``metric`` from a section's option rows."""
    found: dict[str, object] = {}
    for name_cell, value_cell in rows:
        qualifier = re.match(r"^(\w+):", name_cell)
        if qualifier and not metric.endswith(qualifier.group(1)):
            continue
        names = re.findall(r"`(\w+)`", name_cell)
        per_qualifier = dict((q, v) for v, q in re.findall(r"([^,]+?)\s*\((\w+)\)", value_cell))
        if per_qualifier:
            chosen = [v for q, v in per_qualifier.items() if metric.endswith(q)]
            assert len(chosen) == 1, f"no value of {names} for {metric}: {value_cell!r}"
            values = chosen
        elif len(names) > 1:
            values = [v for v in value_cell.split(", ")]
        else:
            values = [value_cell]
        assert len(values) == len(names), f"{name_cell!r} vs {value_cell!r}"
        for name, value in zip(names, values, strict=True):
            found[name] = parse_value(value)
    return found


def builtin_metrics():
    plugins = get_plugin_manager()
    return sorted(
        (e for e in plugins.metrics if e.origin.package == "embench"), key=lambda e: e.name
    )


METRICS_PAGE = DOCS / "metrics.md"


def test_the_docs_parser_reads_the_shapes_used():
    rows = [
        ("genre: `k`, `genres`, `pool`", "50, 10, 1000"),
        ("artist: `k`, `strata`", "7, 5"),
        ("`min_songs`", "1 (genre), 2 (artist)"),
        ("`max_songs`", "50,000"),
        ("`rate`", "1e-7"),
        ("`mode`", '`"error"`'),
        ("`normalise`", "true"),
        ("`limit`", "none"),
    ]
    assert documented_defaults(rows, "coherence_genre") == {
        "k": 50.0,
        "genres": 10.0,
        "pool": 1000.0,
        "min_songs": 1.0,
        "max_songs": 50000.0,
        "rate": 1e-7,
        "mode": "error",
        "normalise": True,
        "limit": None,
    }
    assert documented_defaults(rows, "coherence_artist")["k"] == 7.0
    assert documented_defaults(rows, "coherence_artist")["min_songs"] == 2.0


def documented_metrics() -> list[str]:
    return sorted(
        n for s in option_sections(METRICS_PAGE).values() if s["rows"] for n in s["names"]
    )


def test_every_builtin_metric_has_an_options_table():
    assert sorted(e.name for e in builtin_metrics()) == documented_metrics()


@pytest.mark.parametrize("metric", documented_metrics())
def test_every_metric_option_default_is_the_documented_one(metric):
    entry = next(e for e in builtin_metrics() if e.name == metric)
    sections = [s for s in option_sections(METRICS_PAGE).values() if metric in s["names"]]
    assert len(sections) == 1, f"docs/metrics.md: no single '## ...(`{metric}`...)' section"
    documented = documented_defaults(sections[0]["rows"], metric)
    fields = entry.cls.Options.model_fields
    problems = [f"'{name}' is not documented" for name in fields.keys() - documented.keys()]
    problems += [f"documents '{name}', not an option" for name in documented.keys() - fields.keys()]
    for name in documented.keys() & fields.keys():
        default = fields[name].default
        if not same(documented[name], default):
            problems.append(f"'{name}': docs say {documented[name]!r}, the code {default!r}")
    assert not problems, f"docs/metrics.md, {metric}:\n  " + "\n  ".join(problems)


# -- paper definitions, pinned literally and against the docs --------------------------------------
def metric_options(name: str):
    entry = next(e for e in builtin_metrics() if e.name == name)
    return entry.cls.Options()


def test_the_paper_s_metric_defaults():
    assert metric_options("next_song").k == 100
    assert metric_options("hardneg").k == 100
    # The paper's footnote: chance pairs have chi2 below 1e-7 x the song occurrences.
    assert metric_options("hardneg").threshold == "paper"
    assert metric_options("hardneg").chi2_rate == 1e-7
    assert metric_options("vrc_genre").normalise is True
    assert metric_options("vrc_artist").normalise is True
    assert metric_options("vrc_artist").min_songs == 2
    assert metric_options("coherence_genre").k == 50
    assert metric_options("coherence_artist").k == 50
    assert metric_options("popularity").buckets == 5
    assert metric_options("popularity").pairs_per_cell == 1000
    assert metric_options("play_prediction").min_organic == 100


def test_split_fractions_are_98_1_1_in_code_and_docs():
    split = config.SplitSection()
    assert split.fractions == (0.98, 0.01, 0.01)
    assert split.subsample == 1.0
    # make_split's own default agrees with the benchmark file's.
    assert inspect.signature(make_split).parameters["fractions"].default == split.fractions
    assert inspect.signature(make_split).parameters["subsample"].default == split.subsample
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    match = re.search(r"train / validation / test = (\d+) / (\d+) / (\d+)", concepts)
    assert match, "docs/concepts.md no longer states the split fractions"
    assert tuple(int(g) / 100 for g in match.groups()) == split.fractions


def test_time_budget_is_1_25_in_code_and_docs():
    default = config.StudySection.model_fields["time_budget"].default
    assert default == 1.25
    search = (DOCS / "search.md").read_text(encoding="utf-8")
    match = re.search(r"`time_budget = t` \(default ([\d.]+)\)", search)
    assert match, "docs/search.md no longer states the time budget's default"
    assert float(match.group(1)) == default
    example = re.search(r"^time_budget = ([\d.]+)\s+# x the default", search, re.MULTILINE)
    assert example and float(example.group(1)) == default


# The paper's Table 3: (low, high, log, default).
TABLE_3 = {
    "vector_size": (25, 200, False, 100),
    "window": (1, 40, False, 5),
    "ns_exponent": (-1.0, 1.0, False, 0.75),
    "negative": (1, 100, False, 5),
    "alpha": (0.001, 0.1, True, 0.025),
}


def documented_ranges(text: str) -> dict[str, tuple[float, float]]:
    return {
        name: (float(low), float(high))
        for name, low, high in re.findall(r"`(\w+)`\s+\[(-?[\d.]+),\s*(-?[\d.]+)\]", text)
    }


@pytest.mark.parametrize("page", ["search.md", "concepts.md"])
def test_word2vec_search_space_is_table_3_in_code_and_docs(page):
    entry = next(e for e in get_plugin_manager().embedders if e.name == "word2vec")
    space = entry.cls.search_space
    assert set(space) == set(TABLE_3)
    defaults = entry.cls.Options()
    for name, (low, high, log, default) in TABLE_3.items():
        dim = space[name]
        assert (dim.low, dim.high, bool(dim.log)) == (low, high, log), name
        assert getattr(defaults, name) == default, name
    text = (DOCS / page).read_text(encoding="utf-8")
    documented = documented_ranges(text)
    for name, (low, high, _, _) in TABLE_3.items():
        assert documented.get(name) == (low, high), f"docs/{page}: range of `{name}`"
    assert re.search(r"`alpha`\s+\[0\.001,\s*0\.1\],?\s+\(?log", text), (
        f"docs/{page}: alpha's log scale"
    )
