"""REFI-QDA writer: a ``RefiProject`` as a schema-valid ``.qdpx`` project or ``.qdc`` codebook.

Element order follows the XSD sequences; positions are written as code points; the texts of
sources and notes go into ``sources/<guid>.txt`` (UTF-8, no BOM). Every document is validated
against the packaged XSD before a file is written, and files are replaced atomically, so a
model the standard cannot carry never produces (or damages) a file. Output is deterministic:
the same model gives the same bytes.
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Container, Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Literal

from lxml import etree

from ..errors import CoderAssistError
from ..store.files import atomic_write
from .model import (
    Code,
    Coding,
    Link,
    RefiProject,
    Selection,
    Source,
    Variable,
    VariableValue,
    norm_guid,
    walk_codes,
)

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
SCHEMA_DIR = Path(__file__).parent / "schema"
DEFAULT_ORIGIN = "coder-assist"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

Kind = Literal["project", "codebook"]
_SCHEMA_FILES: dict[str, str] = {"project": "Project.xsd", "codebook": "Codebook.xsd"}
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

_HEX_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID_RE = re.compile(rf"{_HEX_GUID}|\{{{_HEX_GUID}\}}")
_RGB_RE = re.compile(r"#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})")
_TZ = r"(?:Z|[+-]\d{2}:\d{2})?"
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?" + _TZ)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}" + _TZ)
_INTEGER_RE = re.compile(r"[+-]?\d+")
# Characters XML 1.0 cannot carry: C0 controls except TAB/LF/CR, lone surrogates, U+FFFE/U+FFFF.
_XML_BAD_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_DIRECTIONS = ("Associative", "OneWay", "Bidirectional")
_VALUE_TAGS = {
    "Text": "TextValue",
    "Boolean": "BooleanValue",
    "Integer": "IntegerValue",
    "Float": "FloatValue",
    "Date": "DateValue",
    "DateTime": "DateTimeValue",
}


class ExportError(CoderAssistError):
    """The model cannot be written as a valid REFI-QDA file; the message names the object."""


# ---------------------------------------------------------------------------------------------
# public API


def project_xml(p: RefiProject) -> bytes:
    """The ``project.qde`` document (UTF-8 with XML declaration); not validated here."""
    return _serialize(_ProjectBuilder(p).build())


def codebook_xml(p: RefiProject) -> bytes:
    """The ``.qdc`` document: ``Codes`` and, if any set has member codes, ``Sets``."""
    return _serialize(_CodebookBuilder(p).build())


def validate(xml: bytes, kind: Kind) -> None:
    """Check ``xml`` against the packaged ``Project.xsd``/``Codebook.xsd``; ExportError on the first error."""
    if kind not in _SCHEMA_FILES:
        raise ValueError(f"kind must be 'project' or 'codebook', not {kind!r}")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        doc = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as e:
        raise ExportError(f"{kind} XML is not well-formed: line {e.lineno}: {e.msg}") from e
    schema = _schema(kind)
    with _SCHEMA_LOCK:
        ok = schema.validate(doc)
        errors = list(schema.error_log)
    if not ok:
        err = errors[0]
        raise ExportError(
            f"{kind} XML does not validate against {_SCHEMA_FILES[kind]}: line {err.line}"
            f"{_element_at(doc, err.line)}: {err.message}"
        )


def write_qdpx(p: RefiProject, path: Path) -> list[str]:
    """Write ``p`` as a ``.qdpx`` at ``path``; returns warnings about anything lossy.

    Builds and validates everything first, then writes a temp file beside ``path`` and
    ``os.replace``-s it, so on any failure no file appears and an existing one is untouched.
    """
    builder = _ProjectBuilder(p)
    xml = _serialize(builder.build())
    validate(xml, "project")
    entries: list[tuple[str, bytes | None]] = [("project.qde", xml), ("sources/", None)]
    entries += builder.files
    _atomic_write(Path(path), _zip_bytes(entries))
    return builder.warnings


def write_qdc(p: RefiProject, path: Path) -> list[str]:
    """Write the codes and code sets of ``p`` as a ``.qdc`` at ``path``; returns warnings."""
    builder = _CodebookBuilder(p)
    xml = _serialize(builder.build())
    validate(xml, "codebook")
    _atomic_write(Path(path), xml)
    return builder.warnings


# ---------------------------------------------------------------------------------------------
# building


class _Builder:
    """Shared checks and element helpers; collects warnings about lossy output."""

    ns = PROJECT_NS

    def __init__(self, p: RefiProject) -> None:
        self.p = p
        self.warnings: list[str] = []

    def el(self, parent: etree._Element | None, tag: str, **attrs: str | None) -> etree._Element:
        clean = {k: v for k, v in attrs.items() if v is not None}
        if parent is None:
            return etree.Element(f"{{{self.ns}}}{tag}", clean, nsmap={None: self.ns})
        return etree.SubElement(parent, f"{{{self.ns}}}{tag}", clean)

    def text_el(self, parent: etree._Element, tag: str, value: str | None, what: str) -> None:
        if value is not None:
            self.el(parent, tag).text = self.text(value, f"{what}: {tag.lower()}")

    def text(self, value: str | None, what: str) -> str | None:
        """``value`` with characters XML 1.0 cannot carry replaced by U+FFFD (and a warning)."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ExportError(f"{what}: {value!r} is not text")
        bad = _XML_BAD_RE.findall(value)
        if not bad:
            return value
        chars = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
        self.warnings.append(
            f"{what}: replaced {len(bad)} character(s) XML cannot carry ({chars}) with U+FFFD"
        )
        return _XML_BAD_RE.sub("\ufffd", value)

    def required(self, value: str | None, what: str) -> str:
        if value is None:
            raise ExportError(f"{what} is required")
        return self.text(value, what) or ""

    def guid(self, guid: str, what: str) -> str:
        """Check the GUIDType pattern."""
        if not isinstance(guid, str) or not _GUID_RE.fullmatch(guid):
            raise ExportError(f"{what}: guid {guid!r} is not a GUID (8-4-4-4-12 hex digits)")
        return guid

    def check_unique(self, objects: Iterable[tuple[str, str]]) -> None:
        """Every ``(guid, what)`` a valid GUID used by no other object (compared case-insensitively)."""
        seen: dict[str, str] = {}
        for guid, what in objects:
            key = norm_guid(self.guid(guid, what))
            if key in seen:
                raise ExportError(f"{what}: guid {guid} is already used by {seen[key]}")
            seen[key] = what

    def ref(
        self, guid: str | None, what: str, known: Container[str] | None = None, kind: str = ""
    ) -> str | None:
        """A reference: a valid GUID and, given ``known``, one of those objects."""
        if guid is None:
            return None
        self.guid(guid, f"{what}: {kind or 'reference'}")
        if known is not None and norm_guid(guid) not in known:
            raise ExportError(f"{what}: refers to {kind} {guid}, which is not in the project")
        return guid

    def color(self, color: str | None, what: str) -> str | None:
        if color is None:
            return None
        if not isinstance(color, str) or not _RGB_RE.fullmatch(color):
            raise ExportError(f"{what}: color {color!r} is not #RRGGBB")
        if len(color) == 4:
            color = "#" + "".join(ch * 2 for ch in color[1:])
        return color

    def date_time(self, value: str | None, what: str) -> str | None:
        if value is None:
            return None
        if not (isinstance(value, str) and _DATETIME_RE.fullmatch(value) and _parses(datetime, value)):
            raise ExportError(f"{what}: {value!r} is not an xsd:dateTime (like 2026-12-05T09:00:00Z)")
        return value

    def code_element(self, parent: etree._Element, code: Code, notes: dict[str, str] | None) -> None:
        """A ``Code`` with its subtree; ``notes`` None (codebook) leaves note references out."""
        what = f"code {code.name!r}"
        e = self.el(
            parent,
            "Code",
            guid=self.guid(code.guid, what),
            name=self.required(code.name, f"{what}: name"),
            isCodable="true" if code.codable else "false",
            color=self.color(code.color, what),
        )
        self.text_el(e, "Description", code.description, what)
        if notes is not None:
            for g in code.note_guids:
                self.el(e, "NoteRef", targetGUID=self.ref(g, what, notes, "note"))
        elif code.note_guids:
            n = len(code.note_guids)
            self.warnings.append(f"{what}: {n} note reference(s) left out (a .qdc has no notes)")
        for child in code.children:
            self.code_element(e, child, notes)


