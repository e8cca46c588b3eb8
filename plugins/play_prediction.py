"""Play prediction: does cosine similarity predict whether a recommended song gets played?

Input: the dataset's play log (``Dataset.play_log``), one row per (seed song, recommended song)
pair with the columns

- ``seed_song``, ``recommended_song``: song indices of the dataset (0..n_songs-1),
- ``organic_plays``: how often the recommendation was made (non-negative),
- ``successful_plays``: how often it was then played (non-negative).

The play rate of a row is ``successful_plays / organic_plays``. The metric reports Pearson's
correlation between play rate and the cosine similarity of the two songs' vectors, over all rows
(``play_corr_all``) and over frequent rows with ``organic_plays >= min_organic``
(``play_corr_frequent``). Rows with no organic play have no rate, and rows where a song has no
vector (or a zero vector) no similarity: both are left out, and the table ``play_prediction``
counts them. Fewer than two rows, or a constant rate or similarity, gives NaN.

A dataset without a play log is a :class:`~embench.errors.DataError` when the metric is listed
in the benchmark (``missing_play_log = "nan"`` reports NaN instead, e.g. for a shared suite).
A malformed play log (missing columns, unknown songs, negative or non-finite counts) always is.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.errors import DataError

COLUMNS = ("seed_song", "recommended_song", "organic_plays", "successful_plays")


class PlayPredictionOptions(embench.Options):
    min_organic: int = Field(
        100, ge=1, description="a frequent pair was recommended at least this often"
    )
    missing_play_log: Literal["error", "nan"] = Field(
        "error", description="what a dataset without a play log gives: an error or NaN values"
    )


def validate_play_log(play_log: pd.DataFrame, n_songs: int, dataset: str) -> pd.DataFrame:
    """The play log with integer song indices and float counts, or a clear DataError."""
    missing = [c for c in COLUMNS if c not in play_log]
    if missing:
        raise DataError(f"dataset '{dataset}': the play log lacks the column(s) {missing}")
    out = {}
    for column in COLUMNS:
        values = pd.to_numeric(play_log[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"dataset '{dataset}': play log column '{column}' has {int(bad.sum())} "
                "missing or non-numeric value(s)"
            )
        if (values < 0).any():
            raise DataError(
                f"dataset '{dataset}': play log column '{column}' has negative values "
                f"(e.g. {values[values < 0][0]:g})"
            )
        if column in COLUMNS[:2]:
            if (values != np.round(values)).any():
                raise DataError(
                    f"dataset '{dataset}': play log column '{column}' must hold song indices"
                )
            unknown = values >= n_songs
            if unknown.any():
                raise DataError(
                    f"dataset '{dataset}': play log column '{column}' names "
                    f"{int(unknown.sum())} unknown song(s) (e.g. index {int(values[unknown][0])}; "
                    f"the catalogue has {n_songs} songs)"
                )
            values = values.astype(np.int64)
        out[column] = values
    return pd.DataFrame(out)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN with fewer than two points or a constant variable."""
    if len(x) < 2:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def pair_cosines(ctx, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cosine similarity of each pair of songs; NaN where a song has no (or a zero) vector."""
    rows_a, rows_b = ctx.rows[first], ctx.rows[second]
    known = (rows_a >= 0) & (rows_b >= 0)
    out = np.full(len(first), np.nan)
    a = ctx.embedding.vectors[rows_a[known]].astype(np.float64)
    b = ctx.embedding.vectors[rows_b[known]].astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[known] = np.where(norms > 0, (a * b).sum(axis=1) / norms, np.nan)
    return out


class PlayPrediction(embench.Metric[PlayPredictionOptions]):
    """Pearson correlation of play rate with cosine similarity, all pairs and frequent pairs."""

    name = "play_prediction"
    Options = PlayPredictionOptions
    values = {
        "play_corr_all": embench.Value(
            "max", description="Pearson r of play rate and cosine, all pairs"
        ),
        "play_corr_frequent": embench.Value(
            "max", description="Pearson r of play rate and cosine, frequent pairs"
        ),
    }

    def compute(
        self, ctx: embench.EvalContext, options: PlayPredictionOptions
    ) -> embench.MetricResult:
        dataset = ctx.dataset
        if dataset.play_log is None:
            if options.missing_play_log == "nan":
                return embench.MetricResult(
                    values={"play_corr_all": float("nan"), "play_corr_frequent": float("nan")}
                )
            raise DataError(
                f"metric 'play_prediction' needs a play log (seed song, recommended song, "
                f"organic plays, successful plays), but dataset '{dataset.name}' has none"
            )
        log = validate_play_log(dataset.play_log, dataset.n_songs, dataset.name)
        seeds = log["seed_song"].to_numpy()
        recommended = log["recommended_song"].to_numpy()
        organic = log["organic_plays"].to_numpy()
        successful = log["successful_plays"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(organic > 0, successful / np.where(organic > 0, organic, 1), np.nan)
        cosine = pair_cosines(ctx, seeds, recommended)
        usable = ~np.isnan(rate) & ~np.isnan(cosine)
        frequent = usable & (organic >= options.min_organic)
        values = {
            "play_corr_all": pearson(rate[usable], cosine[usable]),
            "play_corr_frequent": pearson(rate[frequent], cosine[frequent]),
        }
        song_ids = dataset.songs["song_id"].to_numpy()
        per_query = pd.DataFrame(
            {
                "seed_song": song_ids[seeds],
                "recommended_song": song_ids[recommended],
                "organic_plays": organic,
                "successful_plays": successful,
                "play_rate": rate,
                "cosine": cosine,
                "frequent": organic >= options.min_organic,
            }
        )
        table = pd.DataFrame(
            {
                "pairs": ["all", "frequent"],
                "rows": [len(log), int((organic >= options.min_organic).sum())],
                "scored": [int(usable.sum()), int(frequent.sum())],
                "no_organic_play": [int(np.isnan(rate).sum()), 0],
                "no_vector": [
                    int((~np.isnan(rate) & np.isnan(cosine)).sum()),
                    int(((organic >= options.min_organic) & np.isnan(cosine)).sum()),
                ],
                "correlation": [values["play_corr_all"], values["play_corr_frequent"]],
            }
        )
        return embench.MetricResult(
            values=values, per_query=per_query, tables={"play_prediction": table}
        )


@embench.hookimpl
def register_metrics(register):
    register(PlayPrediction)
