"""orchestra-postfix: virtual mail domains, mailboxes and addresses on Postfix with Dovecot."""

from __future__ import annotations

from orchestra_postfix.settings import PostfixSettings

__all__ = ["PostfixSettings"]
