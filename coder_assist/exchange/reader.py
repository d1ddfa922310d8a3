"""Read REFI-QDA ``.qdpx`` projects and ``.qdc`` codebooks into the exchange model, safely and leniently.

Safe: the zip is bounded (``archive``), the XML may have no DOCTYPE (no entities, no DTD, no
network), nesting is bounded, and nothing outside the archive is ever read. Lenient: XSD
validity is not required; what is passed over is listed in ``RefiProject.warnings``.
Every bad input raises :class:`InputError` and nothing else.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from lxml import etree

from ..errors import InputError
from ..ingest.decode import clean_text
from . import archive, offsets
from .model import (
    Case,
    Code,
    Coding,
    Link,
    Note,
    RefiProject,
    Selection,
    Set,
    Source,
    User,
    Variable,
    VariableValue,
    norm_guid,
    walk_codes,
)

PROJECT_NAMESPACES = frozenset({"urn:QDA-XML:project:1.0", "urn:QDA-XML:project:1:0", ""})
CODEBOOK_NAMESPACES = frozenset({"urn:QDA-XML:codebook:1.0", "urn:QDA-XML:codebook:1:0", ""})
MAX_CODE_DEPTH = 100
MAX_PROLOG = 64 * 1024
MAX_LISTED = 10
"""Per source, how many dropped selections are named one by one before a summary line."""

TextLookup = Callable[[str], "tuple[str, bytes] | None"]
"""Maps a ``plainTextPath`` to ``(entry name, bytes)`` inside the archive, or None when absent."""

_VARIABLE_TYPES = ("Text", "Boolean", "Integer", "Float", "Date", "DateTime")
_NON_TEXT_SOURCES = ("PDFSource", "PictureSource", "AudioSource", "VideoSource")
_COLOR = re.compile(r"#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PROLOG_ITEM = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_UTF_NAMES = frozenset({"utf-8", "utf8", "utf-16", "utf16", "utf-16le", "utf-16be"})
_DECLARED_ENCODINGS = _UTF_NAMES | {"us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin1"}
_LXML_POSITION = re.compile(r",? line \d+, column \d+$")


# --- public API -----------------------------------------------------------------------------------


def read_qdpx(path: Path, limits: archive.Limits | None = None) -> RefiProject:
    """Read a ``.qdpx`` project archive into a :class:`RefiProject`."""
    with archive.open_archive(path, limits) as ar:
        qdes = [n for n in ar.names if "/" not in n and n.lower().endswith(".qde")]
        if not qdes:
            raise InputError(path, "no .qde project file at the root of the archive (not a REFI-QDA project)")
        if len(qdes) > 1:
            raise InputError(path, f"several .qde project files in the archive: {', '.join(sorted(qdes))}")

        def lookup(ref: str) -> tuple[str, bytes] | None:
            name = ref[len("internal://") :] if ref.lower().startswith("internal://") else ref
            for candidate in dict.fromkeys((name, unquote(name))):
                if not candidate or archive.unsafe_name_reason(candidate) is not None:
                    continue
                entry = ar.find("sources/" + candidate)
                if entry is not None:
                    return entry, ar.read(entry)
            return None

        project = parse_project_xml(ar.read(qdes[0]), path, lookup)
    if not project.name:
        project.name = Path(path).stem
    return project


def read_qdc(path: Path, limits: archive.Limits | None = None) -> RefiProject:
    """Read a ``.qdc`` codebook: a project with only ``codes`` and ``sets`` (name from the file stem)."""
    limits = limits or archive.Limits()
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_entry_size + 1)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a .qdc file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.max_entry_size:
        raise InputError(path, f"codebook is too large (limit {limits.max_entry_size} bytes)")
    if data.startswith(b"PK\x03\x04"):
        raise InputError(path, "is a zip archive (a .qdpx project?), not a .qdc codebook")
    return parse_codebook_xml(data, path, Path(path).stem)


def parse_project_xml(data: bytes, path: str | Path, texts: TextLookup | None = None) -> RefiProject:
    """Parse the bytes of a ``.qde`` document; ``texts`` fetches source and note files by path."""
    root = parse_xml(data, path)
    _expect_root(root, "Project", "project", path)
    return _Reader(path, texts).project(root)


def parse_codebook_xml(data: bytes, path: str | Path, name: str) -> RefiProject:
    """Parse the bytes of a ``.qdc`` document."""
    root = parse_xml(data, path)
    _expect_root(root, "CodeBook", "codebook", path)
    return _Reader(path, None).codebook(root, name)


# --- XML ------------------------------------------------------------------------------------------


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _prolog(data: bytes, path: str | Path) -> str:
    """The start of the document decoded (enough to see its prolog), refusing odd encodings."""
    head = data[: MAX_PROLOG * 4]
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) or head[:4] in (b"\0\0\0<", b"<\0\0\0"):
        raise InputError(path, "unsupported XML encoding UTF-32 (REFI-QDA files are UTF-8)")
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif head.startswith(b"<\0"):
        encoding = "utf-16-le"
    elif head.startswith(b"\0<"):
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
        m = _XML_DECL_ENCODING.match(head)
        if m is not None:
            declared = m.group(1).decode("ascii").lower()
            if declared not in _DECLARED_ENCODINGS:
                raise InputError(path, f"unsupported XML encoding {declared!r} (REFI-QDA files are UTF-8)")
            if declared not in _UTF_NAMES:
                encoding = "latin-1"  # ASCII-compatible: enough to see the prolog
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(head, final=False)


def _refuse_doctype(data: bytes, path: str | Path) -> None:
    """REFI-QDA documents never have a DOCTYPE; refusing one rules out XXE and entity bombs."""
    text = _prolog(data, path).lstrip("\ufeff")
    pos = 0
    while True:
        m = _PROLOG_ITEM.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
    rest = text[pos:]
    if rest.startswith(("<!DOCTYPE", "<!ENTITY")):
        raise InputError(path, "XML has a DOCTYPE declaration (not allowed in REFI-QDA files)")
    if not rest:
        if len(data) > MAX_PROLOG * 4:
            raise InputError(path, "XML prolog is too long")
        raise InputError(path, "malformed XML: no root element")
    if not rest.startswith("<"):
        raise InputError(path, "malformed XML: the document does not start with a tag")


def parse_xml(data: bytes, path: str | Path) -> etree._Element:
    """Parse ``data`` with entities, DTDs and network access off; refuse any DOCTYPE."""
    _refuse_doctype(data, path)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        msg = _LXML_POSITION.sub("", _one_line(exc.msg))
        raise InputError(path, f"malformed XML: {msg} (line {line}, column {column})") from None
    except (ValueError, etree.LxmlError) as exc:
        raise InputError(path, f"malformed XML: {_one_line(exc)}") from None
    if root is None:
        raise InputError(path, "malformed XML: no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputError(path, "XML has a DOCTYPE declaration (not allowed in REFI-QDA files)")
    return root


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _expect_root(root: etree._Element, name: str, what: str, path: str | Path) -> None:
    if _local(root) != name:
        raise InputError(path, f"not a REFI-QDA {what}: root is <{_local(root) or root.tag}>")


def _elements(el: etree._Element, name: str | None = None) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and (name is None or _local(c) == name)]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if isinstance(c.tag, str) and _local(c) == name:
            return c
    return None


def _text_of(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return "".join(t for t in el.itertext() if isinstance(t, str))


def _attr(el: etree._Element, name: str) -> str | None:
    value = el.get(name)
    return value if value is None else str(value)


# --- text ---------------------------------------------------------------------------------------


def decode_text(data: bytes, path: str | Path, entry: str) -> str:
    """UTF-8 (BOM stripped) or UTF-16 with a BOM; original line ends kept; InputError when invalid."""
    if data.startswith(codecs.BOM_UTF8):
        body, encoding = data[3:], "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body, encoding = data, "utf-16"
    else:
        body, encoding = data, "utf-8"
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise InputError(path, f"text of {entry!r} is not valid {label} (byte {exc.start})") from None


# --- the reader -----------------------------------------------------------------------------------


class _Reader:
    """One pass over a parsed document, then one pass resolving references."""

    def __init__(self, path: str | Path, texts: TextLookup | None) -> None:
        self.path = path
        self.texts = texts
        self.origin: str | None = None
        self.warnings: list[str] = []
        self._dropped: dict[str, list[str]] = {}
        self._seen: dict[str, set[str]] = {}
        self._skipped_sources: set[str] = set()

    # warnings

    def warn(self, message: str) -> None:
        self.warnings.append(_one_line(message))

    def drop(self, what: str, example: str) -> None:
        """Count one dropped item of kind ``what``; summarised in :meth:`flush`."""
        self._dropped.setdefault(what, []).append(example)

    def flush(self) -> None:
        for what, examples in self._dropped.items():
            shown = ", ".join(examples[:3]) + (", ..." if len(examples) > 3 else "")
            self.warn(f"{len(examples)} {what} (e.g. {shown})")
        self._dropped.clear()

    def fresh(self, kind: str, guid: str | None, where: str) -> bool:
        """False (with a warning) when ``guid`` is missing or repeats an earlier ``kind``'s GUID."""
        if guid is None or not guid.strip():
            self.drop(f"{kind}s without a guid dropped", where)
            return False
        seen = self._seen.setdefault(kind, set())
        key = norm_guid(guid)
        if key in seen:
            self.drop(f"{kind}s with a duplicate GUID dropped (the first kept)", guid)
            return False
        seen.add(key)
        return True

    # top level

    def project(self, root: etree._Element) -> RefiProject:
        self.origin = _attr(root, "origin")
        name = _attr(root, "name") or ""
        project = RefiProject(
            name=name,
            origin=self.origin,
            creating_user_guid=_attr(root, "creatingUserGUID"),
            created=_attr(root, "creationDateTime"),
        )
        self._namespace(root, PROJECT_NAMESPACES)
        for el in _elements(root):
            tag = _local(el)
            if tag == "Users":
                project.users = [u for u in map(self.user, _elements(el, "User")) if u is not None]
            elif tag == "CodeBook":
                codes = _child(el, "Codes")
                project.codes = self.codes(codes) if codes is not None else []
            elif tag == "Variables":
                variables = map(self.variable, _elements(el, "Variable"))
                project.variables = [v for v in variables if v is not None]
            elif tag == "Cases":
                project.cases = [c for c in map(self.case, _elements(el, "Case")) if c is not None]
            elif tag == "Sources":
                project.sources = self.sources(el)
            elif tag == "Notes":
                project.notes = [n for n in map(self.note, _elements(el, "Note")) if n is not None]
            elif tag == "Links":
                project.links = [link for link in map(self.link, _elements(el, "Link")) if link is not None]
            elif tag == "Sets":
                project.sets = [s for s in map(self.set, _elements(el, "Set")) if s is not None]
            elif tag == "Description":
                project.description = _text_of(el)
            elif tag == "NoteRef":
                project.note_guids.extend(self.refs([el]))
            elif tag == "Graphs":
                self.warn(f"{len(_elements(el, 'Graph'))} graphs not imported")
            else:
                self.warn(f"unknown element <{tag}> in Project not imported")
        _Resolver(self, project).run()
        self.flush()
        project.warnings = self.warnings
        return project

    def codebook(self, root: etree._Element, name: str) -> RefiProject:
        self.origin = _attr(root, "origin")
        self._namespace(root, CODEBOOK_NAMESPACES)
        project = RefiProject(name=name, origin=self.origin)
        codes = _child(root, "Codes")
        project.codes = self.codes(codes) if codes is not None else []
        sets = _child(root, "Sets")
        if sets is not None:
            project.sets = [s for s in map(self.set, _elements(sets, "Set")) if s is not None]
        _Resolver(self, project).run()
        self.flush()
        project.warnings = self.warnings
        return project

    def _namespace(self, root: etree._Element, accepted: frozenset[str]) -> None:
        ns = etree.QName(root).namespace or ""
        if ns not in accepted:
            self.warn(f"unexpected XML namespace {ns!r} (read anyway)")

    # objects

    def user(self, el: etree._Element) -> User | None:
        guid = _attr(el, "guid")
        if not self.fresh("user", guid, _attr(el, "name") or "?"):
            return None
        return User(guid=guid, name=_attr(el, "name"), id=_attr(el, "id"))  # type: ignore[arg-type]

    def codes(self, el: etree._Element) -> list[Code]:
        return [c for c in (self.code(c, 1) for c in _elements(el, "Code")) if c is not None]

    def code(self, el: etree._Element, depth: int) -> Code | None:
        if depth > MAX_CODE_DEPTH:
            raise InputError(self.path, f"codes are nested deeper than {MAX_CODE_DEPTH} levels")
        guid = _attr(el, "guid")
        name = _attr(el, "name")
        if not self.fresh("code", guid, name or "?"):
            return None
        assert guid is not None
        if not name:
            self.drop("codes without a name (named after their GUID)", guid)
            name = guid
        codable = self.boolean(_attr(el, "isCodable"), True, f"code {name!r} isCodable")
        code = Code(guid=guid, name=name, codable=codable, color=self.color(_attr(el, "color"), name))
        code.description = _text_of(_child(el, "Description"))
        code.note_guids = self.refs(_elements(el, "NoteRef"))
        code.children = [c for c in (self.code(c, depth + 1) for c in _elements(el, "Code")) if c is not None]
        return code

    def color(self, value: str | None, owner: str) -> str | None:
        if value is None:
            return None
        value = value.strip()
        m = _COLOR.fullmatch(value)
        if m is None:
            self.drop("colours that are not #RGB or #RRGGBB dropped", f"{owner!r}: {value!r}")
            return None
        digits = m.group(1)
        if len(digits) == 3:
            digits = "".join(ch * 2 for ch in digits)
        return "#" + digits

    def boolean(self, value: str | None, default: bool, what: str) -> bool:
        if value is None:
            return default
        v = value.strip().lower()
        if v in ("true", "1"):
            return True
        if v in ("false", "0"):
            return False
        self.drop("invalid booleans (default used)", f"{what}={value!r}")
        return default

    def refs(self, els: list[etree._Element]) -> list[str]:
        """Referenced GUIDs: ``targetGUID`` in a project, ``guid`` on a codebook's ``MemberCode``."""
        return [t for t in (_attr(e, "targetGUID") or _attr(e, "guid") for e in els) if t]

    def variable(self, el: etree._Element) -> Variable | None:
        guid = _attr(el, "guid")
        name = _attr(el, "name") or guid or "?"
        if not self.fresh("variable", guid, name):
            return None
        kind = _attr(el, "typeOfVariable") or "Text"
        if kind not in _VARIABLE_TYPES:
            self.drop("variables of an unknown type (read as Text)", f"{name!r}: {kind!r}")
            kind = "Text"
        description = _text_of(_child(el, "Description"))
        return Variable(guid=guid, name=name, type=kind, description=description)  # type: ignore[arg-type]

    def values(self, els: list[etree._Element], owner: str) -> list[VariableValue]:
        out: list[VariableValue] = []
        for el in els:
            ref = _child(el, "VariableRef")
            target = _attr(ref, "targetGUID") if ref is not None else None
            if not target:
                self.drop("variable values without a VariableRef dropped", owner)
                continue
            value_el = next((c for c in _elements(el) if _local(c).endswith("Value")), None)
            if value_el is None:
                out.append(VariableValue(target, None))
                continue
            kind, text = _local(value_el), (_text_of(value_el) or "")
            try:
                if kind == "IntegerValue":
                    value: str | int | float | bool | None = int(text.strip())
                elif kind == "FloatValue":
                    value = float(text.strip())
                    if value != value or value in (float("inf"), float("-inf")):
                        raise ValueError(text)
                elif kind == "BooleanValue":
                    b = text.strip().lower()
                    if b not in ("true", "false", "1", "0"):
                        raise ValueError(text)
                    value = b in ("true", "1")
                else:
                    value = text
            except ValueError:
                self.drop("unreadable variable values dropped", f"{owner}: {kind} {text[:40]!r}")
                continue
            out.append(VariableValue(target, value))
        return out

    def case(self, el: etree._Element) -> Case | None:
        guid = _attr(el, "guid")
        if not self.fresh("case", guid, _attr(el, "name") or "?"):
            return None
        description = _text_of(_child(el, "Description"))
        case = Case(guid=guid, name=_attr(el, "name"), description=description)  # type: ignore[arg-type]
        case.code_guids = self.refs(_elements(el, "CodeRef"))
        case.variables = self.values(_elements(el, "VariableValue"), f"case {case.name or guid}")
        case.source_guids = self.refs(_elements(el, "SourceRef"))
        selection_refs = _elements(el, "SelectionRef")
        if selection_refs:
            self.drop("case SelectionRefs not imported", f"case {case.name or guid}")
        return case

    # sources

    def sources(self, el: etree._Element) -> list[Source]:
        out: list[Source] = []
        skipped: dict[str, int] = {}
        for child in _elements(el):
            tag = _local(child)
            if tag == "TextSource":
                source = self.text_source(child)
                if source is not None:
                    out.append(source)
            else:
                skipped[tag] = skipped.get(tag, 0) + 1
                guid = _attr(child, "guid")
                if guid:
                    self._skipped_sources.add(norm_guid(guid))
        if skipped:
            kinds = ", ".join(f"{n} {t}" for t, n in sorted(skipped.items()))
            self.warn(f"{sum(skipped.values())} non-text sources not imported ({kinds})")
        return out

    def fetch_text(self, el: etree._Element, what: str) -> tuple[str | None, str]:
        """``(raw text or None, reason when None)`` for a TextSource or Note element."""
        content = _child(el, "PlainTextContent")
        ref = _attr(el, "plainTextPath")
        if content is not None:
            if ref:
                self.drop("sources with both PlainTextContent and plainTextPath (the content used)", what)
            return _text_of(content) or "", ""
        if not ref:
            return None, "it has neither plainTextPath nor PlainTextContent"
        m = _SCHEME.match(ref)
        if m is not None and m.group(1).lower() != "internal":
            return None, f"its text is not in the archive ({ref!r} is never read)"
        found = self.texts(ref) if self.texts is not None else None
        if found is None:
            return None, f"its text {ref!r} is missing from the archive"
        entry, data = found
        return decode_text(data, self.path, entry), ""

    def text_source(self, el: etree._Element) -> Source | None:
        guid = _attr(el, "guid")
        ref = _attr(el, "plainTextPath")
        name = _attr(el, "name")
        if not name:
            name = PurePosixPath(ref.split("://")[-1]).stem if ref else (guid or "?")
        if not self.fresh("source", guid, name):
            return None
        assert guid is not None
        label = f"{name!r}" if name == guid else f"{name!r} ({guid})"
        source = Source(guid=guid, name=name, text="", path=ref)
        source.user_guid = _attr(el, "creatingUser")
        source.created = _attr(el, "creationDateTime")
        source.description = _text_of(_child(el, "Description"))
        source.codings = self.codings(_elements(el, "Coding"), f"source {label}")
        source.note_guids = self.refs(_elements(el, "NoteRef"))
        source.variables = self.values(_elements(el, "VariableValue"), f"source {label}")
        raw, reason = self.fetch_text(el, f"source {label}")
        selection_els = _elements(el, "PlainTextSelection")
        if raw is None:
            dropped = f"; {len(selection_els)} selections dropped" if selection_els else ""
            self.warn(f"source {label}: imported without text: {reason}{dropped}")
            return source
        nfc = offsets.NfcMap(offsets.normalize_newlines(raw))
        source.text, notes = clean_text(nfc.text, label)  # controls become spaces: positions stay
        for note in notes:
            self.warn(f"source {label}: {note}")
        self.selections(source, raw, selection_els, label, nfc)
        return source

    def selections(self, source: Source, raw: str, els: list[etree._Element], label: str, nfc: offsets.NfcMap) -> None:
        parsed: list[tuple[Selection, int, int]] = []
        problems: list[str] = []
        for el in els:
            guid = _attr(el, "guid")
            sel_name = _attr(el, "name")
            if not self.fresh("selection", guid, f"in source {label}"):
                continue
            assert guid is not None
            try:
                start = int((_attr(el, "startPosition") or "").strip())
                end = int((_attr(el, "endPosition") or "").strip())
            except ValueError:
                problems.append(f"selection {guid}: positions missing or not integers")
                continue
            sel = Selection(guid=guid, start=start, end=end, name=sel_name)
            sel.description = _text_of(_child(el, "Description"))
            sel.user_guid = _attr(el, "creatingUser")
            sel.created = _attr(el, "creationDateTime")
            sel.codings = self.codings(_elements(el, "Coding"), f"selection {guid}")
            sel.note_guids = self.refs(_elements(el, "NoteRef"))
            parsed.append((sel, start, end))
        spans = [(s, e) for _, s, e in parsed]
        unit, info = offsets.detect_unit(raw, spans, self.origin)
        source.offset_unit = unit
        if unit != "codepoint" and spans:
            self.warn(offsets.describe_choice(label, unit, info))
        pmap = offsets.converter(raw, unit)
        for sel, start, end in parsed:
            if start == end:
                problems.append(f"selection {sel.guid}: zero length at {start}")
                continue
            if end < start:
                problems.append(f"selection {sel.guid}: reversed ({start} > {end})")
                continue
            span = pmap.span(start, end)
            if span is None:
                problems.append(f"selection {sel.guid}: [{start}, {end}) out of range (length {pmap.total})")
                continue
            sel.start, sel.end = nfc.span(*span)
            source.selections.append(sel)
        for line in problems[:MAX_LISTED]:
            self.warn(f"source {label}: {line}: dropped")
        if len(problems) > MAX_LISTED:
            self.warn(f"source {label}: {len(problems) - MAX_LISTED} more selections dropped")

    def codings(self, els: list[etree._Element], owner: str) -> list[Coding]:
        out: list[Coding] = []
        for el in els:
            guid = _attr(el, "guid")
            if not self.fresh("coding", guid, owner):
                continue
            ref = _child(el, "CodeRef")
            target = _attr(ref, "targetGUID") if ref is not None else None
            if not target:
                self.drop("codings without a CodeRef dropped", f"{guid} on {owner}")
                continue
            coding = Coding(guid=guid, code_guid=target)  # type: ignore[arg-type]
            coding.user_guid = _attr(el, "creatingUser")
            coding.created = _attr(el, "creationDateTime")
            coding.note_guids = self.refs(_elements(el, "NoteRef"))
            out.append(coding)
        return out

    # notes, links, sets

    def note(self, el: etree._Element) -> Note | None:
        guid = _attr(el, "guid")
        name = _attr(el, "name")
        if not self.fresh("note", guid, name or "?"):
            return None
        assert guid is not None
        label = f"note {name or guid!r}"
        raw, reason = self.fetch_text(el, label)
        if raw is None:
            self.warn(f"{label}: imported without text: {reason}")
        if _elements(el, "PlainTextSelection") or _elements(el, "Coding"):
            self.drop("notes whose own selections/codings were not imported", label)
        return Note(
            guid=guid,
            name=name,
            text=offsets.NfcMap(offsets.normalize_newlines(raw or "")).text,
            description=_text_of(_child(el, "Description")),
            user_guid=_attr(el, "creatingUser"),
            created=_attr(el, "creationDateTime"),
        )

    def link(self, el: etree._Element) -> Link | None:
        guid = _attr(el, "guid")
        if not self.fresh("link", guid, _attr(el, "name") or "?"):
            return None
        origin, target = _attr(el, "originGUID"), _attr(el, "targetGUID")
        if not origin or not target:
            self.drop("links without originGUID/targetGUID dropped", guid or "?")
            return None
        name, direction = _attr(el, "name"), _attr(el, "direction")
        return Link(guid, origin, target, name=name, direction=direction)  # type: ignore[arg-type]

    def set(self, el: etree._Element) -> Set | None:
        guid = _attr(el, "guid")
        name = _attr(el, "name")
        if not self.fresh("set", guid, name or "?"):
            return None
        assert guid is not None
        if not name:
            self.drop("sets without a name (named after their GUID)", guid)
            name = guid
        s = Set(guid=guid, name=name, description=_text_of(_child(el, "Description")))
        s.code_guids = self.refs(_elements(el, "MemberCode"))
        s.source_guids = self.refs(_elements(el, "MemberSource"))
        s.note_guids = self.refs(_elements(el, "MemberNote"))
        return s


