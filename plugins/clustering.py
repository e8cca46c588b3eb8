"""VRC: the Calinski-Harabasz variance ratio of the song vectors grouped by genre or by artist.

``VRC = (B / (K - 1)) / (W / (n - K))`` with ``B = sum_k n_k |c_k - c|^2`` (between-group) and
``W = sum_i |x_i - c_k(i)|^2`` (within-group) over the ``n`` songs kept in ``K`` groups. Higher
is better: songs of one genre (artist) lie together, apart from the others.

Songs kept: songs with a vector (a song the model never saw has no position to score) and a
label; a label with fewer than ``min_songs`` such songs is left out (artists: default 2, a single
song says nothing about an artist's spread). Vectors are L2-normalised first unless
``normalise = false``. As in scikit-learn, VRC is 1.0 when every group is a single point.
Fewer than two groups (or no more songs than groups) is a :class:`~embench.errors.DataError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import embench
from embench.errors import DataError


class VrcGenreOptions(embench.Options):
    normalise: bool = Field(True, description="L2-normalise the vectors first")
    min_songs: int = Field(1, ge=1, description="genres with fewer embedded songs are left out")


class VrcArtistOptions(embench.Options):
    normalise: bool = Field(True, description="L2-normalise the vectors first")
    min_songs: int = Field(2, ge=1, description="artists with fewer embedded songs are left out")


def variance_ratio(vectors: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """``(VRC, between, within)`` of ``vectors`` grouped by integer ``labels`` 0..K-1 (all used).

    Vectorised: group sums are one sparse indicator product.
    """
    from scipy import sparse

    x = np.asarray(vectors, dtype=np.float64)
    n = x.shape[0]
    n_groups = int(labels.max()) + 1 if n else 0
    x = x - x.mean(axis=0)
    indicator = sparse.csr_matrix(
        (np.ones(n), (labels, np.arange(n))), shape=(n_groups, n), dtype=np.float64
    )
    sums = indicator @ x
    sizes = np.bincount(labels, minlength=n_groups).astype(np.float64)
    between = float(((sums**2).sum(axis=1) / sizes).sum())
    within = max(float((x**2).sum()) - between, 0.0)
    if within == 0.0:
        return 1.0, between, within
    return between * (n - n_groups) / (within * (n_groups - 1)), between, within


class _Vrc(embench.Metric[VrcGenreOptions | VrcArtistOptions]):
    label: str
    plural: str

    def compute(
        self, ctx: embench.EvalContext, options: VrcGenreOptions | VrcArtistOptions
    ) -> embench.MetricResult:
        vectors = ctx.embedding.vectors
        all_codes, names = pd.factorize(ctx.dataset.songs[self.label])  # -1 where unlabelled
        codes = all_codes[ctx.embedding.song_index]
        labelled = codes >= 0
        sizes = np.bincount(codes[labelled], minlength=len(names) + 1)  # + 1: never empty
        big = sizes >= options.min_songs
        rows = np.flatnonzero(labelled & big[np.maximum(codes, 0)])
        codes = (np.cumsum(big) - 1)[codes[rows]]  # renumber the kept groups 0..K-1
        n_groups = int(big.sum())
        if n_groups < 2 or len(rows) <= n_groups:
            raise DataError(
                f"{self.name} needs at least two {self.plural} with {options.min_songs} or more "
                f"embedded songs each (and more songs than {self.plural}); dataset "
                f"'{ctx.dataset.name}' has {n_groups} {self.plural} over {len(rows)} songs"
            )
        x = vectors[rows].astype(np.float64)
        if options.normalise:
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            x = x / np.where(norms > 0, norms, 1)
        value, between, within = variance_ratio(x, codes)
        summary = pd.DataFrame(
            {
                "songs": [len(rows)],
                self.plural: [n_groups],
                "between": [between],
                "within": [within],
            }
        )
        return embench.MetricResult(values={self.name: value}, tables={self.name: summary})


class VrcGenre(_Vrc):
    """Calinski-Harabasz index of the song vectors with genre labels."""

    name = "vrc_genre"
    label = "genre"
    plural = "genres"
    Options = VrcGenreOptions
    values = {"vrc_genre": embench.Value("max", description="Calinski-Harabasz index, genres")}
    requires = frozenset({"genre"})


class VrcArtist(_Vrc):
    """Calinski-Harabasz index of the song vectors with artist labels."""

    name = "vrc_artist"
    label = "artist"
    plural = "artists"
    Options = VrcArtistOptions
    values = {"vrc_artist": embench.Value("max", description="Calinski-Harabasz index, artists")}
    requires = frozenset({"artist"})


@embench.hookimpl
def register_metrics(register):
    register(VrcGenre)
    register(VrcArtist)