class _ProjectBuilder(_Builder):
    """Builds ``project.qde`` and the list of ``sources/`` files for one project."""

    def __init__(self, p: RefiProject) -> None:
        super().__init__(p)
        self.files: list[tuple[str, bytes | None]] = []
        self.codes = {norm_guid(c.guid): c.name for c, _ in walk_codes(p.codes) if isinstance(c.guid, str)}
        self.notes = {norm_guid(n.guid): n.name or n.guid for n in p.notes if isinstance(n.guid, str)}
        self.sources = {norm_guid(s.guid): s.name for s in p.sources if isinstance(s.guid, str)}
        self.variables = {norm_guid(v.guid): v for v in p.variables if isinstance(v.guid, str)}
        self.everything: set[str] = set()

    def build(self) -> etree._Element:
        p = self.p
        self.check_unique(self.identities())
        self.everything = {norm_guid(g) for g, _ in self.identities()}
        root = self.el(
            None,
            "Project",
            name=self.required(p.name, "project name"),
            origin=self.text(p.origin or DEFAULT_ORIGIN, "project origin"),
            creatingUserGUID=self.ref(p.creating_user_guid, "project", kind="creating user"),
            creationDateTime=self.date_time(p.created, "project: created"),
        )
        if p.users:
            users = self.el(root, "Users")
            for u in p.users:
                what = f"user {u.name or u.guid!r}"
                self.el(users, "User", guid=self.guid(u.guid, what), name=self.text(u.name, f"{what}: name"),
                        id=self.text(u.id, f"{what}: id"))
        if p.codes:
            codes = self.el(self.el(root, "CodeBook"), "Codes")
            for c in p.codes:
                self.code_element(codes, c, self.notes)
        if p.variables:
            variables = self.el(root, "Variables")
            for v in p.variables:
                what = f"variable {v.name!r}"
                if v.type not in _VALUE_TAGS:
                    raise ExportError(f"{what}: type {v.type!r} is not one of {', '.join(_VALUE_TAGS)}")
                e = self.el(variables, "Variable", guid=self.guid(v.guid, what),
                            name=self.required(v.name, f"{what}: name"), typeOfVariable=v.type)
                self.text_el(e, "Description", v.description, what)
        if p.cases:
            cases = self.el(root, "Cases")
            for case in p.cases:
                what = f"case {case.name or case.guid!r}"
                name = self.text(case.name, f"{what}: name")
                e = self.el(cases, "Case", guid=self.guid(case.guid, what), name=name)
                self.text_el(e, "Description", case.description, what)
                for g in case.code_guids:
                    self.el(e, "CodeRef", targetGUID=self.ref(g, what, self.codes, "code"))
                self.variable_values(e, case.variables, what)
                for g in case.source_guids:
                    self.el(e, "SourceRef", targetGUID=self.ref(g, what, self.sources, "source"))
        if p.sources:
            sources = self.el(root, "Sources")
            for s in p.sources:
                self.text_source(sources, s)
        if p.notes:
            notes = self.el(root, "Notes")
            for n in p.notes:
                what = f"note {n.name or n.guid!r}"
                guid = self.guid(n.guid, what)
                e = self.el(notes, "Note", guid=guid, name=self.text(n.name, f"{what}: name"),
                            plainTextPath=f"internal://{_stem(guid)}.txt",
                            creatingUser=self.ref(n.user_guid, what, kind="user"),
                            creationDateTime=self.date_time(n.created, f"{what}: created"))
                self.text_el(e, "Description", n.description, what)
                self.files.append((f"sources/{_stem(guid)}.txt", self.file_text(n.text, what)))
        links = [ln for ln in p.links if self.keep_link(ln)]
        if links:
            links_el = self.el(root, "Links")
            for ln in links:
                self.el(links_el, "Link", guid=ln.guid, name=self.text(ln.name, f"link {ln.guid}: name"),
                        direction=ln.direction, originGUID=ln.origin_guid, targetGUID=ln.target_guid)
        if p.sets:
            sets = self.el(root, "Sets")
            for st in p.sets:
                what = f"set {st.name!r}"
                name = self.required(st.name, f"{what}: name")
                e = self.el(sets, "Set", guid=self.guid(st.guid, what), name=name)
                self.text_el(e, "Description", st.description, what)
                for g in st.code_guids:
                    self.el(e, "MemberCode", targetGUID=self.ref(g, what, self.codes, "code"))
                for g in st.source_guids:
                    self.el(e, "MemberSource", targetGUID=self.ref(g, what, self.sources, "source"))
                for g in st.note_guids:
                    self.el(e, "MemberNote", targetGUID=self.ref(g, what, self.notes, "note"))
        self.text_el(root, "Description", p.description, "project")
        for g in p.note_guids:
            self.el(root, "NoteRef", targetGUID=self.ref(g, "project", self.notes, "note"))
        return root

    def text_source(self, parent: etree._Element, s: Source) -> None:
        what = f"source {s.name!r}"
        guid = self.guid(s.guid, what)
        e = self.el(parent, "TextSource", guid=guid, name=self.text(s.name, f"{what}: name"),
                    plainTextPath=f"internal://{_stem(guid)}.txt",
                    creatingUser=self.ref(s.user_guid, what, kind="user"),
                    creationDateTime=self.date_time(s.created, f"{what}: created"))
        self.text_el(e, "Description", s.description, what)
        for sel in s.selections:
            self.selection(e, sel, len(s.text), what)
        for c in s.codings:
            self.coding(e, c, what)
        for g in s.note_guids:
            self.el(e, "NoteRef", targetGUID=self.ref(g, what, self.notes, "note"))
        self.variable_values(e, s.variables, what)
        self.files.append((f"sources/{_stem(guid)}.txt", self.file_text(s.text, what)))

    def selection(self, parent: etree._Element, sel: Selection, length: int, owner: str) -> None:
        what = f"{owner}: selection {sel.guid}"
        start, end = sel.start, sel.end
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            raise ExportError(f"{what}: positions {start!r}..{end!r} are not integers")
        if not 0 <= start <= end <= length:
            raise ExportError(f"{what}: positions {start}..{end} do not fit the text ({length} code points)")
        e = self.el(parent, "PlainTextSelection", guid=self.guid(sel.guid, what),
                    name=self.text(sel.name, f"{what}: name"), startPosition=str(start), endPosition=str(end),
                    creatingUser=self.ref(sel.user_guid, what, kind="user"),
                    creationDateTime=self.date_time(sel.created, f"{what}: created"))
        self.text_el(e, "Description", sel.description, what)
        for c in sel.codings:
            self.coding(e, c, what)
        for g in sel.note_guids:
            self.el(e, "NoteRef", targetGUID=self.ref(g, what, self.notes, "note"))

    def coding(self, parent: etree._Element, c: Coding, owner: str) -> None:
        what = f"{owner}: coding {c.guid}"
        e = self.el(parent, "Coding", guid=self.guid(c.guid, what),
                    creatingUser=self.ref(c.user_guid, what, kind="user"),
                    creationDateTime=self.date_time(c.created, f"{what}: created"))
        self.el(e, "CodeRef", targetGUID=self.ref(c.code_guid, what, self.codes, "code"))
        for g in c.note_guids:
            self.el(e, "NoteRef", targetGUID=self.ref(g, what, self.notes, "note"))

    def variable_values(self, parent: etree._Element, values: list[VariableValue], owner: str) -> None:
        for vv in values:
            self.ref(vv.variable_guid, owner, self.variables, "variable")
            var = self.variables[norm_guid(vv.variable_guid)]
            if vv.value is None:
                continue
            text = _value_text(var, vv.value, owner)
            e = self.el(parent, "VariableValue")
            self.el(e, "VariableRef", targetGUID=vv.variable_guid)
            self.el(e, _VALUE_TAGS[var.type]).text = self.text(text, f"{owner}: variable {var.name!r}")

    def keep_link(self, ln: Link) -> bool:
        """Check a link; False (with a warning) if it points at an object not in the project."""
        what = f"link {ln.guid}"
        self.ref(ln.origin_guid, what, kind="origin")
        self.ref(ln.target_guid, what, kind="target")
        if ln.direction is not None and ln.direction not in _DIRECTIONS:
            raise ExportError(f"{what}: direction {ln.direction!r} is not one of {', '.join(_DIRECTIONS)}")
        ends = [g for g in (ln.origin_guid, ln.target_guid) if g is not None]
        missing = [g for g in ends if norm_guid(g) not in self.everything]
        if missing:
            self.warnings.append(
                f"{what}: left out, it points at {', '.join(missing)}, which is not in the project"
            )
            return False
        return True

    def file_text(self, text: str, what: str) -> bytes:
        """UTF-8 bytes of a source or note text; every character kept except lone surrogates."""
        if not isinstance(text, str):
            raise ExportError(f"{what}: text is not a string")
        n = len(_SURROGATE_RE.findall(text))
        if n:
            self.warnings.append(f"{what}: replaced {n} lone surrogate(s) in the text with U+FFFD")
            text = _SURROGATE_RE.sub("\ufffd", text)
        if text.startswith("\ufeff"):
            self.warnings.append(
                f"{what}: the text starts with U+FEFF, which readers drop as a byte-order mark "
                "(positions then shift by one)"
            )
        return text.encode("utf-8")

    def identities(self) -> Iterable[tuple[str, str]]:
        """``(guid, what)`` of every object with a GUID of its own."""
        p = self.p
        yield from ((u.guid, f"user {u.name or u.guid!r}") for u in p.users)
        yield from ((c.guid, f"code {c.name!r}") for c, _ in walk_codes(p.codes))
        yield from ((v.guid, f"variable {v.name!r}") for v in p.variables)
        yield from ((c.guid, f"case {c.name or c.guid!r}") for c in p.cases)
        for s in p.sources:
            what = f"source {s.name!r}"
            yield s.guid, what
            for sel in s.selections:
                yield sel.guid, f"{what}: selection {sel.guid}"
                yield from ((c.guid, f"{what}: selection {sel.guid}: coding {c.guid}") for c in sel.codings)
            yield from ((c.guid, f"{what}: coding {c.guid}") for c in s.codings)
        yield from ((n.guid, f"note {n.name or n.guid!r}") for n in p.notes)
        yield from ((ln.guid, f"link {ln.guid}") for ln in p.links)
        yield from ((st.guid, f"set {st.name!r}") for st in p.sets)


