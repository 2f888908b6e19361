"""The hostile corpus ships as package data and means what it says."""

from __future__ import annotations

from importlib import resources

import yaml

from orchestra_core.testing.hostile import CANARY, corpus, hostile_matches, hostile_values


def test_every_entry_has_a_value_and_a_reason_and_a_unique_name() -> None:
    text = resources.files("orchestra_core.testing").joinpath("hostile.yaml").read_text()
    names = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert len(names) == len(set(names)) == len(yaml.safe_load(text))
    entries = hostile_values("/tmp/c") + hostile_matches()  # the matches come last
    assert [e.name for e in entries] == names
    assert all(e.why for e in entries)


def test_the_canary_is_filled_in_wherever_an_injection_would_create_it() -> None:
    values = corpus("/tmp/the-canary")
    injections = [v for v in values.values() if "touch" in v]
    assert len(injections) >= 10
    assert all("touch /tmp/the-canary" in v for v in injections)
    assert not any(CANARY in v for v in values.values())


def test_the_corpus_holds_what_breaks_quoting_and_formats() -> None:
    values = corpus("/tmp/c")
    assert values["nul"] == "x\x00y"
    assert values["newline"] == "x\ntouch /tmp/c"
    assert values["carriage_return"] == "x\rtouch /tmp/c"
    assert values["long"] == "a" * 10_000
    assert values["rtl"] == "\u202eevil"
    assert values["backslash"] == "a\\nb\\"
    assert values["empty"] == ""
    assert "'" in values["single_quote"] and '"' in values["double_quote"]
