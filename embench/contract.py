"""The plugin contract's rules, in one place.

Every rule about what a plugin declares or returns is a function here, used alike by the
harness (:func:`embench.trial.train`, :func:`embench.evaluation.evaluate`) and by the checks for
plugin authors (:mod:`embench.checks`, ``embench check-plugin``):

- ``validate_*`` functions check one thing and raise :class:`~embench.embedding.ContractError`
  with what is wrong (no plugin named: the caller knows which plugin it called);
- ``accept_*`` functions are the harness's side of a plugin call: the same rules, raising
  :class:`~embench.errors.PluginError` naming the plugin (``who``, see :func:`describe`).

An :class:`~embench.embedding.Embedding` only normalises its arrays (int64 song indices,
float32 vectors); whether they make an embedding of a catalogue is decided here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from embench.api import (
    Dimension,
    Embedder,
    Interval,
    Metric,
    MetricResult,
    NeighbourRequest,
    Value,
)
from embench.embedding import ContractError, Embedding
from embench.errors import PluginError, did_you_mean
from embench.index import NeighbourIndex
from embench.registry import Entry, Origin

__all__ = [
    "accept_class",
    "accept_embedding",
    "accept_metric_result",
    "accept_neighbour_request",
    "describe",
    "few",
    "implements",
    "validate_dimension",
    "accept_flag_pairs",
    "validate_embedder_class",
    "validate_flag_pairs",
    "validate_flags",
    "validate_index_class",
    "validate_index_rows",
    "validate_intervals",
    "validate_embedding",
    "validate_metric_class",
    "validate_metric_result",
    "validate_neighbour_request",
    "validate_search_space",
    "validate_unique_values",
]

SHOWN = 5
FLAG_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def describe(kind: str, name: str, origin: Origin | None = None) -> str:
    """How errors name a plugin: ``embedder 'x' (plugin p, package 1.0)``."""
    where = f" (plugin {origin.plugin}, {origin.package} {origin.version})" if origin else ""
    return f"{kind} '{name}'{where}"


def few(values: Iterable[Any]) -> str:
    """The first few of ``values``, comma-separated, with how many more there are."""
    values = list(values)
    shown = ", ".join(str(v) for v in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def implements(cls: type, base: type, method: str) -> bool:
    """True when ``cls`` overrides ``base``'s placeholder ``method``."""
    return getattr(cls, method, None) is not getattr(base, method)


# -- embedders -------------------------------------------------------------------------------
def validate_embedder_class(cls: type[Embedder]) -> None:
    """An embedder class implements ``fit`` and has a dict ``search_space``."""
    if not implements(cls, Embedder, "fit"):
        raise ContractError("does not implement fit(corpus, params, *, seed, threads, monitor)")
    if not isinstance(cls.search_space, dict):
        raise ContractError(f"search_space must be a dict, found {type(cls.search_space).__name__}")


def validate_dimension(cls: type[Embedder], key: str, options: BaseModel | None = None) -> None:
    """``search_space[key]`` is a Dimension over an option; with ``options``, its low, middle and
    high values validate as that option (the other options as in ``options``)."""
    fields = list(cls.Options.model_fields)
    dimension = cls.search_space[key]
    if key not in fields:
        raise ContractError(
            f"search_space names '{key}', which is not an option{did_you_mean(key, fields)}"
        )
    if not isinstance(dimension, Dimension):
        raise ContractError(
            f"search_space['{key}'] must be an embench.Dimension, found {type(dimension).__name__}"
        )
    if options is None:
        return
    base = options.model_dump()
    for label, value in (
        ("low", dimension.clip(dimension.low)),
        ("middle", dimension.clip((dimension.low + dimension.high) / 2)),
        ("high", dimension.clip(dimension.high)),
    ):
        try:
            cls.Options.model_validate({**base, key: value})
        except ValidationError as exc:
            raise ContractError(
                f"search_space['{key}'] {label} value {value!r} is rejected by the Options "
                f"model: {exc.errors()[0]['msg']}"
            ) from None


def validate_search_space(cls: type[Embedder], options: BaseModel | None = None) -> None:
    """:func:`validate_embedder_class` and :func:`validate_dimension` of every searchable key."""
    validate_embedder_class(cls)
    for key in cls.search_space:
        validate_dimension(cls, key, options)


