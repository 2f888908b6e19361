"""The batch compiler's output as text, and the record parser."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from orchestra_core.backends.steps import Command, Step, WriteFile
from orchestra_core.errors import TemplateError
from orchestra_core.execution.script import (
    compile_batch,
    describe_for_log,
    parse_output,
    payload_word,
)
from orchestra_core.execution.transport import Batch, RawStepResult
from orchestra_core.model.secret import REDACTED
from orchestra_core.model.servers import Server
from tests.execution.helpers import server_plan

SECRET = "correct horse battery staple"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def record(nonce: str, index: int, status: str, out: str = "", err: str = "") -> str:
    return (
        f"@@ORCHESTRA {nonce} {index} {status} 0 12 {b64(out) if out else '-'} "
        f"{b64(err) if err else '-'}"
    )


def test_parse_output_reads_records_and_ignores_other_lines() -> None:
    stdout = "\n".join(
        [
            "noise",
            record("n1", 0, "changed", "out ✓\n", "err\n"),
            record("other", 1, "failed"),
            "@@ORCHESTRA n1 garbage",
            "@@ORCHESTRA n1 1 bogus 0 1 - -",
            "@@ORCHESTRA n1 1 failed 0 1 !!! -",
            record("n1", 1, "unchanged"),
        ]
    )

    assert parse_output(stdout, "n1") == [
        RawStepResult(
            index=0, status="changed", exit_code=0, stdout="out ✓\n", stderr="err\n", duration=0.012
        ),
        RawStepResult(
            index=1, status="unchanged", exit_code=0, stdout="", stderr="", duration=0.012
        ),
    ]


def test_parse_output_replaces_invalid_utf8() -> None:
    encoded = base64.b64encode(b"a\xffb").decode()
    line = f"@@ORCHESTRA n 0 failed 2 5 {encoded} -"
    assert parse_output(line, "n")[0].stdout == "a\ufffdb"


def test_script_prelude_and_nonce(compile_steps: Callable[..., Batch]) -> None:
    batch = compile_steps(Command(description="c", script="true"))
    head = f"# orchestra batch {batch.nonce}\n"
    assert batch.script.startswith(head + "set -u\numask 077\n")
    assert batch.script.endswith(f"exit 0\n# orchestra batch {batch.nonce} end\n")
    assert '__o_tmp=$(mktemp -d ${__o_base:+-p "$__o_base"}) || exit 1' in batch.script
    assert "trap 'rm -rf -- \"$__o_tmp\"' EXIT" in batch.script
    assert len(batch.nonce) == 16
    assert int(batch.nonce, 16) >= 0
    assert batch.nonce != compile_steps(Command(description="c", script="true")).nonce
    assert batch.server == "sandbox"


HOSTILE = "it's \"q\" $(touch x) `y` \\ \n EOF\n' ; ü ✓ \t"


def test_payloads_travel_as_words_nothing_can_end(compile_steps: Callable[..., Batch]) -> None:
    batch = compile_steps(
        WriteFile(description="w", path="/srv/x", content=HOSTILE),
        Command(description="c", script="echo PLAIN-SCRIPT", stdin=HOSTILE),
    )
    word = payload_word(HOSTILE)
    assert batch.script.count(word) == 2
    inner = word[2:-1]
    assert word.startswith("$'") and word.endswith("'")
    assert "'" not in inner and "\n" not in inner and "$(" not in inner and "`" not in inner
    assert all(c.isalnum() or c in " ,._+:@%/=-\\" for c in inner)
    assert payload_word("ü") == "$'\\xc3\\xbc'"
    with pytest.raises(TemplateError, match="NUL"):
        payload_word("a\x00b")


def sensitive_steps() -> tuple[Step, ...]:
    return (
        WriteFile(description="creds", path="/srv/creds", content=SECRET, sensitive=True),
        Command(description="passwd", script="chpasswd", stdin=f"u:{SECRET}\n", sensitive=True),
        WriteFile(description="public", path="/srv/public", content="PUBLIC"),
    )


def test_redacted_script_hides_sensitive_payloads_only(
    compile_steps: Callable[..., Batch],
) -> None:
    batch = compile_steps(*sensitive_steps())

    assert payload_word(SECRET) in batch.script
    assert payload_word(f"u:{SECRET}\n") in batch.script
    for text in (batch.redacted, *(describe_for_log(s, i) for i, s in enumerate(batch.steps))):
        assert SECRET not in text
        assert payload_word(SECRET) not in text
        assert payload_word(f"u:{SECRET}\n") not in text
    assert batch.redacted.count(REDACTED) == 2
    assert payload_word("PUBLIC") in batch.redacted
    assert payload_word("chpasswd") in batch.redacted


def test_describe_for_log_shows_data_and_snippet() -> None:
    text = describe_for_log(
        Command(description="make   it", script="echo one\necho two", unless="test -e x"), 4
    )
    assert text.splitlines()[0] == "# step 4 - command: make it"
    assert "#| echo one\n#| echo two\n" in text
    assert "#| test -e x\n" in text
    assert text.endswith('set +u\n. "$T/4.cmd"\n')


def test_describe_for_log_redacts_sensitive() -> None:
    text = describe_for_log(sensitive_steps()[1], 0)
    assert f"# $T/0.stdin: {REDACTED} (sensitive)" in text
    assert SECRET not in text


def test_nul_in_a_path_is_refused() -> None:
    sp = server_plan(Server(name="s"), (WriteFile(description="w", path="/a\x00b", content=""),))
    with pytest.raises(TemplateError):
        compile_batch(sp)


def test_bad_nonce_is_refused() -> None:
    sp = server_plan(Server(name="s"), (Command(description="c", script="true"),))
    with pytest.raises(ValueError):
        compile_batch(sp, nonce="a b")


def test_step_timeout_wraps_the_snippet(compile_steps: Callable[..., Batch]) -> None:
    batch = compile_steps(Command(description="c", script="true", timeout=2.5))
    assert "__o_run 0 '2.500' 1 0 || exit 1" in batch.script
    assert "timeout --kill-after=2" in batch.script
