"""Every value reaches a shell script quoted: run the rendered scripts through real bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra_core.errors import TemplateError
from orchestra_core.execution.script import SAFE_PATHS
from orchestra_core.rendering import Templates, quote, quote_words
from orchestra_core.testing.hostile import corpus

VALUES = corpus("/tmp/orchestra-canary-shell")


def run(script: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["bash", "-s"], input=script.encode(), cwd=cwd, capture_output=True)


@pytest.mark.parametrize("name", sorted(n for n in VALUES if n != "nul"))
def test_quoted_value_is_one_word_holding_exactly_the_value(name: str, tmp_path: Path) -> None:
    value = VALUES[name]
    canary = Path("/tmp/orchestra-canary-shell")
    canary.unlink(missing_ok=True)
    script = (
        f"printf '%s' {quote(value)} > out\nprintf '%s\\n' {quote_words([value, 'x'])} > words\n"
    )
    done = run(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_bytes() == value.encode()
    assert (tmp_path / "words").read_bytes() == (value + "\nx\n").encode()
    assert not canary.exists()


def test_nul_and_none_are_refused() -> None:
    with pytest.raises(TemplateError, match="NUL"):
        quote("a\x00b")
    with pytest.raises(TemplateError, match="None"):
        quote(None)


def test_shell_templates_quote_every_value_and_fail_on_undefined(tmp_path: Path) -> None:
    templates = Templates.for_package("orchestra_core.dummy")
    value = VALUES["command_substitution"]
    script = templates.shell("reload.sh.j2", log=str(tmp_path / value / "log"))
    assert "'" + str(tmp_path) in script
    done = run(SAFE_PATHS + script, tmp_path)  # what every batch defines first
    assert done.returncode == 0, done.stderr
    assert (tmp_path / value / "log").read_text().startswith("reloaded ")
    assert not Path("/tmp/orchestra-canary-shell").exists()
    with pytest.raises(TemplateError, match="'log' is undefined"):
        templates.shell("reload.sh.j2")
    with pytest.raises(TemplateError, match="not found"):
        templates.shell("missing.sh.j2")
