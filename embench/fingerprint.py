"""A run's fingerprint: everything that changes its results, so that a resume never mixes runs.

``embench run`` computes the fingerprint after loading the dataset and before training:

- the dataset plugin, its options and a digest of the data it loaded (the sequences, the song
  table and the play log, so a data file edited in place changes it, whatever plugin read it);
- ``[benchmark] seed`` (it fixes the split and the training), ``[split]``, every metric with its
  options, ``[evaluation] part``;
- every listed configuration (embedder and params, ``[embedders]`` settings merged in) and every
  study's settings as its journal header records them (optimiser and options, embedder, fixed
  params, space, objective, seed, time budget), and ``[scale]``.

What does not change results may change between two runs into one folder: ``threads``, a
study's ``budget`` (``--budget``), ``executor``/``workers``/``scheduler``, ``final``,
``fail_fast``, ``[report]``, ``[thresholds]``, the descriptions and the benchmark's name.

The run's fingerprint is written to ``summary.json`` and to the in-progress marker; each study's
journal header holds the part its trials depend on (:func:`study_fingerprint`). A rerun whose
fingerprint differs is refused (:class:`FingerprintError`, exit code 2) with the list of what
changed (:func:`changes`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from embench.benchmark import Benchmark
from embench.data.dataset import Dataset
from embench.errors import ConfigError
from embench.io import to_jsonable

VERSION = 1
"""Raise it when the fingerprint's content changes meaning (an old one then reads as changed)."""

_CHUNK = 1 << 20  # strings hashed per step (bounded memory on million-song catalogues)


class FingerprintError(ConfigError):
    """A resume whose benchmark or data differ from the run it would continue."""


def dataset_digest(dataset: Dataset) -> str:
    """A hex digest of what ``dataset`` holds: sequences, song table, play log.

    Equal data give equal digests in any process; it reads every array once (a few hundred
    MB/s), which is small next to loading the data.
    """
    h = hashlib.blake2b(digest_size=16)
    sequences = dataset.sequences
    for array in (sequences.indptr, sequences.songs):
        _update_array(h, np.ascontiguousarray(array))
    _update_frame(h, dataset.songs.drop(columns=["plays"], errors="ignore"))
    if dataset.play_log is not None:
        h.update(b"play_log")
        _update_frame(h, dataset.play_log)
    return h.hexdigest()


def _update_array(h: Any, array: np.ndarray) -> None:
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).data.cast("B"))


def _update_frame(h: Any, frame: pd.DataFrame) -> None:
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not values.isna().any():
            _update_array(h, np.ascontiguousarray(values.to_numpy()))
            continue
        strings = values.astype(object).where(values.notna(), "\x00null").astype(str).to_numpy()
        for start in range(0, len(strings), _CHUNK):
            h.update("\x1f".join(strings[start : start + _CHUNK]).encode("utf-8", "replace"))
            h.update(b"\x1e")


def run_fingerprint(
    benchmark: Benchmark, digest: str, studies: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The fingerprint of a whole run; ``studies``: each study's journal header (JSON form)."""
    config = benchmark.config
    scale = None
    if config.scale is not None:
        scale = {
            "rates": list(config.scale.rates),
            "studies": sorted(config.scale.studies or studies),
        }
    return to_jsonable(
        {
            "version": VERSION,
            **_data_part(benchmark, digest, config.split.subsample),
            "evaluation": {"part": config.evaluation.part},
            "configurations": {
                c.name: {"embedder": c.embedder.name, "params": c.params.model_dump(mode="json")}
                for c in benchmark.configurations
            },
            "studies": {
                name: {k: v for k, v in header.items() if k not in _HEADER_BOOKKEEPING}
                for name, header in studies.items()
            },
            "scale": scale,
        }
    )


_HEADER_BOOKKEEPING = {"kind", "study", "fingerprint", "subsample"}


def study_fingerprint(benchmark: Benchmark, digest: str, subsample: float) -> dict[str, Any]:
    """What a study's trials depend on besides the study's own settings (which its journal
    header records already): the data, the seed, the split (with the training subsample rate
    the study runs on) and the metrics."""
    return to_jsonable({"version": VERSION, **_data_part(benchmark, digest, subsample)})


def _data_part(benchmark: Benchmark, digest: str, subsample: float) -> dict[str, Any]:
    split = benchmark.config.split
    return {
        "dataset": {
            "plugin": benchmark.dataset.name,
            "options": benchmark.dataset_options.model_dump(mode="json"),
            "digest": digest,
        },
        "seed": benchmark.seed,
        "split": {
            "train": split.train,
            "validation": split.validation,
            "test": split.test,
            "subsample": subsample,
        },
        "metrics": {
            name: options.model_dump(mode="json") for name, _, options in benchmark.metrics
        },
    }


# -- comparing -----------------------------------------------------------------------------
ABSENT = object()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects as ``{"a.b.c": leaf}`` (lists and other values are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differing(recorded: Any, current: Any, *, ignore: Iterable[str] = ()) -> list[str]:
    """The flattened keys whose values differ (keys in ``ignore`` and below them left out)."""
    old, new = flatten(to_jsonable(recorded)), flatten(to_jsonable(current))
    skipped = tuple(ignore)
    return [
        key
        for key in [*old, *(k for k in new if k not in old)]
        if not any(key == i or key.startswith(i + ".") for i in skipped)
        and old.get(key, ABSENT) != new.get(key, ABSENT)
    ]


def topics(keys: Iterable[str]) -> str:
    """What the changed ``keys`` of a run fingerprint are about, in words (``"split, space"``)."""
    out: list[str] = []
    for key in keys:
        parts = key.split(".")
        if parts[0] == "dataset":
            topic = "data" if parts[-1] == "digest" else "dataset"
        elif parts[0] == "metrics":
            topic = "metric options"
        elif parts[0] == "studies" and len(parts) > 2:
            topic = parts[2]  # the study's header field: space, fixed, seed, optimiser...
        else:
            topic = parts[0]
        if topic not in out:
            out.append(topic)
    return ", ".join(out)


def changes(recorded: Any, current: Any, *, ignore: Iterable[str] = ()) -> list[str]:
    """Each key whose value differs, as ``key: recorded X, now Y`` (keys in ``ignore`` and
    below them left out)."""
    old, new = flatten(to_jsonable(recorded)), flatten(to_jsonable(current))
    lines = []
    for key in differing(recorded, current, ignore=ignore):
        a, b = old.get(key, ABSENT), new.get(key, ABSENT)
        line = f"{key or '(all)'}: recorded {_show(a)}, now {_show(b)}"
        if key.endswith("dataset.digest") and a is not ABSENT and b is not ABSENT:
            line += " (the data the dataset plugin loaded changed: its files were modified)"
        lines.append(line)
    return lines


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def refusal(subject: str, where: str, changed: list[str], fresh: str) -> FingerprintError:
    """The error of a refused resume: what was recorded where, each change, how to start over.

    ``subject``: what differs, in words; ``fresh``: how to start afresh instead.
    """
    shown = changed[:30] + ([f"... and {len(changed) - 30} more"] if len(changed) > 30 else [])
    return FingerprintError(
        f"{where}: {subject}; refusing to resume it (old and new results would mix). "
        f"What changed ({len(changed)}):\n  "
        + "\n  ".join(shown)
        + f"\nTo start afresh, {fresh}; to resume the recorded run instead, restore the former "
        "benchmark file and data."
    )
