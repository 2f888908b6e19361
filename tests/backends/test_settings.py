"""build_settings: layers over defaults, strict values, every problem in an operator's words."""

from __future__ import annotations

import attrs
import pytest

from orchestra_core.backends.base import NoSettings
from orchestra_core.backends.settings import SettingProblem, SettingsError, build_settings
from orchestra_core.dummy.backend import DummySettings
from orchestra_core.errors import ConfigurationError


def _bounded(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value > 9:
        raise ValueError(f"{attribute.name} must be at most 9, not {value}")


def _even(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value % 2:
        raise ValueError(f"{value} is odd")


@attrs.frozen(kw_only=True)
class Picky:
    mode: str = attrs.field(default="a", validator=attrs.validators.in_(("a", "b")))
    port: int = 22
    sudo: bool = False
    ratio: float = 1.0
    name: str | None = None
    argv: tuple[str, ...] = ()
    level: int = attrs.field(default=1, validator=_bounded)
    limit: int = attrs.field(default=1, validator=attrs.validators.le(9))
    pairs: int = attrs.field(default=2, validator=_even)


def problems(*layers: object, cls: type = Picky) -> list[SettingProblem]:
    with pytest.raises(SettingsError) as info:
        build_settings(cls, *layers, where="backend x on server s", subject="backend x")  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigurationError)
    assert str(info.value).startswith("settings of backend x on server s: ")
    assert "@ $" not in str(info.value)
    return list(info.value.problems)


def test_later_layers_win_over_defaults() -> None:
    built = build_settings(Picky, {"port": 2222, "mode": "b"}, {"port": 22022}, where="w")
    assert built == Picky(port=22022, mode="b")
    assert build_settings(Picky, where="w") == Picky()
    assert build_settings(Picky, {"ratio": 2, "argv": ["a", "b"]}, where="w").ratio == 2.0


def test_an_unknown_setting_suggests_close_names() -> None:
    [problem] = problems({"file_mod": "0600"}, cls=DummySettings)
    assert problem == SettingProblem(
        "file_mod",
        "unknown setting 'file_mod' of backend x (did you mean 'file_mode'?)",
        "unknown",
    )
    [far] = problems({"colour": 1})
    assert far.message == (
        "unknown setting 'colour' of backend x "
        "(settings: mode, port, sudo, ratio, name, argv, level, limit, pairs)"
    )
    [none] = problems({"a": 1}, cls=NoSettings)
    assert none.message == "unknown setting 'a' of backend x (it takes no settings)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"port": "abc"}, "setting 'port' must be an integer, got 'abc'"),
        ({"port": "22"}, "setting 'port' must be an integer, got '22'"),
        ({"port": True}, "setting 'port' must be an integer, got True"),
        ({"port": 22.5}, "setting 'port' must be an integer, got 22.5"),
        ({"sudo": "no"}, "setting 'sudo' must be true or false, got 'no'"),
        ({"ratio": "x"}, "setting 'ratio' must be a number, got 'x'"),
        ({"name": 5}, "setting 'name' must be a string or null, got 5"),
        ({"argv": "named-checkzone"}, "setting 'argv' must be a list of strings, got 'named-"),
        ({"argv": ["a", 1]}, "setting 'argv' must be a list of strings, got ['a', 1]"),
        ({"mode": "c"}, "setting 'mode' must be one of 'a', 'b', got 'c'"),
        ({"level": 10}, "level must be at most 9, not 10"),  # the validator's own words
        ({"pairs": 3}, "setting 'pairs': 3 is odd"),
        ({"limit": 10}, "setting 'limit' must be <= 9: 10"),
        (
            {"port": "x" * 500},
            "setting 'port' must be an integer, got '" + "x" * 80 + "'... (500 characters)",
        ),
    ],
)
def test_a_wrong_value_names_the_setting(data: dict[str, object], message: str) -> None:
    [problem] = problems(data)
    assert problem.setting == next(iter(data))
    assert problem.message.startswith(message)


def test_yaml_octal_is_not_a_string() -> None:
    # YAML reads file_mode: 0644 as 420, which the lax conversion made "420", a valid mode.
    # (The inventory refuses an unquoted 0644 where it is written; a number is never a mode.)
    [problem] = problems({"file_mode": 420}, cls=DummySettings)
    assert problem.message == (
        "setting 'file_mode' must be a string, got 420 "
        '(a mode is octal text in quotes: write "0420")'
    )

    @attrs.frozen
    class Client:
        client: str = "mysql"

    [number] = problems({"client": 3306}, cls=Client)
    assert number.message == "setting 'client' must be a string, got 3306 (quote it: \"3306\")"
    [regex] = problems({"file_mode": "999"}, cls=DummySettings)
    assert regex.message == "setting 'file_mode' must match '(0o)?[0-7]{3,4}', got '999'"


def test_every_problem_is_listed() -> None:
    found = problems({"port": "x", "sudo": 1, "zz": 0})
    assert [(p.setting, p.kind) for p in found] == [
        ("port", "type"),
        ("sudo", "type"),
        ("zz", "unknown"),
    ]


def test_a_required_setting_and_a_layer_that_is_not_a_mapping() -> None:
    @attrs.frozen
    class Needs:
        host: str

    [missing] = problems({}, cls=Needs)
    assert missing == SettingProblem("host", "setting 'host' is required (a string)", "missing")
    [layer] = problems({}, 5)
    assert layer == SettingProblem(None, "settings must be a mapping, got an integer", "type")
