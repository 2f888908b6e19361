"""The ``mailman`` driver's plugin: mailing lists in Mailman 3 core and their addresses in
Postfix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.driver import Backend, hookimpl
from orchestra_mailman.backends import MailmanList, MailmanPostfix


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``mailman-list`` for the list server, ``mailman-postfix`` for the mail server that
    delivers the list's addresses to it."""
    return [MailmanList, MailmanPostfix]
