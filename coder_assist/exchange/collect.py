"""The project as a REFI-QDA model: what ``export qdpx`` and ``export qdc`` write.

Current document versions become plain-text sources (their stored text, so every offset stays a
code point into it); codes keep their hierarchy, definitions and colours; confirmed categories
become sets of codes; participants become cases carrying their attributes as variables; the
latest version of each memo becomes a note, referenced from what it is about. Each coding is a
selection whose description says where it came from (the model, prompt version, decision and
coder), since that is the field every tool shows. Objects keep the GUID they were imported with;
the others get a uuid5 derived from the project, so exporting twice gives the same GUIDs.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from ..store.audit import project_key
from ..suggest.grounding import verify_citations
from ..suggest.passages import mark_unverified, unverified
from .model import Case, Code, Coding, Note, RefiProject, Selection, Set, Source, User, Variable, VariableValue

#: Colours for codes that have none: distinct, readable on white.
PALETTE = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F",
           "#BCBD22", "#17BECF", "#393B79", "#637939", "#8C6D31", "#843C39", "#7B4173", "#3182BD"]  # fmt: skip
try:
    ORIGIN = f"coder-assist {version('coder-assist')}"
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    ORIGIN = "coder-assist"
PARTICIPANT_FIELDS = ("side", "role_category", "role_title", "sector", "organisation", "experience", "case_id")
ACTIONS = {"accept": "accepted", "edit": "accepted with edits", "merge": "merged into an existing code"}
#: Tables of model suggestions that wait for a human decision; none of them is exported.
UNDECIDED = ("suggestions", "category_suggestions", "link_suggestions", "memo_drafts", "analysis_suggestions")
#: Subject prefixes of memos and the kind of object the note is attached to.
SUBJECTS = {"category": "category", "code": "code", "document": "document"}


@dataclass
class Collected:
    project: RefiProject
    counts: dict[str, int] = field(default_factory=dict)


def xsd_datetime(stored: str | None) -> str | None:
    """A stored ISO timestamp as ``xsd:dateTime`` in UTC to the second (``2026-12-05T09:00:00Z``)."""
    if not stored:
        return None
    try:
        dt = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Guids:
    """The GUID of each exported object: the one it was imported with, else a stable uuid5."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"coder-assist:project:{project_key(conn)}")
        self.known = {(r["kind"], r["local_id"]): r["guid"] for r in conn.execute("SELECT * FROM exchange_ids")}
        self.file_names = {(r["kind"], r["local_id"]): (r["name"], r["local_name"])
                           for r in conn.execute("SELECT * FROM exchange_ids WHERE name IS NOT NULL")}  # fmt: skip

    def __call__(self, kind: str, local_id: object) -> str:
        key = (kind, str(local_id))
        return self.known.get(key) or str(uuid.uuid5(self.namespace, f"{kind}:{local_id}"))

    def name(self, kind: str, local_id: object, ours: str) -> str:
        """The object's name in the file it came from, while ours is still the one given at import."""
        file_name, local_name = self.file_names.get((kind, str(local_id)), (None, None))
        return file_name if file_name is not None and local_name == ours else ours


def collect(conn: sqlite3.Connection, project_name: str, actor: str, *, codebook_only: bool = False) -> Collected:
    """Read the project into a :class:`RefiProject`; ``codebook_only`` for a ``.qdc``."""
    guids = Guids(conn)
    out = RefiProject(name=project_name, origin=ORIGIN)
    codes = _codes(conn, guids)
    out.codes = codes["top"]
    out.sets = _sets(conn, guids)
    counts = {"codes": len(codes["by_id"]), "sets": len(out.sets)}
    if codebook_only:
        return Collected(out, counts)
    users: dict[str, str] = {}

    def user(name: str | None) -> str | None:
        if not name:
            return None
        return users.setdefault(name, guids("user", name))

    out.creating_user_guid = user(actor)
    first = conn.execute("SELECT at FROM events ORDER BY seq LIMIT 1").fetchone()
    out.created = xsd_datetime(first[0]) if first else None
    variables: dict[str, Variable] = {}

    def value(name: str, v: object, type_: str = "Text") -> VariableValue:
        var = variables.setdefault(name, Variable(guids("variable", name), name, type_))  # type: ignore[arg-type]
        return VariableValue(var.guid, v if var.type != "Text" else str(v))  # type: ignore[arg-type]

    sources = _sources(conn, guids, user, value)
    out.sources = list(sources.values())
    counts["codings"], counts["selections"] = _selections(conn, guids, user, sources)
    out.cases = _cases(conn, guids, value, sources)
    notes, refs = _notes(conn, guids, user)
    out.notes = notes
    for kind, target, note_guid in refs:
        if kind == "category" and target in {s.name for s in out.sets}:
            next(s for s in out.sets if s.name == target).note_guids.append(note_guid)
        elif kind == "code" and target in codes["by_label"]:
            codes["by_label"][target].note_guids.append(note_guid)
        elif kind == "document" and target in {s.name for s in out.sources}:
            next(s for s in out.sources if s.name == target).note_guids.append(note_guid)
        else:
            out.note_guids.append(note_guid)
    out.variables = list(variables.values())
    for name, u_guid in users.items():
        out.users.append(User(u_guid, name))
    counts.update(sources=len(out.sources), cases=len(out.cases), notes=len(out.notes), users=len(out.users))
    old = conn.execute(
        "SELECT count(*) FROM codings g JOIN documents d ON d.id = g.document_id WHERE g.active = 1 AND d.current = 0"
    ).fetchone()[0]
    if old:
        out.warnings.append(f"{old} coding(s) on superseded document versions are not exported (only current versions are)")
    links = conn.execute("SELECT count(*) FROM construct_links WHERE active = 1").fetchone()[0]
    if links:
        out.warnings.append(f"{links} confirmed construct link(s) are not exported (REFI-QDA has no construct frameworks)")
    earlier = conn.execute("SELECT count(*) - count(DISTINCT subject) FROM memos").fetchone()[0]
    if earlier:
        out.warnings.append(f"{earlier} earlier memo version(s) are not exported (only the latest version of each memo is)")
    undecided = sum(conn.execute(f"SELECT count(*) FROM {t} WHERE status = 'proposed'").fetchone()[0] for t in UNDECIDED)
    if undecided:
        out.warnings.append(f"{undecided} suggestion(s) no one has decided are not exported (only human decisions are)")
    return Collected(out, counts)


