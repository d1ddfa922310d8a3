"""Exceptions raised by the library; the CLI turns them into one-line messages."""

from __future__ import annotations

from pathlib import Path


class CoderAssistError(Exception):
    """Base class for every error the library raises on purpose."""


class InputError(CoderAssistError):
    """A file given by the user cannot be used. The message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProjectError(CoderAssistError):
    """The project directory is missing, not a project, or inconsistent."""


class ServerError(CoderAssistError):
    """A server the project is configured to use (e.g. a shared chroma server) cannot be reached."""
