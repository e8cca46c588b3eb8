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
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from embench.data.dataset import Dataset, Sequences
from embench.data.parquet import open_parquet, require_file
from embench.data.sessions import Sessions as Sessions
from embench.data.sessions import _concatenate as _concatenate
from embench.data.sessions import _Encoder as _Encoder
from embench.data.sessions import _FirstLabels as _FirstLabels
from embench.data.sessions import sessionise as sessionise
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


#: Rows per chunk: a CSV/TSV block of ``CHUNK_ROWS * BYTES_PER_ROW`` bytes, or a Parquet batch.
CHUNK_ROWS = 1 << 20
BYTES_PER_ROW = 64


def _open_chunks(
    path: Path,
    kind: str,
    wanted: list[str],
    optional: list[str],
    column_names: Sequence[str] | None,
    encoding: str = "utf-8",
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[Iterator[pa.RecordBatch], int]:
    """The wanted (+ present optional) columns as a stream of record batches of about
    ``chunk_rows`` rows, and the line number of row 0.

    CSV/TSV files are parsed with ``pyarrow.csv``'s streaming reader (strict: every row must
    have as many fields as the header; every column read as text). When it fails, pandas
    re-reads the file to name the line.
    """
    if kind == "parquet":
        if column_names:
            raise DataError(f"{path}: column_names only applies to CSV/TSV files without a header")
        parquet = open_parquet(path)
        names = list(parquet.schema_arrow.names)
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} "
                f"(found: {', '.join(names) or 'no columns'})"
            )
        columns = list(dict.fromkeys([*wanted, *(c for c in optional if c in names)]))

        def parquet_batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from parquet.iter_batches(batch_size=chunk_rows, columns=columns)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise DataError(f"{path}: cannot read columns {columns} ({exc})") from None

        return parquet_batches(), 1
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

    def fail(exc: Exception) -> DataError:
        return DataError(
            f"{path}: cannot parse the file as {kind.upper()} "
            f"({_locate_problem(path, pandas_options, found, exc)})"
        )

    def csv_batches() -> Iterator[pa.RecordBatch]:
        try:
            reader = pcsv.open_csv(
                str(path),
                read_options=pcsv.ReadOptions(
                    column_names=found,
                    skip_rows=first_line - 1,
                    encoding=encoding,
                    block_size=min(max(1, chunk_rows * BYTES_PER_ROW), 1 << 30),
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
            yield from reader
        except (pa.ArrowException, OSError, LookupError) as exc:
            raise fail(exc) from None

    return csv_batches(), first_line


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
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        array = pa.array(values.astype(str), type=pa.string())
    if pa.types.is_boolean(array.type) or pa.types.is_null(array.type):
        array = pc.cast(array, pa.string())
    mode = _timestamp_mode(array)
    micros, bad = _stamps_of(array, unit, mode)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where} {row_word} {int(rows[row])}: cannot parse the {column} "
            f"{values.iloc[row]!r} ({_EXPECTED[mode].format(unit=unit)}); "
            f"{int(bad.sum())} unparsable value(s) in all"
        )
    return micros


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# How a timestamp column is read, decided once (by its type, or by its first value for text).
_EXPECTED = {
    "iso": "expected an ISO 8601 time such as 2009-05-04T23:08:57Z",
    "number": "expected a unix time in {unit}, as in the first row",
    "datetime": "a missing time",
}


def _timestamp_mode(array: pa.Array) -> str:
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "datetime"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    first = pc.utf8_trim_whitespace(pc.cast(array[:1], pa.string()))
    return "number" if len(first) and _is_number(first[0].as_py() or "") else "iso"


