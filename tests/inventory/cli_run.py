"""``orchestra validate`` run in-process through the console entry point, as an operator runs
it: what it prints on stdout and stderr, its exit code, and any exception that escaped it (a
traceback the operator would see)."""

from __future__ import annotations

from pathlib import Path

import attrs
import click
from click.testing import CliRunner

from orchestra_core.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args: tuple[str, ...]) -> None:
    main(list(args))


@attrs.frozen
class Run:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    file: str = ""

    def error(self) -> str:
        """What stderr says after ``error: FILE:`` (the line and the message)."""
        assert self.exception is None, self.exception
        prefix = f"error: {self.file}:"
        assert self.stderr.startswith(prefix), self.stderr
        return self.stderr[len(prefix) :].rstrip("\n")


def orchestra(*args: str) -> Run:
    """Run ``orchestra --db memory ARGS``."""
    result = CliRunner().invoke(_entry, ["--db", "memory", *args], catch_exceptions=True)
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    return Run(result.exit_code, result.stdout, result.stderr, escaped)


def validate(text: str | bytes, tmp_path: Path, name: str = "inv.yaml") -> Run:
    """``orchestra validate`` of ``text`` written to ``tmp_path/name`` (as bytes when bytes)."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return attrs.evolve(orchestra("validate", str(path)), file=str(path))


def example(name: str, old: str = "", new: str = "") -> str:
    """The example inventory ``name`` with the first ``old`` replaced by ``new``."""
    text = (EXAMPLES / name).read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(name: str, text: str, after: int = 0) -> int:
    """The 1-based line of the first line of example ``name`` that is ``text`` (from line
    ``after`` on)."""
    lines = (EXAMPLES / name).read_text().splitlines()
    return lines.index(text, after) + 1
