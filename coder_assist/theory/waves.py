"""What one interview wave changed: new codes and categories, prevalence by wave and side, codes
that stopped appearing, saturation figures, and how the human decisions treated the codebook's
proposals on that wave.

Only current documents and active codes, codings and categories count. Waves are compared in the
order the saturation figures use (documents without a wave come first), so "new in wave N" here
and there always agree. Pure functions over a connection; nothing is written.
"""

from __future__ import annotations

import html
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import CoderAssistError
from ..store.queries import PARTICIPANT_TALK, pending_segments
from .saturation import saturation

#: Suggestion states: still waiting for a person, and decided (with or without a code applied).
PENDING = ("proposed", "deferred", "ungrounded")
KEPT = ("accepted", "edited", "merged")
DECIDED = (*KEPT, "rejected")
STATUSES = ("accepted", "edited", "merged", "rejected", "deferred", "proposed", "ungrounded")

KAPPA_PAIRING = (
    "per decided suggestion that the coder kept (accepted, edited or merged): did the engine propose an existing "
    "codebook code (reused_code_id set) vs a new code, and did the code the coder applied already exist when the "
    "suggestion was made vs was it created afterwards"
)


@dataclass
class WaveReport:
    """The figures for one wave; :meth:`to_dict` gives the JSON shape."""

    wave: int
    waves: list[int | None]
    coverage: dict[str, int]
    coded: bool
    new_codes: list[dict[str, Any]] = field(default_factory=list)
    new_categories: list[dict[str, Any]] = field(default_factory=list)
    sides: list[str] = field(default_factory=list)
    prevalence: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[dict[str, Any]] = field(default_factory=list)
    saturation: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, numbers, strings, None) for JSON."""
        return asdict(self)

    def _repr_html_(self) -> str:
        """Jupyter display: the report's tables."""
        return render_html(self)

    def __str__(self) -> str:
        return render_text(self)


def wave_key(wave: int | None) -> str:
    """How a wave is named in the report's dictionaries: ``"1"``, or ``"none"`` for no wave."""
    return "none" if wave is None else str(wave)


def _order(wave: int | None) -> int:
    return 0 if wave is None else wave


def wave_report(conn: sqlite3.Connection, wave: int, window: int = 3, share: float = 0.05) -> WaveReport:
    """The report for ``wave``; a wave without current documents is an error."""
    docs = conn.execute("SELECT id, name, wave FROM documents WHERE current = 1 ORDER BY COALESCE(wave, 0), id").fetchall()
    waves = sorted({d["wave"] for d in docs}, key=_order)
    if wave not in waves:
        known = ", ".join(wave_key(w) for w in waves) or "none ingested yet"
        raise CoderAssistError(f"wave {wave} has no documents (waves: {known})")
    docs_in: dict[int | None, int] = defaultdict(int)
    for d in docs:
        docs_in[d["wave"]] += 1
    codings = _codings(conn)
    coverage = _coverage(conn, wave)
    report = WaveReport(wave=wave, waves=waves, coverage=coverage, coded=coverage["segments_examined"] > 0)
    first = _first_waves(codings)
    labels = {r["code_id"]: r["label"] for r in codings}
    report.new_codes = _new_codes(codings, first, wave, labels)
    report.new_categories = _new_categories(conn, first, wave)
    report.sides = sorted({r["side"] for r in codings})
    report.prevalence = _prevalence(codings, waves, docs_in, report.sides, wave, first)
    report.stopped = _stopped(conn, report.prevalence, [w for w in waves if _order(w) < _order(wave)], wave)
    report.saturation = _saturation(conn, wave, window, share)
    report.agreement = agreement(conn, wave)
    if not report.coded:
        report.notes.append(f"wave {wave} has no suggestions or codings yet: codes of earlier waves are not yet "
                            "coded there, not absent")  # fmt: skip
    elif coverage["segments_examined"] < coverage["participant_segments"]:
        report.notes.append(f"wave {wave} is partly coded ({coverage['segments_examined']} of "
                            f"{coverage['participant_segments']} participant segments have been through a provider or"
                            " have a suggestion or a coding): a code may still appear in the rest")  # fmt: skip
    if coverage["segments_in_pending_batches"]:
        report.notes.append(f"{coverage['segments_in_pending_batches']} segments of wave {wave} wait in a batch not yet "
                            "collected ('coder-assist batches collect'): their codes are not counted yet")  # fmt: skip
    if report.agreement["kappa"]["value"] is None:
        report.notes.append(f"no kappa: {report.agreement['kappa']['reason']}")
    return report


