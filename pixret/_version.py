"""pixret's version: the one place it is written (pyproject reads it; caches and indexes record it)."""

__version__ = "0.2.0"
