"""pixret: content-based pixel retrieval (PROxford/PRParis benchmarks, evaluation, engine)."""

__version__ = "0.1.0"

from .datasets import Benchmark, Query, load_benchmark  # noqa: E402
from .datasets.synthetic import SyntheticConfig, make_benchmark  # noqa: E402
from .engine import CONFIGS, EngineConfig, Hit, Index, get_config  # noqa: E402
from .evaluation import (  # noqa: E402
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
from .io import PixretError  # noqa: E402

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
    "Query",
    "SyntheticConfig",
    "__version__",
    "compare",
    "evaluate_files",
    "load_pixel_results",
    "get_config",
    "load_benchmark",
    "make_benchmark",
    "read_pixel_results",
    "read_ranks",
    "write_pixel_results",
    "write_ranks",
]
