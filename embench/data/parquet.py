"""The canonical on-disk dataset: a directory of Parquet files, read and written columnar.

``sequences.parquet``
    ``songs``: ``list<string>`` or ``list<int64>`` of song ids, one row per sequence, in order;
    ``sequence_id`` (optional, informational). Empty lists are dropped.
``songs.parquet``
    ``song_id`` (string or integer, unique, required); ``title``, ``artist``, ``genre``
    (optional, nullable strings). Other columns (e.g. ``plays``, which readers recompute) are
    ignored. Row order gives the song indices.
``play_log.parquet`` (optional)
    ``seed_song``, ``recommended_song`` (song ids), ``organic_plays``, ``successful_plays``
    (counts >= 0).

Sequences are read with pyarrow and flattened straight into the CSR arrays; song ids are
matched with a hash lookup (``pyarrow.compute.index_in``), never one Python step per event.
Every problem with the files raises :class:`~embench.errors.DataError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from embench.data.dataset import Dataset, Sequences
from embench.errors import DataError

SEQUENCES_FILE = "sequences.parquet"
SONGS_FILE = "songs.parquet"
PLAY_LOG_FILE = "play_log.parquet"
PLAY_LOG_COLUMNS = ("seed_song", "recommended_song", "organic_plays", "successful_plays")
LABEL_COLUMNS = ("title", "artist", "genre")
_META_NAME = b"embench.name"
_META_METADATA = b"embench.metadata"


def require_directory(directory: Path, what: str) -> Path:
    """``directory`` as a Path, or a DataError when it is missing or not a directory."""
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"{what}: directory {directory} not found")
    if not directory.is_dir():
        raise DataError(f"{what}: {directory} is not a directory")
    return directory


def require_file(path: Path, what: str) -> Path:
    """``path`` as a Path, or a DataError when it is missing or not a file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found ({what})")
    if not path.is_file():
        raise DataError(f"{path}: not a file ({what})")
    return path


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open a Parquet file, turning pyarrow's errors into a DataError naming the file."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def read_columns(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> tuple[pa.Table, pa.Schema]:
    """Read the ``required`` columns and those of ``optional`` present; DataError otherwise."""
    parquet = open_parquet(path)
    schema = parquet.schema_arrow
    names = list(schema.names)
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(found: {', '.join(names) or 'no columns'})"
        )
    wanted = [*required, *(c for c in optional if c in names)]
    try:
        table = parquet.read(columns=wanted)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read columns {wanted} ({exc})") from None
    return table, schema


def _plain(array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array, dictionary-decoded."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _is_id_type(t: pa.DataType) -> bool:
    # null: the type pyarrow infers for lists that are all empty (or all null).
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_null(t)
    )


def id_strings(array: pa.Array, path: Path, column: str) -> pa.Array:
    """Song ids (string or integer column) as a string array."""
    array = _plain(array)
    if not _is_id_type(array.type):
        raise DataError(
            f"{path}: column '{column}' must hold song ids as strings or integers, "
            f"found type {array.type}"
        )
    return array if pa.types.is_string(array.type) else pc.cast(array, pa.string())


def _first_null(array: pa.Array) -> int:
    return int(np.flatnonzero(pc.is_null(array).to_numpy(zero_copy_only=False))[0])