def validate_embedding(embedding: object, n_songs: int) -> Embedding:
    """An :class:`Embedding` of songs of a catalogue of ``n_songs``: 1-D integer song indices
    in ``0..n_songs-1``, each once; a 2-D real matrix with one row per song, at least one
    column, only finite values. Returns it."""
    if not isinstance(embedding, Embedding):
        raise ContractError(f"expected an embench.Embedding, got {type(embedding).__name__}")
    songs, vectors = embedding.song_index, embedding.vectors
    if songs.ndim != 1 or not np.issubdtype(songs.dtype, np.integer):
        raise ContractError(
            f"song_index must be a 1-D integer array, got {songs.dtype} {songs.shape}"
        )
    if vectors.ndim != 2 or not (
        np.issubdtype(vectors.dtype, np.floating) or np.issubdtype(vectors.dtype, np.integer)
    ):
        raise ContractError(
            f"vectors must be a 2-D real array, got {vectors.dtype} {vectors.shape}"
        )
    if vectors.shape[0] != songs.shape[0]:
        raise ContractError(
            f"{vectors.shape[0]} vectors for {songs.shape[0]} songs: shapes must agree"
        )
    if vectors.shape[1] == 0:
        raise ContractError("vectors have dimension 0")
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise ContractError(
            f"{int((~finite).sum())} vectors contain NaN or infinite values "
            f"(songs {few(songs[~finite])})"
        )
    outside = songs[(songs < 0) | (songs >= n_songs)]
    if len(outside):
        raise ContractError(
            f"{len(outside)} song indices are outside the catalogue of {n_songs} songs "
            f"(0..{n_songs - 1}): {few(outside)}"
        )
    unique, counts = np.unique(songs, return_counts=True)
    if len(unique) != len(songs):
        raise ContractError(f"song_index lists songs more than once: {few(unique[counts > 1])}")
    return embedding


def accept_embedding(embedding: object, n_songs: int, who: str) -> Embedding:
    """:func:`validate_embedding` of what ``who`` returned, as a PluginError naming it."""
    try:
        return validate_embedding(embedding, n_songs)
    except ContractError as exc:
        raise PluginError(f"{who} returned an invalid embedding: {exc}") from exc


# -- metrics ---------------------------------------------------------------------------------
def validate_metric_class(cls: type[Metric]) -> None:
    """A metric class: implements ``compute``; ``values`` declares at least one key, each an
    :class:`~embench.api.Value`; ``query_keys`` and ``requires`` name columns."""
    if not implements(cls, Metric, "compute"):
        raise ContractError("does not implement compute(ctx, options)")
    values = cls.values
    if not isinstance(values, dict) or not values:
        raise ContractError(
            "declares no value keys: set `values = {key: embench.Value('max' | 'min')}`"
        )
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise ContractError(f"value keys must be non-empty strings, found {key!r}")
        if not isinstance(value, Value):
            raise ContractError(
                f"values['{key}'] must be an embench.Value, found {type(value).__name__}"
            )
    keys = cls.query_keys
    if not isinstance(keys, tuple) or not all(isinstance(k, str) for k in keys):
        raise ContractError(f"query_keys must be a tuple of column names, found {keys!r}")
    columns = {v.per_query for v in values.values() if v.per_query is not None}
    if columns and not keys:
        raise ContractError(
            f"values have per-query columns ({few(sorted(columns))}) but no query_keys: name "
            "the per-query columns that identify a query (paired tests match on them)"
        )
    both = columns & set(keys)
    if both:
        raise ContractError(f"column(s) {sorted(both)} are both query_keys and per_query values")
    requires = cls.requires
    if not isinstance(requires, set | frozenset) or not all(isinstance(r, str) for r in requires):
        raise ContractError(f"requires must be a set of song-table columns, found {requires!r}")
    if validate_flags(cls.flags) and not implements(cls, Metric, "flag_pairs"):
        raise ContractError("declares flags but does not implement flag_pairs")


def validate_flags(flags: object) -> dict[str, str]:
    """``Metric.flags``: lower_snake_case flag keys -> one-line descriptions. Returns them."""
    if not isinstance(flags, dict):
        raise ContractError(f"flags must be a dict (key -> description), found {flags!r}")
    for key, description in flags.items():
        if not isinstance(key, str) or not FLAG_KEY.match(key):
            raise ContractError(f"declares flag {key!r}: keys are lower_snake_case")
        if not isinstance(description, str):
            raise ContractError(f"flag '{key}' needs a description (str), found {description!r}")
    return flags


def validate_flag_pairs(
    result: object, declared: Iterable[str], pairs: int
) -> dict[str, np.ndarray]:
    """What ``flag_pairs`` returns for ``pairs`` song pairs: exactly the declared flags, each a
    boolean array with one entry per pair. Returns the arrays."""
    declared = sorted(declared)
    if not isinstance(result, dict) or sorted(result) != declared:
        got = sorted(result) if isinstance(result, dict) else type(result).__name__
        raise ContractError(f"flag_pairs returned {got}, expected the declared flags {declared}")
    masks = {}
    for key in declared:
        mask = np.asarray(result[key])
        if mask.dtype != bool or mask.shape != (pairs,):
            raise ContractError(
                f"flag '{key}' must be a boolean array of shape {(pairs,)}, "
                f"got {mask.dtype} {mask.shape}"
            )
        masks[key] = mask
    return masks


