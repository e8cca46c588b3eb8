"""The report's plots (matplotlib, Agg canvas; no pyplot, so no global state and no display).

Each ``*_data`` function turns run files into a plain table (tested on its own); each ``plot_*``
function draws one :class:`~matplotlib.figure.Figure`; :func:`to_png` renders it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from embench.pareto import non_dominated
from embench.report.load import StudyRecords

DPI = 100
OK, INFEASIBLE, FAILED, SKIPPED = "ok", "infeasible", "failed", "skipped"
STATUS_STYLE = {  # marker, colour, label
    INFEASIBLE: ("x", "#d95f02", "infeasible"),
    FAILED: ("v", "#c0392b", "failed"),
    SKIPPED: ("|", "#999999", "skipped (predicted over budget)"),
}


def new_figure(width: float, height: float):
    """A figure on its own Agg canvas. No layout engine (it doubles the drawing time): each
    plot sets its margins with :func:`margins`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def margins(
    figure,
    left: float = 0.85,
    right: float = 0.25,
    bottom: float = 0.6,
    top: float = 0.55,
    wspace: float = 0.3,
    hspace: float = 0.15,
) -> None:
    """Margins in inches (spaces between subplots as fractions of their size)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace,
        hspace=hspace,
    )


def to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def table_from_split(table: Mapping[str, Any]) -> pd.DataFrame:
    """A table stored in pandas "split" orient (``index``, ``columns``, ``data``)."""
    frame = pd.DataFrame(table["data"], index=table.get("index"), columns=table.get("columns"))
    return frame.apply(pd.to_numeric, errors="coerce").astype(np.float64)


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


# -- optimisation history ------------------------------------------------------------------------
def fidelity_rate(record: Mapping[str, Any]) -> float:
    """The share of a full training a trial got (subsample x epochs share; 1: a full one)."""
    fidelity = record.get("fidelity") or {}
    return _number(fidelity.get("subsample", 1.0)) * _number(fidelity.get("epochs", 1.0))


def history_data(study: StudyRecords) -> pd.DataFrame:
    """One row per trial (each number once, in order): ``number``, ``status``, ``feasible``,
    ``rate`` (the share of a full training: < 1 for a multi-fidelity rung), ``work`` (training
    work, 0 when skipped; NaN when not recorded), and per objective ``KEY`` (the value; NaN
    unless ok), ``KEY_se`` (its standard error) and ``KEY_best`` (the best feasible value so far
    among full trainings, the default included, in the objective's direction)."""
    objectives = study.objectives or [{"key": "objective", "direction": "max"}]
    rows = []
    for record in study.trials:
        values = list(record.get("objectives") or [])
        values = [_number(v) for v in values] + [math.nan] * (len(objectives) - len(values))
        errors = [_number(v) for v in record.get("objective_se") or []]
        errors += [math.nan] * (len(objectives) - len(errors))
        ok = record.get("status") == OK
        feasible = ok and all(math.isfinite(v) for v in values)
        skipped = record.get("status") == SKIPPED
        row: dict[str, Any] = {
            "number": int(record["number"]),
            "status": record.get("status", "unknown"),
            "feasible": feasible,
            "rate": fidelity_rate(record),
            "work": 0.0 if skipped else _number(record.get("work")),
        }
        for objective, v, se in zip(objectives, values, errors, strict=False):
            row[objective["key"]] = v if ok else math.nan
            row[f"{objective['key']}_se"] = se if ok else math.nan
        rows.append(row)
    columns = ["number", "status", "feasible", "rate", "work"]
    for o in objectives:
        columns += [o["key"], f"{o['key']}_se"]
    frame = pd.DataFrame(rows, columns=columns)
    default_values = [_number(v) for v in (study.default or {}).get("objectives") or []]
    for i, objective in enumerate(objectives):
        key = objective["key"]
        masked = frame[key].where(frame["feasible"] & (frame["rate"] == 1.0))
        start = default_values[i] if i < len(default_values) else math.nan
        if math.isfinite(start):  # the default is the first candidate
            masked = pd.concat([pd.Series([start]), masked], ignore_index=True)
        best = masked.cummax() if objective.get("direction", "max") == "max" else masked.cummin()
        best = best.ffill().astype(np.float64)
        frame[f"{key}_best"] = best.iloc[1:].to_numpy() if math.isfinite(start) else best
    return frame


def plot_history(study: StudyRecords, default: Mapping[str, Any] | None = None):
    """Objective of every trial with its standard error (+-1 SE bars) and the best so far;
    reduced-fidelity trials hollow; infeasible, failed and skipped trials marked."""
    from matplotlib.transforms import blended_transform_factory

    data = history_data(study)
    objectives = study.objectives or [{"key": "objective", "direction": "max"}]
    figure = new_figure(7.5, 2.6 * len(objectives) + 0.4)
    axes = figure.subplots(len(objectives), 1, squeeze=False, sharex=True)[:, 0]
    margins(figure)
    default_values = list((default or {}).get("objectives") or [])
    for i, (ax, objective) in enumerate(zip(axes, objectives, strict=True)):
        key = objective["key"]
        ok = data[data["status"] == OK]
        full = ok[ok["rate"] == 1.0]
        reduced = ok[ok["rate"] < 1.0]
        ax.errorbar(
            full["number"],
            full[key],
            yerr=full[f"{key}_se"].fillna(0).to_numpy(),
            fmt="o",
            color="#1f77b4",
            ms=5,
            elinewidth=1,
            capsize=2,
            label="trial (\u00b11 SE)",
        )
        for rate, group in reduced.groupby("rate"):
            ax.errorbar(
                group["number"],
                group[key],
                yerr=group[f"{key}_se"].fillna(0).to_numpy(),
                fmt="o",
                mfc="none",
                ms=5,
                elinewidth=0.8,
                capsize=1.5,
                alpha=0.5 + 0.5 * float(rate),
                label=f"at {float(rate):.3g} of a full training",
            )
        ax.step(
            data["number"], data[f"{key}_best"], where="post", color="#2ca02c", label="best so far"
        )
        if i < len(default_values) and math.isfinite(_number(default_values[i])):
            ax.axhline(
                _number(default_values[i]), color="grey", ls="--", lw=1, label="default config."
            )
        edge = blended_transform_factory(ax.transData, ax.transAxes)
        if (data["status"] != OK).any():  # a band at the bottom for the trials without a value
            low, high = ax.get_ylim()
            ax.set_ylim(low - 0.2 * (high - low), high)
        for status, (marker, colour, label) in STATUS_STYLE.items():
            rows = data[data["status"] == status]
            if len(rows):
                ax.plot(
                    rows["number"],
                    np.full(len(rows), 0.06),
                    marker,
                    color=colour,
                    ms=7,
                    transform=edge,
                    clip_on=False,
                    label=f"{label} ({len(rows)})",
                )
        arrow = "\u2191" if objective.get("direction", "max") == "max" else "\u2193"
        ax.set_ylabel(f"{key} {arrow}")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("trial")
    counts = data["status"].value_counts()
    shown = [s for s in (OK, INFEASIBLE, FAILED, SKIPPED) if s != SKIPPED or counts.get(s, 0)]
    figure.suptitle(
        f"study {study.name}: {len(data)} trials ("
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in shown)
        + ")"
    )
    return figure