class _CodebookBuilder(_Builder):
    """Builds a ``.qdc``: the code tree and the sets that have member codes."""

    ns = CODEBOOK_NS

    def build(self) -> etree._Element:
        p = self.p
        if not p.codes:
            raise ExportError("a codebook needs at least one code")
        self.check_unique([(c.guid, f"code {c.name!r}") for c, _ in walk_codes(p.codes)]
                          + [(st.guid, f"set {st.name!r}") for st in p.sets])
        codes_known = {norm_guid(c.guid): c.name for c, _ in walk_codes(p.codes) if isinstance(c.guid, str)}
        root = self.el(None, "CodeBook", origin=self.text(p.origin or DEFAULT_ORIGIN, "codebook origin"))
        codes = self.el(root, "Codes")
        for c in p.codes:
            self.code_element(codes, c, None)
        kept = []
        for st in p.sets:
            what = f"set {st.name!r}"
            dropped = len(st.source_guids) + len(st.note_guids)
            if dropped:
                self.warnings.append(
                    f"{what}: {dropped} source/note member(s) left out (a .qdc has codes only)"
                )
            if st.code_guids:
                kept.append(st)
            else:
                self.warnings.append(f"{what}: left out, it has no member codes")
        if kept:
            sets = self.el(root, "Sets")
            for st in kept:
                what = f"set {st.name!r}"
                e = self.el(sets, "Set", guid=st.guid, name=self.required(st.name, f"{what}: name"))
                self.text_el(e, "Description", st.description, what)
                for g in st.code_guids:
                    self.el(e, "MemberCode", guid=self.ref(g, what, codes_known, "code"))
        return root


