"""Escaping for each format (pixret/escape.py): exact outputs on hostile names."""

import csv
import io
import shlex

from pixret import escape

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
