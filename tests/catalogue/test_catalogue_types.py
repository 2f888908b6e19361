"""The standard catalogue: keys, field checks, DNS record rules, parent zones, the plugin."""

from __future__ import annotations

import pytest

from orchestra_core.catalogue import (
    CATALOGUE,
    Database,
    DatabaseUser,
    Domain,
    MailAddress,
    Mailbox,
    MailingList,
    Record,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.catalogue import plugin as catalogue_plugin
from orchestra_core.errors import FieldError, ValidationError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Account, Service
from orchestra_core.registry import Registry

VALID: list[Service] = [
    SystemUser(account="acme", name="acme_web", home="/home/acme", groups=("www-data",)),
    Domain(
        account="acme",
        name="acme.example",
        ttl=3600,
        records=(
            Record(type="A", values=("192.0.2.10", "192.0.2.11")),
            Record(name="www", type="AAAA", values=("2001:db8::1",)),
            Record(name="ftp", type="CNAME", values=("acme.example.",)),
            Record(type="MX", values=("10 mail.acme.example", "20 mx2.acme.example")),
            Record(type="NS", values=("ns1.acme.example",), ttl=86400),
            Record(type="TXT", values=('v=spf1 -all "quoted" ünïcode',)),
            Record(name="_sip._tcp", type="SRV", values=("0 5 5060 sip.acme.example",)),
            Record(type="CAA", values=('0 issue "letsencrypt.org"',)),
            Record(name="*", type="A", values=("192.0.2.12",)),
            Record(name="*.dev", type="A", values=("192.0.2.13",)),
        ),
    ),
    Mailbox(account="acme", address="info@acme.example", quota=1 << 30),
    MailAddress(account="acme", address="sales@acme.example", mailboxes=("info@acme.example",)),
    WebApp(
        account="acme",
        name="wp",
        system_user="acme_web",
        php_version="8.2",
        options={"memory_limit": "256M", "opcache.enable": "1"},
    ),
    Website(
        account="acme",
        name="site",
        domains=("acme.example", "www.acme.example"),
        protocol="https-only",
        contents=(
            WebsiteContent(path="/", webapp="wp"),
            WebsiteContent(path="/blog", webapp="blog"),
        ),
    ),
    Database(account="acme", name="acme_wp", collation="utf8mb4_unicode_ci"),
    DatabaseUser(account="acme", username="acme_wp", databases=("acme_wp",)),
    MailingList(
        account="acme",
        name="news",
        domain="acme.example",
        admin_email="ops@acme.example",
        description="Nouvelles, ünïcode ✓",
    ),
]

KEYS = [
    "systemuser:acme_web",
    "domain:acme.example",
    "mailbox:info@acme.example",
    "mailaddress:sales@acme.example",
    "webapp:acme/wp",
    "website:acme/site",
    "database:mysql/acme_wp",
    "databaseuser:mysql/acme_wp",
    "mailinglist:news@acme.example",
]


def fields(errors: list[FieldError]) -> list[str]:
    return [e.field for e in errors]


def messages(errors: list[FieldError], field: str) -> str:
    return " | ".join(e.message for e in errors if e.field == field)


@pytest.mark.parametrize("obj", VALID, ids=lambda o: o.kind)
def test_valid_objects_have_no_errors(obj: Service) -> None:
    assert obj.check() == []
    obj.validate()


def test_keys_and_plurals() -> None:
    assert [o.key for o in VALID] == KEYS
    assert [t.plural for t in CATALOGUE] == [
        "systemusers",
        "domains",
        "mailboxes",
        "mailaddresses",
        "webapps",
        "websites",
        "databases",
        "databaseusers",
        "mailinglists",
    ]


def test_plugin_registers_the_catalogue_but_not_accounts() -> None:
    registry = Registry.load(entry_points=False, extra={"catalogue": catalogue_plugin})
    assert set(registry.service_types) == {t.kind for t in CATALOGUE}
    assert "account" not in registry.service_types
    assert Account not in registry.service_types.values()
    assert registry.by_plural()["mailaddresses"] is MailAddress


def test_validate_raises_with_every_error() -> None:
    mailbox = Mailbox(account="Acme", address="no-at-sign", quota=0)
    with pytest.raises(ValidationError) as info:
        mailbox.validate()
    assert fields(list(info.value.errors)) == ["account", "address", "quota"]
    assert "0 is out of range 1.." in messages(list(info.value.errors), "quota")


# -- system users ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"name": "9lives"}, "name", "is not a unix name"),
        ({"name": "a" * 33}, "name", "is not a unix name"),
        ({"name": "Admin"}, "name", "is not a unix name"),
        ({"home": "home/acme"}, "home", "is not an absolute path"),
        ({"home": "/home/../etc"}, "home", "must not contain '..'"),
        ({"home": "/home/a b"}, "home", "no spaces"),
        ({"shell": "bash"}, "shell", "is not an absolute path"),
        ({"groups": ("www-data", "Wheel")}, "groups[1]", "is not a unix name"),
        ({"groups": ("adm", "adm")}, "groups[1]", "'adm' is listed twice"),
    ],
)
def test_system_user_errors(changes: dict[str, object], field: str, fragment: str) -> None:
    user = SystemUser(**{"account": "acme", "name": "acme_web", **changes})  # type: ignore[arg-type]
    errors = user.check()
    assert fields(errors) == [field]
    assert fragment in errors[0].message


