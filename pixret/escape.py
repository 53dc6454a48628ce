"""Escaping text for each format it reaches: one function per format, used everywhere.

Names come from users (method names, file names, study settings, benchmark names) and reach HTML
pages, Markdown and LaTeX tables, CSV files opened in spreadsheets and the terminal. Each function
returns text that the format shows as the same characters and never runs or interprets:

- ``html``: ``& < > " '`` as entities (Python's ``html.escape``), control characters as in ``terminal``;
- ``markdown_cell``: a Markdown table cell, or a line of text: ``<`` that could open a tag and
  ``&`` that could open an entity as entities (``p < 0.05`` stays as typed), ``>`` as an
  entity, ``|`` and Markdown's emphasis, code, link, heading and math (``$``, GitHub's)
  characters backslash-escaped, as is a leading ``-`` ``+`` ``=`` or ``1.`` (a list or a
  heading when it starts a line), line breaks as spaces;
- ``latex``: LaTeX's ten special characters, and ``< > |`` (which the default OT1 fonts print as
  other glyphs), as commands, in one pass (``\\`` first, not re-escaped); ``[`` ``]`` braced so
  a cell after ``\\`` is never read as its optional argument; the ligatures ``--``, ``!```,
  ``?``` broken with ``{}`` so each character prints as itself; line breaks as spaces (a blank
  line is a paragraph break, which ends a ``\\caption{}`` or a cell: pdflatex stops);
- ``chart``: a label matplotlib draws: ``$`` escaped (a pair of them is read as mathtext, and
  bad mathtext raises), characters its font lacks (emoji, CJK, a tab) as ``<U+XXXX>``, and cut
  to ``MAX_CHART`` characters with an ellipsis;
- ``csv_cell``: a cell that a spreadsheet would run as a formula (``= + - @``, tab, carriage
  return first: OWASP's CSV injection) gets a leading apostrophe; quoting is the csv module's;
- ``command``: a command line to paste into a POSIX shell (``shlex.quote`` per argument), so
  a name with ``& | < >``, spaces or quotes stays one argument;
- ``terminal``: C0 and C1 control characters (ESC starts ANSI sequences; CR rewrites the line),
  DEL, every invisible format character (Unicode category Cf: the bidi controls, U+202E turning
  "gpj.exe" into what looks like another name: "Trojan Source", CVE-2021-42574; zero-width
  spaces and joiners and U+FEFF, which make two names look identical and misalign a table's
  borders) and the line and paragraph separators, shown as ``<U+XXXX>``; a byte of a file name
  that is not UTF-8 (Python holds it as a lone surrogate, PEP 383: ``os.fsdecode``) as ``\\xNN``,
  the way Python writes bytes, since it can be neither printed nor encoded as UTF-8; tabs and
  newlines kept in text, shown too in a name or a one-line message (``one_line``).
"""

from __future__ import annotations

import functools
import html as _html
import re
import shlex
import sys
import unicodedata
import warnings
from collections.abc import Callable

_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, format characters, surrogates, line/paragraph separators


class _Visible(dict):
    """A ``str.translate`` table that fills itself: each code point's visible form (itself, or
    <U+XXXX>, or \\xNN for a surrogate-escaped byte) is decided once, by its Unicode category
    (this Python's ``unicodedata``, so a newer Unicode's format characters are covered as it
    names them), then looked up in C: a page of CJK text costs no Python call per character."""

    def __init__(self, keep: str):
        super().__init__()
        self.keep = {ord(c) for c in keep}

    def __missing__(self, code: int) -> str:
        c = chr(code)
        if code in self.keep:
            out = c
        elif 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape)
            out = f"\\x{code - 0xDC00:02x}"
        elif unicodedata.category(c) in _HIDDEN:
            out = f"<U+{code:04X}>"
        else:
            out = c
        self[code] = out
        return out


_TEXT = _Visible("\t\n")  # text keeps its tabs and line breaks
_ONE_LINE = _Visible("")
_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "[": "{[}", "]": "{]}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",  # the default fonts print < > | as ¡ ¿ —
    "*": "{*}",  # a row starting with * after \\ is \\*
}  # fmt: skip
_LIGATURES = {"-": "-", "!": "`", "?": "`"}  # TeX's font ligatures --, !` and ?` print as –, ¡ and ¿
_OT1_LACKS = set("\u00ab\u00bb\u00d0\u00de\u00f0\u00fe")  # « » Ð Þ ð þ: "unavailable in encoding OT1"
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
MAX_CHART = 60
_MARKDOWN = re.compile(r"([\\|*_`\[\]#~$>])|<(?=[A-Za-z/!?])|&(?=[A-Za-z0-9#])")
_BLOCK_START = re.compile(r"^(\s*\d{0,9})([-+=]|(?<=\d)[.)])(?=[\s=-]|$)")  # CommonMark's list, break, setext
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def terminal(text: object, one_line: bool = False) -> str:
    """``text`` safe to print: control, format (bidi, zero-width) and separator characters shown
    as <U+XXXX>, the bytes of a file name that is not UTF-8 as \\xNN; tabs and newlines kept,
    unless ``one_line`` (a name, a message: a newline in it could fake a line of its own)."""
    return str(text).translate(_ONE_LINE if one_line else _TEXT)


