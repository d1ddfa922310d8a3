"""A REFI-QDA model into the project: what ``import qdpx`` and ``import qdc`` do.

Everything is written in one human-decision transaction attributed to the named person who
imports, so the file's codes, codings, categories and memos enter the project as decisions, and
the import is one audit event; any failure leaves the project unchanged. Imported codings are the
human codings of their original coders (the file's users), never suggestions.

Each source keeps its text verbatim (no BOM, ``\\n`` line ends), so a selection covers the same
words as in the tool that wrote it; turns and segments are found in that text, not re-rendered.
Objects are matched by the GUID they were imported or exported with, then by content (a document
with the same text, a code with the same name), so importing a file again, or importing our own
export into the same project, adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..ingest import participants, pipeline
from ..ingest.formats.model import ParsedTranscript, RawTurn
from ..ingest.formats.plain import split_turns
from ..ingest.segment import segment_turns
from ..ingest.transcript import TurnSpan
from ..review.decisions import human_decision
from ..store import audit
from ..store.context import StoreContext
from ..store.db import utcnow
from ..store.tokens import default_counter
from .model import Code, Coding, RefiProject, Selection, Source, norm_guid, walk_codes

#: Case variables that are participant columns (the rest go to the participant's free attributes).
CASE_FIELDS = {"participant_id": "id", "side": "side", "role_category": "role_category", "role_title": "role_title",
               "sector": "sector", "organisation": "organisation", "experience": "experience", "case": "case_id"}  # fmt: skip


@dataclass
class ImportReport:
    file: str
    kind: str
    origin: str | None
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    offset_units: dict[str, str] = field(default_factory=dict)
    """Per source name: how the file counted positions (see ``exchange.offsets``)."""
    already: str | None = None
    """Set when this exact file was imported before: nothing was done."""
    import_id: int | None = None


def stored_datetime(value: str | None) -> str | None:
    """An ``xsd:dateTime`` from a file as the database stores times (ISO, UTC, microseconds)."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


# -- layout: turns found in the verbatim text ------------------------------------------------------
def layout(text: str) -> tuple[list[TurnSpan], bool]:
    """Speaker turns of a source's text, placed where they are in it (never re-rendered).

    The plain-text parser finds labels and turns; each turn's paragraphs are then looked up in
    order in the text. When a turn cannot be found verbatim (the parser cleaned it), the text is
    laid out as unlabelled paragraphs instead."""
    try:
        turns, labelled = split_turns(text)
    except Exception:  # noqa: BLE001 - any parser refusal falls back to paragraphs
        turns, labelled = [], False
    spans = _place(text, turns) if turns else None
    if spans is None:
        return _paragraphs(text), False
    return spans, labelled and any(s.speaker for s in spans)


def _place(text: str, turns: list[RawTurn]) -> list[TurnSpan] | None:
    out: list[TurnSpan] = []
    pos = 0
    for turn in turns:
        paras = [p.strip() for p in turn.text.split("\n") if p.strip()]
        if not paras:
            continue
        first = text.find(paras[0], pos)
        if first < 0:
            return None
        end = first + len(paras[0])
        for p in paras[1:]:
            at = text.find(p, end)
            if at < 0:
                return None
            end = at + len(p)
        out.append(TurnSpan(len(out), turn.speaker, turn.role, turn.label, first, end, turn.start, turn.end))
        pos = end
    return out


def _paragraphs(text: str) -> list[TurnSpan]:
    out: list[TurnSpan] = []
    pos = 0
    for block in text.split("\n\n"):
        stripped = block.strip()
        if stripped:
            start = pos + block.index(stripped)
            out.append(TurnSpan(len(out), None, None, None, start, start + len(stripped), None, None))
        pos += len(block) + 2
    return out


