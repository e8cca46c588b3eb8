"""Word2Vec skip-gram with negative sampling (gensim), with the paper's defaults and search space.

The training corpus reaches gensim without ever being held as Python token lists:

- by default it **streams**: :class:`SequenceStream` renders a few thousand sequences at a time
  from the CSR arrays (one shared string per song), so memory stays at the corpus's int32 array
  plus one string per song. gensim sees exactly the sentences, in the order, that a list of token
  lists would give, so results are the same. A time budget stops training mid-epoch.
- with ``corpus_file = true`` gensim reads a LineSentence file (one sequence per line, song
  indices separated by spaces), written once per corpus into a cache directory keyed by the
  corpus's digest and reused by every later trial on that corpus (:func:`corpus_file_of`).
  gensim then trains without the Python reader thread, which scales to many cores (on 2 cores
  both modes take the same time). A time budget stops training at the end of an epoch.

Reproducibility: with ``workers = 1`` a seed gives identical vectors in both modes (song tokens
are hashed with :func:`stable_hash`, not Python's salted ``hash``). With several workers, the
threads update shared weights without locks (Hogwild), so runs differ slightly, as gensim
documents; the two modes also give different (equally good) vectors, since file mode splits the
corpus into one contiguous part per worker.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

import embench
from embench.api import Dimension

BUDGET_BATCH_WORDS = 1_000
CACHE_ENV = "EMBENCH_CACHE_DIR"


def stable_hash(text: str) -> int:
    """A process-independent replacement for ``hash`` (gensim seeds vectors with it)."""
    return zlib.crc32(text.encode())


class Word2VecOptions(embench.Options):
    """Hyper-parameters (defaults: the paper's Table 3, i.e. gensim's NLP defaults) and settings."""

    vector_size: int = Field(100, ge=1, le=4096, description="embedding dimension d")
    window: int = Field(5, ge=1, le=1000, description="context window L")
    ns_exponent: float = Field(0.75, ge=-10, le=10, description="negative sampling exponent alpha")
    negative: int = Field(5, ge=1, le=1000, description="negative samples N")
    alpha: float = Field(0.025, gt=0, le=1, description="initial learning rate")
    min_alpha: float = Field(0.0001, ge=0, le=1, description="final learning rate")
    epochs: int = Field(5, ge=1, le=1000, description="passes over the corpus")
    min_count: int = Field(1, ge=1, description="songs played fewer times get no vector")
    sample: float = Field(
        0.001, ge=0, le=1, description="down-sampling threshold of frequent songs"
    )
    workers: int | None = Field(
        None, ge=1, le=256, description="training threads (default: the benchmark's threads)"
    )
    corpus_file: bool = Field(
        False,
        description="train from a cached LineSentence file (gensim's corpus_file mode: scales "
        "to many threads; a time budget stops at an epoch's end) instead of streaming",
    )


class Word2Vec(embench.Embedder):
    """gensim skip-gram with negative sampling over the training sequences."""

    name = "word2vec"
    Options = Word2VecOptions
    search_space = {
        "vector_size": Dimension(25, 200, integer=True),
        "window": Dimension(1, 40, integer=True),
        "ns_exponent": Dimension(-1.0, 1.0),
        "negative": Dimension(1, 100, integer=True),
        "alpha": Dimension(0.001, 0.1, log=True),
    }

    def work(self, params, stats):
        """Training work in vector-element updates (see :func:`training_work`)."""
        return training_work(params, stats)

    def fit(self, corpus, params, *, seed, threads, monitor):
        from gensim.models import Word2Vec as GensimWord2Vec
        from gensim.models.callbacks import CallbackAny2Vec

        class Progress(CallbackAny2Vec):
            def __init__(self) -> None:
                self.epoch = 0

            def on_epoch_end(self, model) -> None:
                self.epoch += 1
                monitor.progress(self.epoch / params.epochs)
                if params.corpus_file and self.epoch < params.epochs and monitor.should_stop():
                    # gensim reads the file in native code: stop between epochs.
                    raise embench.BudgetExceeded(
                        f"stopped after epoch {self.epoch} of {params.epochs}"
                    )

        settings = dict(
            sg=1,
            hs=0,
            vector_size=params.vector_size,
            window=params.window,
            ns_exponent=params.ns_exponent,
            negative=params.negative,
            alpha=params.alpha,
            min_alpha=params.min_alpha,
            epochs=params.epochs,
            min_count=params.min_count,
            sample=params.sample,
            workers=params.workers or threads,
            seed=seed,
            hashfxn=stable_hash,
            callbacks=[Progress()],
        )
        if params.corpus_file:
            model = GensimWord2Vec(corpus_file=str(corpus_file_of(corpus)), **settings)
        else:
            sentences = SequenceStream(corpus, monitor)
            model = GensimWord2Vec(
                sentences=sentences,
                # Under a time budget, small jobs keep the work already queued when the corpus
                # stops yielding (about 6 jobs) to a few thousand words instead of ~60,000.
                batch_words=BUDGET_BATCH_WORDS if monitor.limited else 10_000,
                **settings,
            )
            if sentences.stopped_in is not None:
                raise embench.BudgetExceeded(
                    f"stopped in epoch {sentences.stopped_in} of {params.epochs}"
                )
        keys = model.wv.index_to_key
        song_index = np.fromiter((int(k) for k in keys), dtype=np.int64, count=len(keys))
        return embench.Embedding(song_index, model.wv.vectors)


#: Constants of :func:`training_work`, fitted to gensim 4.4's CPU time on yes_big (40 random
#: Table 3 configurations, 1 to 54 CPU seconds; docs/results.md): the per-token cost of reading
#: and preparing the corpus, and the cost of drawing one negative sample, in vector elements.
TOKEN_COST = 900.0
NEGATIVE_COST = 180.0


def training_work(params, stats) -> float:
    """The work of one skip-gram training with negative sampling, in vector-element updates.

    Per epoch, every token costs :data:`TOKEN_COST` (streaming, vocabulary lookup, the
    reduced-window draw), and every (centre, context) pair of the corpus (word2vec's reduced
    window: each centre's window drawn from ``1..window``, cut at the sequence's ends;
    :meth:`embench.CorpusStats.context_pairs`) updates ``negative + 1`` output vectors of
    ``vector_size`` numbers, each negative also costing :data:`NEGATIVE_COST` to draw::

        epochs x (tokens x TOKEN_COST + pairs(window) x (negative + 1) x (vector_size + NEGATIVE_COST))
    """
    pairs = stats.context_pairs(params.window)
    per_epoch = stats.tokens * TOKEN_COST + pairs * (params.negative + 1) * (
        params.vector_size + NEGATIVE_COST
    )
    return float(params.epochs * per_epoch)


class SequenceStream:
    """The corpus as gensim sentences (lists of song-index strings), rendered a block of
    sequences at a time from the CSR arrays: no list of every sentence is ever held.

    Re-iterable (gensim scans it once for the vocabulary, then once per epoch). A training pass
    ends early once the monitor asks to stop: gensim then finishes the epoch quickly and training
    returns. The first pass (the vocabulary scan) always completes. When nobody asks to stop,
    gensim sees exactly the sentences of :func:`sequences_as_tokens`, in the same order.
    """

    CHECK_EVERY = 256  # sequences between two should_stop() calls
    BLOCK = 4_096  # sequences rendered at once

    def __init__(self, corpus, monitor=None) -> None:
        self.corpus = corpus
        self.monitor = monitor
        self.stopped_in: int | None = None  # the epoch (1, 2, ...) in which training stopped
        self.passes = 0
        n = int(corpus.songs.max()) + 1 if len(corpus.songs) else 0
        self.words = np.char.mod("%d", np.arange(n)).tolist()  # one string per song, shared

    def __len__(self) -> int:
        return len(self.corpus)

    def __iter__(self):
        self.passes += 1
        training = self.passes > 1
        words, songs, indptr = self.words, self.corpus.songs, self.corpus.indptr
        n = len(self.corpus)
        for block in range(0, n, self.BLOCK):
            end = min(block + self.BLOCK, n)
            flat = [words[s] for s in songs[indptr[block] : indptr[end]].tolist()]
            bounds = (indptr[block : end + 1] - indptr[block]).tolist()
            for i in range(end - block):
                if (
                    training
                    and self.monitor is not None
                    and (block + i) % self.CHECK_EVERY == 0
                    and (self.stopped_in is not None or self.monitor.should_stop())
                ):
                    if self.stopped_in is None:
                        self.stopped_in = self.passes - 1
                    return
                yield flat[bounds[i] : bounds[i + 1]]


def sequences_as_tokens(corpus) -> list[list[str]]:
    """Every sequence as a list of song-index strings (small corpora, tests and comparisons:
    training streams them with :class:`SequenceStream` instead)."""
    return list(SequenceStream(corpus))


def cache_root() -> Path:
    """Where corpus files are cached: ``$EMBENCH_CACHE_DIR``, else the system's temporary
    directory (``embench-cache``)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "embench-cache"