# -- domains and records --------------------------------------------------------------------------


def domain(*records: Record, name: str = "acme.example") -> Domain:
    return Domain(account="acme", name=name, records=records)


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        (
            Record(type="A", values=("::1",)),
            "values[0]",
            "is an IPv6 address, not IPv4: use an AAAA",
        ),
        (Record(type="AAAA", values=("192.0.2.1",)), "values[0]", "not IPv6: use an A record"),
        (Record(type="A", values=("192.0.2.300",)), "values[0]", "is not an IPv4 address"),
        (Record(type="AAAA", values=("fe80::1%eth0",)), "values[0]", "is not an IPv6 address"),
        (Record(type="A", values=()), "values", "needs at least one value"),
        (Record(type="a", values=("192.0.2.1",)), "type", "is not one of A, AAAA"),
        (Record(type="PTR", values=("x.example",)), "type", "is not one of"),
        (Record(name="ftp", type="CNAME", values=("-bad.example",)), "values[0]", "invalid label"),
        (
            Record(name="ftp", type="CNAME", values=("a.example", "b.example")),
            "values",
            "exactly one",
        ),
        (Record(type="NS", values=("ns 1.example",)), "values[0]", "invalid label"),
        (Record(type="MX", values=("mail.example",)), "values[0]", "is not 'PRIORITY HOSTNAME'"),
        (Record(type="MX", values=("70000 mail.example",)), "values[0]", "priority 70000 is out"),
        (Record(type="MX", values=("10  mail.example",)), "values[0]", "'PRIORITY HOSTNAME'"),
        (Record(type="SRV", values=("0 5 sip.example",)), "values[0]", "PRIORITY WEIGHT PORT"),
        (Record(type="SRV", values=("0 5 65536 sip.example",)), "values[0]", "port 65536 is"),
        (Record(type="CAA", values=('0 issue "a"b"',)), "values[0]", "is not 'FLAGS TAG"),
        (Record(type="CAA", values=('0 tag "ca.example"',)), "values[0]", "is not 'FLAGS TAG"),
        (Record(type="CAA", values=('256 issue "ca.example"',)), "values[0]", "flags 256 is out"),
        (Record(type="TXT", values=("a\nb",)), "values[0]", "control characters or line breaks"),
        (Record(type="TXT", values=("a\x00b",)), "values[0]", "control characters"),
        (Record(type="TXT", values=("x" * 4097,)), "values[0]", "is 4097 characters long"),
        (Record(type="TXT", values=("x", "x")), "values[1]", "listed twice"),
        (
            Record(type="TXT", values=tuple(c * 4096 for c in "🚀🎉🍕🌍")),
            "values",
            "take 65844 bytes in DNS together (UTF-8), at most 65000",
        ),
        (Record(type="A", values=("192.0.2.1",), ttl=0), "ttl", "0 is out of range 1..2147483647"),
        (Record(name="WWW", type="A", values=("192.0.2.1",)), "name", "invalid label 'WWW'"),
        (Record(name="www.", type="A", values=("192.0.2.1",)), "name", "invalid label ''"),
        (Record(name="", type="A", values=("192.0.2.1",)), "name", "must be '@' or a name"),
        (Record(name="a.*", type="A", values=("192.0.2.1",)), "name", "invalid label '*'"),
    ],
)
def test_record_errors_name_the_record_and_value(record: Record, field: str, fragment: str) -> None:
    errors = domain(Record(name="base", type="A", values=("192.0.2.1",)), record).check()
    assert fields(errors) == [f"records[1].{field}"]
    assert fragment in errors[0].message
    assert errors[0].object_key == "domain:acme.example"


