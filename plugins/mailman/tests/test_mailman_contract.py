"""The mailman backends pass the backend contract, against a real Mailman 3 core and a real
Postfix, locally and over SSH.

Observing the list server means what Mailman holds: every list and domain, and of the
subject list its options (the description, the suspension as ``emergency``, the enforced
``anonymous_list`` and the moderation actions), its owners and its member count, read over
Mailman's REST API. Observing the mail server means every file orchestra owns under the
Postfix fixture's ``maps_dir`` (a table's ``.db`` as its dump) and Postfix's answer at RCPT
to each of the list's nine addresses.

Left out, because they change by themselves: Mailman's logs, queues and message store (a
held post is data, not configuration), and the ``http_etag`` of each REST answer.

Mailman is put out of reach by a config whose REST port nobody listens on (``mailman info``
reads it, then every call is refused, as with the REST runner down); it keeps running for
the observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import pytest
from orchestra_mailman.backends import list_addresses
from orchestra_mailman.testing import MailmanServer
from orchestra_postfix.testing import MailServer

from orchestra_core import Route, Server, Service
from orchestra_core.catalogue import MailingList
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

pytestmark = pytest.mark.daemon

NEWS = MailingList(
    account="acme",
    name="news",
    domain="lists.acme.example",
    admin_email="owner@acme.example",
    description="News of ACME",
)
#: The options of the subject list observed (beside its description and suspension).
OPTIONS = (
    "anonymous_list",
    "default_member_action",
    "default_nonmember_action",
    "description",
    "display_name",
    "emergency",
)


def mailman_state(mailman: MailmanServer, obj: MailingList = NEWS) -> dict[str, Any]:
    """What Mailman holds: its lists and domains, and the subject's options and roster."""
    status, domains = mailman.rest("GET", "domains")
    assert status == 200, domains
    state: dict[str, Any] = {
        "lists": mailman.lists(),
        "domains": sorted(d["mail_host"] for d in (domains or {}).get("entries", [])),
    }
    status, config = mailman.rest("GET", f"lists/{obj.identity}/config")
    if status == 200:
        _, owners = mailman.rest("GET", f"lists/{obj.identity}/roster/owner")
        _, found = mailman.rest("GET", f"lists/{obj.identity}")
        state["subject"] = {
            "config": {key: config[key] for key in OPTIONS},
            "owners": sorted(e["email"] for e in (owners or {}).get("entries", [])),
            "members": found["member_count"],
        }
    return state


class TestMailmanListContract(BackendContract):
    """``mailman-list`` on one Mailman."""

    backend = "mailman-list"
    transports = ("local", "ssh")

    mailman: MailmanServer

    @pytest.fixture(autouse=True)
    def _mailman(self, mailman_server: MailmanServer) -> None:
        self.mailman = mailman_server

    def servers(self) -> list[Server]:
        return [Server(name="lists1", settings={"mailman": self.mailman.settings()})]

    def objects(self) -> list[Service]:
        return [NEWS]

    def observe(self) -> dict[str, Any]:
        return mailman_state(self.mailman)

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, MailingList)
        return attrs.evolve(obj, description=obj.description + " (new)")

    def read_back(self, obj: Service, path: str) -> Any:
        assert isinstance(obj, MailingList), obj
        status, config = self.mailman.rest("GET", f"lists/{obj.identity}/config")
        assert status == 200, config
        if path == "description":
            return config["description"]
        if path == "admin_email":
            _, owners = self.mailman.rest("GET", f"lists/{obj.identity}/roster/owner")
            (owner,) = (owners or {}).get("entries", [])
            return owner["email"]
        raise AssertionError(f"no read-back for {path}")

    def rejection(self, obj: Service) -> Rejection:
        """An enforced option Mailman's REST API refuses (an unknown moderation action)."""
        return Rejection(
            obj=self.changed(obj),
            settings={"enforced": {"anonymous_list": False, "default_member_action": "bogus"}},
        )

    def unreachable(self, obj: Service) -> Unreachable:
        return Unreachable(out_of_reach={"config": str(self.mailman.out_of_reach_config())})


class TestMailmanPostfixContract(BackendContract):
    """``mailman-postfix`` on the Postfix the list's Mailman is beside (``mailman-list`` is
    routed to the same server: it carries the update of a description, which changes
    nothing of the list's addresses)."""

    backend = "mailman-postfix"
    transports = ("local", "ssh")
    hostile_skip: ClassVar[Mapping[str, str]] = {
        "description": "it reaches Mailman only, never Postfix's tables: "
        "TestMailmanListContract tries every hostile value in it"
    }

    mail: MailServer
    mailman: MailmanServer

    @pytest.fixture(autouse=True)
    def _daemons(self, mail_server: MailServer, mailman_server: MailmanServer) -> None:
        self.mail = mail_server
        self.mailman = mailman_server

    def servers(self) -> list[Server]:
        return [
            Server(
                name="mx1",
                settings={"postfix": self.mail.settings(), "mailman": self.mailman.settings()},
            )
        ]

    def routes(self) -> list[Route]:
        return [
            Route(backend="mailman-list", servers=("mx1",)),
            Route(backend="mailman-postfix", servers=("mx1",)),
        ]

    def objects(self) -> list[Service]:
        return [NEWS]

    def observe(self) -> dict[str, Any]:
        return {
            "files": self.mail.owned_files(),
            "rcpt": {a: self.mail.rcpt("sender@outside.test", a)[0] for a in list_addresses(NEWS)},
            "mailman": mailman_state(self.mailman),
        }

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, MailingList)
        return attrs.evolve(obj, description=obj.description + " (new)")

    def read_back(self, obj: Service, path: str) -> Any:
        assert isinstance(obj, MailingList) and path == "description", path
        status, config = self.mailman.rest("GET", f"lists/{obj.identity}/config")
        assert status == 200, config
        return config["description"]

    def rejection(self, obj: Service) -> None:
        """Nothing of a list changes its Postfix lines but its name and domain, which are
        its key: no update of the subject reaches ``postfix check`` (a new list's addresses
        under a config it refuses are ``test_mailman_mail.py``'s)."""
        return None

    def unreachable(self, obj: Service) -> None:
        """As :meth:`rejection`: no update of the subject reaches Postfix (a new list's
        addresses with Postfix stopped are ``test_mailman_mail.py``'s)."""
        return None