def _codes(conn: sqlite3.Connection, guids: Guids) -> dict:
    rows = conn.execute("SELECT * FROM codes WHERE active = 1 ORDER BY id").fetchall()
    by_id: dict[int, Code] = {}
    for r in rows:
        by_id[r["id"]] = Code(
            guid=guids("code", r["id"]), name=guids.name("code", r["id"], r["label"]), codable=r["kind"] != "folder",
            color=r["color"] or PALETTE[r["id"] % len(PALETTE)], description=r["definition"] or None,
        )  # fmt: skip
    top: list[Code] = []
    for r in rows:
        parent = by_id.get(r["parent_id"]) if r["parent_id"] is not None else None
        (parent.children if parent is not None and r["parent_id"] != r["id"] else top).append(by_id[r["id"]])
    by_label = {r["label"]: by_id[r["id"]] for r in rows}
    return {"top": top, "by_id": by_id, "by_label": by_label}


def _sets(conn: sqlite3.Connection, guids: Guids) -> list[Set]:
    out = []
    for c in conn.execute("SELECT * FROM categories WHERE active = 1 ORDER BY id"):
        members = sorted(guids("code", r[0]) for r in conn.execute(
            "SELECT m.code_id FROM category_members m JOIN codes k ON k.id = m.code_id"
            " WHERE m.category_id = ? AND m.active = 1 AND k.active = 1", (c["id"],)))  # fmt: skip
        out.append(Set(guids("category", c["id"]), c["name"], c["definition"] or None, members))
    return out


def _sources(conn: sqlite3.Connection, guids: Guids, user, value) -> dict[int, Source]:  # type: ignore[no-untyped-def]
    out: dict[int, Source] = {}
    for d in conn.execute("SELECT * FROM documents WHERE current = 1 ORDER BY id"):
        src = Source(guid=guids("document", d["name"]), name=d["name"], text=d["text"],
                     user_guid=user(d["ingested_by"]), created=xsd_datetime(d["ingested_at"]))  # fmt: skip
        if d["wave"] is not None:
            src.variables.append(value("wave", int(d["wave"]), "Integer"))
        if d["case_id"]:
            src.variables.append(value("case", d["case_id"]))
        out[d["id"]] = src
    return out


def _provenance(conn: sqlite3.Connection, g: sqlite3.Row) -> str:
    """Where a coding came from, in words another tool shows as the selection's description."""
    when = (g["created_at"] or "")[:10]
    if not g["suggestion_id"]:
        return f"coder-assist: coded by hand by {g['created_by']} on {when}"
    s = conn.execute(
        "SELECT s.label, s.in_vivo, r.provider, r.model, r.prompt_id, r.prompt_version, r.prompt_sha256"
        " FROM suggestions s JOIN coding_runs r ON r.id = s.run_id WHERE s.id = ?", (g["suggestion_id"],),
    ).fetchone()  # fmt: skip
    dec = conn.execute("SELECT action, coder, at FROM decisions WHERE id = ?", (g["decision_id"],)).fetchone() if g[
        "decision_id"] else None  # fmt: skip
    who = "the offline heuristic provider" if s["provider"] == "offline" else f"{s['provider']} model {s['model']}"
    said = f"suggested by {who} (prompt {s['prompt_id']} v{s['prompt_version']}, sha256 {s['prompt_sha256'][:12]})"
    if s["in_vivo"]:
        said += " as an in-vivo code"
    if dec:
        decided = f"{ACTIONS.get(dec['action'], dec['action'])} by {dec['coder']} on {dec['at'][:10]}"
    else:
        decided = f"accepted by {g['created_by']} on {when}"
    return f"coder-assist: {said}; {decided} [suggestion {g['suggestion_id']}]"