def prepare_source(src: Source, archive: Path, max_tokens: int) -> pipeline.Prepared | None:
    """A source laid out and segmented, ready for ``pipeline.store``; None when it has no text."""
    if not src.text.strip():
        return None
    turns, labelled = layout(src.text)
    sha = hashlib.sha256(b"refi-qda:" + src.text.encode("utf-8")).hexdigest()
    segments = segment_turns(src.text, turns, sha, max_tokens=max_tokens, counter=default_counter())
    parsed = ParsedTranscript([], "refi", "utf-8", labelled, [])
    return pipeline.Prepared(Path(f"{archive}#{src.name}"), src.name, sha, parsed, src.text, turns, segments)


# -- the import -------------------------------------------------------------------------------------
class _Ids:
    """The ``exchange_ids`` table: GUIDs of imported objects, keyed both ways."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def local(self, kind: str, guid: str) -> str | None:
        row = self.conn.execute("SELECT local_id FROM exchange_ids WHERE kind = ? AND guid = ?",
                                (kind, norm_guid(guid))).fetchone()  # fmt: skip
        return row[0] if row else None

    def remember(self, kind: str, local_id: object, guid: str, name: str | None = None,
                 local_name: str | None = None) -> None:  # fmt: skip
        self.conn.execute(
            "INSERT OR IGNORE INTO exchange_ids (kind, local_id, guid, name, local_name) VALUES (?, ?, ?, ?, ?)",
            (kind, str(local_id), norm_guid(guid), name, local_name),
        )


def import_project(store: StoreContext, rp: RefiProject, path: Path, coder: str | None, kind: str) -> ImportReport:
    """Write ``rp`` into the project (all or nothing). Returns what was added, matched and passed over."""
    conn = store.conn
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    report = ImportReport(str(path), kind, rp.origin, warnings=list(rp.warnings))
    prior = conn.execute("SELECT * FROM imports WHERE sha256 = ? ORDER BY id LIMIT 1", (sha,)).fetchone()
    if prior is not None:
        report.already = f"this file was imported on {prior['imported_at'][:19]} by {prior['imported_by']}; nothing to do"
        return report
    max_tokens = store.config.segmentation.max_tokens
    prepared = {s.guid: prepare_source(s, path, max_tokens) for s in rp.sources}  # no writes before this point
    counts = dict.fromkeys(("sources", "sources_matched", "codes", "codes_matched", "codings", "codings_matched",
                            "categories", "memos", "participants"), 0)  # fmt: skip
    with human_decision(conn, coder) as who:
        ids = _Ids(conn)
        import_id = conn.execute(
            "INSERT INTO imports (file, sha256, kind, origin, project_name, imported_at, imported_by) VALUES (?,?,?,?,?,?,?)",
            (path.name, sha, kind, rp.origin, rp.name, utcnow(), who),
        ).lastrowid
        users = _users(rp, ids)
        for v in rp.variables:
            ids.remember("variable", v.name, v.guid)
        code_ids = _codes(conn, rp, ids, who, counts, report)
        docs = _sources(conn, rp, prepared, ids, who, counts, report)
        _codings(conn, rp, docs, code_ids, users, ids, who, import_id, counts, report)  # type: ignore[arg-type]
        _cases(conn, rp, ids, path, counts, report)
        _sets(conn, rp, code_ids, ids, who, counts, report)
        _notes(conn, rp, users, ids, who, counts)
        if rp.links:
            report.warnings.append(f"{len(rp.links)} link(s) between objects are not imported")
        conn.execute("UPDATE imports SET counts = ?, warnings = ? WHERE id = ?",
                     (json.dumps(counts), json.dumps(report.warnings, ensure_ascii=False), import_id))  # fmt: skip
        conn.execute("INSERT INTO decisions (action, coder, at, note, target) VALUES (?, ?, ?, ?, ?)",
                     ("exchange:import", who, utcnow(), path.name, f"import:{import_id}"))  # fmt: skip
        audit.append(conn, who, "import", {
            "import_id": import_id, "file": path.name, "sha256": sha, "kind": kind, "origin": rp.origin,
            "project_name": rp.name, "counts": counts, "offset_units": report.offset_units, "warnings": report.warnings,
        })  # fmt: skip
    report.counts, report.import_id = counts, import_id
    return report


def _users(rp: RefiProject, ids: _Ids) -> dict[str, str]:
    """GUID -> the person's name (coders are known by name in this project)."""
    out = {}
    for u in rp.users:
        name = (u.name or u.id or u.guid).strip()
        out[norm_guid(u.guid)] = name
        ids.remember("user", name, u.guid)  # the first GUID seen for a name stays its GUID
    return out