# -- best objective against training work --------------------------------------------------------
def work_curve_data(study: StudyRecords, unit: float | None = None) -> pd.DataFrame:
    """The study's best validation objective (first objective; the default first, then full
    trainings only) against its cumulative training work, the default's training included.

    ``work`` is in units of ``unit`` (default: the study's own default training). Columns:
    ``number`` (-1: the default), ``work``, ``best``, ``best_se`` (the standard error of the
    best's value). Empty when the journal records no work (an embedder without a work model).
    """
    objective = (study.objectives or [{"key": "objective", "direction": "max"}])[0]
    maximise = objective.get("direction", "max") == "max"
    default = study.default or {}
    default_work = _number(default.get("work"))
    unit = unit if unit is not None else default_work
    if not (math.isfinite(default_work) and unit and math.isfinite(unit)):
        return pd.DataFrame(columns=["number", "work", "best", "best_se"])
    best = _number((default.get("objectives") or [math.nan])[0])
    best_se = _number((default.get("objective_se") or [math.nan])[0])
    total = default_work
    rows = [{"number": -1, "work": total / unit, "best": best, "best_se": best_se}]
    for record in study.trials:
        if record.get("status") == SKIPPED:
            continue
        work = _number(record.get("work"))
        if not math.isfinite(work):
            return pd.DataFrame(columns=["number", "work", "best", "best_se"])
        total += work
        value = _number((record.get("objectives") or [math.nan])[0])
        full = fidelity_rate(record) == 1.0
        if record.get("status") == OK and full and math.isfinite(value):
            better = not math.isfinite(best) or (value > best if maximise else value < best)
            if better:
                best = value
                best_se = _number((record.get("objective_se") or [math.nan])[0])
        rows.append(
            {
                "number": int(record["number"]),
                "work": total / unit,
                "best": best,
                "best_se": best_se,
            }
        )
    return pd.DataFrame(rows)


