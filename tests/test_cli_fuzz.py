"""Zero internal errors from user input: `embench run` over many malformed benchmark files (every
value of a valid file swapped for a value of another type or out of range, keys removed or
added, the text cut or garbled) exits 0 (valid after all) or 2 with one message, never 3, and
a refused file writes nothing. Training is replaced by a stub: the checks come before it."""

import math
import random
import tomllib

import pytest

from embench.cli import main
from embench.runner import Runner
from tests.helpers import STUDY_BENCHMARK, write_benchmark

BASE = (
    STUDY_BENCHMARK.replace('plugin = "tiny"', 'plugin = "tiny"\n[dataset.options]\nsongs = 60')
    + """
[study.space]
dim = { low = 2, high = 8, integer = true }

[study.options]

[metrics.next_song]
k = 20

[scale]
rates = [0.5]

[report]
sample = 20

[thresholds]
hitrate = { min = 0.0, configuration = "default" }
"""
)

ODD_VALUES = {  # by the type of the value they replace
    "number": [True, -1, 2**63 - 1, math.inf, math.nan, "5"],
    "string": ["", "x" * 300, "a/b", 5],
    "list": [[], [1, "a"], "x"],
    "table": [{"x": 1}, 5, []],
    "bool": [5, "yes"],
}


def kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "list", dict: "table"}[type(value)]


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_key(key):
    return key if key.replace("_", "").replace("-", "").isalnum() else toml_value(key)


def to_toml(document, prefix=()):
    """A TOML text of ``document`` (tables, arrays of tables, inline values)."""
    lines, tables = [], []
    for key, value in document.items():
        nested = isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())
        if isinstance(value, dict) and (prefix == () or (value and nested)):
            tables.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value, True))
        else:
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value, array in tables:
        name = ".".join(toml_key(k) for k in (*prefix, key))
        if array:
            for item in value:
                out += f"\n[[{name}]]\n" + to_toml(item, (*prefix, key))
        else:
            out += f"\n[{name}]\n" + to_toml(value, (*prefix, key))
    return out


def paths(value, prefix=()):
    """Every (path to a value) in a parsed TOML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from paths(item, (*prefix, i))


def replaced(document, path, value, delete=False):
    copy = tomllib.loads(to_toml(document))
    node = copy
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


def mutations():
    document = tomllib.loads(BASE)
    assert tomllib.loads(to_toml(document)) == document  # the writer round-trips
    rng = random.Random(11)
    out = []
    all_paths = list(paths(document))
    for path in all_paths:
        shown = ".".join(map(str, path))
        out.append((f"del {shown}", to_toml(replaced(document, path, None, delete=True))))
        for value in ODD_VALUES[kind(_at(document, path))]:
            out.append(
                (f"{shown}={toml_value(value)[:20]}", to_toml(replaced(document, path, value)))
            )
        if isinstance(path[-1], str):
            parent = path[:-1]
            if not parent or isinstance(_at(document, parent), dict):
                extra = replaced(document, (*parent, "surplus_key"), 1)
                out.append((f"{shown}+surplus", to_toml(extra)))
    for i in range(40):  # the text cut or garbled at random places
        cut = rng.randrange(len(BASE))
        noise = rng.choice(["", "=", "[", "]]", '"', "\x00", "é", "\n[benchmark]\n", "{", "= ="])
        out.append((f"garbled-{i}", BASE[:cut] + noise + BASE[cut + rng.randrange(0, 5) :]))
    return out


def _at(document, path):
    node = document
    for part in path:
        node = node[part]
    return node


CASES = mutations()


@pytest.fixture
def no_training(monkeypatch):
    """Everything up to training runs for real; training and writing results are a stub."""
    monkeypatch.setattr(
        Runner, "execute", lambda self, budget, started: {"benchmark": "x", "configurations": []}
    )


def test_the_fuzz_covers_many_files():
    assert len(CASES) > 250


@pytest.mark.parametrize("index", range(len(CASES)), ids=[name for name, _ in CASES])
def test_malformed_benchmark_never_an_internal_error(
    tmp_path, capsys, test_plugin, no_training, index
):
    name, text = CASES[index]
    bench = write_benchmark(tmp_path, text)
    out = tmp_path / "out"
    try:
        code = main(["run", str(bench), "--output", str(out), "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2), f"{name}: exit {code}: {err}"
    assert "internal error" not in err and "Traceback" not in err, err
    if code == 2:
        assert err.startswith("error:"), err
        assert not out.exists(), f"{name}: a refused benchmark wrote {list(out.rglob('*'))}"
