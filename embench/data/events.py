"""Listening-event logs (Last.fm / LFM-1b style) cut into sessions by an inactivity gap.

One row per play: a user, a timestamp and a track, optionally the track's artist and genre, in
CSV, TSV or Parquet (the format is inferred from the file extension; ``.gz``/``.bz2``/``.zst``
compression of CSV/TSV is understood). Each user's plays, ordered by time, form
one session until the user is silent for more than ``gap_minutes``; then a new session starts.

Timestamps are ISO 8601 strings (``2009-05-04T23:08:57Z``; no offset means UTC) or unix times
(seconds by default, see ``timestamp_unit``). Song ids are the track values as strings; a song's
artist and genre are those of its first row that names them.

Everything is vectorised with pandas and numpy: one sort of all events, no Python loop per event.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from embench.data.dataset import Dataset, Sequences
from embench.data.parquet import read_columns, require_file
from embench.errors import DataError

Format = Literal["auto", "csv", "tsv", "parquet"]
TimestampUnit = Literal["s", "ms", "us", "ns"]

_COMPRESSION = {".gz", ".bz2", ".zst"}
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_PER_SECOND = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}  # -> microseconds


def infer_format(path: Path) -> str:
    """``csv``, ``tsv`` or ``parquet`` from the extension (a compression suffix is skipped)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    kind = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise DataError(
            f"{path}: cannot tell the format from the extension "
            f"'{''.join(path.suffixes) or '(none)'}'; expected .csv, .tsv, .tab, .parquet or "
            ".pq, or set the format option to csv, tsv or parquet"
        )
    return kind


def _read_table(
    path: Path,
    kind: str,
    wanted: list[str],
    optional: list[str],
    column_names: Sequence[str] | None,
    encoding: str = "utf-8",
) -> tuple[pd.DataFrame, int]:
    """The wanted (+ present optional) columns as a DataFrame, and the line number of row 0.

    CSV/TSV files are parsed with ``pyarrow.csv`` (multi-threaded, strict: every row must have
    as many fields as the header). When it fails, pandas re-reads the file to name the line.
    """
    if kind == "parquet":
        if column_names:
            raise DataError(f"{path}: column_names only applies to CSV/TSV files without a header")
        table, _ = read_columns(path, tuple(wanted), tuple(c for c in optional if c not in wanted))
        return table.to_pandas(), 1
    pandas_options: dict = {
        "sep": "\t" if kind == "tsv" else ",",
        "keep_default_na": False,
        "na_values": [""],
        "encoding": encoding,
    }
    if kind == "tsv":
        pandas_options["quoting"] = csv.QUOTE_NONE
    if column_names:
        found = list(column_names)
        first_line = 1
    else:
        try:
            found = [str(c) for c in pd.read_csv(path, nrows=0, **pandas_options).columns]
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, LookupError) as exc:
            raise DataError(f"{path}: cannot read the header line ({_short(exc)})") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read the file ({_short(exc)})") from None
        first_line = 2
    missing = [c for c in wanted if c not in found]
    if missing:
        where = "the column_names option" if column_names else "the header line"
        raise DataError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(found in {where}: {', '.join(found) or 'nothing'})"
        )
    usecols = list(dict.fromkeys([*wanted, *(c for c in optional if c in found)]))
    try:
        table = pcsv.read_csv(
            str(path),
            read_options=pcsv.ReadOptions(
                column_names=found, skip_rows=first_line - 1, encoding=encoding
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=pandas_options["sep"], quote_char=False if kind == "tsv" else '"'
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in usecols},
                include_columns=usecols,
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError, LookupError) as exc:
        raise DataError(
            f"{path}: cannot parse the file as {kind.upper()} "
            f"({_locate_problem(path, pandas_options, found, exc)})"
        ) from None
    return table.to_pandas(), first_line


