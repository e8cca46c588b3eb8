"""Bad input: one clear message, exit code 2, no traceback, nothing written."""

import pytest

from embench.cli import main
from tests.helpers import TINY_BENCHMARK, write_benchmark


def run_cli(tmp_path, capsys, text=None, path=None):
    bench = path if path is not None else write_benchmark(tmp_path, text)
    out = tmp_path / "out"
    code = main(["run", str(bench), "--output", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not out.exists(), "nothing may be written for bad input"
    return code, " ".join(err.split())


def test_missing_benchmark_file(tmp_path, capsys):
    code, err = run_cli(tmp_path, capsys, path=tmp_path / "nope.toml")
    assert code == 2 and "nope.toml" in err and "not found" in err


def test_benchmark_path_is_a_directory(tmp_path, capsys):
    code, err = run_cli(tmp_path, capsys, path=tmp_path)
    assert code == 2 and "is a directory" in err


def test_malformed_toml(tmp_path, capsys):
    code, err = run_cli(tmp_path, capsys, text='[benchmark\nname = "x"\n')
    assert code == 2 and "malformed TOML" in err and "line 1" in err


def test_unknown_key_gets_did_you_mean(tmp_path, capsys):
    text = TINY_BENCHMARK.replace("seed = 3", "seeed = 3")
    code, err = run_cli(tmp_path, capsys, text=text)
    assert code == 2
    assert "unknown key 'seeed' in [benchmark]" in err and "did you mean 'seed'" in err


def test_unknown_plugin_option_gets_did_you_mean(tmp_path, capsys, test_plugin):
    text = TINY_BENCHMARK.replace("window = 10", "windw = 10")
    code, err = run_cli(tmp_path, capsys, text=text)
    assert code == 2
    assert "unknown key 'windw' in [configuration #2.params]" in err
    assert "did you mean 'window'" in err


def test_unknown_embedder(tmp_path, capsys, test_plugin):
    text = TINY_BENCHMARK + '[[configuration]]\nname = "x"\nembedder = "word2vce"\n'
    code, err = run_cli(tmp_path, capsys, text=text)
    assert code == 2 and "unknown embedder 'word2vce'" in err and "did you mean 'word2vec'" in err


def test_unknown_dataset(tmp_path, capsys, test_plugin):
    code, err = run_cli(
        tmp_path, capsys, text=TINY_BENCHMARK.replace('"tiny"\n\n[split]', '"tinny"\n\n[split]')
    )
    assert code == 2 and "unknown dataset 'tinny'" in err and "did you mean 'tiny'" in err


def test_unknown_metric(tmp_path, capsys, test_plugin):
    code, err = run_cli(tmp_path, capsys, text=TINY_BENCHMARK + "[metrics.next_sng]\n")
    assert code == 2 and "unknown metric 'next_sng'" in err and "did you mean 'next_song'" in err


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        ('window = "wide"', "valid integer"),
        ("window = -1", "greater than or equal to 1"),
        ("window = 2.5", "valid integer"),
    ],
)
def test_parameter_of_wrong_type_or_range(tmp_path, capsys, test_plugin, replacement, expected):
    text = TINY_BENCHMARK.replace("window = 10", replacement)
    code, err = run_cli(tmp_path, capsys, text=text)
    assert code == 2 and expected in err and "[configuration #2.params.window]" in err


def test_split_fractions_must_sum_to_one(tmp_path, capsys, test_plugin):
    code, err = run_cli(tmp_path, capsys, text=TINY_BENCHMARK.replace("train = 0.8", "train = 0.7"))
    assert code == 2 and "must be 1" in err


def test_duplicate_configuration_names(tmp_path, capsys, test_plugin):
    text = TINY_BENCHMARK.replace('name = "wide"', 'name = "default"')
    code, err = run_cli(tmp_path, capsys, text=text)
    assert code == 2 and "used twice" in err


DATA_BENCHMARK = """
[benchmark]
name = "data"
threads = 1
[dataset]
plugin = "{plugin}"
[dataset.options]
path = "{path}"
[[configuration]]
name = "default"
"""


def write_yes(directory, train_lines, songs=3):
    directory.mkdir()
    (directory / "train.txt").write_text(
        " ".join(str(i) for i in range(songs))
        + "\n"
        + " ".join("1" * songs)
        + "\n"
        + "".join(line + " \n" for line in train_lines)
    )
    (directory / "song_hash.txt").write_text(
        "".join(f"{i}\tSong {i}\tArtist {i}\n" for i in range(songs))
    )
    (directory / "tags.txt").write_text("#\n" * songs)
    (directory / "tag_hash.txt").write_text("0, rock\n")


def data_run(tmp_path, capsys, plugin, path):
    text = DATA_BENCHMARK.format(plugin=plugin, path=path)
    return run_cli(tmp_path, capsys, text=text)


def test_missing_data_directory(tmp_path, capsys):
    code, err = data_run(tmp_path, capsys, "yes", "no-such-dir")
    assert code == 2 and "no-such-dir" in err


def test_non_numeric_song_id(tmp_path, capsys):
    write_yes(tmp_path / "yes", ["0 1 2", "1 x 2"])
    code, err = data_run(tmp_path, capsys, "yes", "yes")
    assert code == 2 and "train.txt" in err and "'x'" in err


def test_sequences_mention_unknown_songs(tmp_path, capsys):
    write_yes(tmp_path / "yes", ["0 1 2", "1 7 2"])
    code, err = data_run(tmp_path, capsys, "yes", "yes")
    assert code == 2 and "7" in err and "train.txt" in err


def test_empty_dataset(tmp_path, capsys):
    write_yes(tmp_path / "yes", [])
    code, err = data_run(tmp_path, capsys, "yes", "yes")
    assert code == 2 and ("empty" in err or "no playlists" in err or "no sequences" in err)


def test_corrupt_parquet(tmp_path, capsys):
    (tmp_path / "pq").mkdir()
    (tmp_path / "pq" / "sequences.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "pq" / "songs.parquet").write_bytes(b"PAR1 nope")
    code, err = data_run(tmp_path, capsys, "parquet", "pq")
    assert code == 2 and "parquet" in err.lower()