def corpus_file_of(corpus, root: Path | None = None) -> Path:
    """The corpus as a LineSentence file, written once per corpus (keyed by its digest).

    Later calls with the same corpus, in this process or another, reuse the file. It is
    written to a temporary name and renamed into place, so a reader never sees half a file.
    """
    path = (root or cache_root()) / f"corpus-{corpus.digest()}.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            write_line_sentences(corpus, temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return path


def write_line_sentences(corpus, path: Path, block_events: int = 1 << 22) -> None:
    """One line per sequence, its song indices separated by single spaces (gensim's
    LineSentence format), rendered by Arrow a block of about ``block_events`` songs at a time."""
    indptr, songs = corpus.indptr, corpus.songs
    n = len(corpus)
    with open(path, "wb") as out:
        start = 0
        while start < n:
            end = int(np.searchsorted(indptr, indptr[start] + block_events, side="right")) - 1
            end = min(max(end, start + 1), n)
            low, high = int(indptr[start]), int(indptr[end])
            tokens = pc.cast(pa.array(songs[low:high]), pa.string())
            offsets = pa.array((indptr[start : end + 1] - low).astype(np.int32))
            lines = pc.binary_join(pa.ListArray.from_arrays(offsets, tokens), " ")
            text = pc.binary_join(
                pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n"
            )
            out.write(text[0].as_buffer())
            out.write(b"\n")
            start = end


@embench.hookimpl
def register_embedders(register):
    register(Word2Vec)