def _locate_problem(path: Path, options: dict, found: list[str], exc: Exception) -> str:
    """A description of what is wrong with a CSV/TSV file, with its line where pandas can tell."""
    try:
        raw = pd.read_csv(path, header=None, dtype=str, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as pandas_exc:
        return _short(pandas_exc)
    if raw.shape[1] != len(found):
        return (
            f"the rows have {raw.shape[1]} fields but {len(found)} columns are named "
            f"({', '.join(found)}); name every column"
        )
    return _short(exc)


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _microseconds(stamps: pd.Series) -> np.ndarray:
    """A datetime Series (naive = UTC, or tz-aware) as int64 microseconds since the epoch."""
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert(None)
    return np.asarray(stamps.dt.as_unit("us"), dtype="datetime64[us]").astype(np.int64)


def parse_timestamps(
    values: pd.Series,
    unit: TimestampUnit,
    *,
    where: str,
    row_word: str = "line",
    numbers_of_rows: np.ndarray | None = None,
    column: str = "timestamp",
) -> np.ndarray:
    """Timestamps -> int64 microseconds since the epoch (UTC).

    Datetime columns are taken as they are; numbers are unix times in ``unit``; strings are
    numbers when the first one is, else ISO 8601. A value that does not parse raises a
    DataError naming ``where`` (the file) and the line (``numbers_of_rows[i]``, default i + 1).
    """
    rows = np.arange(1, len(values) + 1) if numbers_of_rows is None else numbers_of_rows

    def fail(bad: np.ndarray, expected: str) -> DataError:
        row = int(np.flatnonzero(bad)[0])
        return DataError(
            f"{where} {row_word} {int(rows[row])}: cannot parse the {column} "
            f"{values.iloc[row]!r} ({expected}); {int(bad.sum())} unparsable value(s) in all"
        )

    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        bad = values.isna().to_numpy()
        if bad.any():
            raise fail(bad, "a missing time")
        return _microseconds(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = pc.utf8_trim_whitespace(pa.array(values.astype(str), type=pa.string()))
        if len(text) and not _is_number(text[0].as_py()):  # ISO 8601, decided by the first row
            try:  # fast path: every value carries a zone offset ("Z", "+02:00")
                parsed = pc.cast(text, pa.timestamp("us", tz="UTC"))
                return parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
            except pa.ArrowException:
                pass
            # pandas accepts values without an offset too (taken as UTC) and names the bad ones.
            stamps = pd.to_datetime(
                pd.Series(text.to_pandas()), utc=True, format="ISO8601", errors="coerce"
            )
            bad = stamps.isna().to_numpy()
            if bad.any():
                raise fail(bad, "expected an ISO 8601 time such as 2009-05-04T23:08:57Z")
            return _microseconds(stamps)
        try:
            numbers = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowException:
            numbers = pd.to_numeric(pd.Series(text.to_pandas()), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    bad = ~np.isfinite(numbers)
    if bad.any():
        raise fail(bad, f"expected a unix time in {unit}, as in the first row")
    return np.round(numbers * _PER_SECOND[unit]).astype(np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_label(codes: np.ndarray, labels: pd.Series, n_songs: int) -> np.ndarray:
    """Per song, the label of its first row (in file order) that has one; None elsewhere."""
    out = np.full(n_songs, None, dtype=object)
    present = labels.notna().to_numpy()
    if present.any():
        firsts = pd.Series(codes[present]).drop_duplicates(keep="first")
        out[firsts.to_numpy()] = labels.to_numpy(dtype=object)[present][firsts.index.to_numpy()]
    return out


def read_events(
    path: str | os.PathLike,
    *,
    format: Format = "auto",
    user_column: str = "user",
    timestamp_column: str = "timestamp",
    track_column: str = "track",
    artist_column: str | None = "artist",
    genre_column: str | None = "genre",
    required: Collection[str] = (),
    column_names: Sequence[str] | None = None,
    timestamp_unit: TimestampUnit = "s",
    gap_minutes: float = 30.0,
    min_length: int = 1,
    drop_missing: bool = False,
    encoding: str = "utf-8",
    name: str | None = None,
) -> Dataset:
    """Read a listening-event log and cut it into sessions.

    ``artist_column`` / ``genre_column`` are used when the file has them (None: never); listing
    ``"artist"`` or ``"genre"`` in ``required`` makes their absence an error. ``column_names``
    names the columns of a CSV/TSV file without a header line. Sessions shorter than
    ``min_length`` are dropped. Rows missing a user, timestamp or track are an error unless
    ``drop_missing``. ``encoding``: the text encoding of CSV/TSV files.
    """
    path = require_file(Path(path), "listening-event log")
    if gap_minutes <= 0:
        raise DataError(f"{path}: gap_minutes must be > 0, got {gap_minutes}")
    kind = infer_format(path) if format == "auto" else format
    wanted = [user_column, timestamp_column, track_column]
    labels = {"artist": artist_column, "genre": genre_column}
    optional = [c for c in labels.values() if c]
    for label in required:
        column = labels.get(label)
        if column and column not in wanted:
            wanted.append(column)
    frame, first_line = _read_table(path, kind, wanted, optional, column_names, encoding)
    row_word = "row" if kind == "parquet" else "line"
    n_rows_read = len(frame)
    if n_rows_read == 0:
        raise DataError(f"{path}: no listening events (the file has no data rows)")

    line_of = np.arange(len(frame)) + first_line
    key_columns = list(dict.fromkeys([user_column, timestamp_column, track_column]))
    empty = {}
    for column in key_columns:
        values = frame[column]
        blank = values.isna().to_numpy()
        if not (
            pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
        ):
            blank = blank | (values.astype(str).str.strip() == "").to_numpy()
        empty[column] = blank
    missing = np.logical_or.reduce(list(empty.values()))
    if missing.any() and not drop_missing:
        row = int(np.flatnonzero(missing)[0])
        columns = " or ".join(c for c in key_columns if empty[c][row])
        raise DataError(
            f"{path} {row_word} {line_of[row]}: no {columns} (an empty value); "
            f"{int(missing.sum())} row(s) lack a {', '.join(key_columns)} value in all "
            "(set drop_missing = true to skip them)"
        )
    if missing.any():
        frame = frame.loc[~missing].reset_index(drop=True)
        line_of = line_of[~missing]
    if len(frame) == 0:
        raise DataError(f"{path}: every row lacks a user, timestamp or track (no events left)")

    stamps = parse_timestamps(
        frame[timestamp_column],
        timestamp_unit,
        where=str(path),
        row_word=row_word,
        numbers_of_rows=line_of,
        column=timestamp_column,
    )
    users = pd.factorize(frame[user_column])[0]
    tracks, track_ids = pd.factorize(frame[track_column])
    track_ids = np.asarray(track_ids, dtype=object).astype(str)
    # One stable sort by (user, time): ties keep file order.
    order = np.lexsort((stamps, users))
    sorted_users, sorted_stamps = users[order], stamps[order]
    gap = int(round(gap_minutes * 60 * 1_000_000))
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_users[1:] != sorted_users[:-1]) | (np.diff(sorted_stamps) > gap)
    session = np.cumsum(starts) - 1
    lengths = np.bincount(session)
    keep = lengths[session] >= min_length
    if not keep.any():
        raise DataError(
            f"{path}: no session has at least {min_length} plays (gap {gap_minutes:g} minutes); "
            "the dataset would be empty"
        )
    kept_lengths = lengths[lengths >= min_length]
    kept_tracks = tracks[order][keep]
    used = np.zeros(len(track_ids), dtype=bool)
    used[kept_tracks] = True
    new_index = np.cumsum(used) - 1  # songs keep their file order of first appearance

    songs = pd.DataFrame({"song_id": track_ids[used]})
    for label, column in labels.items():
        if column and column in frame:
            values = frame[column].astype(object).where(frame[column].notna(), None)
            values = values.where(values.astype(str).str.strip() != "", None)
            per_track = _first_label(tracks, values, len(track_ids))
            songs[label] = per_track[used]
    sequences = Sequences(np.concatenate([[0], np.cumsum(kept_lengths)]), new_index[kept_tracks])
    metadata = {
        "source": "events",
        "path": str(path),
        "format": kind,
        "rows": n_rows_read,
        "rows_dropped_missing": int(missing.sum()),
        "users": int(users.max()) + 1,
        "sessions_total": len(lengths),
        "sessions_dropped_short": int((lengths < min_length).sum()),
        "gap_minutes": gap_minutes,
    }
    name = name or path.name.split(".")[0]
    return Dataset(name, sequences, songs, metadata=metadata)
