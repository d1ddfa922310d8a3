"""Review, decision, codebook and audit commands (registered on the main typer app)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
from rich.panel import Panel
from rich.text import Text

from ..errors import CoderAssistError
from ..review.session import ReviewItem, ReviewSession

KEYS = "[a]ccept [r]eject [e]dit label [s]pan [m]erge [d]efer [n]ext [u]ndo [q]uit"


def item_view(item: ReviewItem) -> Panel:
    """One suggestion for the terminal: the segment with the quote highlighted, who said it,
    what is proposed and why, and similar coded segments. Fits 80 columns."""
    s, p = item.suggestion, item.participant
    body = Text(item.segment_text)
    if item.quote_span:
        body.stylize("bold reverse", *item.quote_span)
    attrs = ", ".join(str(x) for x in (p.get("side"), p.get("role_category"), s.get("case"),
                                       f"wave {s['wave']}" if s.get("wave") else None) if x)  # fmt: skip
    head = Text(f"{s['speaker'] or 'unlabelled'}{f' ({attrs})' if attrs else ''} in {s['source']}", style="bold")
    label = Text("\nCode: ", style="bold").append(s["label"], style="bold cyan")
    label.append("  in-vivo" if s["in_vivo"] else "")
    if s.get("reused_label"):
        label.append(f"  (reuses '{s['reused_label']}')")
    lines = [head, Text(""), body, label, Text(f"Why:  {s['rationale']}")]
    if item.quote_span is None:
        lines.append(Text("Quote not found in the transcript: edit the span or reject.", style="bold red"))
        lines.append(Text(f"Quote: \"{s['quote']}\""))
    lines.append(Text(f"From: {s['provider']} {s['model']} · grounding {s['grounding']}", style="dim"))
    for sim in item.similar:
        lines.append(Text(f"Similar ({sim['score']:.2f}): \"{sim['text'][:120]}\" -> {'; '.join(sim['codes'])}", style="dim"))
    title = f"suggestion #{s['id']} · {item.position}/{item.total} · {s['status']}"
    return Panel(Text("\n").join(lines), title=title, title_align="left", width=80)


def read_key() -> str:
    """One key press on a terminal; otherwise the next non-blank character of stdin ('q' at end)."""
    if sys.stdin.isatty():
        return click.getchar()
    while True:
        ch = sys.stdin.read(1)
        if ch == "":
            return "q"
        if not ch.isspace() or ch == " ":
            return ch


def interactive(session: ReviewSession, out: Any, err: Any) -> None:
    """Single-key review loop; prompts read a line for labels, spans, codes and notes."""
    while not session.done:
        item = session.current()
        assert item is not None
        out.print(item_view(item), soft_wrap=False)
        out.print(KEYS, markup=False)
        key = read_key().lower()
        out.print("")
        try:
            if key == "a":
                session.accept()
            elif key == "r":
                session.reject(typer.prompt("Reason (optional)", default="", show_default=False) or None)
            elif key == "e":
                session.edit_label(typer.prompt("New label"))
            elif key == "s":
                session.edit_span(typer.prompt("Exact words from the segment, or * for all of it"))
            elif key == "m":
                codes = session.existing_codes()
                for n, c in enumerate(codes[:30], 1):
                    out.print(f"  {n:>2}. {c}", markup=False)
                choice = typer.prompt("Merge into (number or label)")
                session.merge(codes[int(choice) - 1] if choice.isdigit() and 0 < int(choice) <= len(codes) else choice)
            elif key == "d":
                session.defer()
            elif key in ("n", " "):
                session.skip()
            elif key == "u":
                d = session.undo()
                out.print(f"undid decision {d.id}: back to {d.to_status}", markup=False)
            elif key in ("q", "\x03", "\x04"):
                break
            else:
                out.print(KEYS, markup=False)
        except CoderAssistError as exc:
            err.print(f"error: {exc}", markup=False)
    out.print(("Review finished. " if session.done else "Review stopped. ") + session.summary(), markup=False)


def register(app: typer.Typer, ctx: Any) -> None:
    """Add the commands; ``ctx`` gives the shared helpers of cli.py (open, state, out, err ...)."""
    handled, out, err, state = ctx.handled, ctx.out, ctx.err, ctx.state

    @app.command()
    @handled
    def review(
        accept_where: Annotated[Optional[str], typer.Option(help="Accept every open, grounded suggestion matching EXPR.", metavar="EXPR")] = None,
        reject_where: Annotated[Optional[str], typer.Option(help="Reject every open suggestion matching EXPR.", metavar="EXPR")] = None,
        defer_where: Annotated[Optional[str], typer.Option(help="Defer every open suggestion matching EXPR.", metavar="EXPR")] = None,
        from_file: Annotated[Optional[Path], typer.Option("--from", help="Apply decisions from a CSV: id, action, label, span, into, note.")] = None,
        where: Annotated[Optional[str], typer.Option(help="Interactive review of only the suggestions matching EXPR.", metavar="EXPR")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before a bulk decision.")] = False,
        note: Annotated[Optional[str], typer.Option(help="Note recorded with bulk decisions.")] = None,
    ) -> None:
        """Review suggestions: interactively (single keys), in bulk, or from a decisions file.

        EXPR is 'field op value' joined by 'and'; fields: provider, model, label, status, wave, side,
        role_category, speaker, source, case, run, grounded, grounding, score, in_vivo; operators
        = != ~ (contains) !~ < <= > >=. Example: --accept-where "provider=offline and wave=1 and
        side=buyer and grounded=true". Ungrounded suggestions are never accepted in bulk.
        """
        with ctx.open() as proj:
            who = proj.decider(state.coder)
            bulk = [(a, e) for a, e in (("accept", accept_where), ("reject", reject_where), ("defer", defer_where)) if e]
            if len(bulk) + bool(from_file) > 1:
                raise CoderAssistError("give one of --accept-where, --reject-where, --defer-where or --from")
            if from_file:
                decisions = proj.apply_decisions_csv(from_file, coder=state.coder)
                out.print(f"applied {len(decisions)} decisions from {from_file} as {who}", markup=False)
                return
            if bulk:
                action, expr = bulk[0]
                rows = proj.bulk_preview(expr, action)
                out.print(f"{len(rows)} open suggestions match; they would be {action}ed as {who}:", markup=False)
                for r in rows[:10]:
                    out.print(f"  #{r['id']} {r['label']}  ({r['speaker']}, {r['source']})", markup=False)
                if len(rows) > 10:
                    out.print(f"  ... and {len(rows) - 10} more", markup=False)
                if not rows:
                    return
                if not who:
                    raise CoderAssistError("a decision needs a named coder: pass --coder, set CODER_ASSIST_CODER, or set project.coder")
                if not yes and not typer.confirm(f"{action.capitalize()} these {len(rows)}?", default=False):
                    out.print("nothing changed")
                    raise typer.Exit(1)
                decided = proj.decide_where(expr, action, coder=state.coder, note=note)
                out.print(f"{len(decided)} suggestions {action}ed", markup=False)
                return
            session = proj.review(coder=state.coder, where=where)
            if session.done:
                out.print("nothing to review")
                return
            interactive(session, out, err)

    @app.command()
    @handled
    def accept(ids: Annotated[list[int], typer.Argument(help="Suggestion ids.", metavar="ID...")],
               note: Annotated[Optional[str], typer.Option(help="Recorded with the decision.")] = None) -> None:  # fmt: skip
        """Accept suggestions as proposed (all or none)."""
        with ctx.open() as proj:
            ds = proj.accept(ids, coder=state.coder, note=note)
        for d in ds:
            out.print(f"#{d.suggestion_id} accepted by {d.coder} (decision {d.id}, coding {d.coding_id})", markup=False)

    @app.command()
    @handled
    def reject(ids: Annotated[list[int], typer.Argument(help="Suggestion ids.", metavar="ID...")],
               note: Annotated[Optional[str], typer.Option(help="Why (recorded with the decision).")] = None) -> None:  # fmt: skip
        """Reject suggestions (all or none)."""
        with ctx.open() as proj:
            ds = proj.reject(ids, coder=state.coder, note=note)
        for d in ds:
            out.print(f"#{d.suggestion_id} rejected by {d.coder} (decision {d.id})", markup=False)

    @app.command()
    @handled
    def undo(decision: Annotated[Optional[int], typer.Argument(help="Decision id (default: your latest).")] = None) -> None:
        """Reverse a decision with a new decision; nothing is deleted."""
        with ctx.open() as proj:
            d = proj.undo(decision, coder=state.coder)
        out.print(f"decision {d.id}: suggestion #{d.suggestion_id} back to {d.to_status}", markup=False)

    @app.command()
    @handled
    def trace(coding: Annotated[int, typer.Argument(help="Coding id.", metavar="CODING_ID")],
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:  # fmt: skip
        """From a coding back to the decision, the suggestion, the model and prompt, and the input."""
        with ctx.open() as proj:
            t = proj.trace(coding)
        if as_json:
            return ctx.print_json(t)
        c, d, s = t["coding"], t["decision"], t.get("suggestion")
        out.print(f"coding {c['id']}: '{c['code']}' on {c['source']} [{c['start']}:{c['end']}] {c['speaker']}: \"{c['text']}\"", markup=False)
        out.print(f"  decided by {d.get('coder')} at {d.get('at')} ({d.get('action')}"
                  f"{', note: ' + d['note'] if d.get('note') else ''})", markup=False)  # fmt: skip
        if s:
            out.print(f"  suggested by {s['provider']} {s['model']} in run {s['run_id']} at {s['created_at']}", markup=False)
            out.print(f"  prompt {s['prompt_id']} v{s['prompt_version']} sha256 {s['prompt_sha256'][:16]}…; "
                      f"params {json.dumps(s['params'])}; input sha256 {s['input_sha256'][:16]}…", markup=False)  # fmt: skip
            out.print(f"  original label '{s['label']}', grounding {s['grounding']}", markup=False)
        else:
            out.print("  coded by hand (no suggestion)")
        if t["undone_by"]:
            out.print(f"  undone by {t['undone_by']['coder']} at {t['undone_by']['at']}", markup=False)

    @app.command()
    @handled
    def categorize(
        wave: Annotated[Optional[int], typer.Option(help="Only codes applied in this wave.")] = None,
        threshold: Annotated[Optional[float], typer.Option(help="Cosine distance at which clusters stop merging (default 0.6).")] = None,
        provider: Annotated[Optional[str], typer.Option(help="offline (medoid naming) or openai (the model names and defines).")] = None,
        model: Annotated[Optional[str], typer.Option()] = None,
        base_url: Annotated[Optional[str], typer.Option()] = None,
    ) -> None:
        """Focused coding: cluster accepted initial codes into proposed categories, for you to confirm."""
        with ctx.open() as proj:
            r = proj.categorize(wave=wave, threshold=threshold, coder=state.coder, provider=provider, model=model,
                                base_url=base_url)  # fmt: skip
            rows = proj.category_suggestion_rows() if r.run_id else []
        out.print(f"{r.codes} accepted codes -> {r.categories} proposed categories "
                  f"({len(r.unclustered)} codes stand alone; threshold {r.threshold})", markup=False)  # fmt: skip
        for c in [x for x in rows if x["run_id"] == r.run_id]:
            out.print(f"  #{c['id']} {c['name']}: {', '.join(c['properties']['members'])}", markup=False)
        if r.categories:
            out.print("confirm with: coder-assist categories accept ID [--name NAME] (or reject ID)")

    cat_app = typer.Typer(help="Focused categories: list proposals and confirmed categories, confirm or reject.")
    app.add_typer(cat_app, name="categories")

    @cat_app.callback(invoke_without_command=True)
    @handled
    def categories_list(typer_ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List category proposals and their status."""
        if typer_ctx.invoked_subcommand:
            return
        with ctx.open() as proj:
            rows = proj.category_suggestion_rows()
        if as_json:
            return ctx.print_json(rows)
        for c in rows:
            out.print(f"#{c['id']} {c['status']:<9} {c['name']}  ({len(c['member_code_ids'])} codes; "
                      f"terms: {', '.join(c['top_terms'])})", markup=False)  # fmt: skip

    @cat_app.command("accept")
    @handled
    def categories_accept(suggestion: int, name: Annotated[Optional[str], typer.Option(help="Your name for it.")] = None,
                          definition: Annotated[Optional[str], typer.Option()] = None) -> None:  # fmt: skip
        """Confirm a proposed category (optionally renamed and redefined)."""
        with ctx.open() as proj:
            cid = proj.decide_category(suggestion, "edit" if (name or definition) else "accept", name=name,
                                       definition=definition, coder=state.coder)  # fmt: skip
        out.print(f"category {cid} confirmed", markup=False)

    @cat_app.command("reject")
    @handled
    def categories_reject(suggestion: int, note: Annotated[Optional[str], typer.Option()] = None) -> None:
        """Reject a proposed category."""
        with ctx.open() as proj:
            proj.decide_category(suggestion, "reject", coder=state.coder, note=note)
        out.print(f"category suggestion {suggestion} rejected", markup=False)

    @app.command()
    @handled
    def lineage(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Initial code -> focused category -> construct."""
        with ctx.open() as proj:
            rows = proj.lineage()
        if as_json:
            return ctx.print_json(rows)
        current = object()
        for r in rows:
            if r["category"] != current:
                current = r["category"]
                out.print(f"{current or '(no category yet)'}", markup=False)
            links = f"  -> {', '.join(r['constructs'])}" if r["constructs"] else ""
            out.print(f"    {r['label']} [{r['codings']}]{links}", markup=False)

    fw_app = typer.Typer(help="Construct frameworks: built-in, project (frameworks/*.yaml) and plug-ins.", no_args_is_help=True)
    app.add_typer(fw_app, name="frameworks")

    @fw_app.command("list")
    @handled
    def frameworks_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List the available frameworks."""
        with ctx.open() as proj:
            found = proj.frameworks()
        rows = [{"id": f.id, "name": f.name, "version": f.version, "constructs": len(f.constructs)} for f in found.values()]
        if as_json:
            return ctx.print_json(rows)
        for r in rows:
            out.print(f"{r['id']:<24} v{r['version']:<6} {r['constructs']:>3} constructs  {r['name']}", markup=False)

    @fw_app.command("show")
    @handled
    def frameworks_show(framework_id: Annotated[str, typer.Argument(metavar="ID")],
                        as_json: Annotated[bool, typer.Option("--json")] = False) -> None:  # fmt: skip
        """Show a framework's constructs with definitions and cues."""
        with ctx.open() as proj:
            f = proj.framework(framework_id)
        if as_json:
            return ctx.print_json(f.model_dump())
        out.print(f"{f.name} ({f.id} v{f.version})\n{f.description}\nSource: {f.source_note}\n", markup=False)
        for c in f.constructs:
            out.print(f"{c.id}: {c.name}{f'  (under {c.parent})' if c.parent else ''}", markup=False)
            out.print(f"    {c.definition}", markup=False)
            out.print(f"    use when: {'; '.join(c.include)}", markup=False)
            out.print(f"    not when: {'; '.join(c.exclude)}", markup=False)

    @fw_app.command("validate")
    @handled
    def frameworks_validate(file: Annotated[Path, typer.Argument(metavar="FILE.yaml")]) -> None:
        """Check a framework file against the schema and the known frameworks."""
        from ..theory.frameworks import builtin_frameworks, check_references, load_framework

        f = load_framework(file)
        problems = check_references({**builtin_frameworks(), f.id: f})
        problems = [p for p in problems if p.startswith(f.id) or f.id in p]
        for p in problems:
            err.print(f"error: {file}: {p}", markup=False)
        if problems:
            raise typer.Exit(1)
        out.print(f"{file}: framework {f.id!r} is valid ({len(f.constructs)} constructs)", markup=False)

    @app.command("map")
    @handled
    def map_cmd(
        framework: Annotated[str, typer.Option(help="Framework id, e.g. ivpd.")],
        level: Annotated[str, typer.Option(help="segment, code or category.")] = "code",
        threshold: Annotated[Optional[float], typer.Option(help="Abstain below this similarity (default: calibrated).")] = None,
        provider: Annotated[Optional[str], typer.Option(help="offline (similarity) or openai (the model chooses).")] = None,
        model: Annotated[Optional[str], typer.Option()] = None,
        base_url: Annotated[Optional[str], typer.Option()] = None,
    ) -> None:
        """Propose links from segments, codes or categories to a framework's constructs; abstains when nothing fits."""
        with ctx.open() as proj:
            r = proj.map(framework, level=level, threshold=threshold, coder=state.coder, provider=provider, model=model,
                         base_url=base_url)  # fmt: skip
        out.print(f"{r.items} {level}s: {r.linked} links proposed, {r.abstained} abstained "
                  f"(threshold {r.threshold:.2f}); confirm with 'coder-assist links accept ID'", markup=False)  # fmt: skip

    links_app = typer.Typer(help="Proposed and confirmed construct links.")
    app.add_typer(links_app, name="links")

    @links_app.callback(invoke_without_command=True)
    @handled
    def links_list(typer_ctx: typer.Context, status: Annotated[Optional[str], typer.Option()] = None,
                   framework: Annotated[Optional[str], typer.Option()] = None,
                   as_json: Annotated[bool, typer.Option("--json")] = False) -> None:  # fmt: skip
        """List construct-link suggestions."""
        if typer_ctx.invoked_subcommand:
            return
        with ctx.open() as proj:
            rows = proj.link_suggestion_rows(status, framework)
        if as_json:
            return ctx.print_json(rows)
        for r in rows:
            out.print(f"#{r['id']} {r['status']:<9} {r['level']} {r['target']} -> {r['framework']}.{r['construct']} "
                      f"({r['confidence']:.2f})", markup=False)  # fmt: skip

    @links_app.command("accept")
    @handled
    def links_accept(ids: Annotated[list[int], typer.Argument(metavar="ID...")]) -> None:
        """Confirm construct links."""
        with ctx.open() as proj:
            for i in ids:
                proj.decide_link(i, "accept", coder=state.coder)
        out.print(f"{len(ids)} links confirmed", markup=False)

    @links_app.command("reject")
    @handled
    def links_reject(ids: Annotated[list[int], typer.Argument(metavar="ID...")],
                     note: Annotated[Optional[str], typer.Option()] = None) -> None:  # fmt: skip
        """Reject construct links."""
        with ctx.open() as proj:
            for i in ids:
                proj.decide_link(i, "reject", coder=state.coder, note=note)
        out.print(f"{len(ids)} links rejected", markup=False)

    @app.command("eval")
    @handled
    def eval_cmd(
        gold: Annotated[Path, typer.Option(help="JSONL of {quote, framework, label}.", metavar="FILE.jsonl")],
        framework: Annotated[Optional[str], typer.Option(help="Only this framework.")] = None,
        provider: Annotated[str, typer.Option(help="offline (similarity mapper) or openai (the model chooses).")] = "offline",
        model: Annotated[Optional[str], typer.Option()] = None,
        base_url: Annotated[Optional[str], typer.Option()] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Map each gold quote and report accuracy, macro-F1 and Cohen's kappa per framework."""
        from ..theory.evaluate import Scores, confusion_table

        with ctx.open() as proj:
            results = proj.evaluate_gold(gold, framework, provider=provider, model=model, base_url=base_url)
            embedder = proj.embedder.name if provider == "offline" else f"{provider} {model or ''}".strip()
        if as_json:
            return ctx.print_json([vars(r) for r in results])
        for r in results:
            out.print(f"{r.framework} (n={r.n}, {'offline mapper, ' if provider == 'offline' else ''}{embedder}, "
                      f"threshold {r.threshold:.2f}):", markup=False)  # fmt: skip
            out.print(f"  accuracy {r.accuracy:.3f}  macro-F1 {r.macro_f1:.3f}  kappa {r.kappa:.3f}", markup=False)
            out.print(f"  5-fold cross-validated (threshold calibrated on the other folds): accuracy {r.cv_accuracy:.3f}"
                      f"  macro-F1 {r.cv_macro_f1:.3f}  kappa {r.cv_kappa:.3f}", markup=False)  # fmt: skip
            s = Scores(r.n, r.accuracy, r.macro_f1, r.kappa, r.labels, r.confusion)
            out.print("\n".join("  " + line for line in confusion_table(s).splitlines()), markup=False)

    @app.command()
    @handled
    def saturation(as_json: Annotated[bool, typer.Option("--json")] = False,
                   window: Annotated[int, typer.Option(help="Interviews the plateau signal looks back over.")] = 3) -> None:  # fmt: skip
        """New initial codes and categories per interview and per wave, with a plateau signal."""
        with ctx.open() as proj:
            s = proj.saturation(window)
        if as_json:
            return ctx.print_json(vars(s))
        for r in s.interviews:
            out.print(f"wave {r['wave'] or '-'}  {r['document'][:40]:<40} +{r['new_codes']:<3} codes ({r['cumulative_codes']:>4})"
                      f"  +{r['new_categories']} categories ({r['cumulative_categories']})", markup=False)  # fmt: skip
        for w in s.waves:
            out.print(f"wave {w['wave'] or '-'}: {w['interviews']} interviews, {w['new_codes']} new codes, "
                      f"{w['new_categories']} new categories", markup=False)  # fmt: skip
        out.print(s.signal, markup=False)

    memo_app = typer.Typer(help="Theory memos: draft from the data, accept or edit, write your own, show, export.",
                           no_args_is_help=True)  # fmt: skip
    app.add_typer(memo_app, name="memo")

    @memo_app.command("draft")
    @handled
    def memo_draft(
        category: Annotated[Optional[str], typer.Option(help="A confirmed category (name or id).")] = None,
        construct: Annotated[Optional[str], typer.Option(help="framework.construct, e.g. ivpd.locus.")] = None,
        case: Annotated[Optional[str], typer.Option(help="A case id.")] = None,
        provider: Annotated[Optional[str], typer.Option(help="offline (assembled from the data) or openai (the model writes).")] = None,
        model: Annotated[Optional[str], typer.Option()] = None,
        base_url: Annotated[Optional[str], typer.Option()] = None,
    ) -> None:
        """Draft a memo from the coded data; every quote is anchored and verified. It waits for you to accept it."""
        with ctx.open() as proj:
            draft_id = proj.draft_memo(category=category, construct=construct, case=case, coder=state.coder,
                                       provider=provider, model=model, base_url=base_url)  # fmt: skip
            d = proj.memo_drafts()[-1]
        out.print(d["body"], markup=False, soft_wrap=True)
        out.print(f"draft {draft_id} ({len(d['citations'])} anchored quotes, {d['ungrounded']} not found); accept with "
                  f"'coder-assist memo accept {draft_id}' (add --file F to accept your edited version)", markup=False)  # fmt: skip

    @memo_app.command("drafts")
    @handled
    def memo_drafts_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List memo drafts."""
        with ctx.open() as proj:
            rows = proj.memo_drafts()
        if as_json:
            return ctx.print_json(rows)
        for r in rows:
            out.print(f"#{r['id']} {r['status']:<9} {r['subject']}  ({len(r['citations'])} quotes)", markup=False)

    @memo_app.command("accept")
    @handled
    def memo_accept(draft: int, file: Annotated[Optional[Path], typer.Option(help="Your edited version of the draft.")] = None,
                    note: Annotated[Optional[str], typer.Option()] = None) -> None:  # fmt: skip
        """Accept a draft (or your edited version of it) as the next memo version."""
        body = file.read_text(encoding="utf-8") if file else None
        with ctx.open() as proj:
            memo_id = proj.accept_memo(draft, body=body, coder=state.coder, note=note)
            m = next(x for x in proj.memos() if x["id"] == memo_id)
        out.print(f"memo '{m['subject']}' version {m['version']} saved ({len(m['citations'])} verified quotes)", markup=False)

    @memo_app.command("reject")
    @handled
    def memo_reject(draft: int, note: Annotated[Optional[str], typer.Option()] = None) -> None:
        """Reject a memo draft."""
        with ctx.open() as proj:
            proj.reject_memo(draft, coder=state.coder, note=note)
        out.print(f"memo draft {draft} rejected", markup=False)

    @memo_app.command("write")
    @handled
    def memo_write(subject: str, file: Annotated[Path, typer.Option(help="Markdown file with your memo.")],
                   kind: Annotated[str, typer.Option(help="reflexive or theory.")] = "reflexive") -> None:  # fmt: skip
        """Save a memo you wrote; quotes anchored as «words» [source@start:end] are verified."""
        from ..errors import InputError

        try:
            body = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(file, f"cannot read: {exc}") from None
        with ctx.open() as proj:
            memo_id = proj.write_memo(subject, body, kind=kind, coder=state.coder)
            m = next(x for x in proj.memos() if x["id"] == memo_id)
        out.print(f"memo '{subject}' version {m['version']} saved", markup=False)

    @memo_app.command("show")
    @handled
    def memo_show(subject: str, version: Annotated[Optional[int], typer.Option()] = None) -> None:
        """Print a memo (latest version unless --version)."""
        with ctx.open() as proj:
            rows = proj.memos(subject)
        if not rows:
            raise CoderAssistError(f"no memo {subject!r}")
        m = next((r for r in rows if r["version"] == version), None) if version else rows[-1]
        if m is None:
            raise CoderAssistError(f"memo {subject!r} has no version {version}")
        out.print(m["body"], markup=False, soft_wrap=True)
        out.print(f"({m['subject']} v{m['version']}, {m['kind']}, by {m['created_by']} at {m['created_at'][:19]})", markup=False)

    @memo_app.command("export")
    @handled
    def memo_export(folder: Annotated[Path, typer.Argument(help="Folder for one Markdown file per memo (latest versions).")]) -> None:
        """Export the latest version of every memo as Markdown."""
        with ctx.open() as proj:
            n = proj.export_memos(folder, coder=state.coder)
        out.print(f"exported {n} memos to {folder}", markup=False)

    def _show_analyses(ids: list[int], kind: str, as_json: bool) -> None:
        from ..theory.analysis import render_ivpd, render_posture

        with ctx.open() as proj:
            rows = [r for r in proj.analyses(kind) if r["id"] in ids]
        if as_json:
            return ctx.print_json(rows)
        for r in rows:
            out.print(f"#{r['id']} ({r['status']})", markup=False)
            out.print((render_posture if kind == "posture" else render_ivpd)(r["payload"]), markup=False, soft_wrap=True)
        if rows:
            out.print(f"confirm with: coder-assist analyses accept {' '.join(str(r['id']) for r in rows)}", markup=False)

    @app.command()
    @handled
    def posture(case: Annotated[Optional[str], typer.Option(help="Only this case.")] = None,
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:  # fmt: skip
        """Propose each case's value strategies (buyer and supplier), its cell in the 3x3 posture grid,
        what each side can do, and the dyadic competences in play. Offline similarity; confirm by hand."""
        with ctx.open() as proj:
            ids = proj.propose_postures(case, coder=state.coder)
        _show_analyses(ids, "posture", as_json)

    @app.command()
    @handled
    def ivpd(case: Annotated[Optional[str], typer.Option(help="Only this case.")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:  # fmt: skip
        """Compare how buyer-side groups perceive the supplier's value on each IVPD dimension, with
        evidence, signs of dissonance or alignment, and the supplier side for contrast."""
        with ctx.open() as proj:
            ids = proj.propose_ivpd(case, coder=state.coder)
        _show_analyses(ids, "ivpd", as_json)

    an_app = typer.Typer(help="Proposed posture and IVPD analyses: confirm or reject.", no_args_is_help=True)
    app.add_typer(an_app, name="analyses")

    @an_app.command("accept")
    @handled
    def analyses_accept(ids: Annotated[list[int], typer.Argument(metavar="ID...")],
                        note: Annotated[Optional[str], typer.Option()] = None) -> None:  # fmt: skip
        """Confirm proposed analyses."""
        with ctx.open() as proj:
            for i in ids:
                proj.confirm_analysis(i, "accept", coder=state.coder, note=note)
        out.print(f"{len(ids)} analyses confirmed", markup=False)

    @an_app.command("reject")
    @handled
    def analyses_reject(ids: Annotated[list[int], typer.Argument(metavar="ID...")],
                        note: Annotated[Optional[str], typer.Option()] = None) -> None:  # fmt: skip
        """Reject proposed analyses."""
        with ctx.open() as proj:
            for i in ids:
                proj.confirm_analysis(i, "reject", coder=state.coder, note=note)
        out.print(f"{len(ids)} analyses rejected", markup=False)

    codes_app = typer.Typer(help="The codebook: list codes (default) or edit it by hand.", no_args_is_help=False)
    app.add_typer(codes_app, name="codes")

    @codes_app.callback(invoke_without_command=True)
    @handled
    def codes_list(typer_ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List codes as a tree with counts of codings per side and per wave."""
        if typer_ctx.invoked_subcommand:
            return
        with ctx.open() as proj:
            rows = proj.code_rows()
        if as_json:
            return ctx.print_json(rows)
        if not rows:
            out.print("no codes yet: accept suggestions with 'coder-assist review'")
        children: dict[Any, list[dict]] = {}
        for r in rows:
            children.setdefault(r["parent_id"], []).append(r)
        known = {r["id"] for r in rows}

        def show(r: dict, depth: int) -> None:
            sides = ", ".join(f"{k} {v}" for k, v in sorted(r["by_side"].items()))
            waves = ", ".join(f"w{k} {v}" for k, v in sorted(r["by_wave"].items()))
            out.print(f"{'  ' * depth}{r['label']}  [{r['codings']}{'; ' + sides if sides else ''}{'; ' + waves if waves else ''}]", markup=False)
            for child in children.get(r["id"], []):
                show(child, depth + 1)

        for r in rows:
            if r["parent_id"] is None or r["parent_id"] not in known:
                show(r, 0)

    @codes_app.command("add")
    @handled
    def codes_add(label: str, definition: Annotated[Optional[str], typer.Option()] = None,
                  parent: Annotated[Optional[str], typer.Option(help="Parent code label.")] = None) -> None:  # fmt: skip
        """Add a code by hand."""
        with ctx.open() as proj:
            proj.add_code(label, definition=definition, parent=parent, coder=state.coder)
        out.print(f"added code '{label}'", markup=False)

    @codes_app.command("rename")
    @handled
    def codes_rename(old: str, new: str) -> None:
        """Rename a code (its codings follow)."""
        with ctx.open() as proj:
            proj.rename_code(old, new, coder=state.coder)
        out.print(f"renamed '{old}' to '{new}'", markup=False)

    @codes_app.command("merge")
    @handled
    def codes_merge(sources: Annotated[list[str], typer.Argument(metavar="CODE...")],
                    into: Annotated[str, typer.Option(help="The code that absorbs them.")]) -> None:  # fmt: skip
        """Merge codes into another; their codings move, the merged codes are retired."""
        with ctx.open() as proj:
            n = proj.merge_codes(sources, into, coder=state.coder)
        out.print(f"merged {len(sources)} codes into '{into}' ({n} codings moved)", markup=False)

    @codes_app.command("delete")
    @handled
    def codes_delete(label: str) -> None:
        """Retire a code and its codings (kept in the history, no longer active)."""
        with ctx.open() as proj:
            n = proj.delete_code(label, coder=state.coder)
        out.print(f"retired '{label}' and {n} codings", markup=False)

    @codes_app.command("apply")
    @handled
    def codes_apply(label: str, segment: Annotated[str, typer.Option(help="Segment id (see 'segments').")],
                    span: Annotated[Optional[str], typer.Option(help="Exact words from the segment (default: all of it).")] = None) -> None:  # fmt: skip
        """Code a span by hand (the code is created if new)."""
        with ctx.open() as proj:
            cid = proj.apply_code(label, segment, span=span, coder=state.coder)
        out.print(f"coding {cid}: '{label}' on segment {segment}", markup=False)

    audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    @handled
    def audit_verify() -> None:
        """Check the hash chain and the anchor file; names every place the chain breaks."""
        with ctx.open() as proj:
            breaks = proj.verify_audit()
            n = proj.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        if not breaks:
            out.print(f"audit trail intact: {n} entries, hash chain and anchor verified", markup=False)
            return
        for b in breaks:
            err.print(f"error: entry {b.seq}: {b.reason}", markup=False)
        raise typer.Exit(1)

    @audit_app.command("log")
    @handled
    def audit_log(
        since: Annotated[Optional[str], typer.Option(help="ISO date or time, e.g. 2026-11-01.")] = None,
        coder: Annotated[Optional[str], typer.Option("--by", help="Only this actor.")] = None,
        type_: Annotated[Optional[str], typer.Option("--type", help="ingest, coding-run-start, suggestions, decision, codebook ...")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Show audit entries."""
        with ctx.open() as proj:
            rows = proj.audit_log(since=since, coder=coder, type_=type_)
        if as_json:
            return ctx.print_json(rows)
        for r in rows:
            summary = ", ".join(f"{k}={v}" for k, v in list(r["payload"].items())[:5])
            out.print(f"{r['seq']:>6} {r['at'][:19]} {r['actor']:<12} {r['type']:<18} {summary}"[:200], markup=False)

    @audit_app.command("export")
    @handled
    def audit_export(file: Annotated[Path, typer.Argument(metavar="FILE.jsonl")]) -> None:
        """Write the whole ledger as JSON lines, hashes included."""
        with ctx.open() as proj:
            n = proj.export_audit(file, coder=state.coder)
        out.print(f"wrote {n} entries to {file}", markup=False)
