"""Versioned prompt files: ``prompts/<id>.v<version>.md`` with a front-matter header.

The sha256 of the file's bytes is recorded on every suggestion made with it, so any edit to a
prompt is visible in the provenance. The static part (``## system``: instructions, codebook)
comes first so providers can cache the prefix; the segment comes last.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ..errors import CoderAssistError

_PKG = Path(__file__).resolve().parents[1]
PROMPT_DIRS = (_PKG.parent / "prompts", _PKG / "_prompts")  # a checkout, then an installed wheel
_FRONT = re.compile(r"\A---\n(?P<head>.*?)\n---\n(?P<body>.*)\Z", re.S)
_SECTION = re.compile(r"^## (system|user)\s*$", re.M)


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    version: str
    sha256: str
    system: str
    user: str
    path: Path

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) messages with ``$placeholders`` filled; a missing value is an error."""
        try:
            return Template(self.system).substitute(values), Template(self.user).substitute(values)
        except KeyError as exc:
            raise CoderAssistError(f"{self.path}: no value for placeholder {exc}") from None


def load_prompt(prompt_id: str, version: str | None = None) -> PromptTemplate:
    """The named prompt at ``version`` (default: the highest version present)."""
    for folder in PROMPT_DIRS:
        found = sorted(folder.glob(f"{prompt_id}.v*.md"), key=lambda p: int(p.stem.rsplit(".v", 1)[1]))
        if version is not None:
            found = [p for p in found if p.stem.rsplit(".v", 1)[1] == str(version)]
        if found:
            return parse_prompt(found[-1])
    raise CoderAssistError(f"no prompt {prompt_id!r}{f' version {version}' if version else ''} in {PROMPT_DIRS[0]}")


def parse_prompt(path: Path) -> PromptTemplate:
    data = path.read_bytes()
    m = _FRONT.match(data.decode("utf-8"))
    if not m:
        raise CoderAssistError(f"{path}: missing '---' front matter")
    head = dict(line.split(":", 1) for line in m.group("head").splitlines() if ":" in line)
    head = {k.strip(): v.strip() for k, v in head.items()}
    parts = _SECTION.split(m.group("body"))
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"} or "id" not in head or "version" not in head:
        raise CoderAssistError(f"{path}: needs id and version in front matter and '## system' / '## user' sections")
    return PromptTemplate(head["id"], head["version"], hashlib.sha256(data).hexdigest(), sections["system"],
                          sections["user"], path)  # fmt: skip
