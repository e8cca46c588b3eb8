"""embench: evaluation and hyper-parameter optimisation of behavioural song embeddings.

Importing this package loads no heavy library (gensim, nevergrad, pymoo); plugins do, lazily.
"""

from embench.api import (
    BudgetExceeded,
    ContractError,
    DatasetLoader,
    Dimension,
    Embedder,
    Embedding,
    Metric,
    MetricResult,
    Optimiser,
    Options,
    Search,
    TrainingMonitor,
)
from embench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "BudgetExceeded",
    "ContractError",
    "DatasetLoader",
    "Dimension",
    "Embedder",
    "Embedding",
    "Metric",
    "MetricResult",
    "Optimiser",
    "Options",
    "Search",
    "TrainingMonitor",
    "hookimpl",
    "__version__",
]