def read_song_table(path: Path) -> pd.DataFrame:
    """``songs.parquet`` as a DataFrame with string columns song_id, title, artist, genre."""
    table, _ = read_columns(path, ("song_id",), LABEL_COLUMNS)
    if table.num_rows == 0:
        raise DataError(f"{path}: the song table is empty (expected one row per song)")
    ids = id_strings(table.column("song_id"), path, "song_id")
    if ids.null_count:
        raise DataError(f"{path}: row {_first_null(ids) + 1} has no song_id (a null value)")
    out = {"song_id": ids.to_numpy(zero_copy_only=False)}
    for column in LABEL_COLUMNS:
        if column not in table.column_names:
            continue
        values = _plain(table.column(column))
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            try:
                values = pc.cast(values, pa.string())
            except pa.ArrowException:
                raise DataError(
                    f"{path}: column '{column}' must hold text, found type {values.type}"
                ) from None
        out[column] = values.to_numpy(zero_copy_only=False)
    songs = pd.DataFrame(out)
    duplicated = songs["song_id"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataError(
            f"{path}: song id '{songs['song_id'].iloc[row]}' appears twice (again at row "
            f"{row + 1}); song ids must be unique"
        )
    return songs


def map_song_ids(
    values: pa.Array, song_ids: pa.Array, path: Path, songs_path: Path, where
) -> np.ndarray:
    """Song ids -> song indices (int64); ``where(position)`` describes a position for errors."""
    index = pc.index_in(values, value_set=song_ids)
    if index.null_count:
        unknown = pc.is_null(index).to_numpy(zero_copy_only=False)
        first = int(np.flatnonzero(unknown)[0])
        distinct = len(pc.unique(values.filter(pa.array(unknown))))
        raise DataError(
            f"{path}: {where(first)} mentions song '{values[first].as_py()}', which "
            f"{songs_path.name} lacks ({int(unknown.sum())} occurrence(s) of {distinct} unknown "
            f"song id(s) in all; every song must have a row in {songs_path.name})"
        )
    return index.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


#: Sequences per chunk when reading ``sequences.parquet`` or writing it.
CHUNK_SEQUENCES = 1 << 16


def read_sequences(
    path: Path, song_ids: pa.Array, songs_path: Path, chunk_rows: int = CHUNK_SEQUENCES
) -> tuple[Sequences, int]:
    """``sequences.parquet`` -> (CSR sequences of song indices, number of empty rows dropped).

    Read in batches of ``chunk_rows`` sequences: memory holds the int32 song indices, never
    the song ids of every play. Problems are reported after the whole file is read, the first
    of each kind with its row and the count over the file.
    """
    parquet = open_parquet(path)
    schema = parquet.schema_arrow
    if "songs" not in schema.names:
        raise DataError(
            f"{path}: missing column(s) 'songs' (found: {', '.join(schema.names) or 'no columns'})"
        )
    kind = schema.field("songs").type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    value_type = kind.value_type if is_list else None
    if value_type is not None and pa.types.is_dictionary(value_type):
        value_type = value_type.value_type
    if value_type is None or not _is_id_type(value_type):
        raise DataError(
            f"{path}: column 'songs' must be list<string> or list<int64> of song ids, "
            f"found type {kind}"
        )
    if parquet.metadata.num_rows == 0:
        raise DataError(f"{path}: no sequences (the file has no rows)")
    lookup = _SongLookup(song_ids)
    length_chunks: list[np.ndarray] = []
    song_chunks: list[np.ndarray] = []
    rows = 0
    null_list: int | None = None  # first row (0-based) of each problem
    null_id: int | None = None
    unknown: tuple[int, str] | None = None
    n_unknown = 0
    unknown_ids: list[pa.Array] = []
    try:
        batches = parquet.iter_batches(batch_size=chunk_rows, columns=["songs"])
        for batch in batches:
            column = _plain(batch.column(0))
            if column.null_count and null_list is None:
                null_list = rows + _first_null(column)
            lengths = pc.fill_null(pc.list_value_length(column), 0)
            lengths = lengths.to_numpy(zero_copy_only=False).astype(np.int64)
            indptr = np.concatenate([[0], np.cumsum(lengths)])
            values = pc.list_flatten(column)
            if values.null_count and null_id is None:
                null_id = rows + int(np.searchsorted(indptr, _first_null(values), side="right")) - 1
            values = id_strings(values, path, "songs")
            index = lookup.index(values)
            missing = pc.is_null(index)
            if index.null_count:
                missing_np = missing.to_numpy(zero_copy_only=False)
                if values.null_count:
                    missing_np &= pc.is_valid(values).to_numpy(zero_copy_only=False)
                if missing_np.any():
                    n_unknown += int(missing_np.sum())
                    bad = values.filter(pa.array(missing_np))
                    unknown_ids.append(pc.unique(bad))
                    if unknown is None:
                        first = int(np.flatnonzero(missing_np)[0])
                        row = rows + int(np.searchsorted(indptr, first, side="right")) - 1
                        unknown = (row, values[first].as_py())
            length_chunks.append(lengths)
            song_chunks.append(pc.fill_null(index, 0).to_numpy(zero_copy_only=False))
            rows += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read columns ['songs'] ({exc})") from None
    if null_list is not None:
        raise DataError(
            f"{path}: row {null_list + 1} has a null 'songs' list (expected a list of song ids)"
        )
    if null_id is not None:
        raise DataError(f"{path}: row {null_id + 1} holds a null song id (expected song ids only)")
    if unknown is not None:
        distinct = len(pc.unique(pa.concat_arrays(unknown_ids)))
        raise DataError(
            f"{path}: row {unknown[0] + 1} (sequence) mentions song '{unknown[1]}', which "
            f"{songs_path.name} lacks ({n_unknown} occurrence(s) of {distinct} unknown "
            f"song id(s) in all; every song must have a row in {songs_path.name})"
        )
    lengths = np.concatenate(length_chunks)
    empty = int((lengths == 0).sum())
    if empty:
        lengths = lengths[lengths > 0]
    if len(lengths) == 0:
        raise DataError(f"{path}: every sequence is empty; the dataset has no song plays")
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    songs = np.concatenate(song_chunks) if len(song_chunks) > 1 else song_chunks[0]
    return Sequences(indptr, songs), empty


class _SongLookup:
    """Song id -> song index (int32, null when unknown) for chunks of ids."""

    def __init__(self, song_ids: pa.Array) -> None:
        self.song_ids = song_ids

    def index(self, values: pa.Array) -> pa.Array:
        # Only the distinct ids of a chunk are looked up in the song table.
        encoded = pc.dictionary_encode(values)
        found = pc.index_in(encoded.dictionary, value_set=self.song_ids)
        return found.take(encoded.indices)


def read_play_log(path: Path, song_ids: pa.Array, songs_path: Path) -> pd.DataFrame:
    """``play_log.parquet`` with song ids mapped to song indices."""
    table, _ = read_columns(path, PLAY_LOG_COLUMNS)
    out: dict[str, np.ndarray] = {}
    for column in PLAY_LOG_COLUMNS[:2]:
        values = id_strings(table.column(column), path, column)
        if values.null_count:
            raise DataError(f"{path}: row {_first_null(values) + 1} has no {column} (null)")
        out[column] = map_song_ids(
            values, song_ids, path, songs_path, lambda p, c=column: f"row {p + 1} ({c})"
        )
    for column in PLAY_LOG_COLUMNS[2:]:
        values = _plain(table.column(column))
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            raise DataError(f"{path}: column '{column}' must hold counts, found type {values.type}")
        if values.null_count:
            raise DataError(f"{path}: row {_first_null(values) + 1} has no {column} (null)")
        numbers = values.to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(numbers) | (numbers < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: row {row + 1}: {column} is {numbers[row].item()!r}, expected a count >= 0"
            )
        out[column] = numbers
    return pd.DataFrame(out)


def read_parquet(
    directory: str | os.PathLike, name: str | None = None, chunk_rows: int = CHUNK_SEQUENCES
) -> Dataset:
    """Read a canonical dataset directory (``sequences.parquet``, ``songs.parquet`` and an
    optional ``play_log.parquet``) into a :class:`Dataset`; sequences are read
    ``chunk_rows`` at a time."""
    directory = require_directory(Path(directory), "canonical Parquet dataset")
    sequences_path = require_file(
        directory / SEQUENCES_FILE, "a canonical dataset needs sequences.parquet"
    )
    songs_path = require_file(directory / SONGS_FILE, "a canonical dataset needs songs.parquet")
    songs = read_song_table(songs_path)
    song_ids = pa.array(songs["song_id"].to_numpy(dtype=object), type=pa.string())
    sequences, empty = read_sequences(sequences_path, song_ids, songs_path, chunk_rows)
    play_log_path = directory / PLAY_LOG_FILE
    play_log = (
        read_play_log(play_log_path, song_ids, songs_path) if play_log_path.exists() else None
    )
    stored = open_parquet(sequences_path).schema_arrow.metadata or {}
    metadata: dict = {}
    if _META_METADATA in stored:
        try:
            metadata = dict(json.loads(stored[_META_METADATA]))
        except (ValueError, TypeError):
            metadata = {}
    if metadata.get("source", "parquet") != "parquet":
        metadata["converted_from"] = metadata["source"]
    metadata.update({"source": "parquet", "path": str(directory), "empty_sequences": empty})
    if name is None:
        name = stored.get(_META_NAME, b"").decode("utf-8", "replace") or directory.name
    return Dataset(name, sequences, songs, play_log=play_log, metadata=metadata)


def _strings(series: pd.Series) -> pa.Array:
    values = series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _list_array(indptr: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(indptr.astype(np.int32)), values)


def write_parquet(dataset: Dataset, directory: str | os.PathLike) -> None:
    """Write ``dataset`` as a canonical directory, atomically: every file goes to a temporary
    name first and is renamed into place once all are written. A stale ``play_log.parquet`` is
    removed when the dataset has no play log."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{directory}: cannot create the output directory ({exc})") from None
    song_ids = _strings(dataset.songs["song_id"])
    n_songs = len(song_ids)

    def ids_of(indices, what: str) -> pa.Array:
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= n_songs):
            raise DataError(
                f"dataset '{dataset.name}': {what} refers to song indices outside 0..{n_songs - 1}"
            )
        return song_ids.take(pa.array(indices))

    seq = dataset.sequences
    try:
        metadata_json = json.dumps(dataset.metadata, default=str)
    except (TypeError, ValueError):
        metadata_json = "{}"
    if len(seq.songs) and (seq.songs.min() < 0 or seq.songs.max() >= n_songs):
        raise DataError(
            f"dataset '{dataset.name}': a sequence refers to song indices outside 0..{n_songs - 1}"
        )
    sequences_schema = pa.schema(
        [("sequence_id", pa.int64()), ("songs", pa.list_(pa.string()))]
    ).with_metadata(
        {_META_NAME: dataset.name.encode("utf-8"), _META_METADATA: metadata_json.encode("utf-8")}
    )
    columns = {"song_id": song_ids}
    for column in LABEL_COLUMNS:
        columns[column] = _strings(
            dataset.songs[column] if column in dataset.songs else pd.Series([None] * n_songs)
        )
    columns["plays"] = pa.array(seq.counts(n_songs))
    tables: dict[str, pa.Table] = {SONGS_FILE: pa.table(columns)}
    if dataset.play_log is not None:
        log = dataset.play_log
        missing = [c for c in PLAY_LOG_COLUMNS if c not in log]
        if missing:
            raise DataError(f"dataset '{dataset.name}': the play log lacks column(s) {missing}")
        tables[PLAY_LOG_FILE] = pa.table(
            {
                "seed_song": ids_of(log["seed_song"].to_numpy(), "the play log"),
                "recommended_song": ids_of(log["recommended_song"].to_numpy(), "the play log"),
                "organic_plays": pa.array(log["organic_plays"].to_numpy()),
                "successful_plays": pa.array(log["successful_plays"].to_numpy()),
            }
        )
    names = [SEQUENCES_FILE, *tables]
    temporary = {name: directory / f".{name}.tmp-{os.getpid()}" for name in names}
    try:
        with pq.ParquetWriter(temporary[SEQUENCES_FILE], sequences_schema) as writer:
            for start in range(0, len(seq), CHUNK_SEQUENCES):
                stop = min(start + CHUNK_SEQUENCES, len(seq))
                low, high = int(seq.indptr[start]), int(seq.indptr[stop])
                songs = _list_array(
                    seq.indptr[start : stop + 1] - low, song_ids.take(pa.array(seq.songs[low:high]))
                )
                chunk = pa.table(
                    [pa.array(np.arange(start, stop, dtype=np.int64)), songs],
                    schema=sequences_schema,
                )
                writer.write_table(chunk)
        for name, table in tables.items():
            pq.write_table(table, temporary[name])
        for name in (SONGS_FILE, PLAY_LOG_FILE, SEQUENCES_FILE):
            if name in temporary:
                os.replace(temporary[name], directory / name)
    except OSError as exc:
        raise DataError(f"{directory}: cannot write the dataset ({exc})") from None
    finally:
        for path in temporary.values():
            if path.exists():
                path.unlink()
    stale = directory / PLAY_LOG_FILE
    if dataset.play_log is None and stale.exists():
        stale.unlink()
