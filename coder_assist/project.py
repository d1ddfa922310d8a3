"""``Project``: the library and notebook API over one project directory, a thin facade over the steps.

A project directory holds ``project.db`` (SQLite, the source of truth), ``index/`` (chroma,
derived and rebuildable) and ``coder-assist.toml`` (configuration). Each method resolves who is
acting and which provider or framework is meant, then calls one step (``ingest``, ``suggest``,
``review``, ``theory``) with only what that step needs: a store context, vectors, a framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict, Unpack

from .errors import CoderAssistError, ProjectError
from .exchange import ExportReport, ImportReport, export as _export, import_ as _import
from .ingest import run as _ingest
from .ingest.participants import AttributeReport
from .ingest.run import IngestReport
from .plugins import embedder_factories
from .progress import Progress
from .review import confirm as _confirm, decisions as _decisions, queries as _review, sheet as _sheet
from .review.decisions import Decision
from .review.session import ReviewSession
from .store import audit, queries as _store
from .store.config import Config
from .store.db import transaction as _store_transaction
from .store.context import ANCHOR_NAME, StoreContext
from .store.embedders import Embedder
from .store.index import SegmentIndex
from .store.vectors import SearchHit, Vectors
from .suggest.coding import RunReport, mark_interrupted, run_coding
from .suggest.llm import StructuredCaller
from .suggest.providers import (
    HeuristicProvider, Provider, StructuredProvider, get_provider, overridden, resolve_name, resolve_provider,
)  # fmt: skip
from .suggest.providers.deductive import DeductiveOfflineProvider
from .theory import analysis as _analysis, categorize as _categorize, mapping as _mapping, memos as _memos
from .theory import queries as _theory
from .theory.calibration import calibrated_threshold
from .theory.frameworks import Framework, find_frameworks
from .theory.saturation import Saturation, saturation
from .theory.waves import WaveReport, wave_report

__all__ = ["ExportReport", "ImportReport", "IngestReport", "Project", "SearchHit"]
Ids = int | list[int]
Who = str | None
Rows = list[dict[str, Any]]


class LLM(TypedDict, total=False):
    """Which provider a step uses: a registered name or a provider object, with overrides."""

    provider: str | Provider | None
    model: str | None
    base_url: str | None


class Project:
    """An open project. Use ``Project.init(path)`` to create one and ``Project.open(path)`` after."""

    def __init__(self, store: StoreContext, embedder: Embedder | None = None) -> None:
        self.store = store
        self.vectors = Vectors(store, embedder)

    root: Path = property(lambda self: self.store.root)  # type: ignore[assignment]
    conn = property(lambda self: self.store.conn)
    config: Config = property(lambda self: self.store.config)  # type: ignore[assignment]
    embedder: Embedder = property(lambda self: self.vectors.embedder)  # type: ignore[assignment]
    index: SegmentIndex = property(lambda self: self.vectors.index)  # type: ignore[assignment]

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def init(cls, root: str | Path, *, name: str | None = None, coder: Who = None, embedder: str | None = None,
             provider: str | None = None, store: str | None = None) -> Project:  # fmt: skip
        """Create a project directory (it may exist but must not already be a project). ``store``:
        a ``postgresql://`` URL for a database shared by a team (default: ``project.db`` in the folder)."""
        root, config = Path(root), Config()
        if store:
            try:
                config.store = type(config.store)(url=store)
            except ValueError as exc:
                raise ProjectError(f"--store: {' '.join(str(exc).split())}") from None
        config.project.name, config.project.coder = name or root.resolve().name, coder or ""
        if embedder and embedder not in embedder_factories():
            raise ProjectError(f"unknown embedder {embedder!r} (known: {', '.join(sorted(embedder_factories()))})")
        config.embedder.name = embedder or config.embedder.name
        config.provider.name = provider or config.provider.name
        return cls(StoreContext.create(root, config))

    @classmethod
    def open(cls, root: str | Path, *, embedder: Embedder | None = None) -> Project:
        """Open an existing project; ``embedder`` overrides the configured one (tests, notebooks)."""
        return cls(StoreContext.open(Path(root)), embedder)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Project {self.config.project.name!r} at {self.root}>"

    def _repr_html_(self) -> str:
        from .notebook import project_html

        return project_html(self.status(), self.verify_audit())

    def decider(self, coder: Who = None) -> str | None:
        """The named coder for a decision (no OS-user fallback: decisions need a person's name)."""
        return self.store.decider(coder)

    def actor(self, coder: Who = None) -> str:
        """Who is acting, for the audit trail: explicit, ``CODER_ASSIST_CODER``, project default, OS user."""
        return self.store.actor(coder)

    def _provider(self, provider: str | Provider | None = None, model: str | None = None,
                  base_url: str | None = None) -> Provider:  # fmt: skip
        return resolve_provider(self.config.provider, provider, model, base_url)

    # -- ingest and search -------------------------------------------------------------------
    def ingest(self, paths: list[str | Path] | str | Path, *, wave: int | None = None, case: str | None = None,
               name: str | None = None, attributes: str | Path | None = None, coder: Who = None,
               progress: Progress | None = None, index: bool = True, include_hidden: bool = False) -> IngestReport:  # fmt: skip
        """Ingest files or folders; bad files are reported in ``failures`` and skipped. Folders are
        walked without leaving them (no links out, no devices), hidden entries only with ``include_hidden``."""
        warnings = self.import_attributes(attributes, coder=coder).warnings if attributes is not None else []
        items = [paths] if isinstance(paths, (str, Path)) else paths
        report = _ingest.ingest(self.store, self.vectors, [Path(p) for p in items], self.actor(coder), wave=wave,
                                case=case, name=name, progress=progress, index=index, include_hidden=include_hidden)  # fmt: skip
        report.warnings[:0] = warnings
        return report

    def import_attributes(self, csv_path: str | Path, *, coder: Who = None) -> AttributeReport:
        """Add or update participant attributes from a CSV, and refresh the index metadata."""
        return _ingest.import_attributes(self.store, self.vectors, Path(csv_path), self.actor(coder))

    def index_pending(self, progress: Progress | None = None) -> int:
        """Embed and index current segments not yet in the index; resumable after a crash."""
        return self.vectors.index_pending(progress)

    def reindex(self, progress: Progress | None = None, coder: Who = None) -> int:
        """Drop the vector index and rebuild it from the database."""
        return self.vectors.reindex(self.actor(coder), progress)

    def search(self, query: str, k: int = 10, **filters: Any) -> list[SearchHit]:
        """Segments most similar to ``query``, filtered by side, wave, speaker, case, source, role_category."""
        return self.vectors.search(query, k, **filters)

    def speakers(self, document: str | None = None) -> Rows:
        """Speakers per document: role (from the file or a detection), question share, detection status."""
        return _ingest.speaker_rows(self.store, document)

    def decide_speaker(self, targets: str | int | list[str | int], action: str = "confirm", *, coder: Who = None,
                       note: str | None = None) -> Rows:  # fmt: skip
        """Confirm or reject detected interviewers: proposal ids, document names or speakers (all or nothing)."""
        return _ingest.decide_speakers(self.store, targets if isinstance(targets, list) else [targets], action,
                                       self.decider(coder), note)  # fmt: skip

    # -- suggestions -------------------------------------------------------------------------
    def code(self, *, wave: int | None = None, source: str | None = None, limit: int | None = None,
             dry_run: bool = False, coder: Who = None, progress: Progress | None = None, framework: str | None = None,
             max_cost: float | None = None, **llm: Unpack[LLM]) -> RunReport:  # fmt: skip
        """Initial coding: the provider proposes codes for each segment, as suggestions only.
        With ``framework`` the coding is deductive, straight into that framework's constructs.
        ``max_cost`` (USD) stops the run before a call would exceed it (default ``[budget]``)."""
        fw = self.framework(framework) if framework else None
        prov = self._deductive(fw, **llm) if fw is not None else self._provider(**llm)
        return run_coding(self.store, self.vectors, prov, self.actor(coder), wave=wave, source=source, limit=limit,
                          dry_run=dry_run, progress=progress, framework=fw, max_cost=max_cost)  # fmt: skip

    def recode(self, wave: int, *, limit: int | None = None, dry_run: bool = False, max_cost: float | None = None,
               coder: Who = None, progress: Progress | None = None, **llm: Unpack[LLM]) -> RunReport:  # fmt: skip
        """Code a (new) wave with the accepted codebook: a model applies the codes with their
        definitions and examples and proposes new codes only where none fits (offline: the
        heuristics with constant comparison against the whole codebook). Only segments not yet
        coded under this provider, prompt and codebook are sent: an unchanged re-run sends nothing."""
        return run_coding(self.store, self.vectors, self._provider(**llm), self.actor(coder), wave=wave,
                          limit=limit, dry_run=dry_run, progress=progress, max_cost=max_cost, apply_codebook=True)  # fmt: skip

    def code_batch(self, *, wave: int | None = None, source: str | None = None, limit: int | None = None,
                   coder: Who = None, apply_codebook: bool = False, **llm: Unpack[LLM]) -> Any:  # fmt: skip
        """Coding through the provider's Batch API: submit the segments still to code as one batch
        (``apply_codebook``: with the accepted codebook, as :meth:`recode`)."""
        from .suggest import batch

        return batch.submit(self.store, self.vectors, self._provider(**llm), self.actor(coder), wave=wave,
                            source=source, limit=limit, apply_codebook=apply_codebook)  # fmt: skip

    def batches(self, batch_id: str | None = None, *, refresh: bool = True, coder: Who = None,
                **llm: Unpack[LLM]) -> Rows:  # fmt: skip
        """Submitted batches (newest first), running ones refreshed from the API unless ``refresh=False``."""
        from .suggest import batch

        if not refresh:
            return batch.rows(self.conn, batch_id)
        return batch.status(self.store, self._provider(**llm), self.actor(coder), batch_id)

    def collect_batches(self, batch_id: str | None = None, *, coder: Who = None, progress: Progress | None = None,
                        **llm: Unpack[LLM]) -> Any:  # fmt: skip
        """Store the suggestions of finished batches (each segment once, however often this runs)."""
        from .suggest import batch

        return batch.collect(self.store, self.vectors, self._provider(**llm), self.actor(coder), batch_id, progress)

    def cancel_batch(self, batch_id: str, *, coder: Who = None, **llm: Unpack[LLM]) -> dict[str, Any]:
        """Cancel a running batch; collect it afterwards for whatever it finished."""
        from .suggest import batch

        return batch.cancel(self.store, self._provider(**llm), self.actor(coder), batch_id)

    def _deductive(self, fw: Framework, **llm: Any) -> Provider:
        """Deductive coding: the offline construct-similarity provider, or an LLM with the construct codebook prompt."""
        given = llm.get("provider")
        if isinstance(given, (str, type(None))):
            section = overridden(self.config.provider, given, llm.get("model"), llm.get("base_url"))
            if resolve_name(section) == "offline":
                return DeductiveOfflineProvider(fw, self.embedder, calibrated_threshold(fw.id, self.embedder.name))
            given = get_provider(section)
        if not isinstance(given, HeuristicProvider):
            given.prompt_id = "deductive-coding"
        return given

    def suggestion_rows(self, status: str | None = None, run_id: str | None = None, where: str | None = None,
                        ids: list[int] | None = None) -> Rows:  # fmt: skip
        """Suggestions with segment, speaker, attributes, grounding and provider (``where``: the filter language)."""
        return _review.suggestion_rows(self.conn, status, run_id, where, ids)

    def suggestions(self, status: str | None = None, run_id: str | None = None, where: str | None = None) -> Any:
        """Suggestions as a pandas DataFrame (see :meth:`suggestion_rows` for the fields)."""
        return _frame(self.suggestion_rows(status, run_id, where), index="id")

    def provenance(self, suggestion_id: int) -> dict[str, Any]:
        """How a suggestion came about: provider, model, prompt hash, parameters, raw reply ..."""
        return _review.provenance(self.conn, suggestion_id)

    def failed_calls(self) -> Rows:
        """Segments whose last call failed, with the reason and the raw text."""
        return _store.failed_calls(self.conn)

    # -- review: every decision needs a named coder; several ids are decided all or nothing -----
    def review(self, *, coder: Who = None, where: str | None = None) -> ReviewSession:
        """A review session over the open suggestions (the terminal review and the widget drive it)."""
        return ReviewSession(self.store, self.vectors, self.decider(coder) or "", where)

    def review_widget(self, *, coder: Who = None, where: str | None = None) -> Any:
        """The Jupyter review widget (ipywidgets) over :meth:`review`."""
        from .notebook import ReviewWidget

        return ReviewWidget(self.review(coder=coder, where=where))

    def accept(self, ids: Ids, *, coder: Who = None, note: str | None = None) -> list[Decision]:
        """Accept suggestions as proposed: the code (new or existing) is applied to the quoted span."""
        return _decisions.decide_all(self.conn, _ids(ids), "accept", self.decider(coder), note)

    def reject(self, ids: Ids, *, coder: Who = None, note: str | None = None) -> list[Decision]:
        return _decisions.decide_all(self.conn, _ids(ids), "reject", self.decider(coder), note)

    def defer(self, ids: Ids, *, coder: Who = None, note: str | None = None) -> list[Decision]:
        return _decisions.decide_all(self.conn, _ids(ids), "defer", self.decider(coder), note)

    def edit(self, suggestion_id: int, *, label: str | None = None, span: str | tuple[int, int] | None = None,
             coder: Who = None, note: str | None = None) -> Decision:  # fmt: skip
        """Accept with a changed label and/or span (``*`` = the whole segment, or exact words from it)."""
        return _decisions.decide(self.conn, suggestion_id, "edit", self.decider(coder), label=label, span=span, note=note)

    def merge(self, suggestion_id: int, into: str, *, coder: Who = None, note: str | None = None) -> Decision:
        """Accept the suggestion as an instance of an existing code."""
        return _decisions.decide(self.conn, suggestion_id, "merge", self.decider(coder), into=into, note=note)

    def undo(self, decision_id: int | None = None, *, coder: Who = None) -> Decision:
        """Reverse a decision (default: your latest one still in force)."""
        return _decisions.undo(self.conn, self.decider(coder), decision_id)

    def bulk_preview(self, where: str, action: str) -> Rows:
        """The open suggestions a bulk decision would touch (never an ungrounded one for accept)."""
        return _review.bulk_preview(self.conn, where, action)

    def decide_where(self, where: str, action: str, *, coder: Who = None, note: str | None = None) -> list[Decision]:
        """Bulk accept/reject/defer every open suggestion matching ``where``, all or nothing."""
        rows = self.bulk_preview(where, action) if action in ("accept", "reject", "defer") else []
        return _decisions.decide_where(self.conn, rows, action, self.decider(coder), note)

    def apply_decisions_csv(self, path: str | Path, *, coder: Who = None) -> list[Decision]:
        """Decisions from a CSV (``id, action, label, span, into, note``, optional ``version``), all
        or nothing; rows with an empty action are skipped."""
        return _decisions.apply_csv(self.conn, Path(path), self.decider(coder))

    def write_decision_sheet(self, path: str | Path, *, status: str | None = "proposed", run_id: str | None = None,
                             where: str | None = None) -> int:  # fmt: skip
        """The open suggestions (``status``, ``run_id``, ``where``) as a CSV to decide in a spreadsheet
        and apply with :meth:`apply_decisions_csv`; cells are neutralised against formula injection."""
        return _sheet.write_sheet(self.conn, Path(path), self.suggestion_rows(status=status, run_id=run_id, where=where))

    # -- codebook ----------------------------------------------------------------------------------
    def code_rows(self) -> Rows:
        """Active codes with their parent and counts of active codings per side and wave."""
        return _review.code_rows(self.conn)

    def codes(self) -> Any:
        """Codes as a pandas DataFrame, one column per side and per wave."""
        flat = [{k: c[k] for k in ("id", "label", "kind", "parent_id", "codings", "definition")}
                | {f"side:{k}": v for k, v in c["by_side"].items()} | {f"wave:{k}": v for k, v in c["by_wave"].items()}
                for c in self.code_rows()]  # fmt: skip
        return _frame(flat, index="id").fillna({c: 0 for c in sorted({k for r in flat for k in r if ":" in k})})

    def add_code(self, label: str, *, definition: str | None = None, parent: str | None = None, coder: Who = None) -> int:
        return _decisions.add_code(self.conn, label, self.decider(coder), definition, parent)

    def rename_code(self, old: str, new: str, *, coder: Who = None) -> int:
        return _decisions.rename_code(self.conn, old, new, self.decider(coder))

    def merge_codes(self, sources: list[str], into: str, *, coder: Who = None) -> int:
        return _decisions.merge_codes(self.conn, sources, into, self.decider(coder))

    def delete_code(self, label: str, *, coder: Who = None) -> int:
        return _decisions.delete_code(self.conn, label, self.decider(coder))

    def apply_code(self, label: str, segment_id: str, *, span: str | tuple[int, int] | None = None, coder: Who = None) -> int:
        """Manual coding of a span of a segment (default: the whole segment)."""
        return _decisions.apply_code(self.conn, label, segment_id, self.decider(coder), span)

    def trace(self, coding_id: int) -> dict[str, Any]:
        """From a coding back to its decision, suggestion, model, prompt version and input."""
        return _review.trace(self.conn, coding_id)

    # -- focused coding, frameworks, construct mapping ---------------------------------------------
    def categorize(self, *, wave: int | None = None, threshold: float | None = None, coder: Who = None,
                   progress: Progress | None = None, **llm: Unpack[LLM]) -> Any:  # fmt: skip
        """Cluster accepted initial codes into proposed categories (suggestions only); an LLM
        provider names and defines them, the offline one uses the medoid code and top terms."""
        return _categorize.categorize(self.store, self.embedder, self.actor(coder), wave=wave, provider=self._provider(**llm),
                                      threshold=threshold, progress=progress)  # fmt: skip

    def category_suggestion_rows(self, status: str | None = None) -> Rows:
        return _theory.category_suggestion_rows(self.conn, status)

    def decide_category(self, ids: Ids, action: str = "accept", *, name: str | None = None, definition: str | None = None,
                        coder: Who = None, note: str | None = None) -> Any:  # fmt: skip
        """Confirm (accept, or edit with a new name/definition) or reject proposed categories; returns
        the new category id(s)."""
        return self._confirm("category", ids, action, coder, note, name=name, definition=definition)

    def _confirm(self, target: str, ids: Ids, action: str, coder: Who, note: str | None, **edits: Any) -> Any:
        done = _confirm.confirm(self.conn, target, _ids(ids), action, self.decider(coder), note=note, **edits)
        return done[0] if isinstance(ids, int) else done

    def frameworks(self) -> dict[str, Framework]:
        """Built-in, project (``frameworks/*.yaml``) and plug-in frameworks, by id."""
        return find_frameworks(self.root)

    def framework(self, framework_id: str) -> Framework:
        found = self.frameworks()
        if framework_id not in found:
            raise CoderAssistError(f"unknown framework {framework_id!r} (known: {', '.join(sorted(found))})")
        return found[framework_id]

    def map(self, framework: str, *, level: str = "code", threshold: float | None = None, coder: Who = None,
            progress: Progress | None = None, **llm: Unpack[LLM]) -> Any:  # fmt: skip
        """Propose construct links for segments, codes or categories (suggestions only)."""
        return _mapping.map_constructs(self.store, self.embedder, self.framework(framework), self.actor(coder), level,
                                       threshold, self._provider(**llm), progress)  # fmt: skip

    def link_suggestion_rows(self, status: str | None = None, framework: str | None = None, *,
                             with_targets: bool = False) -> Rows:  # fmt: skip
        """Link suggestions; ``with_targets`` adds a readable ``target_label`` (code, category or passage)."""
        return _theory.link_suggestion_rows(self.conn, status, framework, with_targets=with_targets)

    def decide_link(self, ids: Ids, action: str = "accept", *, coder: Who = None, note: str | None = None) -> Any:
        """Confirm or reject proposed construct links; returns the link id(s)."""
        return self._confirm("link", ids, action, coder, note)

    def evaluate_gold(self, gold_path: str | Path, framework: str | None = None, **llm: Unpack[LLM]) -> list[Any]:
        """Score construct mapping (offline, or an LLM provider) against a labelled JSONL set, per framework."""
        prov = self._provider(**llm) if llm.get("provider") not in (None, "offline") else None
        caller = StructuredCaller(prov, self.config.privacy, self.participants()) if isinstance(prov, StructuredProvider) else None
        return _mapping.evaluate_gold(_mapping.load_gold(gold_path), self.frameworks(), self.embedder, caller, framework)

    # -- memos -------------------------------------------------------------------------------------
    def draft_memo(self, *, category: str | None = None, construct: str | None = None, case: str | None = None,
                   coder: Who = None, progress: Progress | None = None, **llm: Unpack[LLM]) -> int:  # fmt: skip
        """Draft a theory memo (a suggestion) for a confirmed category, a construct or a case; returns its id."""
        fw = self.framework(construct.partition(".")[0]) if construct else None
        return _memos.draft_memo(self.store, self.vectors, self.actor(coder), category=category, construct=construct,
                                 case=case, framework=fw, provider=self._provider(**llm), progress=progress)  # fmt: skip

    def memo_drafts(self, status: str | None = None) -> Rows:
        return _theory.memo_drafts(self.conn, status)

    def memo_draft(self, draft_id: int) -> dict[str, Any]:
        """One memo draft by id."""
        if not (found := _theory.memo_drafts(self.conn, draft_id=draft_id)):
            raise CoderAssistError(f"no memo draft {draft_id}")
        return found[0]

    def decide_memo_draft(self, ids: Ids, action: str = "accept", *, body: str | None = None, coder: Who = None,
                          note: str | None = None, allow_unverified: bool = False) -> Any:  # fmt: skip
        """Accept drafts (as they are, or edited with ``body``) as the next version of their subject's
        memo, or reject them. Returns the memo id(s), ``None`` for a rejection. A quoted passage
        that is in no transcript refuses the memo, or with ``allow_unverified`` is marked
        ``[unverified quote]`` (see :mod:`coder_assist.suggest.passages`)."""
        return self._confirm("memo_draft", ids, action, coder, note, body=body, allow_unverified=allow_unverified)

    def accept_memo(self, draft_id: int, *, body: str | None = None, coder: Who = None, note: str | None = None,
                    allow_unverified: bool = False) -> int:  # fmt: skip
        return self.decide_memo_draft(draft_id, "accept", body=body, coder=coder, note=note, allow_unverified=allow_unverified)

    def reject_memo(self, draft_id: int, *, coder: Who = None, note: str | None = None) -> None:
        self.decide_memo_draft(draft_id, "reject", coder=coder, note=note)

    def write_memo(self, subject: str, body: str, *, kind: str = "reflexive", coder: Who = None,
                   allow_unverified: bool = False) -> int:  # fmt: skip
        """Save a memo a researcher wrote (reflexive, or a new version of a theory memo). Quoted
        passages must verify, or with ``allow_unverified`` are marked ``[unverified quote]``."""
        return _confirm.write_memo(self.conn, subject, body, self.decider(coder), kind=kind, allow_unverified=allow_unverified)

    def memos(self, subject: str | None = None) -> Rows:
        """Memo versions, newest last."""
        return _theory.memos(self.conn, subject)

    def export_memos(self, folder: str | Path, *, coder: Who = None) -> int:
        """Write the latest version of every memo as Markdown, one file per subject."""
        return _memos.export_memos(self.conn, Path(folder), self.actor(coder))

    # -- dyad postures, IVPD analyses, saturation, lineage -------------------------------------------
    def propose_postures(self, case: str | None = None, *, coder: Who = None) -> list[int]:
        """Each case's dominant value strategy per side, its cell in the 3x3 posture grid, and the
        dyadic competences in play (suggestions for a person to confirm)."""
        return _analysis.propose_postures(self.conn, self.embedder, self.framework("value_strategy"), self.actor(coder), case)

    def propose_ivpd(self, case: str | None = None, *, coder: Who = None) -> list[int]:
        """Per case and IVPD dimension, how buyer-side groups read the supplier's value, against the supplier side."""
        return _analysis.propose_ivpd(self.conn, self.embedder, self.framework("ivpd"), self.actor(coder), case)

    def analyses(self, kind: str | None = None, case: str | None = None) -> Rows:
        return _analysis.analysis_rows(self.conn, kind, case)

    def decide_analysis(self, ids: Ids, action: str = "accept", *, coder: Who = None, note: str | None = None) -> Any:
        """Confirm or reject proposed analyses; returns the confirmed id(s)."""
        return self._confirm("analysis", ids, action, coder, note)

    confirm_analysis = decide_analysis

    def saturation(self, window: int = 3, share: float = 0.05) -> Saturation:
        """New codes and categories per interview and per wave, and a plateau signal."""
        return saturation(self.conn, window, share)

    def wave_report(self, wave: int, window: int = 3, share: float = 0.05) -> WaveReport:
        """What wave ``wave`` changed: new codes and categories, prevalence, stopped codes, agreement."""
        return wave_report(self.conn, wave, window, share)

    def lineage(self) -> Rows:
        """Initial code -> focused category -> construct, for every active code."""
        return _theory.lineage(self.conn)

    # -- exchange with other tools (REFI-QDA) ------------------------------------------------------
    def export_qdpx(self, path: str | Path, *, coder: Who = None) -> ExportReport:
        """Write the project as a REFI-QDA project (.qdpx), validated against the schema first."""
        return _export(self.store, Path(path), "qdpx", self.actor(coder))

    def export_qdc(self, path: str | Path, *, coder: Who = None) -> ExportReport:
        """Write the codebook (codes and categories) as a REFI-QDA codebook (.qdc)."""
        return _export(self.store, Path(path), "qdc", self.actor(coder))

    def import_qdpx(self, path: str | Path, *, coder: Who = None, index: bool = True,
                    progress: Progress | None = None) -> ImportReport:  # fmt: skip
        """Import a REFI-QDA project: sources, codes, codings (as the original coders' own), cases,
        notes and users, as one decision of the named ``coder``; all or nothing. The new sources
        are then indexed (``progress`` shows it)."""
        return _import(self.store, self.vectors, Path(path), "qdpx", self.decider(coder), index, progress)

    def import_qdc(self, path: str | Path, *, coder: Who = None) -> ImportReport:
        """Import a REFI-QDA codebook (.qdc): codes with their hierarchy, and sets as categories."""
        return _import(self.store, self.vectors, Path(path), "qdc", self.decider(coder), False)

    # -- audit and the store ---------------------------------------------------------------------
    def migrate_store(self, url: str, *, coder: Who = None) -> Any:
        """Copy this project's SQLite database to the empty PostgreSQL database at ``url``, check
        every table's count and the audit chain there, then switch ``store.url`` (the SQLite file
        is kept, renamed). The project is closed afterwards: open it again."""
        from .store.move import move

        try:
            return move(self.store, url, self.actor(coder))
        finally:
            self.close()

    def grant_coder(self, role: str) -> None:
        """On a PostgreSQL store, as its owner: let the database role ``role`` work on the project
        (read and write as the steps do) without the right to create, alter or drop anything."""
        from .store.postgres import PgConnection, grant_coder

        if not isinstance(self.conn, PgConnection):
            raise CoderAssistError("grant-coder is for a project on PostgreSQL (store.url); this one is on project.db")
        grant_coder(self.conn._conn, role)
        with _store_transaction(self.conn):
            audit.append(self.conn, self.actor(), "grant-coder", {"role": role})

    def audit_entries(self) -> int:
        """How many entries the audit ledger holds."""
        return self.conn.execute("SELECT count(*) FROM events").fetchone()[0]

    def verify_audit(self) -> list[audit.ChainBreak]:
        """Check the hash chain and the anchor file; empty means intact. On a shared PostgreSQL
        store the anchor holds the entries written from this folder (see :func:`audit.verify`)."""
        return audit.verify(self.conn, self.root / ANCHOR_NAME, shared=bool(self.config.store.url))

    def audit_log(self, *, since: str | None = None, coder: Who = None, type_: str | None = None) -> Rows:
        return audit.log(self.conn, since=since, actor=coder, type_=type_)

    def export_audit(self, path: str | Path, *, coder: Who = None) -> int:
        """Write the whole ledger as JSON lines (with hashes, so it can be verified elsewhere)."""
        return audit.export(self.conn, Path(path), self.actor(coder))

    def documents(self, all_versions: bool = False) -> Rows:
        """Ingested documents (current versions unless ``all_versions``)."""
        return _store.documents(self.conn, all_versions)

    def document_text(self, name: str, version: int | None = None) -> str:
        """The stored normalized text that all offsets point into."""
        if (text := _store.document_text(self.conn, name, version)) is None:
            raise CoderAssistError(f"no document named {name!r}")
        return text

    def segments(self, source: str | None = None) -> Rows:
        """Current segments with their attributes, in document order."""
        return _store.segments(self.conn, source)

    def participants(self) -> Rows:
        return _store.participants(self.conn)

    def status(self) -> dict[str, Any]:
        """Counts of what the project holds, and whether the index is complete: ``indexed`` counts
        the segments the vector index really holds, and coding runs whose process is gone are
        marked ``interrupted`` first."""
        mark_interrupted(self.conn, self.actor())
        return {"project": self.config.project.name, "root": str(self.root),
                "store": self.config.store.url or "sqlite (project.db)", **_store.status(self.conn),
                "indexed": self.vectors.indexed(), "embedder": self.config.embedder.name,
                "provider": self.config.provider.name}  # fmt: skip


def _ids(ids: Ids) -> list[int]:
    return [ids] if isinstance(ids, int) else [int(i) for i in ids]


def _frame(rows: Rows, index: str) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.set_index(index) if index in frame.columns else frame
