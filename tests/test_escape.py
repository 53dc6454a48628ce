"""Escaping for each format (pixret/escape.py): exact outputs on hostile names."""

import csv
import io
import os
import shlex
import shutil
import sys
import unicodedata

from pixret import escape
from tests.helpers import run_cli

HOSTILE = ['=HYPERLINK("http://x")', "<img src=x onerror=alert(1)>", "a|b\nc", r"\textbf{x}_1 & 50%",
           "[opt] name", "\x1b[31mred\x1b[0m", "abc\u202edcba"]  # fmt: skip


def test_html():
    assert escape.html("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape.html("\"'&") == "&quot;&#x27;&amp;"


def test_markdown_cell():
    assert escape.markdown_cell("a|b\nc") == r"a\|b c"
    assert escape.markdown_cell("<svg onload=x>") == "&lt;svg onload=x&gt;"
    assert escape.markdown_cell("*bold* _it_ `code` [link](u) #h &amp;") == (
        r"\*bold\* \_it\_ \`code\` \[link\](u) \#h &amp;amp;"
    )
    assert escape.markdown_cell("$x$ costs $5") == r"\$x\$ costs \$5"  # never GitHub math


def test_latex_in_one_pass():
    assert escape.latex(r"\textbf{x}_1 & 50%") == r"\textbackslash{}textbf\{x\}\_1 \& 50\%"
    assert escape.latex("[opt] ~^$#<>") == r"{[}opt{]} \textasciitilde{}\textasciicircum{}\$\#\textless{}\textgreater{}"
    assert escape.latex("NN & ratio|hloc") == r"NN \& ratio\textbar{}hloc"
    assert escape.latex("a--b---c !` ?` x-y") == r"a-{}-b-{}-{}-c !{}` ?{}` x-y"  # each character as itself


def test_csv_cells_never_run_as_formulas():
    rows = [[escape.csv_cell(v)] for v in ('=1+1', "+1", "-1", "@SUM(A1)", "\tx", "plain")]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    read = [r[0] for r in csv.reader(io.StringIO(buf.getvalue()))]
    assert read == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "plain"]


def test_terminal_shows_control_and_bidi_characters():
    assert escape.terminal("\x1b[31mred\x1b[0m") == "<U+001B>[31mred<U+001B>[0m"
    assert escape.terminal("abc\u202edcba") == "abc<U+202E>dcba"
    assert escape.terminal("two\nlines") == "two\nlines"
    assert escape.terminal("a name\nnote: fake\tline", one_line=True) == "a name<U+000A>note: fake<U+0009>line"


def test_no_format_lets_a_hostile_name_through_unchanged():
    for s in HOSTILE:
        for f in (escape.html, escape.markdown_cell, escape.latex, escape.terminal):
            out = f(s)
            assert "\x1b" not in out and "\u202e" not in out
        assert "<" not in escape.html(s) and "<" not in escape.markdown_cell(s)


def test_latex_writes_what_its_fonts_lack_as_code_points_and_braces_a_leading_star():
    assert escape.latex("日本 *x* café") == (
        r"\textless{}U+65E5\textgreater{}\textless{}U+672C\textgreater{} {*}x{*} café"
    )


def test_chart_labels_never_become_math_and_stay_short():
    assert escape.chart(r"$\undefinedcmd{x}$") == r"\$\undefinedcmd{x}\$"
    long = escape.chart("m" * 1000)
    assert len(long) == escape.MAX_CHART and long.endswith("\u2026")


def test_command_lines_paste_into_a_shell_as_one_argument_each():
    line = escape.command("pixret", "compare", "--run", "NN & ratio|hloc=runs/a <b>")
    assert line == "pixret compare --run 'NN & ratio|hloc=runs/a <b>'"
    assert shlex.split(line)[-1] == "NN & ratio|hloc=runs/a <b>"


def test_a_line_break_never_reaches_latex_or_a_chart_as_one():
    # a blank line is a paragraph break: pdflatex stops inside \caption{} or a table cell
    assert escape.latex("two\n\nparagraphs") == "two paragraphs"
    assert escape.latex("a \n \t\n b\tc") == "a b\tc"
    assert escape.chart("two\n\nlines") == "two lines"


