"""pixret: content-based pixel retrieval (PROxford/PRParis benchmarks, evaluation, engine).

The names below load on first use (lazy_loader, SPEC 1), so that ``import pixret.cli`` and
``pixret --help`` do not import NumPy, OpenCV and faiss first; ``from pixret import Index``
works as before. ``EAGER_IMPORT=1`` loads everything at import (lazy_loader's switch).
"""

import lazy_loader

from ._version import __version__

__getattr__, _, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "datasets": ["Benchmark", "Query", "load_benchmark"],
        "datasets.generate": ["SyntheticConfig", "make_benchmark"],
        "engine": ["CONFIGS", "EngineConfig", "Hit", "Index", "get_config"],
        "errors": ["PixretError", "PixretWarning"],
        "evaluation": [
            "Comparison",
            "PixelEval",
            "PixelPrediction",
            "compare",
            "evaluate_files",
            "load_pixel_results",
            "read_pixel_results",
            "read_ranks",
            "write_pixel_results",
            "write_ranks",
        ],
    },
)
__all__ += ["__version__"]


def __dir__() -> list[str]:
    return list(__all__)
