"""`embench data prepare`, `embench data stats` and `embench hardneg` on small data."""

import pandas as pd

from embench.cli import main
from embench.data.parquet import read_parquet
from tests.helpers import write_benchmark

SYNTHETIC = """
[benchmark]
name = "cli-data"
seed = 2
threads = 1
[dataset]
plugin = "synthetic"
[dataset.options]
songs = 400
sequences = 300
[[configuration]]
name = "default"
[metrics.hardneg]
min_cooccurrence = 1
"""


def test_prepare_writes_canonical_parquet_that_reads_back(tmp_path, capsys):
    bench = write_benchmark(tmp_path, SYNTHETIC)
    assert main(["data", "prepare", str(bench), str(tmp_path / "canon")]) == 0
    dataset = read_parquet(tmp_path / "canon")
    assert dataset.n_songs == 400 and len(dataset.sequences) == 300
    canonical = SYNTHETIC.replace('plugin = "synthetic"', 'plugin = "parquet"').replace(
        "songs = 400\nsequences = 300", 'path = "canon"'
    )
    assert main(["data", "stats", str(write_benchmark(tmp_path, canonical, "c.toml"))]) == 0
    out = capsys.readouterr().out
    assert "300" in out and "400" in out and "length_p50" in out


def test_hardneg_lists_a_songs_partners(tmp_path, capsys):
    bench = write_benchmark(tmp_path, SYNTHETIC)
    assert main(["data", "prepare", str(bench), str(tmp_path / "canon")]) == 0
    songs = pd.read_parquet(tmp_path / "canon" / "songs.parquet")
    capsys.readouterr()
    assert main(["hardneg", str(bench), str(songs.song_id[0]), "--limit", "5"]) == 0
    assert "hard negatives of" in capsys.readouterr().out


def test_hardneg_unknown_song_is_a_clear_error(tmp_path, capsys):
    bench = write_benchmark(tmp_path, SYNTHETIC)
    assert main(["hardneg", str(bench), "no such song"]) == 2
    assert "no song with id or title 'no such song'" in capsys.readouterr().err
