"""Finding a song of a dataset from what a user types: its id, or a part of its title."""

from __future__ import annotations

from embench.data.dataset import Dataset
from embench.errors import DataError


def find_song(dataset: Dataset, query: str) -> int:
    """The index of a song by exact id, else by a unique case-insensitive part of its title."""
    songs = dataset.songs
    exact = (songs["song_id"].astype(str) == query).to_numpy()
    if exact.any():
        return int(exact.argmax())
    titles = songs["title"].fillna("").astype(str).str.lower()
    matches = titles.str.contains(query.lower(), regex=False).to_numpy().nonzero()[0]
    if len(matches) == 1:
        return int(matches[0])
    if not len(matches):
        raise DataError(f"no song with id or title '{query}' in dataset '{dataset.name}'")
    shown = ", ".join(
        f"{songs.song_id.iloc[i]} ({songs.title.iloc[i]} - {songs.artist.iloc[i]})"
        for i in matches[:5]
    )
    raise DataError(f"'{query}' matches {len(matches)} titles, give a song id: {shown}")
