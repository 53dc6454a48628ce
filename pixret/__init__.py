"""pixret: content-based pixel retrieval (PROxford/PRParis benchmarks, evaluation, engine)."""

from ._version import __version__
from .datasets import Benchmark, Query, load_benchmark
from .datasets.generate import SyntheticConfig, make_benchmark
from .engine import CONFIGS, EngineConfig, Hit, Index, get_config
from .errors import PixretError, PixretWarning
from .evaluation import (
    Comparison,
    PixelEval,
    PixelPrediction,
    compare,
    evaluate_files,
    load_pixel_results,
    read_pixel_results,
    read_ranks,
    write_pixel_results,
    write_ranks,
)

__all__ = [
    "CONFIGS",
    "Benchmark",
    "Comparison",
    "EngineConfig",
    "Hit",
    "Index",
    "PixelEval",
    "PixelPrediction",
    "PixretError",
    "PixretWarning",
    "Query",
    "SyntheticConfig",
    "__version__",
    "compare",
    "evaluate_files",
    "get_config",
    "load_benchmark",
    "load_pixel_results",
    "make_benchmark",
    "read_pixel_results",
    "read_ranks",
    "write_pixel_results",
    "write_ranks",
]
