"""A small filter language for bulk review: ``field op value [and field op value ...]``.

Fields: provider, model, label, status, wave, side, role_category, speaker, source, case, run,
grounded, grounding, score, in_vivo. Operators: ``=`` ``!=`` ``~`` (contains, any case) ``!~``
``<`` ``<=`` ``>`` ``>=``. Values may be quoted. Example::

    provider=offline and wave=1 and side=buyer and grounded=true and label~invoice

Fields map to fixed SQL expressions and values are bound parameters, so nothing typed here can
reach SQL as code.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import CoderAssistError

FIELDS = {
    "provider": "r.provider", "model": "r.model", "label": "s.label", "status": "s.status", "wave": "d.wave",
    "side": "p.side", "role_category": "p.role_category", "speaker": "seg.speaker", "source": "d.name",
    "case": "COALESCE(d.case_id, p.case_id)", "run": "s.run_id", "grounded": "(s.start IS NOT NULL)",
    "grounding": "s.grounding", "score": "s.grounding_score", "in_vivo": "s.in_vivo",
}  # fmt: skip
FROM = (
    " FROM suggestions s JOIN segments seg ON seg.id = s.segment_id JOIN documents d ON d.id = seg.document_id"
    " JOIN coding_runs r ON r.id = s.run_id LEFT JOIN participants p ON p.speaker = seg.speaker"
)
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
            return float(v) if field == "score" else int(v)
        except ValueError:
            raise CoderAssistError(f"{field} takes a number, not {v!r}") from None
    return v


def compile_where(expr: str) -> tuple[str, list[Any]]:
    """SQL condition and parameters for an expression; raises with the offending part."""
    if not expr.strip():
        raise CoderAssistError("empty filter expression")
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
            conds.append(f"{'NOT ' if op == '!~' else ''}(lower(COALESCE({col}, '')) LIKE ?)")
            params.append(f"%{str(value).lower()}%")
        else:
            conds.append(f"{col} {op} ?")
            params.append(value)
    return " AND ".join(conds), params
