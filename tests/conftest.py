import pytest

from tests.helpers import TestPlugin


@pytest.fixture
def test_plugin(register_plugin):
    """The tiny dataset and random embedder, registered for this test only."""
    return register_plugin("embench-tests", TestPlugin())