def plot_work_curves(studies: Mapping[str, StudyRecords], unit: float | None = None):
    """Best validation objective against cumulative training work, one line per study (with
    a +-1 SE band around the best), one panel per objective; work in default trainings of the
    full data."""
    curves: dict[str, list[tuple[str, StudyRecords, pd.DataFrame]]] = {}
    for name, study in studies.items():
        data = work_curve_data(study, unit)
        if not data.empty:
            key = (study.objectives or [{"key": "objective"}])[0]["key"]
            curves.setdefault(key, []).append((name, study, data))
    figure = new_figure(5.2 * max(1, len(curves)) + 0.6, 4.2)
    axes = figure.subplots(1, max(1, len(curves)), squeeze=False)[0]
    margins(figure, top=0.5, bottom=0.85, wspace=0.3)
    for ax, (key, lines) in zip(axes, curves.items(), strict=False):
        for name, study, data in lines:
            subsampled = study.header.get("subsample")
            line = ax.step(
                data["work"],
                data["best"],
                where="post",
                ls="--" if subsampled else "-",
                label=name + (f" (on a {subsampled:g} subsample)" if subsampled else ""),
            )[0]
            ax.fill_between(
                data["work"].to_numpy(dtype=np.float64),
                (data["best"] - data["best_se"].fillna(0)).to_numpy(dtype=np.float64),
                (data["best"] + data["best_se"].fillna(0)).to_numpy(dtype=np.float64),
                step="post",
                color=line.get_color(),
                alpha=0.15,
                lw=0,
            )
        ax.set_xscale("log")
        ax.set_xlabel("cumulative training work\n(default trainings on the full data)")
        ax.set_ylabel(f"best validation {key}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="best", fontsize="small")
    figure.suptitle("best objective found against the training work spent")
    return figure


# -- Pareto front --------------------------------------------------------------------------------
def pareto_data(study: StudyRecords, chosen: Sequence[int] = ()) -> pd.DataFrame:
    """Feasible trials with their objectives, ``front`` (non-dominated) and ``chosen``."""
    data = history_data(study)
    keys = [o["key"] for o in study.objectives]
    feasible = data[data["feasible"]].reset_index(drop=True)
    points = feasible[keys].to_numpy(dtype=np.float64)
    directions = [o.get("direction", "max") for o in study.objectives]
    out = feasible[["number", *keys]].copy()
    out["front"] = non_dominated(points, directions)
    out["chosen"] = out["number"].isin(list(chosen))
    return out


def plot_pareto(
    study: StudyRecords, chosen: Sequence[int] = (), default: Mapping[str, Any] | None = None
):
    """Each pair of objectives: feasible trials, the Pareto front, the chosen points."""
    data = pareto_data(study, chosen)
    keys = [o["key"] for o in study.objectives]
    arrows = {
        o["key"]: "\u2191" if o.get("direction", "max") == "max" else "\u2193"
        for o in study.objectives
    }
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    figure = new_figure(5.0 * len(pairs) + 0.5, 4.2)
    axes = figure.subplots(1, len(pairs), squeeze=False)[0]
    margins(figure, wspace=0.25)
    default_values = [_number(v) for v in (default or {}).get("objectives") or []]
    for ax, (x, y) in zip(axes, pairs, strict=True):
        ax.margins(0.1)
        rest = data[~data["front"]]
        front = data[data["front"]].sort_values(x)
        picked = data[data["chosen"]]
        ax.plot(rest[x], rest[y], "o", color="#9ecae1", ms=5, label="trial")
        ax.plot(front[x], front[y], "o-", color="#08519c", ms=6, label="Pareto front")
        ax.plot(
            picked[x],
            picked[y],
            "*",
            color="#e6550d",
            ms=16,
            markeredgecolor="black",
            label="chosen",
        )
        for (px, py), group in picked.groupby([x, y], sort=False):  # equal points: one label
            ax.annotate(
                ", ".join(f"#{n}" for n in group["number"]),
                (px, py),
                textcoords="offset points",
                xytext=(-8, 8),
                ha="right",
                fontsize="small",
            )
        ix, iy = keys.index(x), keys.index(y)
        if len(default_values) > max(ix, iy):
            ax.plot(
                default_values[ix], default_values[iy], "s", color="grey", ms=7, label="default"
            )
        ax.set_xlabel(f"{x} {arrows[x]}")
        ax.set_ylabel(f"{y} {arrows[y]}")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    figure.suptitle(f"study {study.name}: Pareto front of {len(data)} feasible trials")
    return figure


# -- popularity buckets (the paper's Figure 2) ---------------------------------------------------
def plot_popularity(tables: Mapping[str, pd.DataFrame]):
    """HitRate per (query bucket, target bucket) of two configurations and the diagonal
    difference (second minus first)."""
    (first, a), (second, b) = list(tables.items())[:2]
    figure = new_figure(13.0, 4.2)
    axes = figure.subplots(1, 3)
    margins(figure, left=0.7, top=0.4, wspace=0.4)
    both = np.concatenate([a.to_numpy(dtype=np.float64).ravel(), b.to_numpy(np.float64).ravel()])
    finite = both[np.isfinite(both)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    for ax, name, table in ((axes[0], first, a), (axes[1], second, b)):
        values = table.to_numpy(dtype=np.float64)
        ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0, vmax=top)
        ax.set_facecolor("#dddddd")
        ax.set_xticks(range(values.shape[1]), labels=[str(c) for c in table.columns])
        ax.set_yticks(range(values.shape[0]), labels=[str(i) for i in table.index])
        ax.set_xlabel("target bucket (0: most played)")
        ax.set_ylabel("query bucket")
        ax.set_title(f"HitRate: {name}")
        for (r, c), v in np.ndenumerate(values):
            if math.isfinite(v):
                colour = "white" if v < top * 0.6 else "black"
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8, color=colour)
    n = min(len(a), len(b))
    diagonal = np.diag(b.to_numpy(dtype=np.float64)[:n, :n]) - np.diag(
        a.to_numpy(dtype=np.float64)[:n, :n]
    )
    colours = ["#2ca02c" if d >= 0 else "#d62728" for d in np.nan_to_num(diagonal)]
    ax = axes[2]
    ax.bar(range(n), np.nan_to_num(diagonal), color=colours)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(n), labels=[str(i) for i in a.index[:n]])
    ax.set_xlabel("bucket (query = target)")
    ax.set_ylabel(f"HitRate {second} \u2212 {first}")
    ax.set_title("diagonal difference")
    ax.grid(alpha=0.3, axis="y")
    return figure


