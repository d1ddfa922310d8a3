"""Getting transcripts in and finding things in them: ingest, attributes, participants, speakers, sources,
segments, search, reindex."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ._common import (
    Json, Note, OnlyCase, OnlySource, OnlyWave, RichProgress, cell, fail, open_project, out, print_json, say, state, warn,
)  # fmt: skip

commands = typer.Typer()


@commands.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Transcript files or folders (.txt .md .vtt .srt .docx .json).", metavar="FILE...")],
    wave: Annotated[Optional[int], typer.Option(help="Interview wave these files belong to.")] = None,
    case: Annotated[Optional[str], typer.Option(help="Case/dyad id (default: inferred from participants).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Document name for a single file (default: its file name).")] = None,
    attributes: Annotated[Optional[Path], typer.Option(help="Participants CSV to import first.")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Store only; embed later with 'reindex'.")] = False,
    hidden: Annotated[bool, typer.Option("--hidden", help="In folders, take hidden files and folders too (names starting with '.').")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest transcripts: parse speakers, segment, store, embed and index.

    Bad files are skipped with a one-line error each; the others are ingested; the exit status is 1
    if any file failed. Re-ingesting identical content changes nothing. A folder is walked without
    leaving it: links that point outside it, devices and FIFOs are skipped (and said); a link you
    name yourself is followed.
    """
    with open_project() as proj:
        report = proj.ingest(files, wave=wave, case=case, name=name, attributes=attributes, coder=state.coder,
                             progress=None if as_json else RichProgress(), index=not no_index, include_hidden=hidden)  # fmt: skip
    if as_json:
        print_json({
            "files": [vars(f) for f in report.files], "indexed": report.indexed, "warnings": report.warnings,
            "proposals": [vars(d) for d in report.proposals],
            "failures": [{"path": e.path, "reason": e.reason} for e in report.failures],
        })  # fmt: skip
    else:
        for f in report.files:
            extra = f" ({f.message})" if f.message else ""
            say(f"{f.status:>11}  {f.name}: {f.turns} turns, {f.segments} segments, "
                f"speakers: {', '.join(f.speakers) or '(unlabelled)'}{extra}")  # fmt: skip
            for w in f.warnings:
                warn(f"{f.path}: {w}")
        for w in report.warnings:
            warn(w)
        added = sum(f.status in ("added", "new-version") for f in report.files)
        say(f"{added} ingested, {len(report.files) - added} unchanged, {len(report.failures)} failed; "
            f"{report.indexed} segments indexed")  # fmt: skip
    for e in report.failures:
        fail(str(e))
    if report.failures:
        raise typer.Exit(1)


@commands.command()
def attributes(
    csv_file: Annotated[Path, typer.Argument(help="CSV with participant_id, speaker, side, role_category, ...", metavar="CSV")],
) -> None:
    """Add or update participant attributes (side, role category, sector, case ...) from a CSV."""
    with open_project() as proj:
        report = proj.import_attributes(csv_file, coder=state.coder)
    for w in report.warnings:
        warn(w)
    say(f"{len(report.added)} participants added, {len(report.updated)} updated")


@commands.command()
def participants(as_json: Json = False) -> None:
    """List participants and their attributes."""
    with open_project() as proj:
        rows = proj.participants()
    if as_json:
        return print_json(rows)
    table = Table("id", "speaker", "side", "role", "case", "organisation", box=None)
    for column in table.columns:
        column.no_wrap, column.overflow = True, "ellipsis"
    for r in rows:
        table.add_row(*(cell(r.get(k) or "") for k in ("id", "speaker", "side", "role_category", "case_id", "organisation")))
    out.print(table)


@commands.command()
def sources(
    all_versions: Annotated[bool, typer.Option("--all-versions", help="Include superseded versions.")] = False,
    as_json: Json = False,
) -> None:
    """List ingested documents with wave, case, speakers and counts."""
    with open_project() as proj:
        docs = proj.documents(all_versions=all_versions)
    if as_json:
        return print_json(docs)
    for d in docs:
        version = f"v{d['version']}" + ("" if d["current"] else " (superseded)")
        say(f"{d['name']} {version}  wave {d['wave'] or '-'}  case {d['case'] or '-'}  {d['format']}  "
            f"{d['turns']} turns  {d['segments']} segments")  # fmt: skip
        say(f"    speakers: {', '.join(d['speakers']) or '(unlabelled)'}")


