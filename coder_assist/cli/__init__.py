"""The ``coder-assist`` command line (typer): thin commands over :class:`coder_assist.Project`."""

from .app import app, main

__all__ = ["app", "main"]
