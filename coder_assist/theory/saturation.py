"""Saturation: how many new codes and categories each interview and each wave adds.

Interviews are taken in wave order, then in the order they were ingested. A code is new in the
first interview where it was applied (active codings only); a confirmed category is new where its
first member code first appears. The plateau signal says whether the last ``window`` interviews
each added at most ``share`` of the codes known by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3


@dataclass
class Saturation:
    interviews: list[dict[str, Any]] = field(default_factory=list)
    waves: list[dict[str, Any]] = field(default_factory=list)
    plateau: bool = False
    signal: str = ""


def saturation(conn: sqlite3.Connection, window: int = 3, share: float = 0.05) -> Saturation:
    docs = conn.execute(
        "SELECT id, name, wave FROM documents WHERE current = 1 ORDER BY COALESCE(wave, 0), id"
    ).fetchall()
    order = {d["id"]: i for i, d in enumerate(docs)}
    first_doc: dict[int, int] = {}
    for r in conn.execute("SELECT g.code_id, g.document_id FROM codings g JOIN codes c ON c.id = g.code_id"
                          " WHERE g.active = 1 AND c.active = 1"):  # fmt: skip
        if r["document_id"] in order:
            prev = first_doc.get(r["code_id"])
            if prev is None or order[r["document_id"]] < order[prev]:
                first_doc[r["code_id"]] = r["document_id"]
    cat_first: dict[int, int] = {}
    for r in conn.execute("SELECT m.category_id, m.code_id FROM category_members m JOIN categories c ON c.id = m.category_id"
                          " WHERE m.active = 1 AND c.active = 1"):  # fmt: skip
        d = first_doc.get(r["code_id"])
        if d is not None and (r["category_id"] not in cat_first or order[d] < order[cat_first[r["category_id"]]]):
            cat_first[r["category_id"]] = d
    result = Saturation()
    total_codes = total_cats = 0
    for d in docs:
        new_codes = sum(1 for v in first_doc.values() if v == d["id"])
        new_cats = sum(1 for v in cat_first.values() if v == d["id"])
        total_codes += new_codes
        total_cats += new_cats
        result.interviews.append({"document": d["name"], "wave": d["wave"], "new_codes": new_codes,
                                  "cumulative_codes": total_codes, "new_categories": new_cats,
                                  "cumulative_categories": total_cats})  # fmt: skip
    by_wave: dict[Any, dict[str, Any]] = {}
    for row in result.interviews:
        w = by_wave.setdefault(row["wave"], {"wave": row["wave"], "interviews": 0, "new_codes": 0, "new_categories": 0})
        w["interviews"] += 1
        w["new_codes"] += row["new_codes"]
        w["new_categories"] += row["new_categories"]
    result.waves = list(by_wave.values())
    coded = [r for r in result.interviews if r["cumulative_codes"] > 0]
    tail = coded[-window:]
    if len(coded) <= window or not total_codes:
        result.signal = f"too early to tell: {len(coded)} coded interviews (need more than {window})"
    else:
        result.plateau = all(r["new_codes"] <= share * r["cumulative_codes"] for r in tail)
        added = ", ".join(str(r["new_codes"]) for r in tail)
        result.signal = (f"plateau: the last {window} interviews added {added} new codes (each at most "
                         f"{share:.0%} of those known)" if result.plateau else
                         f"still growing: the last {window} interviews added {added} new codes")  # fmt: skip
    return result