def _stamps_of(array: pa.Array, unit: TimestampUnit, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of a timestamp column read as ``mode`` -> (int64 microseconds since the
    epoch in UTC, which values do not parse)."""
    if mode == "datetime":
        if pa.types.is_timestamp(array.type) and array.type.tz is not None:
            micros = pc.cast(array, pa.timestamp("us", tz=array.type.tz))
        else:
            micros = pc.cast(array, pa.timestamp("us"))  # naive: UTC
        bad = pc.is_null(micros).to_numpy(zero_copy_only=False)
        values = pc.fill_null(micros.cast(pa.int64()), 0)
        return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), bad
    if mode == "number":
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            text = pc.utf8_trim_whitespace(array)
            try:
                numbers = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
            except pa.ArrowException:
                numbers = pd.to_numeric(pd.Series(text.to_pandas()), errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
        else:
            numbers = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(numbers)
        micros = np.round(np.where(bad, 0.0, numbers) * _PER_SECOND[unit]).astype(np.int64)
        return micros, bad
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    try:  # fast path: every value carries a zone offset ("Z", "+02:00")
        parsed = pc.cast(text, pa.timestamp("us", tz="UTC"))
        if parsed.null_count == 0:
            micros = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
            return micros, np.zeros(len(micros), dtype=bool)
    except pa.ArrowException:
        pass
    # pandas accepts values without an offset too (taken as UTC) and names the bad ones.
    stamps = pd.to_datetime(
        pd.Series(text.to_pandas()), utc=True, format="ISO8601", errors="coerce"
    )
    bad = stamps.isna().to_numpy()
    micros = _microseconds(stamps.fillna(pd.Timestamp(0, tz="UTC")))
    return micros, bad


def _blank(array: pa.Array) -> np.ndarray:
    """Null values, and text values that are empty or white space only."""
    blank = pc.is_null(array)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        empty = pc.equal(pc.utf8_trim_whitespace(array), "")
        blank = pc.or_(blank, pc.fill_null(empty, False))
    return blank.to_numpy(zero_copy_only=False)


def _plain_chunk(array: pa.Array) -> pa.Array:
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


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
    chunk_rows: int = CHUNK_ROWS,
) -> Dataset:
    """Read a listening-event log and cut it into sessions.

    ``artist_column`` / ``genre_column`` are used when the file has them (None: never); listing
    ``"artist"`` or ``"genre"`` in ``required`` makes their absence an error. ``column_names``
    names the columns of a CSV/TSV file without a header line. Sessions shorter than
    ``min_length`` are dropped. Rows missing a user, timestamp or track are an error unless
    ``drop_missing``. ``encoding``: the text encoding of CSV/TSV files.

    The file is read in chunks of about ``chunk_rows`` rows: memory holds the int32 user and
    song codes and the int64 times of the events (16 bytes per play), not the text.
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
    chunks, first_line = _open_chunks(
        path, kind, wanted, optional, column_names, encoding, chunk_rows
    )
    row_word = "row" if kind == "parquet" else "line"
    key_columns = list(dict.fromkeys([user_column, timestamp_column, track_column]))

    users, tracks = _Encoder(), _Encoder()
    first_labels = {label: _FirstLabels() for label, column in labels.items() if column}
    user_codes: list[np.ndarray] = []
    track_codes: list[np.ndarray] = []
    stamp_chunks: list[np.ndarray] = []
    n_rows_read = n_missing = n_bad = 0
    first_missing: str | None = None  # the error message naming the first row lacking a key
    first_bad: tuple[int, object] | None = None  # (line, value) of the first bad timestamp
    mode: str | None = None
    present: set[str] = set()
    for batch in chunks:
        present = set(batch.schema.names)
        line_of = np.arange(batch.num_rows) + first_line + n_rows_read
        n_rows_read += batch.num_rows
        columns = {name: _plain_chunk(batch.column(name)) for name in batch.schema.names}
        empty = {column: _blank(columns[column]) for column in key_columns}
        missing = np.logical_or.reduce(list(empty.values()))
        if missing.any():
            n_missing += int(missing.sum())
            if first_missing is None and not drop_missing:
                row = int(np.flatnonzero(missing)[0])
                names = " or ".join(c for c in key_columns if empty[c][row])
                first_missing = f"{path} {row_word} {line_of[row]}: no {names} (an empty value)"
            keep = pa.array(~missing)
            columns = {name: array.filter(keep) for name, array in columns.items()}
            line_of = line_of[~missing]
        if first_missing is not None or len(line_of) == 0:
            continue  # an error to report (after counting every missing value), or no rows
        stamp_values = columns[timestamp_column]
        mode = mode or _timestamp_mode(stamp_values)
        stamps, bad = _stamps_of(stamp_values, timestamp_unit, mode)
        if bad.any():
            n_bad += int(bad.sum())
            if first_bad is None:
                row = int(np.flatnonzero(bad)[0])
                first_bad = (int(line_of[row]), stamp_values[row].as_py())
        if first_bad is not None:
            continue
        track_text = columns[track_column]
        if not pa.types.is_string(track_text.type):
            track_text = pc.cast(track_text, pa.string())
        user_codes.append(users.encode(columns[user_column]))
        track_codes.append(tracks.encode(track_text))
        stamp_chunks.append(stamps)
        for label, column in labels.items():
            if column and column in columns:
                first_labels[label].add(track_text, columns[column])

    if n_rows_read == 0:
        raise DataError(f"{path}: no listening events (the file has no data rows)")
    if first_missing is not None:
        raise DataError(
            f"{first_missing}; {n_missing} row(s) lack a {', '.join(key_columns)} value in all "
            "(set drop_missing = true to skip them)"
        )
    if first_bad is not None:
        line, value = first_bad
        expected = _EXPECTED[mode or "iso"].format(unit=timestamp_unit)
        raise DataError(
            f"{path} {row_word} {line}: cannot parse the {timestamp_column} {value!r} "
            f"({expected}); {n_bad} unparsable value(s) in all"
        )
    if not stamp_chunks:
        raise DataError(f"{path}: every row lacks a user, timestamp or track (no events left)")

    n_users = len(users)
    sessions = sessionise(
        user_codes,
        stamp_chunks,
        track_codes,
        gap=int(round(gap_minutes * 60 * 1_000_000)),
        min_length=min_length,
    )
    if len(sessions.lengths) == 0:
        raise DataError(
            f"{path}: no session has at least {min_length} plays (gap {gap_minutes:g} minutes); "
            "the dataset would be empty"
        )
    kept_lengths, kept_tracks = sessions.lengths, sessions.tracks
    used = np.zeros(len(tracks), dtype=bool)
    used[kept_tracks] = True
    new_index = (np.cumsum(used) - 1).astype(np.int32)  # songs keep their order of appearance

    song_ids = tracks.values
    assert song_ids is not None  # sessions were kept, so tracks were read
    songs = pd.DataFrame(
        {"song_id": song_ids.filter(pa.array(used)).to_numpy(zero_copy_only=False)}
    )
    for label, column in labels.items():
        if column and column in present:
            songs[label] = first_labels[label].per_song(song_ids)[used]
    sequences = Sequences(np.concatenate([[0], np.cumsum(kept_lengths)]), new_index[kept_tracks])
    metadata = {
        "source": "events",
        "path": str(path),
        "format": kind,
        "rows": n_rows_read,
        "rows_dropped_missing": n_missing,
        "users": n_users,
        "sessions_total": sessions.total,
        "sessions_dropped_short": sessions.dropped_short,
        "gap_minutes": gap_minutes,
    }
    name = name or path.name.split(".")[0]
    return Dataset(name, sequences, songs, metadata=metadata)