def _codes(conn: sqlite3.Connection, rp: RefiProject, ids: _Ids, who: str, counts: dict, report: ImportReport) -> dict[str, int]:
    out: dict[str, int] = {}
    created: set[int] = set()
    parents: dict[str, Code | None] = {}
    for code, parent in walk_codes(rp.codes):
        parents[norm_guid(code.guid)] = parent
        known = ids.local("code", code.guid)
        if known is not None and conn.execute("SELECT 1 FROM codes WHERE id = ? AND active = 1", (int(known),)).fetchone():
            out[norm_guid(code.guid)] = int(known)
            counts["codes_matched"] += 1
            continue
        name = " ".join(code.name.split()) or code.guid
        parent_id = out.get(norm_guid(parent.guid)) if parent is not None else None
        same = conn.execute("SELECT id, parent_id FROM codes WHERE label = ? AND active = 1", (name,)).fetchone()
        if same is not None and same["id"] not in created and same["parent_id"] == parent_id:
            out[norm_guid(code.guid)] = same["id"]  # the same code, already in the project
            ids.remember("code", same["id"], code.guid)
            counts["codes_matched"] += 1
            continue
        label = name
        if same is not None:
            label = _unique_label(conn, name, parent.name if parent is not None else None)
            report.warnings.append(f"code {name!r} exists already elsewhere in the codebook; imported as {label!r}")
        code_id = conn.execute(
            "INSERT INTO codes (label, kind, definition, parent_id, created_at, created_by, color) VALUES (?,?,?,?,?,?,?)",
            (label, "initial" if code.codable else "folder", code.description, parent_id, utcnow(), who, code.color),
        ).lastrowid
        created.add(int(code_id))  # type: ignore[arg-type]
        out[norm_guid(code.guid)] = int(code_id)  # type: ignore[arg-type]
        ids.remember("code", code_id, code.guid, code.name if label != code.name else None,
                     label if label != code.name else None)  # fmt: skip
        counts["codes"] += 1
    return out


def _unique_label(conn: sqlite3.Connection, name: str, parent: str | None) -> str:
    base = f"{name} ({parent})" if parent else f"{name} (imported)"
    label, n = base, 2
    while conn.execute("SELECT 1 FROM codes WHERE label = ? AND active = 1", (label,)).fetchone():
        label, n = f"{base} {n}", n + 1
    return label


def _sources(conn: sqlite3.Connection, rp: RefiProject, prepared: dict[str, pipeline.Prepared | None], ids: _Ids,
             who: str, counts: dict, report: ImportReport) -> dict[str, int]:  # fmt: skip
    """Source GUID -> document id (matched by GUID, then by identical text, else added)."""
    out: dict[str, int] = {}
    for src in rp.sources:
        prep = prepared[src.guid]
        report.offset_units[src.name] = src.offset_unit
        if prep is None:
            if src.selections or src.codings:
                report.warnings.append(f"source {src.name!r} has no text here; its codings are not imported")
            else:
                report.warnings.append(f"source {src.name!r} has no plain text; not imported")
            continue
        text_sha = hashlib.sha256(src.text.encode()).hexdigest()
        known = ids.local("document", src.guid)
        row = conn.execute(
            "SELECT id, name FROM documents WHERE current = 1 AND text_sha256 = ? ORDER BY (name = ?) DESC, id LIMIT 1",
            (text_sha, known or src.name),
        ).fetchone()
        wave, case = _source_variables(rp, src, report)
        if row is not None:
            out[norm_guid(src.guid)] = row["id"]
            ids.remember("document", row["name"], src.guid)
            counts["sources_matched"] += 1
            continue
        if conn.execute("SELECT 1 FROM documents WHERE name = ? AND current = 1", (prep.name,)).fetchone():
            report.warnings.append(f"source {src.name!r}: a different document of that name exists; stored as its new version")
        result, _ = pipeline.store(conn, prep, who, wave, case)
        out[norm_guid(src.guid)] = result.document_id
        ids.remember("document", prep.name, src.guid)
        counts["sources"] += 1
    return out


