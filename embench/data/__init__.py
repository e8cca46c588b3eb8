"""Datasets: the in-memory Dataset, readers of each format, split and subsample."""

from embench.data.dataset import Dataset, Sequences

__all__ = ["Dataset", "Sequences"]
