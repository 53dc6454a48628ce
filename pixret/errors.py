"""The errors and warnings every pixret module raises: one hierarchy, at the bottom of the layers.

``PixretError`` is a user-facing error: one line naming the file and what is wrong; the CLI
prints it and exits 2, the server answers it as a 4xx. Warnings all derive from
``PixretWarning``: input that is used, but probably not what the user meant, or something left
out that the user should know about (an image skipped, a prediction the release format cannot
hold). Filter them all with ``warnings.simplefilter("error", PixretWarning)``.
"""

from __future__ import annotations

import os


class PixretError(Exception):
    """A user-facing error: one line naming the file and what is wrong.

    ``path``: the file or address concerned (None when there is none); ``problem``: the sentence.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self):  # survives the trip back from a worker process
        return (type(self), (self.path, self.problem))


class PixretWarning(UserWarning):
    """Input that is used, but probably not what the user meant; or something left out."""


class BenchmarkWarning(PixretWarning):
    """A benchmark that loads but lacks something its scores depend on."""


class ResultsWarning(PixretWarning):
    """A method's results that are scored, but probably not as the user meant them."""


class IndexWarning(PixretWarning):
    """An image was skipped while indexing, or an index file is not what it should be."""


class DownloadWarning(PixretWarning):
    """A downloaded file differs from the one recorded the first time."""
