"""The pixel retrieval engine: index a collection, query with image + box, get ranked masks."""

from .build import IndexWarning
from .config import CONFIGS, EngineConfig, get_config
from .index import Hit, Index, SearchResult, list_images

__all__ = ["CONFIGS", "EngineConfig", "Hit", "Index", "IndexWarning", "SearchResult", "get_config", "list_images"]
