"""A small filter language for bulk review: ``field op value [and field op value ...]``.

Fields: provider, model, label, status, wave, side, role_category, speaker, source, case, run,
grounded, grounding, score, in_vivo. Operators: ``=`` ``!=`` ``~`` (contains, any case) ``!~``
``<`` ``<=`` ``>`` ``>=``. Values may be quoted. Example::

    provider=offline and wave=1 and side=buyer and grounded=true and label~invoice

Fields map to fixed SQL expressions and values are bound parameters, so nothing typed here can
reach SQL as code; ``%`` and ``_`` in a ``~`` value are matched as themselves, not as wildcards.
An expression is at most :data:`MAX_LENGTH` characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import CoderAssistError

FIELDS = {
    "provider": "r.provider", "model": "r.model", "label": "s.label", "status": "s.status", "wave": "d.wave",
    "side": "p.side", "role_category": "p.role_category", "speaker": "seg.speaker", "source": "d.name",
    "case": "COALESCE(d.case_id, p.case_id)", "run": "s.run_id", "grounded": "(CASE WHEN s.start IS NOT NULL THEN 1 ELSE 0 END)",
    "grounding": "s.grounding", "score": "s.grounding_score", "in_vivo": "s.in_vivo",
}  # fmt: skip
FROM = (
    " FROM suggestions s JOIN segments seg ON seg.id = s.segment_id JOIN documents d ON d.id = seg.document_id"
    " JOIN coding_runs r ON r.id = s.run_id LEFT JOIN participants p ON p.speaker = seg.speaker"
)
MAX_LENGTH = 500
"""The longest filter expression accepted, in characters. Real filters are a few dozen; a longer
``~`` value would only reach SQLite's "LIKE or GLOB pattern too complex" limit."""
_INT64 = 2**63
_CLAUSE = re.compile(r"""\s*(?P<field>\w+)\s*(?P<op>!=|!~|<=|>=|=|~|<|>)\s*(?P<value>"[^"]*"|'[^']*'|[^\s"']+)\s*""")
_AND = re.compile(r"\s+and\s+", re.I)


def _value(field: str, raw: str) -> Any:
    v = raw[1:-1] if raw[:1] in "\"'" else raw
    if field in ("grounded", "in_vivo"):
        if v.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise CoderAssistError(f"{field} takes true or false, not {v!r}")
        return int(v.lower() in ("true", "yes", "1"))
    if field in ("wave", "score"):
        try:
            number = float(v) if field == "score" else int(v)
        except ValueError:
            raise CoderAssistError(f"{field} takes a number, not {v!r}") from None
        if not (math.isfinite(number) if isinstance(number, float) else -_INT64 <= number < _INT64):
            raise CoderAssistError(f"{field} takes a finite number, not {v!r}")
        return number
    return v


def _contains(text: str) -> str:
    """A LIKE pattern (with ``ESCAPE '\\'``) matching ``text`` anywhere, its ``%`` and ``_`` literally."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def compile_where(expr: str) -> tuple[str, list[Any]]:
    """SQL condition and parameters for an expression; raises with the offending part."""
    if not expr.strip():
        raise CoderAssistError("empty filter expression")
    if len(expr) > MAX_LENGTH:
        raise CoderAssistError(f"filter expression is {len(expr)} characters, over the {MAX_LENGTH} limit")
    try:
        expr.encode("utf-8")
    except UnicodeEncodeError as exc:  # a byte that was not UTF-8 on the command line, or a lone surrogate
        raise CoderAssistError(f"filter expression is not text at character {exc.start + 1}") from None
    conds, params = [], []
    for part in _AND.split(expr.strip()):
        m = _CLAUSE.fullmatch(part)
        if not m:
            raise CoderAssistError(f"cannot read {part.strip()!r}: expected field op value (e.g. wave=1)")
        field, op = m.group("field").lower(), m.group("op")
        if field not in FIELDS:
            raise CoderAssistError(f"unknown field {field!r} (known: {', '.join(sorted(FIELDS))})")
        col, value = FIELDS[field], _value(field, m.group("value"))
        if op in ("~", "!~"):
            conds.append(f"{'NOT ' if op == '!~' else ''}(lower(COALESCE({col}, '')) LIKE ? ESCAPE '\\')")
            params.append(_contains(str(value).lower()))
        else:
            conds.append(f"{col} {op} ?")
            params.append(value)
    return " AND ".join(conds), params