def html(text: object) -> str:
    """``text`` for HTML element content or a quoted attribute (control and bidi characters
    shown as <U+XXXX>, as in the terminal)."""
    return _html.escape(terminal(text), quote=True)


def markdown_cell(text: object) -> str:
    """``text`` for one cell of a Markdown table (also safe where Markdown renders HTML)."""
    one_line = re.sub(r"[\r\n]+", " ", terminal(text))
    entities = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
    out = _MARKDOWN.sub(lambda m: entities.get(m.group(), "\\" + m.group()), one_line)
    return _BLOCK_START.sub(r"\1\\\2", out)  # a line starting "- ", "1. " or "=" starts no list or heading


def latex(text: object) -> str:
    """``text`` for LaTeX text mode (a table cell, a caption). Characters pdflatex's default
    fonts lack (beyond Latin-1: CJK, emoji) are written as <U+XXXX>, as in the terminal."""

    def one(c: str, after: str) -> str:
        if c in _LATEX:
            return _LATEX[c]
        if _LIGATURES.get(c) == after:
            return c + "{}"
        if ord(c) < 0x100 and c not in _OT1_LACKS:
            return c
        return f"\\textless{{}}U+{ord(c):04X}\\textgreater{{}}"

    s = _LINE_BREAK.sub(" ", terminal(text))
    return "".join(one(c, s[k + 1 : k + 2]) for k, c in enumerate(s))


def chart(text: object) -> str:
    """``text`` as a label matplotlib draws as it is (no mathtext), at most MAX_CHART characters:
    line breaks as spaces, other control characters (a tab) and every character the chart's
    font has no glyph for (emoji, CJK in DejaVu Sans) as <U+XXXX>, as in the terminal (matplotlib
    would draw a box and warn "Glyph ... missing from font(s)")."""
    glyphs = _chart_glyphs()
    s = terminal(_LINE_BREAK.sub(" ", str(text)), one_line=True)
    s = "".join(c if ord(c) in glyphs else f"<U+{ord(c):04X}>" for c in s)
    s = s if len(s) <= MAX_CHART else s[: MAX_CHART - 1] + "\u2026"
    return s.replace("$", r"\$")


@functools.lru_cache(maxsize=1)
def _chart_glyphs() -> frozenset[int]:
    """The code points the font matplotlib draws labels in has glyphs for (its character map:
    ``findfont`` of the default properties, DejaVu Sans unless the user's rcParams say otherwise).
    matplotlib is imported here, when a chart is drawn, not with this module."""
    from matplotlib import font_manager, ft2font

    return frozenset(ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())


def command(*args: object) -> str:
    """A shell command line of ``args``, each quoted for a POSIX shell (``shlex.quote``)."""
    return " ".join(shlex.quote(str(a)) for a in args)


def csv_cell(text: object) -> str:
    """``text`` for a CSV cell that a spreadsheet must show, not evaluate."""
    s = terminal(text)
    return "'" + s if s.startswith(_FORMULA) else s


def one_line_warnings(emit: Callable[[str], None] | None = None, seen: set[str] | None = None) -> None:
    """Show every warning as pixret's commands show it: one line, ``warning: <message>``, with
    no Python file:line or source line, terminal-escaped (``terminal``: a file name with a
    newline or an escape sequence in it cannot fake another line), and each message once.

    ``emit``: prints one message, given as raw text, and must escape it itself (the CLI's
    coloured printer does: ``pixret.cli.say``); by default a plain escaped line on stderr (the
    benchmark scripts). ``seen``: the messages already on screen, shared with the
    caller's own notes; a set of its own by default. Installs ``warnings.showwarning``."""
    said = set() if seen is None else seen

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text in said:
            return
        said.add(text)
        if emit is not None:
            emit(text)
        else:
            print(f"warning: {terminal(text, one_line=True)}", file=sys.stderr)

    warnings.showwarning = show
