"""The pixel retrieval engine: index a collection, query with image + box, get ranked masks.

The names below load on first use (lazy_loader, SPEC 1), so that reading the engine's configs
(``pixret.engine.config``) does not import NumPy, OpenCV and faiss: `pixret --help` lists them."""

import lazy_loader

from ..errors import IndexWarning

_attr, _, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={"config": ["CONFIGS", "EngineConfig", "get_config"], "index": ["Hit", "Index", "SearchResult"]},
)
__all__ += ["IndexWarning", "list_images"]


def __getattr__(name: str):
    if name == "list_images":  # the image module's, re-exported (lazy_loader attaches only submodules)
        from ..imageio import list_images

        return list_images
    return _attr(name)


def __dir__() -> list[str]:
    return list(__all__)
