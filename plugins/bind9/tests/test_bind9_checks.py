"""The checkers that stand between a rendered file and a live one, run for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from orchestra_bind9.backends import CHECK_ZONE
from orchestra_bind9.settings import Bind9Settings
from orchestra_bind9.testing import NamedInstance
from orchestra_bind9.zone import render_zone, zone_members

from orchestra_core import ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record

BROKEN = """\
$TTL 3600
example.com. IN SOA ns1.dns.test. hostmaster.dns.test. 0 3600 900 1209600 300
example.com. IN NS ns1.dns.test.
www.example.com. IN CNAME example.com.
www.example.com. IN A 192.0.2.1
"""


def test_checkzone_failures_show_the_record_set_of_each_line(tmp_path: Path) -> None:
    zone = tmp_path / "candidate"
    zone.write_text(BROKEN)
    done = subprocess.run(
        ["bash", "-c", CHECK_ZONE, "check-zone", "example.com", str(zone), "named-checkzone"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "CNAME and other data" in done.stdout
    assert "line 5: www.example.com. IN A 192.0.2.1" in done.stdout


def test_checkzone_success_is_quiet_about_lines(tmp_path: Path) -> None:
    zone = tmp_path / "candidate"
    zone.write_text(BROKEN.replace("www.example.com. IN A 192.0.2.1\n", ""))
    done = subprocess.run(
        ["bash", "-c", CHECK_ZONE, "check-zone", "example.com", str(zone), "named-checkzone"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
    assert "line " not in done.stdout


def test_the_zone_check_refuses_a_stanza_named_checkconf_refuses_first(tmp_path: Path) -> None:
    zone = tmp_path / "candidate"
    zone.write_text(BROKEN.replace("www.example.com. IN A 192.0.2.1\n", ""))
    stanza = 'zone "example.com" {{ type master; file "/z"; also-notify {{ {peer}; }}; }};\n'

    def check(peer: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *("bash", "-c", CHECK_ZONE, "check-zone", "example.com", str(zone)),
                *("--stanza", "named-checkconf", stanza.format(peer=peer), "named-checkzone"),
            ],
            capture_output=True,
            text=True,
        )

    refused = check("fe80::1%nosuchif0")
    assert refused.returncode == 1
    assert "the stanza of zone example.com is refused" in refused.stdout
    assert "unable to find primaries list 'fe80::1%nosuchif0'" in refused.stdout
    assert "loaded serial" not in refused.stdout  # the zone was not even checked
    accepted = check("192.0.2.53")
    assert accepted.returncode == 0, accepted.stdout
    assert "zone example.com/IN: loaded serial 0" in accepted.stdout


@pytest.mark.daemon
@pytest.mark.parametrize("how", ["key", "port"])
def test_the_zone_check_refuses_a_zone_named_cannot_be_reached_for(
    tmp_path: Path, named_master: NamedInstance, how: str
) -> None:
    zone = tmp_path / "candidate"
    zone.write_text(BROKEN.replace("www.example.com. IN A 192.0.2.1\n", ""))

    def check(rndc: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *("bash", "-c", CHECK_ZONE, "check-zone", "example.com", str(zone)),
                *("--rndc", str(len(rndc)), *rndc, "named-checkzone"),
            ],
            capture_output=True,
            text=True,
        )

    refused = check(named_master.rndc_out_of_reach(how))
    assert refused.returncode == 1
    assert "zone example.com is not published: named cannot be reached:\nrndc: " in refused.stdout
    accepted = check(["rndc", "-c", str(named_master.rndc_conf)])
    assert accepted.returncode == 0, accepted.stdout
    assert accepted.stdout == "zone example.com/IN: loaded serial 0\nOK\n"


@pytest.mark.daemon
def test_a_failed_reconfig_puts_the_stanzas_back(named_master: NamedInstance) -> None:
    """rndc reconfig fails: the new zone's stanza goes away again and named keeps serving
    what it served before."""
    rndc = ["rndc", "-c", str(named_master.rndc_conf)]
    failing = [
        "bash",
        "-c",
        'if [ "${@: -1}" = reconfig ] && [ -e "$0.fail" ]; then '
        'echo "reconfig refused" >&2; exit 1; fi; exec "$@"',
        str(named_master.dir / "rndc"),
    ]
    # bash -c SCRIPT $0 ARGS...: $0 names the marker file, "$@" is the real rndc call.
    settings = named_master.settings(nameservers=["ns1.dns.test"], rndc=[*failing, *rndc])
    orchestra = Orchestra(
        servers=[
            Server(
                name="ns1",
                settings={"state_dir": str(named_master.dir / "state"), "bind9-master": settings},
            )
        ],
        routes=[Route(backend="bind9-master", servers=("ns1",))],
    )
    first = Domain(
        account="a", name="example.com", records=(Record(type="A", values=("192.0.2.1",)),)
    )
    second = Domain(
        account="a", name="example.org", records=(Record(type="A", values=("192.0.2.2",)),)
    )
    try:
        assert orchestra.apply(orchestra.plan(ChangeSet().save(first))).ok
        (named_master.dir / "rndc.fail").write_text("")
        result = orchestra.apply(
            orchestra.plan(ChangeSet().save(second), index=ServiceIndex([], [first, second]))
        )
    finally:
        orchestra.close()
    reload_log = next(log for log in result.logs if log.action == "reload")
    assert reload_log.state.value == "failure"
    assert "reconfig refused" in reload_log.stderr
    # The reconfig is still owed: the next batch runs it even if nothing changes then.
    # named_master has an include file of its own: its instance is named:INCLUDE.
    owed = list((named_master.dir / "state/pending-reload").iterdir())
    assert [p.name for p in owed] == [
        "ns1.named_" + str(named_master.include_file).replace("/", "_")
    ], owed
    stanzas = sorted(p.name for p in (named_master.conf_dir / "zones").iterdir())
    assert stanzas == ["example.com.conf"]
    assert "example.org" not in named_master.include_file.read_text()
    assert named_master.answers("example.com", "A") == ["192.0.2.1"]
    assert named_master.rcode("example.org", "A") == "REFUSED"


def test_orchestra_drivers_lists_bind9_with_its_two_backends() -> None:
    orchestra = str(Path(sys.executable).with_name("orchestra"))
    done = subprocess.run([orchestra, "drivers"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("bind9 ")]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("bind9", "orchestra-bind9", "bind9-master", "domain", "delete,save"),
        ("bind9", "orchestra-bind9", "bind9-slave", "domain", "delete,save"),
    ]


def test_the_example_inventory_plans_a_master_then_its_slave(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "bind9.yaml"
    orchestra = str(Path(sys.executable).with_name("orchestra"))
    done = subprocess.run(
        [orchestra, "plan", str(example), "--json"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    import json

    plan = json.loads(done.stdout)
    summary = [
        (
            s["server"]["name"],
            s["wave"],
            [(op["action"], *op["object_keys"]) for op in s["operations"]],
        )
        for s in plan["servers"]
    ]
    assert summary == [
        (
            "ns1",
            0,
            [
                ("save", "domain:acme.example"),
                ("save", "domain:globex.example"),
                ("assemble", "domain:acme.example", "domain:globex.example"),
                ("reload", "domain:acme.example", "domain:globex.example"),
            ],
        ),
        (
            "ns2",
            1,
            [
                ("save", "domain:acme.example"),
                ("save", "domain:globex.example"),
                ("assemble", "domain:acme.example", "domain:globex.example"),
                ("reload", "domain:acme.example", "domain:globex.example"),
            ],
        ),
    ]
    master_zone = plan["servers"][0]["operations"][0]["steps"][1]["content"]
    assert "shop.acme.example. IN A 192.0.2.30" in master_zone
    assert 'acme.example. IN CAA 0 issue "letsencrypt.org"' in master_zone


@pytest.mark.parametrize(
    ("values", "loads"),
    [
        # Just under the catalogue's limit of 65,000 bytes on the wire: named loads it.
        (("🚀" * 4096, "🎉" * 4096, "🍕" * 4096, "🌍" * 3700), True),
        # Over what named takes for one record set (about 65,230 bytes of text).
        (("🚀" * 4096, "🎉" * 4096, "🍕" * 4096, "🌍" * 4096), False),
    ],
)
def test_the_catalogue_limit_of_a_txt_set_is_below_what_named_refuses(
    tmp_path: Path, values: tuple[str, ...], loads: bool
) -> None:
    from orchestra_core.catalogue.dns import txt_wire_size

    domain = Domain(account="a", name="example.com", records=(Record(type="TXT", values=values),))
    size = sum(txt_wire_size(v) for v in values)
    assert (size <= 65_000) is loads
    assert (domain.check() == []) is loads
    zone = tmp_path / "example.com.zone"
    members = zone_members(domain, ServiceIndex([], [domain]))
    zone.write_text(render_zone(domain, members, Bind9Settings()).text)
    done = subprocess.run(
        ["named-checkzone", "example.com", str(zone)], capture_output=True, text=True, check=False
    )
    assert (done.returncode == 0) is loads, done.stdout + done.stderr
