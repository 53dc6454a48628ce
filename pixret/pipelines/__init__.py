"""Pipelines: the engine run over a benchmark, as hloc-style stage calls (``benchmark.main``)."""