# ---------------------------------------------------------------------------------------------
# helpers


def _value_text(var: Variable, value: object, owner: str) -> str:
    """The lexical form of ``value`` for ``var.type``; ExportError if it does not fit."""
    t = var.type
    bad = ExportError(f"{owner}: value {value!r} of variable {var.name!r} is not a {t} value")
    if t == "Text":
        if isinstance(value, str):
            return value
        raise bad
    if t == "Boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip() in ("true", "false", "1", "0"):
            return "true" if value.strip() in ("true", "1") else "false"
        raise bad
    if isinstance(value, bool):
        raise bad
    if t == "Integer":
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str) and _INTEGER_RE.fullmatch(value.strip()):
            return str(int(value))
        raise bad
    if t == "Float":
        try:
            if isinstance(value, float):
                d = Decimal(repr(value))
            elif isinstance(value, (int, str)):
                d = Decimal(value.strip() if isinstance(value, str) else value)
            else:
                raise bad
        except InvalidOperation:
            raise bad from None
        if not d.is_finite():
            raise bad
        return format(d, "f")
    if t == "Date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str) and _DATE_RE.fullmatch(value) and _parses(date, value[:10]):
            return value
        raise bad
    if t == "DateTime":
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str) and _DATETIME_RE.fullmatch(value) and _parses(datetime, value):
            return value
        raise bad
    raise bad


