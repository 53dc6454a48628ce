"""Benchmarks: the release layout, labelme files, downloads, and builders of our own (generate/)."""

from .labelme import LabelmeShapes, read_labelme, write_labelme
from .model import Benchmark, Query
from .release import KNOWN, DatasetSpec, dataset_spec, load_benchmark, release_root

__all__ = [
    "KNOWN",
    "Benchmark",
    "DatasetSpec",
    "LabelmeShapes",
    "Query",
    "dataset_spec",
    "load_benchmark",
    "read_labelme",
    "release_root",
    "write_labelme",
]
