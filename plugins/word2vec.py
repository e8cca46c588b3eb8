"""Word2Vec skip-gram with negative sampling (gensim), with the paper's defaults and search space."""

from __future__ import annotations

import zlib

import numpy as np
from pydantic import Field

import embench
from embench.api import Dimension

BUDGET_BATCH_WORDS = 1_000


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

    def fit(self, corpus, params, *, seed, threads, monitor):
        from gensim.models import Word2Vec as GensimWord2Vec
        from gensim.models.callbacks import CallbackAny2Vec

        class Progress(CallbackAny2Vec):
            def __init__(self) -> None:
                self.epoch = 0

            def on_epoch_end(self, model) -> None:
                self.epoch += 1
                monitor.progress(self.epoch / params.epochs)

        sentences = StoppableCorpus(sequences_as_tokens(corpus), monitor)
        model = GensimWord2Vec(
            sentences=sentences,
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
            # Under a time budget, small jobs keep the work already queued when the corpus
            # stops yielding (about 6 jobs) to a few thousand words instead of ~60,000.
            batch_words=BUDGET_BATCH_WORDS if monitor.limited else 10_000,
        )
        if sentences.stopped:
            raise embench.BudgetExceeded(
                f"stopped in epoch {sentences.passes - 1} of {params.epochs}"
            )
        keys = model.wv.index_to_key
        song_index = np.fromiter((int(k) for k in keys), dtype=np.int64, count=len(keys))
        return embench.Embedding(song_index, model.wv.vectors)


class StoppableCorpus:
    """The token lists, re-iterable for gensim, that end a training pass early once the
    monitor asks to stop: gensim then finishes the epoch quickly and training returns.
    The first pass (gensim's vocabulary scan) always completes. When nobody asks to stop,
    gensim sees exactly the same sentences in the same order."""

    CHECK_EVERY = 256

    def __init__(self, sentences: list[list[str]], monitor) -> None:
        self.sentences = sentences
        self.monitor = monitor
        self.stopped = False
        self.passes = 0

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self):
        self.passes += 1
        training = self.passes > 1
        for i, sentence in enumerate(self.sentences):
            if (
                training
                and i % self.CHECK_EVERY == 0
                and (self.stopped or self.monitor.should_stop())
            ):
                self.stopped = True
                return
            yield sentence


def sequences_as_tokens(corpus) -> list[list[str]]:
    """gensim wants string tokens: song indices rendered once as strings."""
    tokens = np.char.mod("%d", np.arange(int(corpus.songs.max()) + 1 if len(corpus.songs) else 0))
    words = tokens.tolist()
    flat = [words[s] for s in corpus.songs.tolist()]
    bounds = corpus.indptr.tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


@embench.hookimpl
def register_embedders(register):
    register(Word2Vec)
