"""The runtime never imports pytest (nor the other test extras): ``pip install .`` without test
extras must give a working ``embench check-plugin``."""

import ast
import subprocess
import sys

from tests.helpers import REPO

TEST_ONLY = ("pytest", "_pytest", "hypothesis")

# A meta-path finder that makes the test-only packages unimportable, as after `pip install .`.
BLOCKER = f"""
import sys

class NoTestExtras:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {TEST_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, NoTestExtras())
for name in [m for m in sys.modules if m.partition(".")[0] in {TEST_ONLY!r}]:
    del sys.modules[name]
"""

CHECK = """
import embench
from embench.checks import check_embedder
from embench.cli import main

report = check_embedder("word2vec", {"vector_size": 8, "epochs": 1})
assert report.ok and report.notes, report
code = main(["check-plugin", "word2vec", "--set", "vector_size=8", "--set", "epochs=1"])
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in TEST_ONLY)
assert not loaded, loaded
sys.exit(code)
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + f"TEST_ONLY = {TEST_ONLY!r}\n" + code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_blocker_blocks():
    done = run("import pytest")
    assert done.returncode == 1 and "No module named 'pytest' (blocked)" in done.stderr


def test_check_plugin_runs_without_pytest():
    done = run(CHECK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "embedder 'word2vec' (plugin word2vec, embench" in done.stdout
    assert "no contract violations" in done.stdout


def test_only_the_pytest_plugin_imports_pytest():
    importers = []
    for path in sorted((REPO / "embench").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.partition(".")[0] in TEST_ONLY for n in names):
                importers.append(path.relative_to(REPO).as_posix())
    assert importers == ["embench/pytest_plugin.py"]