class _Resolver:
    """Points every reference at its target's GUID as written; drops (and counts) dangling ones."""

    def __init__(self, reader: _Reader, project: RefiProject) -> None:
        self.r = reader
        self.p = project
        self.codes = {norm_guid(c.guid): c.guid for c, _ in walk_codes(project.codes)}
        self.sources = {norm_guid(s.guid): s.guid for s in project.sources}
        self.notes = {norm_guid(n.guid): n.guid for n in project.notes}
        self.variables = {norm_guid(v.guid): v.guid for v in project.variables}
        self.users = {norm_guid(u.guid): u.guid for u in project.users}

    def one(self, table: dict[str, str], guid: str | None, what: str) -> str | None:
        if guid is None:
            return None
        found = table.get(norm_guid(guid))
        if found is None:
            if table is self.sources and norm_guid(guid) in self.r._skipped_sources:
                what += " (a non-text source that was not imported)"
            self.r.drop(what, guid)
        return found

    def many(self, table: dict[str, str], guids: list[str], what: str) -> list[str]:
        return [g for g in (self.one(table, g, what) for g in guids) if g is not None]

    def user(self, guid: str | None) -> str | None:
        return self.one(self.users, guid, "references to unknown users dropped (author left empty)")

    def notes_of(self, guids: list[str]) -> list[str]:
        return self.many(self.notes, guids, "NoteRefs to unknown notes dropped")

    def codings(self, codings: list[Coding]) -> list[Coding]:
        kept = []
        for c in codings:
            target = self.one(self.codes, c.code_guid, "codings whose CodeRef points at no code dropped")
            if target is None:
                continue
            c.code_guid = target
            c.user_guid = self.user(c.user_guid)
            c.note_guids = self.notes_of(c.note_guids)
            kept.append(c)
        return kept

    def values(self, values: list[VariableValue]) -> list[VariableValue]:
        kept = []
        for v in values:
            target = self.one(self.variables, v.variable_guid, "variable values of unknown variables dropped")
            if target is not None:
                v.variable_guid = target
                kept.append(v)
        return kept

    def run(self) -> None:
        p = self.p
        if p.creating_user_guid is not None and norm_guid(p.creating_user_guid) in self.users:
            p.creating_user_guid = self.users[norm_guid(p.creating_user_guid)]
        p.note_guids = self.notes_of(p.note_guids)
        for code, _ in walk_codes(p.codes):
            code.note_guids = self.notes_of(code.note_guids)
        for case in p.cases:
            case.code_guids = self.many(self.codes, case.code_guids, "case CodeRefs to unknown codes dropped")
            case.source_guids = self.many(
                self.sources, case.source_guids, "case SourceRefs to unknown sources dropped"
            )
            case.variables = self.values(case.variables)
        for source in p.sources:
            source.user_guid = self.user(source.user_guid)
            source.codings = self.codings(source.codings)
            source.variables = self.values(source.variables)
            source.note_guids = self.notes_of(source.note_guids)
            for sel in source.selections:
                sel.user_guid = self.user(sel.user_guid)
                sel.codings = self.codings(sel.codings)
                sel.note_guids = self.notes_of(sel.note_guids)
        for note in p.notes:
            note.user_guid = self.user(note.user_guid)
        for s in p.sets:
            s.code_guids = self.many(self.codes, s.code_guids, "set members that are unknown codes dropped")
            s.source_guids = self.many(
                self.sources, s.source_guids, "set members that are unknown sources dropped"
            )
            s.note_guids = self.many(self.notes, s.note_guids, "set members that are unknown notes dropped")
        self.links()

    def links(self) -> None:
        known = {**self.codes, **self.sources, **self.notes, **self.variables, **self.users}
        for case in self.p.cases:
            known[norm_guid(case.guid)] = case.guid
        for s in self.p.sets:
            known[norm_guid(s.guid)] = s.guid
        for source in self.p.sources:
            for c in source.codings:
                known[norm_guid(c.guid)] = c.guid
            for sel in source.selections:
                known[norm_guid(sel.guid)] = sel.guid
                for c in sel.codings:
                    known[norm_guid(c.guid)] = c.guid
        for link in self.p.links:
            known[norm_guid(link.guid)] = link.guid
        kept = []
        for link in self.p.links:
            origin = self.one(known, link.origin_guid, "links with an unknown end dropped")
            what = "links with an unknown end dropped"
            target = self.one(known, link.target_guid, what) if origin else None
            if origin and target:
                link.origin_guid, link.target_guid = origin, target
                kept.append(link)
        self.p.links = kept