def _source_variables(rp: RefiProject, src: Source, report: ImportReport) -> tuple[int | None, str | None]:
    names = {norm_guid(v.guid): v.name for v in rp.variables}
    wave, case, dropped = None, None, []
    for vv in src.variables:
        name = names.get(norm_guid(vv.variable_guid), "?")
        if name.lower() == "wave" and _as_int(vv.value) is not None:
            wave = _as_int(vv.value)
        elif name.lower() == "case" and vv.value not in (None, ""):
            case = str(vv.value)
        elif vv.value not in (None, ""):
            dropped.append(name)
    if dropped:
        report.warnings.append(f"source {src.name!r}: variable(s) {', '.join(sorted(set(dropped)))} not kept "
                               "(sources keep only wave and case)")  # fmt: skip
    return wave, case


def _as_int(v: object) -> int | None:
    try:
        return int(str(v))
    except ValueError:
        return None


def _segment_for(conn: sqlite3.Connection, doc_id: int, start: int, end: int) -> str | None:
    """The segment a span belongs to: the one it overlaps most, else the nearest."""
    row = conn.execute(
        "SELECT id FROM segments WHERE document_id = ? ORDER BY"
        " max(0, min(end, ?) - max(start, ?)) DESC, min(abs(start - ?), abs(end - ?)) ASC, idx LIMIT 1",
        (doc_id, end, start, start, end),
    ).fetchone()
    return row[0] if row else None


def _codings(conn: sqlite3.Connection, rp: RefiProject, docs: dict[str, int], code_ids: dict[str, int],
             users: dict[str, str], ids: _Ids, who: str, import_id: int, counts: dict, report: ImportReport) -> None:  # fmt: skip
    unknown = 0
    for src in rp.sources:
        doc_id = docs.get(norm_guid(src.guid))
        if doc_id is None:
            continue
        whole = [Selection(src.guid, 0, len(src.text), codings=src.codings)] if src.codings else []
        for sel in src.selections + whole:
            for c in sel.codings:
                code_id = code_ids.get(norm_guid(c.code_guid))
                if code_id is None:
                    unknown += 1
                    continue
                if _coding_exists(conn, ids, c, code_id, doc_id, sel):
                    counts["codings_matched"] += 1
                    continue
                segment = _segment_for(conn, doc_id, sel.start, sel.end)
                if segment is None:
                    report.warnings.append(f"source {src.name!r}: no segment to hold a coding; skipped")
                    continue
                user = users.get(norm_guid(c.user_guid or sel.user_guid or ""), None) or who
                at = stored_datetime(c.created) or stored_datetime(sel.created) or utcnow()
                coding_id = conn.execute(
                    "INSERT INTO codings (code_id, segment_id, document_id, start, end, created_at, created_by)"
                    " VALUES (?,?,?,?,?,?,?)", (code_id, segment, doc_id, sel.start, sel.end, at, user),
                ).lastrowid  # fmt: skip
                is_whole = bool(whole) and sel is whole[0]
                conn.execute(
                    "INSERT INTO imported_codings (coding_id, import_id, selection_guid, selection_name, description)"
                    " VALUES (?,?,?,?,?)",
                    (coding_id, import_id, None if is_whole else norm_guid(sel.guid), sel.name, sel.description),
                )
                ids.remember("coding", coding_id, c.guid)
                counts["codings"] += 1
    if unknown:
        report.warnings.append(f"{unknown} coding(s) refer to codes the file does not define; not imported")