def accept_flag_pairs(
    result: object, declared: Iterable[str], pairs: int, who: str
) -> dict[str, np.ndarray]:
    """:func:`validate_flag_pairs` of what ``who`` returned, as a PluginError naming it."""
    try:
        return validate_flag_pairs(result, declared, pairs)
    except ContractError as exc:
        raise PluginError(f"{who}: {exc}") from exc


def validate_neighbour_request(request: object, n_songs: int) -> NeighbourRequest | None:
    """None, or a :class:`NeighbourRequest` of songs of the catalogue of ``n_songs``."""
    if request is None:
        return None
    if not isinstance(request, NeighbourRequest):
        raise ContractError(
            f"neighbours() returned {type(request).__name__}, not a NeighbourRequest or None"
        )
    songs = request.songs  # sorted and unique (NeighbourRequest keeps them so)
    if songs is not None and len(songs) and (songs[0] < 0 or songs[-1] >= n_songs):
        outside = songs[(songs < 0) | (songs >= n_songs)]
        raise ContractError(
            f"neighbours() requested song indices outside the catalogue of {n_songs} songs: "
            f"{few(outside)}"
        )
    return request


def accept_neighbour_request(request: object, n_songs: int, who: str) -> NeighbourRequest | None:
    """:func:`validate_neighbour_request` of what ``who`` returned, as a PluginError."""
    try:
        return validate_neighbour_request(request, n_songs)
    except ContractError as exc:
        raise PluginError(f"{who}: {exc}") from exc


def _number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def validate_metric_result(
    result: object, metric: type[Metric] | Metric, *, allow_nan: bool = True
) -> MetricResult:
    """A :class:`MetricResult` keeping ``metric``'s declaration. Returns it.

    - ``values``: a dict of real numbers, each key declared in ``metric.values``; never infinite;
      NaN ("undefined on this data") only with ``allow_nan``;
    - ``per_query``: None or a DataFrame; when a reported value declares a per-query column, the
      frame exists, has that (numeric) column and every one of ``query_keys``;
    - ``tables``: a dict of DataFrames;
    - ``intervals``: a dict of :class:`~embench.api.Interval` of reported values, each holding
      its value (and is NaN when the value is).
    """
    if not isinstance(result, MetricResult):
        raise ContractError(f"returned {type(result).__name__}, not an embench.MetricResult")
    declared = metric.values
    values = result.values
    if not isinstance(values, dict):
        raise ContractError(f"values must be a dict, found {type(values).__name__}")
    undeclared = [k for k in values if k not in declared]
    if undeclared:
        raise ContractError(
            f"reported {few(repr(k) for k in undeclared)}, not declared in `values` "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    bad = {k: v for k, v in values.items() if not _number(v)}
    if bad:
        raise ContractError(f"values must be real numbers, found {bad}")
    infinite = {k: v for k, v in values.items() if math.isinf(v)}
    if infinite:
        raise ContractError(f"infinite value(s): {infinite}")
    nan = {k: v for k, v in values.items() if math.isnan(v)}
    if nan and not allow_nan:
        raise ContractError(f"NaN value(s): {nan}")
    per_query = result.per_query
    if per_query is not None and not isinstance(per_query, pd.DataFrame):
        raise ContractError(
            f"per_query must be a pandas DataFrame or None, found {type(per_query).__name__}"
        )
    wanted = {k: declared[k].per_query for k in values if declared[k].per_query is not None}
    if wanted:
        if per_query is None:
            raise ContractError(
                f"returned no per_query frame, but values {few(sorted(wanted))} declare "
                "per-query columns"
            )
        columns = list(per_query.columns)
        for key, column in wanted.items():
            if column not in columns:
                raise ContractError(
                    f"values['{key}'] declares per-query column '{column}', which per_query "
                    f"lacks (columns: {', '.join(map(str, columns))})"
                )
            dtype = per_query[column].dtype
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise ContractError(f"per-query column '{column}' must be numeric, found {dtype}")
        lacking = [c for c in metric.query_keys if c not in columns]
        if lacking:
            raise ContractError(
                f"query_keys {lacking} are not columns of per_query "
                f"(columns: {', '.join(map(str, columns))})"
            )
    tables = result.tables
    if not isinstance(tables, dict):
        raise ContractError(f"tables must be a dict, found {type(tables).__name__}")
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame):
            raise ContractError(
                f"table '{name}' must be a pandas DataFrame, found {type(table).__name__}"
            )
    validate_intervals(result.intervals, values)
    return result


