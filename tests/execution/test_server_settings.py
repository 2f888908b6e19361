"""``servers[].settings.ssh`` and ``settings.timeouts``: every malformed value is refused when
the inventory is validated, at its file, line and field, and the well-formed ones are read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_core.inventory import InventoryValidationError, parse_inventory
from orchestra_core.registry import Registry

INVENTORY = """\
servers:
  - name: ns1
    address: 192.0.2.53
    transport: ssh
    settings:
      ssh:
        {block}
"""

#: (the ssh block's one line, the field an error names, words it must hold)
BAD = [
    ('port: "abc"', "settings.ssh.port", "must be an integer"),
    ("port: 70000", "settings.ssh.port", "from 1 to 65535"),
    ("port: 0", "settings.ssh.port", "from 1 to 65535"),
    ("port: 22.5", "settings.ssh.port", "must be an integer"),
    ("port: true", "settings.ssh.port", "must be an integer"),
    ("host_key_policy: trust-me", "settings.ssh.host_key_policy", "'strict', 'accept-new'"),
    ('sudo: "true"', "settings.ssh.sudo", "true or false"),
    ("sudo: yes please", "settings.ssh.sudo", "true or false"),
    ("user: ''", "settings.ssh.user", "user name"),
    ('user: "root; rm"', "settings.ssh.user", "user name"),
    ("user: 5", "settings.ssh.user", "must be a string"),
    ("key_file: ''", "settings.ssh.key_file", "non-empty"),
    ("key_file: [a]", "settings.ssh.key_file", "a string"),
    ("known_hosts: 5", "settings.ssh.known_hosts", "a string"),
    ("jump: 'a b'", "settings.ssh.jump", "[user@]host[:port]"),
    ("jump: 'bastion:99999'", "settings.ssh.jump", "from 1 to 65535"),
    ("jump: 'bastion:x'", "settings.ssh.jump", "[user@]host[:port]"),
    ("connect_timeout: 0", "settings.ssh.connect_timeout", "above 0"),
    ("connect_timeout: -3", "settings.ssh.connect_timeout", "above 0"),
    ("connect_timeout: .inf", "settings.ssh.connect_timeout", "above 0"),
    ('connect_timeout: "10"', "settings.ssh.connect_timeout", "a number"),
    ("connect_retries: -1", "settings.ssh.connect_retries", ">= 0"),
    ("connect_retries: 1000", "settings.ssh.connect_retries", "<= 10"),
    ("connect_retries: 1.5", "settings.ssh.connect_retries", "an integer"),
    ("retry_backoff: -1", "settings.ssh.retry_backoff", ">= 0"),
    ("idle_timeout: 0", "settings.ssh.idle_timeout", "above 0"),
    ("colour: blue", "settings.ssh.colour", "unknown setting 'colour' of ssh"),
    ("prot: 22", "settings.ssh.prot", "did you mean 'port'?"),
]


def problems(text: str) -> list[tuple[int | None, str]]:
    registry = Registry.load()
    with pytest.raises(InventoryValidationError) as info:
        parse_inventory(text, filename="inv.yaml", service_types=registry.by_plural())
    return [(p.line, p.message) for p in info.value.problems]


@pytest.mark.parametrize(("block", "field", "words"), BAD, ids=[b for b, _, _ in BAD])
def test_a_malformed_ssh_setting_is_refused_at_its_line(block: str, field: str, words: str) -> None:
    [(line, message)] = problems(INVENTORY.format(block=block))
    assert line == 7
    assert message.startswith(f"server:ns1: {field}: "), message
    assert words in message


@pytest.mark.parametrize("block", ["5", '"yes"', "[port, 22]", "null"])
def test_an_ssh_block_that_is_not_a_mapping_is_refused(block: str) -> None:
    text = INVENTORY.replace("      ssh:\n        {block}\n", f"      ssh: {block}\n")
    [(line, message)] = problems(text)
    assert line == 6
    assert message.startswith("server:ns1: settings.ssh: settings must be a mapping"), message


def test_every_problem_of_a_block_is_reported_at_once() -> None:
    text = INVENTORY.replace(
        "        {block}\n", '        port: "abc"\n        host_key_policy: trust-me\n'
    )
    assert [line for line, _ in problems(text)] == [7, 8]


def test_timeouts_are_checked_like_ssh() -> None:
    text = INVENTORY.replace(
        "      ssh:\n        {block}\n", "      timeouts: {step: 0, batch: abc, kill: 3}\n"
    )
    found = problems(text)
    assert {message.split(": ")[1] for _, message in found} == {
        "settings.timeouts.step",
        "settings.timeouts.batch",
        "settings.timeouts.kill",
    }
    assert all(line == 6 for line, _ in found)


def test_good_settings_pass() -> None:
    block = (
        "{user: deploy, port: 2222, key_file: /etc/orchestra/id, known_hosts: /etc/kh, "
        "host_key_policy: accept-new, jump: 'admin@[2001:db8::1]:2200', connect_timeout: 2.5, "
        "connect_retries: 0, retry_backoff: 0, idle_timeout: 60, sudo: true}"
    )
    text = INVENTORY.replace("      ssh:\n        {block}\n", f"      ssh: {block}\n")
    text += "      timeouts: {step: 30, batch: 900}\n"
    registry = Registry.load()
    [server] = parse_inventory(text, service_types=registry.by_plural()).servers
    assert server.settings["timeouts"] == {"step": 30, "batch": 900}


def test_validate_refuses_it_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "hosting.yaml").write_text(INVENTORY.format(block="port: 70000"))
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("orchestra")),
            "--db",
            "memory",
            "validate",
            "hosting.yaml",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "hosting.yaml:7: server:ns1: settings.ssh.port:" in done.stderr
    assert "Traceback" not in done.stderr
