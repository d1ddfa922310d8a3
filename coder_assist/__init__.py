"""coder-assist: LLM-assisted qualitative coding and grounded theory, with a human in charge.

The public Python API (also the notebook API)::

    from coder_assist import Project
    proj = Project.init("my-study")          # or Project.open("my-study")
    proj.ingest(["interviews/"], wave=1, attributes="participants.csv")
    proj.search("trust after the new CFO arrived", k=5, side="buyer")
"""

from __future__ import annotations

from .store.embedders import Embedder, HashEmbedder, MiniLMEmbedder, OpenAIEmbedder
from .errors import CoderAssistError, InputError, ProjectError
from .hookspecs import hookimpl
from .project import IngestReport, Project, SearchHit

__version__ = "0.1.0"

__all__ = [
    "CoderAssistError",
    "Embedder",
    "HashEmbedder",
    "IngestReport",
    "InputError",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "Project",
    "ProjectError",
    "SearchHit",
    "hookimpl",
    "__version__",
]
