"""Jupyter support: HTML views of a project and a suggestion, and the review widget.

ipywidgets is imported inside :class:`ReviewWidget` only, so ``import coder_assist`` stays light.
The widget drives a :class:`~coder_assist.review.ReviewSession`, like the terminal review, so both
behave the same; every value shown is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from .errors import CoderAssistError

if TYPE_CHECKING:
    from .review.session import ReviewItem, ReviewSession

UNGROUNDED_NOTE = "quote not found in the transcript: accept is disabled"
SPAN_HINT = "the exact words from the segment, or *"
_STATUS_COUNTS = ("documents", "segments", "indexed", "participants", "events", "embedder", "provider")


def _e(value: Any) -> str:
    """``value`` as escaped text (``None`` as an empty string)."""
    return escape("" if value is None else str(value))


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th style='text-align:left'>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


# -- project ----------------------------------------------------------------------------------
def project_html(status: dict[str, Any], breaks: list[Any]) -> str:
    """A compact summary table: counts (``Project.status()``), suggestions by status, codes and
    the audit chain (``breaks``: what ``Project.verify_audit()`` found)."""
    by_status = sorted(status["suggestions"].items())
    audit = "ok"
    if breaks:
        audit = f"broken ({len(breaks)} problems; first at entry {breaks[0].seq}: {breaks[0].reason})"
    pairs: list[tuple[str, Any]] = [("root", status["root"])]
    pairs += [(k, status[k]) for k in _STATUS_COUNTS]
    pairs.append(("suggestions", ", ".join(f"{n} {s}" for s, n in by_status) or "none"))
    pairs.append(("codes", status["codes"]))
    pairs.append(("audit chain", audit))
    return (
        "<div class='coder-assist-project'>"
        f"<strong>coder-assist project {_e(status['project'])}</strong>"
        f"<table>{_rows(pairs)}</table></div>"
    )


# -- one suggestion ---------------------------------------------------------------------------
def _segment_html(text: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return _e(text)
    a, b = span
    return f"{_e(text[:a])}<mark>{_e(text[a:b])}</mark>{_e(text[b:])}"


def _speaker_html(item: ReviewItem) -> str:
    s, p = item.suggestion, item.participant
    attrs = [
        ("side", s.get("side") or p.get("side")),
        ("role", s.get("role_category") or p.get("role_category")),
        ("case", s.get("case") or p.get("case_id")),
        ("wave", s.get("wave")),
        ("source", s.get("source")),
    ]
    shown = " · ".join(f"{k} {_e(v)}" for k, v in attrs if v not in (None, ""))
    return f"<strong>{_e(s.get('speaker') or 'unlabelled speaker')}</strong> <small>{shown}</small>"


def _suggestion_html(s: dict[str, Any]) -> str:
    label = f"<strong>{_e(s['label'])}</strong>"
    if s.get("reused_label"):
        label += f" <small>reuses code {_e(s['reused_label'])}</small>"
    pairs = [
        ("in vivo", "yes: the participant's own words" if s.get("in_vivo") else "no"),
        ("grounding", f"{s.get('grounding')} ({s.get('grounding_score')})"),
        ("why", s.get("rationale")),
        ("from", f"{s.get('provider')} / {s.get('model')}"),
    ]
    return f"<p>Suggested code: {label}</p><table>{_rows(pairs)}</table>"


def _similar_html(similar: list[dict[str, Any]]) -> str:
    if not similar:
        return ""
    items = "".join(
        f"<li>{_e(sim['text'])} <small>({_e(sim.get('score'))})</small> &rarr; "
        f"<strong>{_e('; '.join(sim['codes']))}</strong></li>"
        for sim in similar
    )
    return f"<p>Similar coded segments:</p><ul>{items}</ul>"


def item_html(item: ReviewItem) -> str:
    """One suggestion: who said what (quote marked), what is proposed and why, similar coded segments."""
    s = item.suggestion
    head = f"<small>suggestion #{_e(s['id'])} · {item.position}/{item.total} · {_e(s['status'])}</small>"
    warning = ""
    if item.quote_span is None:
        warning = (
            f"<p style='color:#b00020'><strong>Ungrounded: {UNGROUNDED_NOTE}.</strong> "
            f"Claimed quote: &ldquo;{_e(s.get('quote'))}&rdquo;. Edit the span or reject it.</p>"
        )
    segment = f"<blockquote>{_segment_html(item.segment_text, item.quote_span)}</blockquote>"
    return (
        f"<div class='coder-assist-item'>{head}<p>{_speaker_html(item)}</p>{segment}{warning}"
        f"{_suggestion_html(s)}{_similar_html(item.similar)}</div>"
    )


# -- the widget -------------------------------------------------------------------------------
def _need(text: Any, what: str) -> str:
    """The stripped value of a text widget; an error when it is empty."""
    value = str(text.value).strip()
    if not value:
        raise CoderAssistError(f"type {what} first")
    return value


class ReviewWidget:
    """ipywidgets review of a :class:`ReviewSession`: the same actions as the terminal review.

    Errors from an action (a span not in the segment, a conflict ...) are shown in ``status`` and
    change nothing. Displays as its container (``box``) in Jupyter.
    """

    def __init__(self, session: ReviewSession) -> None:
        import ipywidgets as w

        self.session = session
        self.message = "ready"
        self.html = w.HTML()
        self.accept_button = w.Button(description="Accept", button_style="success")
        self.reject_button = w.Button(description="Reject", button_style="danger")
        self.defer_button = w.Button(description="Defer")
        self.skip_button = w.Button(description="Skip")
        self.undo_button = w.Button(description="Undo")
        self.note_text = w.Text(placeholder="note for reject / defer (optional)", description="Note")
        self.label_text = w.Text(placeholder="new label")
        self.edit_label_button = w.Button(description="Edit label")
        self.span_text = w.Text(placeholder=SPAN_HINT)
        self.edit_span_button = w.Button(description="Edit span")
        self.merge_box = w.Combobox(placeholder="existing code", ensure_option=False)
        self.merge_button = w.Button(description="Merge into")
        self.status = w.HTML()
        actions = [self.accept_button, self.reject_button, self.defer_button, self.skip_button, self.undo_button]
        self.box = w.VBox([
            self.html,
            w.HBox(actions),
            self.note_text,
            w.HBox([self.label_text, self.edit_label_button]),
            w.HBox([self.span_text, self.edit_span_button]),
            w.HBox([self.merge_box, self.merge_button]),
            self.status,
        ])  # fmt: skip
        self._wire()
        self._refresh()

    def _wire(self) -> None:
        s = self.session
        self._on(self.accept_button, "accepted", lambda: s.accept())
        self._on(self.reject_button, "rejected", lambda: s.reject(self._note()), self.note_text)
        self._on(self.defer_button, "deferred", lambda: s.defer(self._note()), self.note_text)
        self._on(self.skip_button, "skipped", s.skip)
        label, span, into = self.label_text, self.span_text, self.merge_box
        self._on(self.edit_label_button, "label edited", lambda: s.edit_label(_need(label, "a new label")), label)
        self._on(self.edit_span_button, "span edited", lambda: s.edit_span(_need(span, SPAN_HINT)), span)
        self._on(self.merge_button, "merged", lambda: s.merge(_need(into, "an existing code")), into)
        self.undo_button.on_click(lambda _b: self._undo())

    def _on(self, button: Any, verb: str, action: Callable[[], Any], clear: Any = None) -> None:
        button.on_click(lambda _b: self._run(verb, action, clear))

    def _note(self) -> str | None:
        return self.note_text.value.strip() or None

    def _run(self, verb: str, action: Callable[[], Any], clear: Any = None) -> None:
        """Act on the current suggestion; show what happened, or the error (nothing changed then)."""
        item = self.session.current()
        try:
            action()
        except CoderAssistError as exc:
            self._refresh(f"error: {exc}", error=True)
            return
        if clear is not None:
            clear.value = ""
        self._refresh(f"{verb} suggestion #{item.suggestion['id']}" if item is not None else verb)

    def _undo(self) -> None:
        try:
            d = self.session.undo()
        except CoderAssistError as exc:
            self._refresh(f"error: {exc}", error=True)
            return
        self._refresh(f"undone: suggestion #{d.suggestion_id} is {d.to_status} again")

    def _refresh(self, message: str | None = None, error: bool = False) -> None:
        """Redraw the suggestion, the buttons' states and the status line."""
        self.message = message or self.message
        item = self.session.current()
        summary = _e(self.session.summary())
        if item is None:
            self.html.value = f"<p><strong>Review finished.</strong> {summary}</p>"
        else:
            self.html.value = item_html(item)
        for b in (self.reject_button, self.defer_button, self.skip_button, self.edit_label_button,
                  self.edit_span_button, self.merge_button):  # fmt: skip
            b.disabled = item is None
        self.accept_button.disabled = item is None or item.quote_span is None
        self.undo_button.disabled = not self.session.history
        self.merge_box.options = tuple(self.session.existing_codes())
        colour = "#b00020" if error else "inherit"
        self.status.value = f"<span style='color:{colour}'>{_e(self.message)}</span> · <small>{summary}</small>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Display as the container widget (ipywidgets 8 displays widgets via their mimebundle)."""
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"<ReviewWidget {self.message}; {self.session.summary()}>"
