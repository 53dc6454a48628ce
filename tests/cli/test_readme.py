"""The README's commands, as a newcomer types them after the quick start (issue 32, item 13:
`pixret: command not found` from every section after it): the quick start leaves `pixret`
callable, and every `pixret` command shown names a command and options that exist."""

import re
import shlex
import tomllib
from pathlib import Path

import typer

from pixret.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def command_lines(block: str) -> list[list[str]]:
    """Each command of a bash block as words (continuations joined, comments and prompts dropped)."""
    lines, out = block.replace("\\\n", " ").splitlines(), []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s&&\s", line):
            words = shlex.split(part, comments=True)
            if words:
                out.append(words)
    return out


def inline_commands(text: str) -> list[list[str]]:
    """`pixret ...` spans in the prose."""
    return [shlex.split(span) for span in re.findall(r"`(pixret [^`]+)`", text)]


def check(words: list[str]) -> None:
    """The command path exists and each --option is one of that command's (or --help)."""
    cmd, args = typer.main.get_command(app), words[1:]
    while args and hasattr(cmd, "commands") and args[0] in cmd.commands:
        cmd, args = cmd.commands[args[0]], args[1:]
    assert not hasattr(cmd, "commands") or not args or args[0].startswith("-"), f"no command {args[0]!r}: {words}"
    known = {"--help"} | {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    for a in args:
        if a.startswith("--"):
            assert a.split("=")[0] in known, f"{' '.join(words)}: {a} is not an option of this command"


def test_the_quick_start_leaves_pixret_callable_in_every_later_section():
    start = README.index("## Quick start")
    quick = bash_blocks(README[start:])[0]
    first = command_lines(quick)
    # the venv is activated before pixret is called, so a bare `pixret` works in this shell
    words = [w for cmd in first for w in cmd]
    assert "source" in words and ".venv/bin/activate" in words, quick
    assert words.index(".venv/bin/activate") < words.index("pixret"), quick
    # and the README says how to get it back in a new shell, before the first section that uses it
    intro = README[start : README.index("## ", start + 3)]
    assert "source .venv/bin/activate" in intro and "new shell" in intro, intro


def test_every_command_the_readme_shows_exists():
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    seen = 0
    for block in bash_blocks(README):
        for words in command_lines(block):
            if words[0] in ("pixret", ".venv/bin/pixret"):
                check(words)
                seen += 1
            elif words[0] == "python" and words[1].endswith(".py"):
                assert (ROOT / words[1]).is_file(), words
            elif words[0].endswith("pip") and "-e" in words:
                spec = words[words.index("-e") + 1]
                wanted = set(re.findall(r"\[(.*)\]", spec)[0].split(",")) if "[" in spec else set()
                assert wanted <= extras, (words, extras)
    for words in inline_commands(README):
        check(words)
        seen += 1
    assert seen > 30
