"""A review session: the queue of open suggestions and the actions a reviewer takes on them.

The terminal review (``coder-assist review``) and the notebook widget both drive this class,
so they behave the same. It holds no terminal or widget code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import queries
from .decisions import Decision, decide, undo
from ..errors import CoderAssistError
from ..store.queries import has_codings

if TYPE_CHECKING:
    from ..store.context import StoreContext
    from ..store.vectors import Vectors


@dataclass
class ReviewItem:
    """Everything shown for one suggestion."""

    suggestion: dict[str, Any]
    segment_text: str
    quote_span: tuple[int, int] | None
    """The quote's offsets relative to the segment text, or ``None`` when ungrounded."""
    participant: dict[str, Any]
    similar: list[dict[str, Any]]
    """Most similar segments that are already coded: text, codes, score."""
    position: int
    total: int


@dataclass
class ReviewSession:
    """Walks the open suggestions (``proposed`` and ``deferred``, or those matching ``where``)."""

    store: StoreContext
    vectors: Vectors
    coder: str
    where: str | None = None
    include_deferred: bool = True
    ids: list[int] = field(default_factory=list)
    index: int = 0
    history: list[Decision] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.coder:
            raise CoderAssistError("review needs a named coder: --coder, CODER_ASSIST_CODER or project.coder")
        if not self.ids:
            rows = queries.suggestion_rows(self.store.conn, where=self.where)
            states = ("proposed", "deferred", "ungrounded") if self.include_deferred else ("proposed", "ungrounded")
            self.ids = [r["id"] for r in rows if r["status"] in states]

    @property
    def done(self) -> bool:
        return self.index >= len(self.ids)

    def current(self) -> ReviewItem | None:
        if self.done:
            return None
        sid = self.ids[self.index]
        s = queries.suggestion_rows(self.store.conn, ids=[sid])[0]
        seg = self.store.conn.execute("SELECT * FROM segments WHERE id = ?", (s["segment_id"],)).fetchone()
        span = (s["start"] - seg["start"], s["end"] - seg["start"]) if s["start"] is not None else None
        person = self.store.conn.execute("SELECT * FROM participants WHERE speaker = ?", (seg["speaker"],)).fetchone()
        return ReviewItem(s, seg["text"], span, dict(person) if person else {}, self._similar(seg), self.index + 1, len(self.ids))

    def _similar(self, seg: Any, k: int = 3) -> list[dict[str, Any]]:
        if not has_codings(self.store.conn):
            return []
        try:
            near = self.vectors.coded_neighbours(seg["text"], k, exclude=seg["id"], pool=5)
        except Exception:  # noqa: BLE001 - an unavailable index only hides the comparison
            return []
        return [{"segment_id": n.segment_id, "text": n.text, "codes": n.codes, "score": round(n.score, 3)} for n in near]

    def _decide(self, action: str, **kw: Any) -> Decision:
        item = self.current()
        if item is None:
            raise CoderAssistError("nothing left to review")
        d = decide(self.store.conn, item.suggestion["id"], action, self.coder,
                   expected_version=item.suggestion["version"], **kw)  # fmt: skip
        self.history.append(d)
        self.counts[d.to_status or action] = self.counts.get(d.to_status or action, 0) + 1
        self.index += 1
        return d

    def accept(self, note: str | None = None) -> Decision:
        return self._decide("accept", note=note)

    def reject(self, note: str | None = None) -> Decision:
        return self._decide("reject", note=note)

    def edit_label(self, label: str, note: str | None = None) -> Decision:
        return self._decide("edit", label=label, note=note)

    def edit_span(self, span: str, label: str | None = None, note: str | None = None) -> Decision:
        """``span``: exact words from the segment, or ``*`` for the whole segment."""
        return self._decide("edit", span=span, label=label, note=note)

    def merge(self, into: str, note: str | None = None) -> Decision:
        return self._decide("merge", into=into, note=note)

    def defer(self, note: str | None = None) -> Decision:
        return self._decide("defer", note=note)

    def skip(self) -> None:
        if not self.done:
            self.index += 1
            self.counts["skipped"] = self.counts.get("skipped", 0) + 1

    def undo(self) -> Decision:
        """Reverse this session's last decision and step back to it."""
        if not self.history:
            raise CoderAssistError("nothing to undo in this session")
        last = self.history.pop()
        d = undo(self.store.conn, self.coder, last.id)
        self.counts[last.to_status or last.action] -= 1
        if last.suggestion_id in self.ids:
            self.index = self.ids.index(last.suggestion_id)
        return d

    def existing_codes(self) -> list[str]:
        return [c["label"] for c in queries.code_rows(self.store.conn)]

    def summary(self) -> str:
        parts = [f"{v} {k}" for k, v in sorted(self.counts.items()) if v]
        return f"{self.coder}: " + (", ".join(parts) if parts else "no decisions") + f"; {max(0, len(self.ids) - self.index)} left"