def _selections(conn: sqlite3.Connection, guids: Guids, user, sources: dict[int, Source]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    rows = conn.execute(
        "SELECT g.*, ic.selection_guid, ic.selection_name, ic.description AS imported_description"
        " FROM codings g JOIN codes c ON c.id = g.code_id AND c.active = 1"
        " JOIN documents d ON d.id = g.document_id AND d.current = 1"
        " LEFT JOIN imported_codings ic ON ic.coding_id = g.id"
        " WHERE g.active = 1 ORDER BY g.document_id, g.start, g.end, g.id"
    ).fetchall()
    groups: dict[tuple, list[sqlite3.Row]] = defaultdict(list)
    for g in rows:
        key = (g["document_id"], g["selection_guid"] or f"coding:{g['id']}", g["start"], g["end"])
        groups[key].append(g)
    n_sel = 0
    for (doc_id, _, start, end), members in groups.items():
        first = members[0]
        src = sources[doc_id]
        excerpt = " ".join(src.text[start:end].split())
        sel = Selection(
            guid=first["selection_guid"] or guids("selection", first["id"]), start=start, end=end,
            name=first["selection_name"] if first["selection_guid"] else (excerpt[:77] + "..." if len(excerpt) > 80 else excerpt),
            description=first["imported_description"] if first["selection_guid"] else _provenance(conn, first),
            user_guid=user(first["created_by"]), created=xsd_datetime(first["created_at"]),
        )  # fmt: skip
        for g in members:
            sel.codings.append(Coding(guids("coding", g["id"]), guids("code", g["code_id"]), user(g["created_by"]),
                                      xsd_datetime(g["created_at"])))  # fmt: skip
        src.selections.append(sel)
        n_sel += 1
    return len(rows), n_sel


def _cases(conn: sqlite3.Connection, guids: Guids, value, sources: dict[int, Source]) -> list[Case]:  # type: ignore[no-untyped-def]
    out = []
    for p in conn.execute("SELECT * FROM participants ORDER BY id"):
        case = Case(guids("participant", p["id"]), p["speaker"])
        case.variables.append(value("participant_id", p["id"]))
        for f in PARTICIPANT_FIELDS:
            if p[f] not in (None, ""):
                case.variables.append(value("case" if f == "case_id" else f, p[f]))
        for k, v in sorted(json.loads(p["extra"] or "{}").items()):
            if v not in (None, ""):
                case.variables.append(value(k, v))
        docs = [r[0] for r in conn.execute(
            "SELECT DISTINCT t.document_id FROM turns t JOIN documents d ON d.id = t.document_id"
            " WHERE d.current = 1 AND t.speaker = ? ORDER BY t.document_id", (p["speaker"],))]  # fmt: skip
        case.source_guids = [sources[d].guid for d in docs if d in sources]
        out.append(case)
    return out


def _notes(conn: sqlite3.Connection, guids: Guids, user) -> tuple[list[Note], list[tuple[str, str, str]]]:  # type: ignore[no-untyped-def]
    """The latest memo versions as notes. Passages saved as unverified keep their ``[unverified
    quote]`` mark, and one saved unchecked (before the check existed) gets it; an anchored quote that no longer matches the exported (current) source text
    gets a line ``[unverified quote: ...]`` at the end, so no tool shows it as the participant's words."""
    notes, refs = [], []
    latest = conn.execute(
        "SELECT m.* FROM memos m WHERE m.version = (SELECT max(version) FROM memos x WHERE x.subject = m.subject)"
        " ORDER BY m.subject"
    ).fetchall()
    for m in latest:
        body = m["body"]
        invented = unverified(conn, body, marked=False)  # saved before passages were checked
        body = mark_unverified(body, invented) if invented else body
        stale = "".join(f"\n[unverified quote: {p}]" for p in verify_citations(conn, body))
        note = Note(guids("memo", m["subject"]), m["subject"], body + ("\n" + stale if stale else ""),
                    user_guid=user(m["created_by"]), created=xsd_datetime(m["created_at"]))  # fmt: skip
        notes.append(note)
        kind, _, target = m["subject"].partition(":")
        refs.append((SUBJECTS.get(kind, "project"), target, note.guid))
    return notes, refs
