"""Rendering: shell-quoting and config templates, and the escapers they use."""

from orchestra_core.rendering.shell import ShellSafe, quote, quote_words
from orchestra_core.rendering.templates import Templates

__all__ = ["ShellSafe", "Templates", "quote", "quote_words"]
