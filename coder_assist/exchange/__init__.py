"""REFI-QDA exchange: .qdpx projects and .qdc codebooks with other CAQDAS tools."""

from __future__ import annotations

from .load import ImportReport
from .model import RefiProject
from .run import ExportReport, export, import_

__all__ = ["ExportReport", "ImportReport", "RefiProject", "export", "import_"]