def _coding_exists(conn: sqlite3.Connection, ids: _Ids, c: Coding, code_id: int, doc_id: int, sel: Selection) -> bool:
    if ids.local("coding", c.guid) is not None:
        return True
    return conn.execute(
        "SELECT 1 FROM codings WHERE active = 1 AND code_id = ? AND document_id = ? AND start = ? AND end = ?",
        (code_id, doc_id, sel.start, sel.end),
    ).fetchone() is not None


def _cases(conn: sqlite3.Connection, rp: RefiProject, ids: _Ids, path: Path, counts: dict, report: ImportReport) -> None:
    names = {norm_guid(v.guid): v.name for v in rp.variables}
    rows = []
    for case in rp.cases:
        values = {names.get(norm_guid(vv.variable_guid), vv.variable_guid): vv.value for vv in case.variables}
        row = {CASE_FIELDS.get(k, k): _text(v) for k, v in values.items() if v not in (None, "")}
        speaker = (case.name or "").strip() or case.guid
        row["speaker"] = speaker
        row.setdefault("id", speaker)
        if row.get("side"):
            row["side"] = row["side"].lower()
        rows.append((case, row))
    known = {r["id"] for r in conn.execute("SELECT id FROM participants")}
    report_attrs = participants.upsert(conn, path, [r for _, r in rows])
    report.warnings += report_attrs.warnings
    for case, row in rows:
        ids.remember("participant", row["id"], case.guid)
        counts["participants"] += row["id"] not in known


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _sets(conn: sqlite3.Connection, rp: RefiProject, code_ids: dict[str, int], ids: _Ids, who: str, counts: dict,
          report: ImportReport) -> None:  # fmt: skip
    for s in rp.sets:
        members = sorted({code_ids[norm_guid(g)] for g in s.code_guids if norm_guid(g) in code_ids})
        if not members:
            report.warnings.append(f"set {s.name!r} has no codes; not imported (sets of sources or notes are not kept)")
            continue
        if ids.local("category", s.guid) is not None:
            continue
        cat_id = conn.execute(
            "INSERT INTO categories (name, definition, created_at, created_by) VALUES (?, ?, ?, ?)",
            (s.name, s.description, utcnow(), who),
        ).lastrowid
        conn.executemany("INSERT INTO category_members (category_id, code_id) VALUES (?, ?)", [(cat_id, m) for m in members])
        ids.remember("category", cat_id, s.guid)
        counts["categories"] += 1


def _notes(conn: sqlite3.Connection, rp: RefiProject, users: dict[str, str], ids: _Ids, who: str, counts: dict) -> None:
    """Notes become memos; the subject is the note's name, else what refers to it."""
    about: dict[str, str] = {}
    for code, _ in walk_codes(rp.codes):
        for g in code.note_guids:
            about.setdefault(norm_guid(g), f"code:{code.name}")
    for s in rp.sets:
        for g in s.note_guids:
            about.setdefault(norm_guid(g), f"category:{s.name}")
    for src in rp.sources:
        for g in src.note_guids:
            about.setdefault(norm_guid(g), f"document:{src.name}")
    for note in rp.notes:
        if ids.local("memo", note.guid) is not None or not note.text.strip():
            continue
        subject = (note.name or "").strip() or about.get(norm_guid(note.guid)) or f"note:{note.guid}"
        prev = conn.execute("SELECT version, body FROM memos WHERE subject = ? ORDER BY version DESC LIMIT 1", (subject,)).fetchone()
        if prev is not None and prev["body"] == note.text:
            ids.remember("memo", subject, note.guid)
            continue
        conn.execute(
            "INSERT INTO memos (subject, version, kind, body, citations, created_at, created_by) VALUES (?,?,?,?,?,?,?)",
            (subject, (prev["version"] + 1) if prev else 1, "imported", note.text, "[]",
             stored_datetime(note.created) or utcnow(), users.get(norm_guid(note.user_guid or ""), who)),
        )  # fmt: skip
        ids.remember("memo", subject, note.guid)
        counts["memos"] += 1
