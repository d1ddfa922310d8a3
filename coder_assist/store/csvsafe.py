"""CSV cells safe to open in a spreadsheet: no formula injection (OWASP "CSV Injection").

Participants' values are stored as given (``=SUM(1)`` may be someone's answer); only what the tool
*writes* to a CSV is neutralised, by every writer, through :func:`csv_safe`.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet may read as the start of a formula (or that hide one)."""


def csv_safe(value: Any) -> Any:
    """``value`` with a single quote in front when it is a string starting with ``= + - @``, a tab or
    a carriage return, so a spreadsheet shows it as text; anything else unchanged (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