def test_record_names_allow_underscores_and_wildcards() -> None:
    names = ["@", "www", "*", "*.dev", "_dmarc", "sel._domainkey", "_acme-challenge.www"]
    records = [Record(name=n, type="TXT", values=("v",)) for n in names]
    assert domain(*records).check() == []


def test_null_mx_and_srv_targets_are_accepted() -> None:
    records = (
        Record(name="nomail", type="MX", values=("0 .",)),
        Record(name="_imap._tcp", type="SRV", values=("0 0 0 .",)),
    )
    assert domain(*records).check() == []


def test_two_sets_with_the_same_name_and_type_are_an_error() -> None:
    errors = domain(
        Record(name="www", type="A", values=("192.0.2.1",)),
        Record(name="www", type="A", values=("192.0.2.2",)),
    ).check()
    assert fields(errors) == ["records[1]"]
    assert "a second A set for 'www' (first at records[0])" in errors[0].message


def test_cname_with_other_data_is_an_error() -> None:
    errors = domain(
        Record(name="www", type="CNAME", values=("acme.example",)),
        Record(name="www", type="TXT", values=("x",)),
    ).check()
    assert fields(errors) == ["records[0]"]
    assert "cannot share its name with other records (TXT at records[1])" in errors[0].message


def test_cname_at_the_apex_is_an_error() -> None:
    errors = domain(Record(type="CNAME", values=("other.example",))).check()
    assert fields(errors) == ["records[0]"]
    assert "cannot be at the apex" in errors[0].message


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Acme.example", "invalid label 'Acme'"),
        ("acme.example.", "must not end with '.'"),
        ("acme..example", "invalid label ''"),
        ("a" * 64 + ".example", "invalid label"),
        ("acme.example\n", "invalid label"),
        ("ácme.example", "invalid label"),
    ],
)
def test_domain_name_errors(name: str, fragment: str) -> None:
    errors = domain(name=name).check()
    assert fields(errors) == ["name"]
    assert fragment in errors[0].message


def test_domain_ttl_range() -> None:
    too_big = Domain(account="acme", name="acme.example", ttl=2147483648)
    assert fields(too_big.check()) == ["ttl"]
    assert Domain(account="acme", name="acme.example", ttl=2147483647).check() == []


def test_related_keys_is_the_longest_parent_zone() -> None:
    zones = [domain(name=n) for n in ("example", "acme.example", "a.b.acme.example")]
    index = ServiceIndex([], zones)
    assert list(domain(name="www.acme.example").related_keys(index)) == ["domain:acme.example"]
    assert list(domain(name="x.a.b.acme.example").related_keys(index)) == [
        "domain:a.b.acme.example"
    ]
    assert list(domain(name="b.acme.example").related_keys(index)) == ["domain:acme.example"]
    assert list(domain(name="acme.example").related_keys(index)) == ["domain:example"]
    assert list(domain(name="example").related_keys(index)) == []
    assert list(domain(name="xacme.example").related_keys(ServiceIndex([], zones[1:]))) == []


# -- mail -----------------------------------------------------------------------------------------


def test_mail_address_needs_a_destination() -> None:
    errors = MailAddress(account="acme", address="a@acme.example").check()
    assert fields(errors) == ["mailboxes"]
    assert "needs at least one mailbox or forward" in errors[0].message


def test_mail_address_destinations_are_checked_one_by_one() -> None:
    errors = MailAddress(
        account="acme",
        address="a@acme.example",
        mailboxes=("b@acme.example", "bad"),
        forwards=("x@y.example", "x@y.example"),
    ).check()
    assert fields(errors) == ["mailboxes[1]", "forwards[1]"]


def test_mailbox_address_with_a_trailing_newline_is_refused() -> None:
    errors = Mailbox(account="acme", address="info@acme.example\n").check()
    assert fields(errors) == ["address"]