# -- play prediction (the paper's Figure 3) ------------------------------------------------------
def play_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Scored rows of a per-query play-prediction table (a play rate and a similarity)."""
    keep = frame["play_rate"].notna() & frame["cosine"].notna()
    return frame.loc[keep, ["cosine", "play_rate", "frequent"]].reset_index(drop=True)


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def plot_play_prediction(frames: Mapping[str, pd.DataFrame]):
    """Play rate against cosine similarity per configuration; frequent pairs highlighted."""
    figure = new_figure(5.0 * len(frames) + 0.5, 4.2)
    axes = figure.subplots(1, len(frames), squeeze=False, sharey=True)[0]
    margins(figure, top=0.7, wspace=0.08)
    for ax, (name, frame) in zip(axes, frames.items(), strict=True):
        data = play_data(frame)
        frequent = data[data["frequent"].astype(bool)]
        rare = data[~data["frequent"].astype(bool)]
        ax.scatter(
            rare["cosine"], rare["play_rate"], s=6, alpha=0.35, color="#9ecae1", label="pairs"
        )
        ax.scatter(
            frequent["cosine"],
            frequent["play_rate"],
            s=10,
            alpha=0.8,
            color="#08519c",
            lw=0,
            label="frequent pairs",
        )
        r_all = correlation(data["cosine"].to_numpy(), data["play_rate"].to_numpy())
        r_frequent = correlation(frequent["cosine"].to_numpy(), frequent["play_rate"].to_numpy())
        ax.set_title(f"{name}\nr = {r_all:.3f} (all), {r_frequent:.3f} (frequent)", fontsize=10)
        ax.set_xlabel("cosine similarity")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[0].set_ylabel("play rate (successful / organic plays)")
    return figure


# -- hubness: the k-occurrence histogram ---------------------------------------------------------
def k_occurrence_bins(largest: int, bins: int = 40) -> np.ndarray:
    """Integer bin edges for k-occurrences ``0..largest``: ``0`` alone (the anti-hubs), then
    one bin per value while they fit in ``bins``, else geometric widths (hubs' k-occurrences
    span orders of magnitude). Bin ``i`` holds the values ``edges[i] .. edges[i + 1] - 1``."""
    largest = max(int(largest), 0)
    if largest < bins:
        return np.arange(largest + 2, dtype=np.int64)
    upper = np.floor(np.geomspace(1, largest + 1, bins)).astype(np.int64)
    return np.unique(np.concatenate([[0, 1], upper, [largest + 1]]))


def k_occurrence_data(tables: Mapping[str, Mapping[str, Any]], bins: int = 40) -> pd.DataFrame:
    """The health metric's ``k_occurrence_histogram`` tables (split orient: ``k_occurrence``,
    ``songs``: how many songs have each k-occurrence), one per configuration, regrouped into
    common bins (:func:`k_occurrence_bins`). Columns: ``low`` and ``high`` (the values each bin
    holds, both included), then per configuration the songs in the bin."""
    frames = {}
    for name, table in tables.items():
        frame = pd.DataFrame(table["data"], columns=table["columns"])
        frames[name] = (
            frame["k_occurrence"].to_numpy(dtype=np.int64),
            frame["songs"].to_numpy(dtype=np.int64),
        )
    largest = max((int(v.max()) for v, _ in frames.values() if len(v)), default=0)
    edges = k_occurrence_bins(largest, bins)
    out = pd.DataFrame({"low": edges[:-1], "high": edges[1:] - 1})
    for name, (values, songs) in frames.items():
        bin_of = np.searchsorted(edges, values, side="right") - 1
        out[name] = np.bincount(bin_of, weights=songs, minlength=len(edges) - 1).astype(np.int64)
    return out


def plot_k_occurrence(
    data: pd.DataFrame, mean: float | None = None, labels: Mapping[str, str] | None = None
):
    """Songs per k-occurrence bin, one line per configuration (overlaid), log-scaled counts
    (songs per unit of k-occurrence, so bins of different widths compare); the x axis is
    linear while bins are single values, else symmetric-log. ``mean``: a dashed line at the
    mean k-occurrence (k when every song is a query); ``labels``: legend per configuration."""
    names = [c for c in data.columns if c not in ("low", "high")]
    figure = new_figure(7.5, 4.2)
    ax = figure.subplots()
    margins(figure, bottom=0.75, top=0.45)
    edges = np.r_[data["low"].to_numpy(np.float64), data["high"].iloc[-1] + 1.0] - 0.5
    widths = (data["high"] - data["low"] + 1).to_numpy(dtype=np.float64)
    for name in names:
        density = data[name].to_numpy(dtype=np.float64) / widths
        ax.stairs(
            np.where(density > 0, density, np.nan),
            edges,
            lw=1.6,
            label=(labels or {}).get(name, name),
        )
    if mean is not None and math.isfinite(mean):
        ax.axvline(mean, color="grey", ls="--", lw=1, label=f"mean N_k = {mean:.3g}")
    if (widths > 1).any():
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("symlog", linthresh=1.0, linscale=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_yscale("log")
    ax.set_xlabel("k-occurrence N_k (top-k lists the song is in; 0: anti-hub)")
    ax.set_ylabel("songs" + (" per unit of N_k" if (widths > 1).any() else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize="small")
    figure.suptitle("k-occurrence histogram: a long right tail is hubs")
    return figure
