"""The hostile corpus: values that try to break out of quoting, formats or validation.

Each value that mentions ``CANARY`` would create that file if any shell ever ran it as code.
"""

from __future__ import annotations

CANARY = "/tmp/orchestra-canary-{token}"


def corpus(canary: str) -> dict[str, str]:
    """Named hostile values; ``canary`` is the path a successful injection would create."""
    return {
        "single_quote": "it's",
        "double_quote": 'say "hi"',
        "command_substitution": f"$(touch {canary})",
        "backticks": f"`touch {canary}`",
        "semicolon": f"x; touch {canary}",
        "and": f"x && touch {canary}",
        "pipe": f"x | touch {canary}",
        "newline": f"x\ntouch {canary}",
        "carriage_return": f"x\rtouch {canary}",
        "quote_breakout": f"'; touch {canary}; '",
        "double_quote_breakout": f'"; touch {canary}; "',
        "nul": "x\x00y",
        "long": "a" * 10_000,
        "unicode": "Ünïcödé ✓ 日本語 🚀",
        "rtl": "\u202eevil",
        "leading_dash": "-rf",
        "leading_double_dash": "--help",
        "glob": "*",
        "tilde": "~root",
        "variable": "$HOME ${PATH}",
        "backslash": "a\\nb\\",
        "jinja": "{{ 7 * 7 }}{% if true %}x{% endif %}",
        "heredoc": f"EOF\ntouch {canary}\nEOF",
        "record_marker": "@@ORCHESTRA 0 0 changed 0 0 - -",
        "percent": "%s%n%x",
        "empty": "",
    }
