"""The ``coder-assist`` command line: a thin shell over :class:`coder_assist.Project`."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from types import SimpleNamespace
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import review as cli_review
from ..errors import CoderAssistError
from ..project import Project

app = typer.Typer(
    name="coder-assist",
    help="LLM-assisted qualitative coding and grounded theory for interview transcripts.\n\n"
    "Every suggestion waits for a named human's decision; everything runs offline by default.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class _State:
    project_dir: Path = Path(".")
    coder: str | None = None


state = _State()


@app.callback()
def _root(
    project: Annotated[
        Path, typer.Option("--project", "-p", envvar="CODER_ASSIST_PROJECT", help="Project directory.")
    ] = Path("."),
    coder: Annotated[
        Optional[str], typer.Option("--coder", envvar="CODER_ASSIST_CODER", help="Who is acting (recorded in the audit trail).")
    ] = None,
) -> None:
    state.project_dir = project
    state.coder = coder


def _fail(message: str) -> None:
    err.print(f"error: {message}", markup=False)


def handled(fn: F) -> F:
    """Turn library errors into a one-line message on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CoderAssistError as exc:
            _fail(str(exc))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _open() -> Project:
    return Project.open(state.project_dir)


def _print_json(data: Any) -> None:
    out.print(json.dumps(data, indent=2, ensure_ascii=False, default=str), markup=False)


class RichProgress:
    """The library's progress interface drawn with rich on stderr."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None

    def begin(self, label: str, total: int) -> None:
        if total > 1:
            self._bar = Progress(
                TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=err,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@app.command()
@handled
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the project in.", metavar="DIR")],
    name: Annotated[Optional[str], typer.Option(help="Project name (default: the directory name).")] = None,
    embedder: Annotated[Optional[str], typer.Option(help="minilm (default, offline), openai, or a plug-in's.")] = None,
) -> None:
    """Create a project: project.db (SQLite), index/ (chroma) and coder-assist.toml."""
    proj = Project.init(directory, name=name, coder=state.coder, embedder=embedder)
    out.print(f"Created project {proj.config.project.name!r} in {directory}", markup=False)
    out.print(f"  config: {directory / 'coder-assist.toml'}  (provider: {proj.config.provider.name}, "
              f"embedder: {proj.config.embedder.name})", markup=False)  # fmt: skip
    proj.close()


@app.command()
@handled
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Transcript files or folders (.txt .md .vtt .srt .docx .json).", metavar="FILE...")],
    wave: Annotated[Optional[int], typer.Option(help="Interview wave these files belong to.")] = None,
    case: Annotated[Optional[str], typer.Option(help="Case/dyad id (default: inferred from participants).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Document name for a single file (default: its file name).")] = None,
    attributes: Annotated[Optional[Path], typer.Option(help="Participants CSV to import first.")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Store only; embed later with 'reindex'.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest transcripts: parse speakers, segment, store, embed and index.

    Bad files are skipped with a one-line error each; the others are ingested; the exit status is 1
    if any file failed. Re-ingesting identical content changes nothing.
    """
    with _open() as proj:
        report = proj.ingest(files, wave=wave, case=case, name=name, attributes=attributes, coder=state.coder,
                             progress=None if as_json else RichProgress(), index=not no_index)  # fmt: skip
    if as_json:
        _print_json({
            "files": [vars(f) for f in report.files], "indexed": report.indexed, "warnings": report.warnings,
            "failures": [{"path": e.path, "reason": e.reason} for e in report.failures],
        })  # fmt: skip
    else:
        for f in report.files:
            extra = f" ({f.message})" if f.message else ""
            out.print(f"{f.status:>11}  {f.name}: {f.turns} turns, {f.segments} segments, "
                      f"speakers: {', '.join(f.speakers) or '(unlabelled)'}{extra}", markup=False)  # fmt: skip
            for w in f.warnings:
                err.print(f"warning: {f.path}: {w}", markup=False)
        for w in report.warnings:
            err.print(f"warning: {w}", markup=False)
        added = sum(f.status in ("added", "new-version") for f in report.files)
        out.print(f"{added} ingested, {len(report.files) - added} unchanged, {len(report.failures)} failed; "
                  f"{report.indexed} segments indexed", markup=False)  # fmt: skip
    for e in report.failures:
        _fail(str(e))
    if report.failures:
        raise typer.Exit(1)


