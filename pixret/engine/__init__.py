"""The pixel retrieval engine: index a collection, query with image + box, get ranked masks."""

from ..errors import IndexWarning
from ..imageio import list_images
from .config import CONFIGS, EngineConfig, get_config
from .index import Hit, Index, SearchResult

__all__ = ["CONFIGS", "EngineConfig", "Hit", "Index", "IndexWarning", "SearchResult", "get_config", "list_images"]
