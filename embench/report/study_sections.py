"""The sections of the report page about the studies: each study's trials, history and
Pareto plots, the work curves, and the optimisation at scale."""

from __future__ import annotations

import json
import math
from html import escape

from embench.report import plots
from embench.report.load import Run, StudyRecords, value
from embench.report.markup import Plot, cell, figure_html, html_table, number_cell, safe_name
from embench.report.sections import table_keys


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
