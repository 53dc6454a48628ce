"""Benchmarks: the release layout, labelme files, downloads, and builders of our own (generate/).

The names below load on first use (lazy_loader, SPEC 1), so that the download sources
(``pixret.datasets.sources``) can be read without NumPy and OpenCV: `pixret download --list`."""

import lazy_loader

NAMES = {  # submodule -> the names it gives the package
    "labelme": ["LabelmeShapes", "read_labelme", "write_labelme"],
    "model": ["Benchmark", "Query"],
    "release": ["KNOWN", "DatasetSpec", "dataset_spec", "load_benchmark", "release_root"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=NAMES)
