"""JSON from files the user gave: nesting measured on the text, before the recursive parser runs."""

from __future__ import annotations

import re

#: A JSON string (skipped whole, escapes included) or one bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def nesting_depth(text: str, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``text``, strings skipped, without parsing it;
    counting stops as soon as the depth passes ``stop_above``."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif token in "]}":
            depth -= 1
    return deepest