def test_a_catch_all_is_an_address_without_local_part() -> None:
    catch_all = MailAddress(account="acme", address="@acme.example", forwards=("x@y.example",))
    assert catch_all.check() == []
    assert catch_all.is_catch_all and catch_all.domain == "acme.example"
    # Only the address itself: a mailbox or a destination is never a catch-all.
    assert fields(Mailbox(account="acme", address="@acme.example").check()) == ["address"]
    errors = MailAddress(account="acme", address="@acme.example", forwards=("@y.example",)).check()
    assert fields(errors) == ["forwards[0]"]
    for bad in ("@", "@-acme.example", "@acme..example", "@@acme.example"):
        errors = MailAddress(account="acme", address=bad, forwards=("x@y.example",)).check()
        assert fields(errors) == ["address"], bad


def test_an_address_has_at_most_254_characters() -> None:
    domain = ".".join(["d" * 60, "e" * 60, "f" * 60, "gh"]) + ".example"  # 191 characters
    longest = "l" * (254 - 1 - len(domain)) + "@" + domain
    assert len(longest) == 254
    assert Mailbox(account="acme", address=longest).check() == []
    errors = Mailbox(account="acme", address="l" + longest).check()
    assert fields(errors) == ["address"]
    assert "255 characters: an address has at most 254" in errors[0].message


def test_mailing_list_fields() -> None:
    errors = MailingList(
        account="acme", name="News", domain="acme.example.", admin_email="x", description="a\tb"
    ).check()
    assert fields(errors) == ["name", "domain", "admin_email", "description"]


# -- web ------------------------------------------------------------------------------------------


def test_webapp_fields() -> None:
    errors = WebApp(
        account="acme",
        name="wp",
        type="node",
        system_user="Root",
        php_version="8",
        options={"Memory": "1", "ok_name": "a\nb"},
    ).check()
    assert fields(errors) == [
        "type",
        "system_user",
        "php_version",
        "php_version",
        "options",
        "options[ok_name]",
    ]
    assert "'8' is not like '8.2'" in errors[2].message
    assert "only meaningful for type 'php'" in errors[3].message


def test_website_fields() -> None:
    errors = Website(
        account="acme",
        name="site",
        domains=(),
        protocol="ftp",
        contents=(
            WebsiteContent(path="blog", webapp="wp"),
            WebsiteContent(path="/a/../b", webapp="wp"),
            WebsiteContent(path="/x", webapp="wp"),
            WebsiteContent(path="/x/", webapp="Bad App"),
        ),
    ).check()
    assert fields(errors) == [
        "domains",
        "protocol",
        "contents[0].path",
        "contents[1].path",
        "contents[3].path",
        "contents[3].webapp",
    ]
    assert "'/x/' is already served by contents[2]" in errors[4].message


def test_website_accepts_wildcard_domains_but_not_trailing_dots() -> None:
    site = Website(account="acme", name="s", domains=("*.acme.example", "acme.example."))
    assert fields(site.check()) == ["domains[1]"]


# -- databases ------------------------------------------------------------------------------------


def test_database_name_rules_are_generic() -> None:
    assert Database(account="acme", name="Acme_DB$1-x").check() == []
    errors = Database(account="acme", name="a" * 65, charset="utf-8", collation="").check()
    assert fields(errors) == ["name", "charset", "collation"]
    assert "is 65 characters long, at most 64" in errors[0].message


def test_database_user_name_length_and_databases() -> None:
    assert DatabaseUser(account="acme", username="u" * 80).check() == []
    errors = DatabaseUser(account="acme", username="u" * 81, databases=("a.b", "c", "c")).check()
    assert fields(errors) == ["username", "databases[0]", "databases[2]"]


def test_database_user_privileges() -> None:
    assert DatabaseUser(account="acme", username="u").privileges == ("ALL",)
    ok = DatabaseUser(account="acme", username="u", privileges=("SELECT", "lock tables"))
    assert ok.check() == []
    errors = DatabaseUser(
        account="acme",
        username="u",
        privileges=("SELECT", "DROP; --", "select", "A" * 41, "ALL PRIVILEGES ON x y"),
    ).check()
    assert fields(errors) == ["privileges[1]", "privileges[3]", "privileges[4]", "privileges[2]"]
    assert "'DROP; --' is not a privilege name" in errors[0].message
    assert fields(DatabaseUser(account="acme", username="u", privileges=()).check()) == [
        "privileges"
    ]


def test_a_txt_set_just_under_the_dns_limit_is_accepted() -> None:
    # Three values of 4096 four-byte characters: 49,152 bytes of text, 49,383 on the wire.
    record = Record(type="TXT", values=tuple(c * 4096 for c in "🚀🎉🍕"))
    assert domain(record).check() == []
