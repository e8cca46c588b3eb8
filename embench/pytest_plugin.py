"""Pytest fixtures for plugin authors, registered through the ``pytest11`` entry point.

- ``embench_plugins``: call it to build a fresh :class:`~embench.plugins.Plugins` (entry points
  plus temporary plugins): ``plugins = embench_plugins()``
- ``register_plugin``: ``register_plugin(name, module_or_object)`` makes a plugin visible to
  every plugin manager built during the test (including ``embench run``), removed afterwards
- ``tiny_dataset``: a small seeded :class:`~embench.data.dataset.Dataset` with artists/genres

Only pytest loads this module: the rest of embench never imports pytest. The checks behind
``embench check-plugin`` are plain functions in :mod:`embench.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from embench.data.dataset import Dataset
from embench.data.tiny import make_tiny_dataset
from embench.plugins import Plugins, get_plugin_manager, temporary_plugin


@pytest.fixture
def embench_plugins() -> Callable[..., Plugins]:
    """Call it to build a fresh plugin manager: ``plugins = embench_plugins()``."""
    return get_plugin_manager


@pytest.fixture
def register_plugin() -> Iterator[Callable[[str, object], object]]:
    """``register_plugin(name, plugin)``: installed for the rest of the test only."""
    with ExitStack() as stack:

        def register(name: str, plugin: object) -> object:
            return stack.enter_context(temporary_plugin(name, plugin))

        yield register


@pytest.fixture
def tiny_dataset() -> Dataset:
    """The tiny seeded dataset of :func:`embench.data.tiny.make_tiny_dataset`."""
    return make_tiny_dataset()
