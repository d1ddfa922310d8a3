"""A minimal progress interface, so the library never depends on a terminal."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, label: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """The default: report nothing."""

    def begin(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def end(self) -> None:
        pass
