"""The pluggy hook specifications: every plugin implements one or more of these.

Each hook receives a host-owned ``register`` callback; call it once per plugin class. The host
validates the class, rejects duplicate names and records which package it came from.
"""

from __future__ import annotations

import pluggy

PROJECT = "embench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_embedders(register):
    """Register embedder classes (subclasses of ``embench.Embedder``): ``register(MyEmbedder)``."""


@hookspec
def register_metrics(register):
    """Register metric classes (subclasses of ``embench.Metric``): ``register(MyMetric)``."""


@hookspec
def register_optimisers(register):
    """Register optimiser classes (subclasses of ``embench.Optimiser``): ``register(MyOptimiser)``."""


@hookspec
def register_datasets(register):
    """Register dataset loader classes (subclasses of ``embench.DatasetLoader``)."""


@hookspec
def register_indexes(register):
    """Register neighbour-index classes (subclasses of ``embench.NeighbourIndex``), chosen by
    a benchmark's ``[index] plugin``: ``register(MyIndex)``."""


@hookspec
def register_commands(register):
    """Register ``embench`` sub-commands: ``register(Command(name, help, add_arguments, run))``.

    ``add_arguments(parser)`` declares the command's arguments on its argparse sub-parser;
    ``run(args)`` returns the exit code. Names must not clash with another command.
    """
