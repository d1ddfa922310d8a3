"""Offline deductive coding: code a segment straight into a framework's constructs.

The segment's sentences are compared with every construct (name, definition, include cues,
examples); the best sentence-construct pair above the framework's calibrated threshold becomes
the suggestion, with that sentence as its quote. Deterministic, no model, and labelled as a
similarity heuristic in every rationale.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from .base import CodeProposal, CodingInput, ProposedCode, ProviderReply, Usage

_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")


class DeductiveOfflineProvider:
    """Nearest construct per segment, abstaining below the threshold."""

    name = "offline"
    base_host = None
    remote = False

    def __init__(self, framework: Any, embedder: Any, threshold: float) -> None:
        self.framework = framework
        self.embedder = embedder
        self.threshold = threshold
        self.model = f"construct-similarity:{embedder.name}"
        self.prompt_id = f"deductive-offline:{framework.id}"
        self.ids = [c.id for c in framework.constructs]
        self.matrix = embedder.embed([framework.text_for_matching(i) for i in self.ids])

    def params(self) -> dict[str, Any]:
        return {"framework": self.framework.id, "framework_version": self.framework.version, "threshold": self.threshold}

    @staticmethod
    def source_sha256() -> str:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

    def propose(self, item: CodingInput) -> ProviderReply:
        t0 = time.perf_counter()
        sentences = [m.group().strip() for m in _SENTENCE.finditer(item.text) if len(m.group().split()) >= 4]
        codes = []
        if sentences:
            sims = self.embedder.embed(sentences) @ self.matrix.T
            s_idx, c_idx = np.unravel_index(int(np.argmax(sims)), sims.shape)
            score = float(sims[s_idx, c_idx])
            if score >= self.threshold:
                c = self.framework.construct(self.ids[int(c_idx)])
                codes.append(ProposedCode(
                    label=c.name, in_vivo=False, quote=sentences[int(s_idx)], reused_code=None,
                    rationale=f"Offline similarity: this sentence is closest to {self.framework.id}.{c.id} "
                    f"(cosine {score:.2f}, threshold {self.threshold:.2f}).",
                ))  # fmt: skip
        proposal = CodeProposal(codes=codes)
        return ProviderReply(proposal, proposal.model_dump_json(), Usage(round(len(item.text.split()) * 1.3), 0, True),
                             latency_ms=round((time.perf_counter() - t0) * 1000))  # fmt: skip