@app.command()
@handled
def attributes(
    csv_file: Annotated[Path, typer.Argument(help="CSV with participant_id, speaker, side, role_category, ...", metavar="CSV")],
) -> None:
    """Add or update participant attributes (side, role category, sector, case ...) from a CSV."""
    with _open() as proj:
        report = proj.import_attributes(csv_file, coder=state.coder)
    for w in report.warnings:
        err.print(f"warning: {w}", markup=False)
    out.print(f"{len(report.added)} participants added, {len(report.updated)} updated", markup=False)


@app.command()
@handled
def participants(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List participants and their attributes."""
    with _open() as proj:
        rows = proj.participants()
    if as_json:
        return _print_json(rows)
    table = Table("id", "speaker", "side", "role", "case", "organisation", box=None)
    for column in table.columns:
        column.no_wrap, column.overflow = True, "ellipsis"
    for r in rows:
        table.add_row(*(str(r.get(k) or "") for k in ("id", "speaker", "side", "role_category", "case_id", "organisation")))
    out.print(table)


@app.command()
@handled
def sources(
    all_versions: Annotated[bool, typer.Option("--all-versions", help="Include superseded versions.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List ingested documents with wave, case, speakers and counts."""
    with _open() as proj:
        docs = proj.documents(all_versions=all_versions)
    if as_json:
        return _print_json(docs)
    for d in docs:
        version = f"v{d['version']}" + ("" if d["current"] else " (superseded)")
        out.print(f"{d['name']} {version}  wave {d['wave'] or '-'}  case {d['case'] or '-'}  {d['format']}  "
                  f"{d['turns']} turns  {d['segments']} segments", markup=False)  # fmt: skip
        out.print(f"    speakers: {', '.join(d['speakers']) or '(unlabelled)'}", markup=False)


@app.command()
@handled
def segments(
    source: Annotated[Optional[str], typer.Option(help="Only this document.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List segments with speaker and offsets."""
    with _open() as proj:
        rows = proj.segments(source)
    rows = rows[:limit] if limit else rows
    if as_json:
        return _print_json(rows)
    for r in rows:
        out.print(f"{r['id']}  {r['source']} [{r['start']}:{r['end']}] {r['speaker'] or '-'}: {r['text']}", markup=False)


@app.command()
@handled
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.", metavar="QUERY")],
    k: Annotated[int, typer.Option("-k", help="Number of results.", min=1, max=500)] = 10,
    side: Annotated[Optional[str], typer.Option(help="buyer, supplier or researcher.")] = None,
    wave: Annotated[Optional[int], typer.Option(help="Only this wave.")] = None,
    speaker: Annotated[Optional[str], typer.Option(help="Only this speaker label.")] = None,
    case: Annotated[Optional[str], typer.Option(help="Only this case.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this document.")] = None,
    role_category: Annotated[Optional[str], typer.Option(help="Only this role category (Comm, Del, Exec ...).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Semantic search over segments, ranked by cosine similarity."""
    with _open() as proj:
        hits = proj.search(query, k, side=side, wave=wave, speaker=speaker, case=case, source=source,
                           role_category=role_category)  # fmt: skip
    if as_json:
        return _print_json([h.to_dict() for h in hits])
    if not hits:
        out.print("no matching segments")
    for n, h in enumerate(hits, 1):
        attrs = ", ".join(x for x in (h.side, h.role_category, f"wave {h.wave}" if h.wave else None, h.case) if x)
        out.print(f"{n:>2}. {h.score:.3f}  {h.speaker or '-'}{f' ({attrs})' if attrs else ''}  "
                  f"{h.source} [{h.start}:{h.end}]", markup=False)  # fmt: skip
        out.print(f"    {h.text}", markup=False)


@app.command()
@handled
def code(
    wave: Annotated[Optional[int], typer.Option(help="Only this wave.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this document.")] = None,
    provider: Annotated[Optional[str], typer.Option(help="offline, openai, or a plug-in's (default: from the config).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name for the provider.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Code at most this many segments in this run.", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count segments, estimate tokens and cost; call nothing.")] = False,
    framework: Annotated[Optional[str], typer.Option(help="Deductive coding straight into this framework's constructs (e.g. ivpd).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Grounded-theory initial coding: propose codes for each segment, as suggestions only.

    Only participants' talk is coded (not interviewers or moderators). Segments already coded with
    the same provider, model, prompt and parameters are skipped, so an interrupted run can simply
    be started again. Every quote is checked against the segment; ungrounded suggestions are kept
    for inspection but never offered for one-click acceptance.
    """
    with _open() as proj:
        report = proj.code(provider=provider, model=model, base_url=base_url, wave=wave, source=source, limit=limit,
                           dry_run=dry_run, coder=state.coder, progress=None if as_json else RichProgress(),
                           framework=framework)  # fmt: skip
    for w in report.warnings:
        err.print(f"warning: {w}", markup=False)
    if as_json:
        return _print_json(vars(report))
    label = "offline heuristics (no model)" if report.provider == "offline" else f"{report.provider} {report.model}"
    cost = "unknown (no price for this model)" if report.cost_usd is None else f"${report.cost_usd:.4f}"
    tokens = f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens"
    if report.dry_run:
        out.print(f"dry run with {label}: {report.selected} segments to code ({report.skipped_done} already done)", markup=False)
        out.print(f"estimated {tokens}, estimated cost {cost}; nothing was sent", markup=False)
        return
    out.print(f"{label}: coded {report.coded} segments, {report.failed} failed, {report.skipped_done} already done", markup=False)
    methods = ", ".join(f"{k} {v}" for k, v in sorted(report.by_method.items()))
    out.print(f"{report.suggestions} suggestions: {report.grounded} grounded, {report.ungrounded} ungrounded"
              f"{f' ({methods})' if methods else ''}", markup=False)  # fmt: skip
    out.print(f"{tokens}{' (estimated)' if report.tokens_estimated else ''}, cost {cost}"
              f"{'; identifiers were pseudonymised before sending' if report.redacted else ''}", markup=False)  # fmt: skip
    if report.failed:
        out.print("failed segments keep their reason and raw reply; run 'coder-assist code' again to retry them")
        raise typer.Exit(1)


@app.command()
@handled
def suggestions(
    status: Annotated[Optional[str], typer.Option(help="proposed, ungrounded, ... (default: all).")] = None,
    run: Annotated[Optional[str], typer.Option(help="Only this coding run.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List suggestions with their quote, grounding and provider."""
    with _open() as proj:
        rows = proj.suggestion_rows(status=status, run_id=run)
    if as_json:
        return _print_json(rows)
    for r in rows:
        where = f"[{r['start']}:{r['end']}]" if r["start"] is not None else "[not found]"
        out.print(f"#{r['id']} {r['status']:<10} {r['label']}  ({r['provider']}, {r['grounding']})", markup=False)
        out.print(f"    {r['speaker'] or '-'} in {r['source']} {where}: \"{r['quote']}\"", markup=False)


@app.command()
@handled
def reindex() -> None:
    """Rebuild the vector index from the project database."""
    with _open() as proj:
        n = proj.reindex(progress=RichProgress(), coder=state.coder)
    out.print(f"reindexed {n} segments with {proj.config.embedder.name}")


@app.command()
@handled
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What the project holds: documents, segments, index, participants, audit events."""
    with _open() as proj:
        info = proj.status()
    if as_json:
        return _print_json(info)
    for key, value in info.items():
        if key == "suggestions":
            value = ", ".join(f"{v} {k}" for k, v in sorted(value.items())) or "none"
        out.print(f"{key:>18}: {value}", markup=False)
    if info["indexed"] < info["segments"]:
        out.print(f"{info['segments'] - info['indexed']} segments are not indexed yet: run 'coder-assist reindex'")


@app.command()
@handled
def plugins(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List loaded plug-ins and the embedders, LLM providers and frameworks they provide."""
    from ..plugins import embedder_factories, framework_factories, plugin_names, provider_factories

    info = {"plugins": plugin_names(), "embedders": sorted(embedder_factories()), "providers": sorted(provider_factories()),
            "frameworks (plug-in)": sorted(framework_factories())}  # fmt: skip
    if as_json:
        return _print_json(info)
    for key, values in info.items():
        out.print(f"{key + ':':<22}" + (", ".join(values) or "-"), markup=False)


cli_review.register(app, SimpleNamespace(handled=handled, open=_open, print_json=_print_json, out=out, err=err, state=state))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="coder-assist")


if __name__ == "__main__":
    sys.exit(main())