def _codings(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Active codings of active codes on current documents, with wave, side and participant."""
    return conn.execute(
        "SELECT g.id, g.code_id, c.label, g.document_id, g.segment_id, d.wave, COALESCE(p.side, 'unknown') AS side,"
        " COALESCE(p.id, seg.speaker, '') AS participant FROM codings g JOIN codes c ON c.id = g.code_id"
        " JOIN documents d ON d.id = g.document_id JOIN segments seg ON seg.id = g.segment_id"
        " LEFT JOIN participants p ON p.speaker = seg.speaker WHERE g.active = 1 AND c.active = 1 AND d.current = 1"
        " ORDER BY g.id"
    ).fetchall()


def _first_waves(codings: list[sqlite3.Row]) -> dict[int, int | None]:
    """code id -> the earliest wave in which it is applied."""
    first: dict[int, int | None] = {}
    for r in codings:
        if r["code_id"] not in first or _order(r["wave"]) < _order(first[r["code_id"]]):
            first[r["code_id"]] = r["wave"]
    return first


def _coverage(conn: sqlite3.Connection, wave: int) -> dict[str, int]:
    """How much of the wave has been looked at: segments with a suggestion, a coding (``touched``: either),
    a successful provider call (``run``), or any of the three (``examined``)."""
    row = conn.execute(
        "SELECT count(DISTINCT d.id) AS documents, count(*) AS segments,"
        f" sum(CASE WHEN {PARTICIPANT_TALK} THEN 1 ELSE 0 END) AS participant_segments,"
        " sum(EXISTS (SELECT 1 FROM suggestions x WHERE x.segment_id = s.id)) AS with_suggestions,"
        " sum(EXISTS (SELECT 1 FROM codings g WHERE g.segment_id = s.id AND g.active = 1)) AS with_codings,"
        " sum(EXISTS (SELECT 1 FROM suggestions x WHERE x.segment_id = s.id)"
        "     OR EXISTS (SELECT 1 FROM codings g WHERE g.segment_id = s.id AND g.active = 1)) AS touched,"
        " sum(EXISTS (SELECT 1 FROM llm_calls l WHERE l.segment_id = s.id AND l.status = 'ok')) AS run,"
        " sum(EXISTS (SELECT 1 FROM suggestions x WHERE x.segment_id = s.id)"
        "     OR EXISTS (SELECT 1 FROM codings g WHERE g.segment_id = s.id AND g.active = 1)"
        "     OR EXISTS (SELECT 1 FROM llm_calls l WHERE l.segment_id = s.id AND l.status = 'ok')) AS examined"
        " FROM segments s JOIN documents d ON d.id = s.document_id JOIN turns t ON t.id = s.turn_id"
        " LEFT JOIN participants p ON p.speaker = s.speaker WHERE d.current = 1 AND d.wave = ?",
        (wave,),
    ).fetchone()
    held = pending_segments(conn)
    in_batch = conn.execute(f"SELECT count(*) FROM segments s JOIN documents d ON d.id = s.document_id WHERE d.current = 1"
                            f" AND d.wave = ? AND s.id IN ({','.join('?' * len(held)) or 'NULL'})", (wave, *held)).fetchone()[0]  # fmt: skip
    return {"documents": row["documents"], "segments": row["segments"],
            "participant_segments": row["participant_segments"] or 0, "segments_in_pending_batches": in_batch,
            "segments_with_suggestions": row["with_suggestions"] or 0, "segments_with_codings": row["with_codings"] or 0,
            "segments_touched": row["touched"] or 0, "segments_run": row["run"] or 0,
            "segments_examined": row["examined"] or 0}  # fmt: skip


def _new_codes(codings: list[sqlite3.Row], first: dict[int, int | None], wave: int,
               labels: dict[int, str]) -> list[dict[str, Any]]:  # fmt: skip
    """Codes first applied in ``wave``, with their codings and documents there."""
    here: dict[int, list[sqlite3.Row]] = defaultdict(list)
    for r in codings:
        if r["wave"] == wave and first[r["code_id"]] == wave:
            here[r["code_id"]].append(r)
    out = [{"code_id": code_id, "label": labels[code_id], "codings": len(rows),
            "documents": len({r["document_id"] for r in rows})} for code_id, rows in here.items()]  # fmt: skip
    return sorted(out, key=lambda c: (-c["codings"], c["label"]))


def _new_categories(conn: sqlite3.Connection, first: dict[int, int | None], wave: int) -> list[dict[str, Any]]:
    """Confirmed categories whose earliest member code first appears in ``wave``."""
    cats: dict[int, dict[str, Any]] = {}
    for r in conn.execute(
        "SELECT k.id, k.name, c.id AS code_id, c.label FROM categories k JOIN category_members m ON m.category_id = k.id"
        " JOIN codes c ON c.id = m.code_id WHERE k.active = 1 AND m.active = 1 AND c.active = 1 ORDER BY k.id, c.label"
    ):
        cat = cats.setdefault(r["id"], {"category_id": r["id"], "name": r["name"], "members": [], "new_members": [],
                                        "_first": []})  # fmt: skip
        if r["code_id"] in first:
            cat["members"].append(r["label"])
            cat["_first"].append(_order(first[r["code_id"]]))
            if first[r["code_id"]] == wave:
                cat["new_members"].append(r["label"])
    return [{k: v for k, v in c.items() if k != "_first"} for c in cats.values() if c["_first"] and min(c["_first"]) == _order(wave)]


def _cell(rows: list[sqlite3.Row]) -> dict[str, int]:
    return {"codings": len(rows), "documents": len({r["document_id"] for r in rows}),
            "participants": len({r["participant"] for r in rows})}  # fmt: skip


def _prevalence(codings: list[sqlite3.Row], waves: list[int | None], docs_in: dict[int | None, int], sides: list[str],
                wave: int, first: dict[int, int | None]) -> list[dict[str, Any]]:  # fmt: skip
    """Per active code: codings, documents and participants per wave and per (side, wave); ``change`` is
    the share of wave-N documents with the code minus that share over all earlier waves together."""
    by_code: dict[int, list[sqlite3.Row]] = defaultdict(list)
    for r in codings:
        by_code[r["code_id"]].append(r)
    earlier_docs = sum(n for w, n in docs_in.items() if _order(w) < _order(wave))
    out = []
    for code_id, rows in by_code.items():
        by_wave = {}
        for w in waves:
            cell = _cell([r for r in rows if r["wave"] == w])
            by_wave[wave_key(w)] = cell | {"document_share": round(cell["documents"] / docs_in[w], 4) if docs_in[w] else 0.0}
        by_side = {s: {wave_key(w): _cell([r for r in rows if r["side"] == s and r["wave"] == w]) for w in waves}
                   for s in sides}  # fmt: skip
        earlier = len({r["document_id"] for r in rows if _order(r["wave"]) < _order(wave)})
        earlier_share = earlier / earlier_docs if earlier_docs else 0.0
        now_share = by_wave[wave_key(wave)]["document_share"]
        in_wave = by_wave[wave_key(wave)]["codings"]
        status = "new" if first[code_id] == wave else "stopped" if earlier and not in_wave else ""
        out.append({"code_id": code_id, "label": rows[0]["label"], "codings": len(rows), "status": status,
                    "earlier_document_share": round(earlier_share, 4), "wave_document_share": now_share,
                    "change": round(now_share - earlier_share, 4), "by_wave": by_wave, "by_side": by_side})  # fmt: skip
    return sorted(out, key=lambda c: (-abs(c["change"]), -c["codings"], c["label"]))


def _stopped(conn: sqlite3.Connection, prevalence: list[dict[str, Any]], before: list[int | None],
             wave: int) -> list[dict[str, Any]]:  # fmt: skip
    """Codes applied in earlier waves and not in ``wave``, with the open proposals of them on that wave
    (so "absent" can be told from "proposed, not yet decided")."""
    out = []
    for c in prevalence:
        if c["status"] != "stopped":
            continue
        open_here = conn.execute(
            "SELECT count(*) FROM suggestions x JOIN segments s ON s.id = x.segment_id JOIN documents d ON d.id = s.document_id"
            f" WHERE d.current = 1 AND d.wave = ? AND x.status IN ({', '.join('?' * len(PENDING))})"
            " AND (x.reused_code_id = ? OR x.label = ?)",
            (wave, *PENDING, c["code_id"], c["label"]),
        ).fetchone()[0]
        seen = [w for w in before if c["by_wave"][wave_key(w)]["codings"]]
        earlier = [c["by_wave"][wave_key(w)] for w in seen]
        out.append({"code_id": c["code_id"], "label": c["label"],
                    "earlier_codings": sum(v["codings"] for v in earlier),
                    "earlier_documents": sum(v["documents"] for v in earlier),
                    "last_wave": seen[-1], "open_proposals": open_here})  # fmt: skip
    return sorted(out, key=lambda c: (-c["earlier_codings"], c["label"]))


def _saturation(conn: sqlite3.Connection, wave: int, window: int, share: float) -> dict[str, Any]:
    """The saturation module's per-wave rows, this wave's interviews, and its plateau signal."""
    s = saturation(conn, window, share)
    this = next((w for w in s.waves if w["wave"] == wave), None)
    return {"wave": this, "waves": s.waves, "interviews": [r for r in s.interviews if r["wave"] == wave],
            "plateau": s.plateau, "signal": s.signal}  # fmt: skip


def _counts(rows: list[sqlite3.Row]) -> dict[str, Any]:
    """How many suggestions, how many in each status, pending and decided, and two rates over the decided:
    accepted as proposed, and kept in some form (accepted, edited or merged)."""
    c: dict[str, Any] = {"suggestions": len(rows)} | {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES}
    c["pending"] = sum(1 for r in rows if r["status"] in PENDING)
    c["decided"] = sum(1 for r in rows if r["status"] in DECIDED)
    kept = sum(1 for r in rows if r["status"] in KEPT)
    c["acceptance_rate"] = round(c["accepted"] / c["decided"], 4) if c["decided"] else None
    c["kept_rate"] = round(kept / c["decided"], 4) if c["decided"] else None
    return c


def agreement(conn: sqlite3.Connection, wave: int) -> dict[str, Any]:
    """How the human decisions treated the suggestions on ``wave``'s segments: codebook proposals
    (reusing an existing code) against new-code proposals, and Cohen's kappa on existing-vs-new."""
    rows = conn.execute(
        "SELECT x.id, x.status, x.label, x.reused_code_id, x.reused_label, x.created_at,"
        " (SELECT dd.code_id FROM decisions dd WHERE dd.suggestion_id = x.id AND dd.action != 'undo'"
        "   AND dd.to_status = x.status AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.reverses = dd.id)"
        "   ORDER BY dd.id DESC LIMIT 1) AS decided_code"
        " FROM suggestions x JOIN segments s ON s.id = x.segment_id JOIN documents d ON d.id = s.document_id"
        " WHERE d.current = 1 AND d.wave = ? ORDER BY x.id",
        (wave,),
    ).fetchall()
    created = {r["id"]: r["created_at"] for r in conn.execute("SELECT id, created_at FROM codes")}
    reused = [r for r in rows if r["reused_code_id"] is not None]
    fresh = [r for r in rows if r["reused_code_id"] is None]
    codebook = _counts(reused)
    codebook["kept_code"] = sum(1 for r in reused if r["status"] in KEPT and r["decided_code"] == r["reused_code_id"])
    codebook["changed_code"] = sum(1 for r in reused if r["status"] in KEPT and r["decided_code"] != r["reused_code_id"])
    new = _counts(fresh)
    new["unknown_reused_label"] = sum(1 for r in fresh if r["reused_label"])
    pairs = []
    for r in rows:
        if r["status"] in KEPT and r["decided_code"] in created:
            engine = "existing" if r["reused_code_id"] is not None else "new"
            human = "existing" if created[r["decided_code"]] <= r["created_at"] else "new"
            pairs.append((engine, human))
    return {"codebook": codebook, "new_code": new, "kappa": kappa(pairs)}


def kappa(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Cohen's kappa of (engine, human) existing/new judgements, with the 2x2 table; ``value`` is None,
    with the reason, when the figure would mean nothing (no items, or both sides used one category)."""
    cats = ("existing", "new")
    table = {a: {b: sum(1 for p in pairs if p == (a, b)) for b in cats} for a in cats}
    out: dict[str, Any] = {"value": None, "items": len(pairs), "pairing": KAPPA_PAIRING,
                           "table": table, "observed": None, "expected": None, "reason": ""}  # fmt: skip
    n = len(pairs)
    if not n:
        out["reason"] = "no kept suggestions on this wave yet"
        return out
    observed = sum(table[c][c] for c in cats) / n
    expected = sum(sum(table[c].values()) * sum(table[a][c] for a in cats) for c in cats) / (n * n)
    out["observed"], out["expected"] = round(observed, 4), round(expected, 4)
    if expected >= 1:
        out["reason"] = "engine and coders each used only one category (all existing or all new): chance agreement is 1"
        return out
    out["value"] = round((observed - expected) / (1 - expected), 4)
    return out


# -- rendering ---------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def _counts_line(c: dict[str, Any]) -> str:
    return (f"{_n(c['suggestions'], 'suggestion')}: {c['accepted']} accepted, {c['edited']} edited, {c['merged']} merged, "
            f"{c['rejected']} rejected, {c['pending']} pending ({c['proposed']} proposed, {c['deferred']} deferred, "
            f"{c['ungrounded']} ungrounded); accepted as proposed {_pct(c['acceptance_rate'])} of {c['decided']} decided, "
            f"kept in some form {_pct(c['kept_rate'])}")  # fmt: skip


def _kappa_line(k: dict[str, Any]) -> str:
    if k["value"] is None:
        return f"kappa: none ({k['reason']})"
    t = k["table"]
    return (f"kappa {k['value']:.3f} over {_n(k['items'], 'kept suggestion')} (observed {k['observed']:.0%}, chance "
            f"{k['expected']:.0%}); engine existing/new x coder existing/new: {t['existing']['existing']} "
            f"{t['existing']['new']} / {t['new']['existing']} {t['new']['new']}")  # fmt: skip


def _listed(items: list[str], limit: int) -> str:
    if not items:
        return "none"
    if limit and len(items) > limit:
        return ", ".join(items[:limit]) + f", ... and {len(items) - limit} more"
    return ", ".join(items)


def render_text(r: WaveReport, limit: int = 20) -> str:
    """The report as plain text; lists and the prevalence table show ``limit`` entries (0: all)."""
    c, w = r.coverage, r.wave
    lines = [f"wave {w}: {_n(c['documents'], 'document')}, {_n(c['segments'], 'segment')} "
             f"({c['participant_segments']} participant talk); {c['segments_touched']} with a suggestion or a coding "
             f"({c['segments_with_suggestions']} with suggestions, {c['segments_with_codings']} with codings), "
             f"{c['segments_run']} through a provider"]  # fmt: skip
    lines.append(f"new codes ({len(r.new_codes)}): " + _listed(
        [f"'{x['label']}' ({_n(x['codings'], 'coding')}, {_n(x['documents'], 'document')})" for x in r.new_codes], limit))
    lines.append(f"new categories ({len(r.new_categories)}): " + _listed(
        [f"'{x['name']}' (new members: {', '.join(x['new_members']) or '-'})" for x in r.new_categories], limit))
    keys = [wave_key(x) for x in r.waves]
    lines.append(f"prevalence ({len(r.prevalence)} codes): codings/documents per wave; change = share of wave {w}'s "
                 f"documents with the code minus that share in earlier waves; then codings per side in wave {w}")  # fmt: skip
    lines.append(f"  {'code':<36} {'':<7}" + "".join(f"{'w' + k:>8}" for k in keys) + f"{'change':>8}  " + "  ".join(r.sides))
    shown = r.prevalence[:limit] if limit else r.prevalence
    for p in shown:
        cells = "".join(f"{str(p['by_wave'][k]['codings']) + '/' + str(p['by_wave'][k]['documents']):>8}" for k in keys)
        sides = "  ".join(f"{p['by_side'][s][wave_key(w)]['codings']:>{len(s)}}" for s in r.sides)
        lines.append(f"  {p['label'][:35]:<36}{p['status']:<8}{cells}{p['change']:>+8.2f}  {sides}")
    if len(shown) < len(r.prevalence):
        lines.append(f"  ... and {len(r.prevalence) - len(shown)} more (--json or --html for all)")
    lines.append(f"stopped ({len(r.stopped)}): " + _listed(
        [f"'{x['label']}' (last in wave {wave_key(x['last_wave'])}, {_n(x['earlier_codings'], 'coding')}"
         + (f"; {x['open_proposals']} open on wave {w})" if x["open_proposals"] else ")") for x in r.stopped], limit))  # fmt: skip
    s = r.saturation["wave"] or {}
    lines.append(f"saturation: wave {w} added {_n(s.get('new_codes', 0), 'new code')} and "
                 f"{_n(s.get('new_categories', 0), 'new category')} over {_n(s.get('interviews', 0), 'interview')}; "
                 f"{r.saturation['signal']}")  # fmt: skip
    cb = r.agreement["codebook"]
    lines.append(f"codebook proposals (reusing an existing code): {_counts_line(cb)}; kept with the proposed code "
                 f"{cb['kept_code']}, with another code {cb['changed_code']}")  # fmt: skip
    lines.append("new-code proposals: " + _counts_line(r.agreement["new_code"]))
    lines.append(_kappa_line(r.agreement["kappa"]))
    lines += [f"note: {n}" for n in r.notes if not n.startswith("no kappa")]
    return "\n".join(lines)


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
          "th,td{border:1px solid #bbb;padding:.2em .5em;text-align:left}td.n{text-align:right}th{background:#eee}")  # fmt: skip


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        num = isinstance(v, (int, float)) and not isinstance(v, bool)
        return f"<td class=\"n\">{html.escape(str(v))}</td>" if num else f"<td>{html.escape(str(v))}</td>"

    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows]
    if not rows:
        out.append(f"<tr><td colspan=\"{len(head)}\">none</td></tr>")
    return "\n".join(out + ["</table>"])


def render_html(r: WaveReport, title: str = "") -> str:
    """The report as one self-contained HTML page of tables (no scripts, no external assets)."""
    e, w, keys = html.escape, r.wave, [wave_key(x) for x in r.waves]
    name = title or f"Wave {w} report"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(name)}</title>"
             f"<style>{_STYLE}</style></head><body>", f"<h1>{e(name)}</h1>"]  # fmt: skip
    parts += ["<h2>Coverage</h2>", _table(["figure", "value"], [[k.replace("_", " "), v] for k, v in r.coverage.items()])]
    parts += [f"<p>{e(n)}</p>" for n in r.notes]
    parts += ["<h2>New codes</h2>", _table(["code", "codings", "documents"],
                                          [[x["label"], x["codings"], x["documents"]] for x in r.new_codes])]  # fmt: skip
    parts += ["<h2>New categories</h2>", _table(["category", "members", "new members"], [
        [x["name"], ", ".join(x["members"]), ", ".join(x["new_members"])] for x in r.new_categories])]  # fmt: skip
    head = ["code", "status"] + [f"wave {k} codings / documents / participants" for k in keys]
    head += ["earlier share", f"wave {w} share", "change"] + [f"{s}: wave {k}" for s in r.sides for k in keys]
    rows = [[p["label"], p["status"]] + [f"{p['by_wave'][k]['codings']} / {p['by_wave'][k]['documents']} / "
                                         f"{p['by_wave'][k]['participants']}" for k in keys]
            + [_pct(p["earlier_document_share"]), _pct(p["wave_document_share"]), f"{p['change']:+.2f}"]
            + [p["by_side"][s][k]["codings"] for s in r.sides for k in keys] for p in r.prevalence]  # fmt: skip
    parts += ["<h2>Prevalence by wave and side</h2>", "<p>Share: documents with the code among the wave's documents; "
              f"change: wave {w} share minus the share over earlier waves. Per side: codings.</p>", _table(head, rows)]  # fmt: skip
    parts += ["<h2>Codes that stopped appearing</h2>", _table(
        ["code", "last wave", "earlier codings", "earlier documents", f"open proposals on wave {w}"],
        [[x["label"], wave_key(x["last_wave"]), x["earlier_codings"], x["earlier_documents"], x["open_proposals"]]
         for x in r.stopped])]  # fmt: skip
    parts += ["<h2>Saturation</h2>", _table(["wave", "interviews", "new codes", "new categories"], [
        [wave_key(x["wave"]), x["interviews"], x["new_codes"], x["new_categories"]] for x in r.saturation["waves"]]),
        f"<p>{e(r.saturation['signal'])}</p>"]  # fmt: skip
    a = r.agreement
    cols = ["suggestions", *STATUSES, "pending", "decided", "acceptance_rate", "kept_rate"]
    fmt = {"acceptance_rate": _pct, "kept_rate": _pct}
    parts += ["<h2>Codebook proposals and human decisions</h2>", _table(["proposals"] + [c.replace("_", " ") for c in cols], [
        [label] + [fmt.get(c, lambda v: v)(a[key][c]) for c in cols] for label, key in
        (("reusing an existing code", "codebook"), ("new code", "new_code"))])]  # fmt: skip
    parts.append(f"<p>Codebook proposals kept with the proposed code: {a['codebook']['kept_code']}; "
                 f"kept with another code: {a['codebook']['changed_code']}.</p>")  # fmt: skip
    k = a["kappa"]
    parts += ["<h3>Cohen's kappa</h3>", f"<p>{e(_kappa_line(k))}</p>", f"<p>Pairing: {e(k['pairing'])}.</p>",
              _table(["engine \\ coder", "existing", "new"], [[x, k["table"][x]["existing"], k["table"][x]["new"]]
                                                              for x in ("existing", "new")])]  # fmt: skip
    return "\n".join(parts + ["</body></html>\n"])
