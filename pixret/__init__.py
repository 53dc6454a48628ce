"""pixret: content-based pixel retrieval (PROxford/PRParis benchmarks, evaluation, engine)."""

from .datasets import Benchmark, Query, load_benchmark
from .evaluation import PixelEval, PixelPrediction, evaluate_files, read_pixel_results, read_ranks
from .io import PixretError

__version__ = "0.1.0"

__all__ = [
    "Benchmark",
    "PixelEval",
    "PixelPrediction",
    "PixretError",
    "Query",
    "__version__",
    "evaluate_files",
    "load_benchmark",
    "read_pixel_results",
    "read_ranks",
]
