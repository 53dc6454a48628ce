"""Pictures of results: overlays of masks on images, charts, and HTML reports."""

from .overlay import draw_box, draw_polygons, tint

__all__ = ["draw_box", "draw_polygons", "tint"]
