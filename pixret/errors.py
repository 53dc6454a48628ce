"""The errors and warnings every pixret module raises: one hierarchy, at the bottom of the layers.

``PixretError`` is a user-facing error: one line naming the file and what is wrong; the CLI
prints it and exits 2, the server answers it as a 4xx. Warnings all derive from
``PixretWarning``: input that is used, but probably not what the user meant, or something left
out that the user should know about (an image skipped, a prediction the release format cannot
hold). Filter them all with ``warnings.simplefilter("error", PixretWarning)``.

A message quotes what the user gave through ``quoted`` (at most MAX_QUOTED characters, its
length said beyond) and prints numbers through ``number`` (``%g``: 1e+308, not 309 digits), so
that it stays one readable line whatever was given.
"""

from __future__ import annotations

import math
import numbers
import os
import shlex
import sys
from pathlib import Path


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


MAX_QUOTED = 60  # characters of a user's text that a message quotes


def number(value: object) -> str:
    """A number as a message prints it: ``%g`` (six significant digits, an exponent beyond:
    ``1e+308``, ``0.333333``, ``1920``), an integer in full up to 15 digits, never thousands of
    digits (an integer too large for a float is said by its digit count)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        v = int(value)
        if abs(v) < 10**15:
            return str(v)
        if v.bit_length() > 1000:  # beyond a float (and str() stops at 4300 digits)
            return f"an integer of about {int(v.bit_length() * math.log10(2)) + 1:,} digits"
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError, OverflowError):
        return quoted(value)


def quoted(value: object, most: int = MAX_QUOTED) -> str:
    """What a user gave, as a message quotes it: text as Python writes a string (its quotes,
    spaces and control characters visible), its first ``most`` characters and then its length;
    a number as ``number`` writes it; anything else by its repr, cut the same way."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return number(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= most else f"{value[:most]!r}... ({len(value):,} characters)"
    try:
        text = repr(value)
    except ValueError:  # an integer beyond Python's 4300 digits, inside a list
        text = f"<a {type(value).__name__}>"
    return text if len(text) <= most else f"{text[:most]}... ({len(text):,} characters)"


def install_hint(extra: str) -> str:
    """The command that installs pixret's optional ``extra`` (learned, server, heic) into the
    environment running now, written as the README writes it: ``.venv/bin/pip install -e
    '.[learned]'`` in the checkout pixret runs from (its folder named first, so the line works
    from anywhere); ``pip install 'pixret[learned]'`` with this environment's pip where pixret is
    not a checkout (an installed wheel)."""
    root = Path(__file__).resolve().parents[1]
    pip = Path(sys.executable).with_name("pip")  # the environment's own (not resolved: a venv's python is a link)
    if not (root / "pyproject.toml").is_file():
        return f"{shlex.quote(str(pip))} install 'pixret[{extra}]'"
    try:
        pip_text = str(pip.relative_to(root))
    except ValueError:
        pip_text = shlex.quote(str(pip))
    return f"cd {shlex.quote(str(root))} && {pip_text} install -e '.[{extra}]'"