def _parses(kind: type[date] | type[datetime], text: str) -> bool:
    try:
        kind.fromisoformat(text)
    except ValueError:
        return False
    return True


def _stem(guid: str) -> str:
    """The file name stem for a GUID: without braces, case kept."""
    return guid.strip("{}")


def _serialize(root: etree._Element) -> bytes:
    return _XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)


_SCHEMA_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / _SCHEMA_FILES[kind])))


def _element_at(doc: etree._Element, line: int) -> str:
    """`` (Tag name=... guid=...)`` for the element starting on ``line``, if any."""
    for e in doc.iter():
        if e.sourceline == line and isinstance(e.tag, str):
            keys = [k for k in ("name", "guid", "targetGUID") if e.get(k) is not None]
            attrs = " ".join(f"{k}={e.get(k)!r}" for k in keys)
            return f" ({etree.QName(e).localname}{' ' + attrs if attrs else ''})"
    return ""


def _zip_bytes(entries: Iterable[tuple[str, bytes | None]]) -> bytes:
    """A zip of ``entries`` in the given order with fixed timestamps; ``None`` data is a folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
                z.writestr(info, b"", compress_type=zipfile.ZIP_STORED)
            else:
                info.external_attr = 0o644 << 16
                z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (``store.files``); ExportError on failure."""
    try:
        atomic_write(path, data)
    except OSError as e:
        raise ExportError(f"{path}: cannot write: {e.strerror or e}") from e
