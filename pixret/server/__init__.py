"""The web page and JSON API (FastAPI): search by drawing a box, browse a benchmark."""

from .app import MAX_PIXELS, MAX_UPLOAD_BYTES, create_app

__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "create_app"]
