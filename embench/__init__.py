"""embench: evaluation and hyper-parameter optimisation of behavioural song embeddings.

Importing this package loads no heavy library (gensim, nevergrad, pymoo); plugins do, lazily.
"""

from embench.api import (
    BudgetExceeded,
    ContractError,
    CorpusStats,
    DatasetLoader,
    Dimension,
    Embedder,
    Embedding,
    Fidelity,
    Interval,
    Metric,
    MetricResult,
    NeighbourRequest,
    Optimiser,
    Options,
    Search,
    Suggestion,
    TrainingMonitor,
    Value,
)
from embench.checks import check_embedder, check_metric
from embench.context import EvalContext
from embench.data.dataset import Dataset, Sequences
from embench.data.split import Split
from embench.hookspecs import hookimpl
from embench.index import NeighbourIndex
from embench.registry import Command

__version__ = "0.1.0"

__all__ = [
    "BudgetExceeded",
    "Command",
    "ContractError",
    "CorpusStats",
    "Dataset",
    "DatasetLoader",
    "Dimension",
    "Embedder",
    "Embedding",
    "EvalContext",
    "Fidelity",
    "Interval",
    "Metric",
    "MetricResult",
    "NeighbourIndex",
    "NeighbourRequest",
    "Optimiser",
    "Options",
    "Search",
    "Sequences",
    "Split",
    "Suggestion",
    "TrainingMonitor",
    "Value",
    "check_embedder",
    "check_metric",
    "hookimpl",
    "__version__",
]