def validate_intervals(intervals: object, values: dict[str, float]) -> None:
    """``MetricResult.intervals``: :class:`~embench.api.Interval` s of reported ``values``; an
    interval holds its value, and is NaN when the value is (it may be NaN for a value too: a
    sample of one query has no estimable spread)."""
    if not isinstance(intervals, dict):
        raise ContractError(f"intervals must be a dict, found {type(intervals).__name__}")
    for key, interval in intervals.items():
        if key not in values:
            raise ContractError(
                f"intervals[{key!r}] is the interval of a value the result does not report"
            )
        if not isinstance(interval, Interval):
            raise ContractError(
                f"intervals['{key}'] must be an embench.Interval, found {type(interval).__name__}"
            )
        value = float(values[key])
        if math.isnan(value):
            if not math.isnan(interval.low):
                raise ContractError(f"intervals['{key}'] is not NaN, but the value is")
            continue
        slack = 1e-9 * max(1.0, abs(value))
        if not math.isnan(interval.low) and not (
            interval.low - slack <= value <= interval.high + slack
        ):
            raise ContractError(
                f"intervals['{key}'] [{interval.low:g}, {interval.high:g}] does not hold the "
                f"value {value:g}"
            )


def accept_metric_result(
    result: object, metric: type[Metric] | Metric, who: str, *, allow_nan: bool = True
) -> MetricResult:
    """:func:`validate_metric_result` of what ``who`` returned, as a PluginError naming it."""
    try:
        return validate_metric_result(result, metric, allow_nan=allow_nan)
    except ContractError as exc:
        raise PluginError(f"{who} returned an invalid result: {exc}") from exc


def validate_unique_values(metrics: Iterable[tuple[str, type[Metric] | Metric]]) -> None:
    """No value key is declared by two of ``(name, metric)``: results are merged by key."""
    owner: dict[str, str] = {}
    for name, metric in metrics:
        for key in metric.values:
            if key in owner:
                raise PluginError(f"metrics '{owner[key]}' and '{name}' both declare '{key}'")
            owner[key] = name


# -- neighbour indexes -----------------------------------------------------------------------
def validate_index_class(cls: type[NeighbourIndex]) -> None:
    """A neighbour-index class implements ``build`` and says whether it is ``approximate``."""
    if not implements(cls, NeighbourIndex, "build"):
        raise ContractError("does not implement build(vectors, options, *, seed, threads)")
    if not isinstance(cls.approximate, bool):
        raise ContractError(f"approximate must be True or False, found {cls.approximate!r}")


def validate_index_rows(rows: object, queries: np.ndarray, n: int, k: int) -> np.ndarray:
    """What a built index's ``search`` returns for ``queries`` (rows of a catalogue of ``n``):
    an integer array of shape ``(len(queries), k)``, each row holding distinct rows in
    ``0..n-1`` other than its query, then -1 padding. Returns it as int32."""
    found = np.asarray(rows)
    if found.shape != (len(queries), k) or not (
        np.issubdtype(found.dtype, np.integer) or found.size == 0
    ):
        raise ContractError(
            f"search returned {found.dtype} {found.shape}, expected integers of shape "
            f"{(len(queries), k)}"
        )
    found = found.astype(np.int64, copy=False)
    if found.size == 0:
        return found.astype(np.int32)
    if found.min() < -1 or found.max() >= n:
        bad = found[(found < -1) | (found >= n)]
        raise ContractError(f"search returned rows outside 0..{n - 1} (and -1): {few(bad)}")
    valid = found >= 0
    if (valid[:, 1:] & ~valid[:, :-1]).any():
        raise ContractError("search returned -1 padding before a neighbour: pad at the end")
    itself = (found == np.asarray(queries)[:, None]).any(axis=1)
    if itself.any():
        raise ContractError(
            f"search returned a query as its own neighbour (rows {few(queries[itself])})"
        )
    ordered = np.sort(np.where(valid, found, -np.arange(1, k + 1)), axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if repeated.any():
        raise ContractError(
            f"search returned a neighbour twice for query rows {few(queries[repeated])}"
        )
    return found.astype(np.int32)


def accept_class(kind: str, entry: Entry[Any]) -> None:
    """The class rules of a registered ``embedder``, ``metric`` or ``index`` (``kind``), as a
    PluginError naming the plugin: checked when a benchmark names the plugin, before any
    training."""
    try:
        if kind == "embedder":
            validate_search_space(entry.cls)
        elif kind == "index":
            validate_index_class(entry.cls)
        else:
            validate_metric_class(entry.cls)
    except ContractError as exc:
        raise PluginError(f"{describe(kind, entry.name, entry.origin)}: {exc}") from exc
