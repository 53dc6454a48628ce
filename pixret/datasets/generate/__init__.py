"""Benchmarks of our own in the release layout: generated from scikit-image's photographs
(``synthetic``), from hand-labelled real photographs (``real``) and from hand-labelled photos of
real 3D landmarks (``landmarks``), on one skeleton (``builder``)."""

from .landmarks import LandmarkConfig, make_landmark_benchmark
from .real import RealConfig, make_real_benchmark
from .synthetic import SyntheticConfig, make_benchmark

__all__ = ["LandmarkConfig", "RealConfig", "SyntheticConfig", "make_benchmark", "make_landmark_benchmark",
           "make_real_benchmark"]
