"""The shipped mapping calibration (``calibration.json``, written by ``bench/calibrate_mapping.py``)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

FALLBACK_THRESHOLD = 0.35


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    try:
        return json.loads(resources.files("coder_assist.theory").joinpath("calibration.json").read_text())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}


def threshold_with_source(framework_id: str, embedder_name: str) -> tuple[float, str]:
    """The calibrated abstention threshold for a framework and embedder, and where it came from."""
    entry = _data().get(embedder_name, {}).get(framework_id, {})
    if "threshold" in entry:
        return float(entry["threshold"]), f"calibrated for {embedder_name}"
    return FALLBACK_THRESHOLD, f"fallback default: not calibrated for {embedder_name}"


def calibrated_threshold(framework_id: str, embedder_name: str) -> float:
    """The shipped calibration for this framework and embedder, else a conservative default."""
    return threshold_with_source(framework_id, embedder_name)[0]