def test_latex_writes_the_latin_1_letters_ot1_lacks_as_code_points():
    # «, », Ð, Þ, ð, þ: "Command \guillemetleft unavailable in encoding OT1" (the rest of Latin-1 compiles)
    assert escape.latex("«Þorn» ð") == (r"\textless{}U+00AB\textgreater{}\textless{}U+00DE\textgreater{}orn"
                                        r"\textless{}U+00BB\textgreater{} \textless{}U+00F0\textgreater{}")  # fmt: skip
    assert escape.latex("café ß ü") == "café ß ü"


def test_markdown_escapes_what_could_become_markup_and_nothing_else():
    assert escape.markdown_cell("p < 0.05, a & b, x <= 3") == "p < 0.05, a & b, x <= 3"  # read as typed
    assert escape.markdown_cell("a<b </i> <!-- <?x &lt; &#60;") == "a&lt;b &lt;/i&gt; &lt;!-- &lt;?x &amp;lt; &amp;\\#60;"
    # a line starting as a list, a thematic break or a setext heading does not become one
    assert [escape.markdown_cell(s) for s in ("- a", "1. a", "2) a", "---", "= a", "-a", "3.5 pts")] == [
        "\\- a", "1\\. a", "2\\) a", "\\---", "\\= a", "-a", "3.5 pts"]


def test_terminal_shows_invisible_format_characters_and_bytes_that_are_not_utf8():
    # Unicode category Cf (zero-width space, byte order mark, soft hyphen, joiners, bidi marks)
    assert escape.terminal("a\u200bb\ufeffc\u00add\u2060e\u200d") == "a<U+200B>b<U+FEFF>c<U+00AD>d<U+2060>e<U+200D>"
    assert escape.terminal("\U000e0041 \u061c \u2066") == "<U+E0041> <U+061C> <U+2066>"  # tag, bidi marks
    assert escape.terminal(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"  # a file name's byte, as Python writes it
    assert escape.terminal("\ud800") == "<U+D800>"
    assert escape.terminal("日本 café ü \u00a0 👍") == "日本 café ü \u00a0 👍"  # what shows, as it is
    every_cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert all(escape.terminal(c, one_line=True).startswith("<U+") for c in every_cf)
    for f in (escape.html, escape.markdown_cell, escape.latex, escape.csv_cell, escape.chart):
        f(os.fsdecode(b"caf\xe9\xff")).encode("utf-8")  # every format can be written as UTF-8


def test_two_names_that_differ_by_an_invisible_character_print_differently_in_aligned_tables(bench, tmp_path):
    """Issue 32 (J2): U+200B and U+FEFF reached the terminal raw, misaligning borders, and
    ``p1`` looked like ``p\\u200b1``."""
    photos = tmp_path / "photos"
    photos.mkdir()
    q = bench.queries[0]
    shutil.copy(bench.query_image(0), photos / "p1.jpg")
    for i, name in zip(q.positives[:2], ("p\u200b1.jpg", "\ufeffp1.jpg"), strict=True):
        shutil.copy(bench.database_image(int(i)), photos / name)
    r = run_cli(["index", photos, "--index", tmp_path / "idx", "--workers", "1"])
    assert r.returncode == 0, r.stderr
    box = ",".join(f"{v:.0f}" for v in q.box)
    r = run_cli(["search", photos / "p1.jpg", "--index", tmp_path / "idx", "--box", box])
    assert r.returncode == 0, r.stderr
    assert "p<U+200B>1" in r.stdout and "<U+FEFF>p1" in r.stdout and "\u200b" not in r.stdout
    rows = [line for line in r.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert len(rows) >= 6 and len({len(line) for line in rows}) == 1  # every border in the same column


def test_one_line_warnings_escapes_and_says_each_message_once(capsys):
    import warnings

    with warnings.catch_warnings():  # restores showwarning and the filters afterwards
        warnings.simplefilter("always")
        escape.one_line_warnings()
        for _ in range(2):
            warnings.warn("skipped bad\nname\x1b[31m.jpg", UserWarning, stacklevel=1)
        seen = {"already a note"}
        printed = []
        escape.one_line_warnings(printed.append, seen)
        warnings.warn("already a note", UserWarning, stacklevel=1)
        warnings.warn("new", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == "warning: skipped bad<U+000A>name<U+001B>[31m.jpg\n"
    assert printed == ["new"] and seen == {"already a note", "new"}
