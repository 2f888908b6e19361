"""The ``postfix`` driver's plugin: mailboxes, addresses and a backup MX on Postfix and
Dovecot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.driver import Backend, hookimpl
from orchestra_postfix.backends import (
    PostfixAddress,
    PostfixMailbox,
    PostfixRelayAddress,
    PostfixRelayMailbox,
)


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``postfix-mailbox`` and ``postfix-address`` for a domain's mail server,
    ``postfix-relay-mailbox`` and ``postfix-relay-address`` for its backup MX."""
    return [PostfixMailbox, PostfixAddress, PostfixRelayMailbox, PostfixRelayAddress]
