"""Benchmarks of our own, in the release layout: generated from scikit-image's photographs
(``synthetic``) or from hand-labelled real photographs (``real``), on one skeleton (``builder``)."""

from .real import RealConfig, make_real_benchmark
from .synthetic import SyntheticConfig, make_benchmark

__all__ = ["RealConfig", "SyntheticConfig", "make_benchmark", "make_real_benchmark"]