@commands.command()
def segments(
    source: OnlySource = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 0,
    as_json: Json = False,
) -> None:
    """List segments with speaker and offsets."""
    with open_project() as proj:
        rows = proj.segments(source)
    rows = rows[:limit] if limit else rows
    if as_json:
        return print_json(rows)
    for r in rows:
        say(f"{r['id']}  {r['source']} [{r['start']}:{r['end']}] {r['speaker'] or '-'}: {r['text']}")


@commands.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.", metavar="QUERY")],
    k: Annotated[int, typer.Option("-k", help="Number of results.", min=1, max=500)] = 10,
    side: Annotated[Optional[str], typer.Option(help="buyer, supplier or researcher.")] = None,
    wave: OnlyWave = None,
    speaker: Annotated[Optional[str], typer.Option(help="Only this speaker label.")] = None,
    case: OnlyCase = None,
    source: OnlySource = None,
    role_category: Annotated[Optional[str], typer.Option(help="Only this role category (Comm, Del, Exec ...).")] = None,
    as_json: Json = False,
) -> None:
    """Semantic search over segments, ranked by cosine similarity."""
    with open_project() as proj:
        hits = proj.search(query, k, side=side, wave=wave, speaker=speaker, case=case, source=source,
                           role_category=role_category)  # fmt: skip
    if as_json:
        return print_json([h.to_dict() for h in hits])
    if not hits:
        say("no matching segments")
    for n, h in enumerate(hits, 1):
        attrs = ", ".join(x for x in (h.side, h.role_category, f"wave {h.wave}" if h.wave else None, h.case) if x)
        say(f"{n:>2}. {h.score:.3f}  {h.speaker or '-'}{f' ({attrs})' if attrs else ''}  {h.source} [{h.start}:{h.end}]")
        say(f"    {h.text}")


@commands.command()
def reindex() -> None:
    """Rebuild the vector index from the project database."""
    with open_project() as proj:
        n = proj.reindex(progress=RichProgress(), coder=state.coder)
    say(f"reindexed {n} segments with {proj.config.embedder.name}")


speakers = typer.Typer(help="Who asks: speakers per document, detected interviewers, confirm or reject them.")
commands.add_typer(speakers, name="speakers")
Targets = Annotated[list[str], typer.Argument(help="Proposal ids, document names or speaker labels (see 'speakers').",
                                              metavar="DOC-OR-SPEAKER...")]  # fmt: skip


@speakers.callback(invoke_without_command=True)
def speakers_list(ctx: typer.Context, source: OnlySource = None, as_json: Json = False) -> None:
    """List speakers per document: turns, question share, role and interviewer detection status."""
    if ctx.invoked_subcommand:
        return
    with open_project() as proj:
        rows = proj.speakers(source)
    if as_json:
        return print_json(rows)
    table = Table("document", "speaker", "turns", "asks", "role", "from", "proposal", box=None)
    for column in table.columns:
        column.no_wrap, column.overflow = True, "ellipsis"
    for r in rows:
        found = f"#{r['proposal']}" + (f" score {r['score']:.2f}" if r["score"] is not None else "") if r["proposal"] else ""
        table.add_row(cell(r["document"]), cell(r["speaker"]), str(r["turns"]), f"{r['question_share']:.0%}",
                      cell(r["role"] or ""), cell(r["role_from"] or ""), found)  # fmt: skip
    out.print(table)


@speakers.command("confirm")
def speakers_confirm(targets: Targets, note: Note = None) -> None:
    """Confirm detected interviewers (their turns stay uncoded); a speaker never detected is marked."""
    with open_project() as proj:
        rows = proj.decide_speaker(targets, "confirm", coder=state.coder, note=note)
    say(f"{len(rows)} confirmed: " + (", ".join(f"{r['speaker']} in {r['document']}" for r in rows) or "nothing to change"))


@speakers.command("reject")
def speakers_reject(targets: Targets, note: Note = None) -> None:
    """Reject detected interviewers: their turns are coded again on the next 'code' run."""
    with open_project() as proj:
        rows = proj.decide_speaker(targets, "reject", coder=state.coder, note=note)
    say(f"{len(rows)} rejected: " + (", ".join(f"{r['speaker']} in {r['document']}" for r in rows) or "nothing to change"))
