"""The HTML report of a run: one self-contained ``report.html`` plus the same plots as PNG files.

Everything comes from the files of a finished run (:mod:`embench.report.load`, and the
``explorer/`` export of :mod:`embench.report.explorer`), so ``embench report RUN_DIR`` rebuilds
it without training anything. The page fetches nothing: plots are embedded as base64 PNG, the
style sheet is inline, and the neighbour explorer and the song map are plain JavaScript over a
JSON block embedded in the page.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from embench.io import write_bytes, write_text
from embench.report.assets import EXPLORER_STYLE, STYLE
from embench.report.explorer_section import explorer_section
from embench.report.load import Run, load_run
from embench.report.markup import PNG_PREFIX, Plot
from embench.report.sections import (
    dataset_section,
    header_section,
    health_section,
    notes_section,
    play_section,
    popularity_section,
    results_section,
)
from embench.report.study_sections import scale_section, studies_section
from embench.summary import RunSummary

REPORT = "report.html"


def build_report(run: Run, best: str | None = None) -> tuple[str, list[Plot]]:
    """The page and its plots, from a loaded run; ``best`` picks the configuration shown
    against the default in the popularity and play-prediction figures."""
    if best is not None:
        run.configuration(best)
    studies_html, study_plots_ = studies_section(run)
    popularity_html, popularity_plots = popularity_section(run, best)
    play_html, play_plots = play_section(run, best)
    health_html, health_plots = health_section(run)
    body = "".join(
        [
            header_section(run),
            notes_section(run),
            results_section(run),
            dataset_section(run),
            explorer_section(run),
            popularity_html,
            play_html,
            health_html,
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
    return page, [*popularity_plots, *play_plots, *health_plots, *study_plots_]


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
