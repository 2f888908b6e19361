"""DNS zones: a :class:`Domain` with its :class:`Record` sets."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

import attrs

from orchestra_core.errors import FieldError
from orchestra_core.model import checks
from orchestra_core.model.service import Service

if TYPE_CHECKING:
    from orchestra_core.model.index import ServiceIndex

__all__ = ["RECORD_TYPES", "Domain", "Record"]

#: The record types the catalogue accepts, upper-case.
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA")

_MX = re.compile(r"([0-9]{1,5}) (\S+)")
_SRV = re.compile(r"([0-9]{1,5}) ([0-9]{1,5}) ([0-9]{1,5}) (\S+)")
# CAA values are printable ASCII without '"' or '\' so that drivers can quote them verbatim.
_CAA = re.compile(r'([0-9]{1,3}) (issue|issuewild|iodef) "([ !#-\[\]-~]*)"')
_MAX_TEXT = 4096
#: Bytes a TXT record set may take in DNS, all its values together: an RRset must fit in a DNS
#: message (64 KiB), and BIND refuses a zone whose set does not ("ran out of space", measured
#: at about 65,230 bytes of text); the margin leaves room for the message's other parts.
_MAX_TXT_SET = 65_000


@attrs.frozen(kw_only=True)
class Record:
    """One DNS record set: a name and a type with one or more values.

    ``name`` is ``@`` for the apex or relative to the zone (``www``, ``_sip._tcp``, ``*``).
    Values are written as in a zone file: ``192.0.2.1`` (A), ``10 mail.example.com`` (MX),
    ``0 5 5060 sip.example.com`` (SRV), ``0 issue "letsencrypt.org"`` (CAA), any text (TXT).
    Host names in values are fully qualified; a trailing dot is optional.
    ``ttl`` of None means the zone's default.
    """

    name: str = "@"
    type: str
    values: tuple[str, ...]
    ttl: int | None = None

    def check(self, key: str, prefix: str) -> list[FieldError]:
        """Problems with this record set, fields named under ``prefix`` (``records[2]``)."""
        errors: list[FieldError] = []
        checks.record_name_field(errors, key, f"{prefix}.name", self.name)
        if self.ttl is not None:
            checks.int_field(
                errors, key, f"{prefix}.ttl", self.ttl, minimum=1, maximum=checks.MAX_INT32
            )
        if not checks.choice_field(errors, key, f"{prefix}.type", self.type, RECORD_TYPES):
            return errors
        if not self.values:
            errors.append(FieldError(key, f"{prefix}.values", "needs at least one value"))
            return errors
        if self.type == "CNAME" and len(self.values) > 1:
            errors.append(
                FieldError(key, f"{prefix}.values", "a CNAME record has exactly one value")
            )
        for i, value in enumerate(self.values):
            _check_value(errors, key, f"{prefix}.values[{i}]", self.type, value)
        checks.unique_items(errors, key, f"{prefix}.values", self.values)
        if self.type == "TXT" and all(isinstance(v, str) for v in self.values):
            size = sum(txt_wire_size(v) for v in self.values)
            if size > _MAX_TXT_SET:
                errors.append(
                    FieldError(
                        key,
                        f"{prefix}.values",
                        f"take {size} bytes in DNS together (UTF-8), at most {_MAX_TXT_SET}: "
                        "a record set must fit in one DNS message",
                    )
                )
        return errors


def txt_wire_size(value: str) -> int:
    """Bytes a TXT value takes in DNS: its UTF-8, one length byte per 255-byte string, and
    the record's own overhead (type, class, TTL, length, a compressed owner name)."""
    data = len(value.encode("utf-8", errors="surrogatepass"))
    return data + max(1, -(-data // 255)) + 12


def _check_value(errors: list[FieldError], key: str, field: str, type_: str, value: str) -> None:
    if not isinstance(value, str):
        errors.append(FieldError(key, field, "must be a string"))
        return
    if type_ == "TXT":
        checks.text_field(errors, key, field, value, max_length=_MAX_TEXT)
        return
    if len(value) > 1024:
        errors.append(FieldError(key, field, f"is {len(value)} characters long, at most 1024"))
        return
    if type_ in ("A", "AAAA"):
        version = 4 if type_ == "A" else 6
        before = len(errors)
        if not checks.ip_field(errors, key, field, value, version=version):
            other = "AAAA" if version == 4 else "A"
            if "is an IPv" in errors[before].message:
                errors[before] = FieldError(
                    key, field, f"{errors[before].message}: use an {other} record for it"
                )
    elif type_ in ("CNAME", "NS"):
        checks.hostname_field(errors, key, field, value)
    elif type_ == "MX":
        match = _MX.fullmatch(value)
        if match is None:
            errors.append(
                FieldError(
                    key, field, f"{value!r} is not 'PRIORITY HOSTNAME' (10 mail.example.com)"
                )
            )
            return
        _port_range(errors, key, field, "priority", match.group(1))
        if match.group(2) != ".":  # "0 ." is a null MX (RFC 7505): no mail accepted
            checks.hostname_field(errors, key, field, match.group(2))
    elif type_ == "SRV":
        match = _SRV.fullmatch(value)
        if match is None:
            errors.append(
                FieldError(
                    key,
                    field,
                    f"{value!r} is not 'PRIORITY WEIGHT PORT TARGET' (0 5 5060 sip.example.com)",
                )
            )
            return
        for label, number in zip(("priority", "weight", "port"), match.groups(), strict=False):
            _port_range(errors, key, field, label, number)
        if match.group(4) != ".":
            checks.hostname_field(errors, key, field, match.group(4))
    elif type_ == "CAA":
        match = _CAA.fullmatch(value)
        if match is None:
            errors.append(
                FieldError(
                    key,
                    field,
                    f"{value!r} is not 'FLAGS TAG \"VALUE\"' with TAG one of issue, issuewild, "
                    "iodef and VALUE printable ASCII without '\"' or '\\' "
                    '(0 issue "ca.example")',
                )
            )
            return
        if int(match.group(1)) > 255:
            errors.append(FieldError(key, field, f"flags {match.group(1)} is out of range 0..255"))


def _port_range(errors: list[FieldError], key: str, field: str, label: str, number: str) -> None:
    if int(number) > 65535:
        errors.append(FieldError(key, field, f"{label} {number} is out of range 0..65535"))


@attrs.frozen(kw_only=True)
class Domain(Service):
    """A DNS zone (or a subdomain of one) and its record sets.

    ``name`` is a lower-case host name without a trailing dot. Two record sets with the same
    name and type are an error (merge their values), and so is a CNAME that shares its name
    with other records or sits at the apex. ``ttl`` of None means the driver's default.
    """

    kind: ClassVar[str] = "domain"
    plural: ClassVar[str] = "domains"

    name: str
    records: tuple[Record, ...] = ()
    ttl: int | None = None

    @property
    def identity(self) -> str:
        """The domain name."""
        return self.name

    def check(self) -> list[FieldError]:
        """Problems with the name, the TTL and every record set, each naming its field."""
        errors = super().check()
        key = self.key
        checks.hostname_field(errors, key, "name", self.name, trailing_dot=False)
        if self.ttl is not None:
            checks.int_field(errors, key, "ttl", self.ttl, minimum=1, maximum=checks.MAX_INT32)
        seen: dict[tuple[str, str], int] = {}
        types_at: dict[str, list[tuple[str, int]]] = {}
        for i, record in enumerate(self.records):
            prefix = f"records[{i}]"
            if not isinstance(record, Record):
                errors.append(FieldError(key, prefix, "must be a record set"))
                continue
            errors.extend(record.check(key, prefix))
            where = (record.name, record.type)
            if where in seen:
                errors.append(
                    FieldError(
                        key,
                        prefix,
                        f"a second {record.type} set for {record.name!r} (first at "
                        f"records[{seen[where]}]): put all its values in one record set",
                    )
                )
                continue
            seen[where] = i
            types_at.setdefault(record.name, []).append((record.type, i))
        for name, present in types_at.items():
            for type_, i in present:
                if type_ != "CNAME":
                    continue
                if name == "@":
                    errors.append(
                        FieldError(
                            key, f"records[{i}]", "a CNAME cannot be at the apex '@' of a zone"
                        )
                    )
                others = [f"{t} at records[{j}]" for t, j in present if t != "CNAME"]
                if others:
                    errors.append(
                        FieldError(
                            key,
                            f"records[{i}]",
                            f"a CNAME at {name!r} cannot share its name with other records "
                            f"({', '.join(others)})",
                        )
                    )
        return errors

    def related_keys(self, index: ServiceIndex) -> Iterable[str]:
        """The key of the parent zone: the longest proper suffix of the name in ``index``."""
        labels = self.name.split(".")
        for start in range(1, len(labels)):
            candidate = f"{self.kind}:{'.'.join(labels[start:])}"
            if candidate in index:
                return (candidate,)
        return ()
