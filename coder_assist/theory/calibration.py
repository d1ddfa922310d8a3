"""The shipped mapping calibration (``calibration.json``, written by ``bench/calibrate_mapping.py``).

Per embedder and framework the file holds:

* ``threshold``: the flat nearest-construct cosine threshold (whole construct text), which the
  per-case analyses (``analysis.py``) use as "this talk addresses the construct";
* ``hierarchical``: the parameters of the hierarchical mapper (``mapping.ConstructMapper``):
  ``threshold`` (the best top-level construct's score minus its mean score over the
  :data:`BACKGROUND` sentences), ``margin`` (best minus second-best top-level score),
  ``child_margin`` and ``sibling_margin`` (how clearly a child must beat its parent and its next
  sibling before the mapper descends), ``aggregate`` and ``n``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

FALLBACK_THRESHOLD = 0.35
#: Hierarchical parameters for an embedder that was never calibrated: conservative, no margins
#: beyond a small one for descending.
FALLBACK_HIERARCHY: dict[str, Any] = {"threshold": FALLBACK_THRESHOLD, "margin": 0.0, "child_margin": 0.02,
                                      "sibling_margin": 0.02, "aggregate": "top2"}  # fmt: skip

#: Ordinary interview talk about everyday work that no B2B value framework covers, written for
#: coder-assist. The mapper scores every construct against these sentences, so its abstain
#: threshold is relative to how similar plain talk already is to a construct.
BACKGROUND = (
    "I usually get in around half eight and the first thing I do is go through my inbox.",
    "We moved offices last spring, so the commute is a bit longer now.",
    "Most of my week is meetings, to be honest, and then I catch up on emails in the evening.",
    "I started here straight out of university and I've been in the same team for six years.",
    "The canteen on the ground floor is decent, we often have lunch there together.",
    "My manager is fairly hands-off, she trusts us to get on with things.",
    "We use a shared calendar so everyone can see who is on leave.",
    "On Fridays a few of us work from home, which helps with the school run.",
    "The printer on our floor breaks down about once a week.",
    "I report to the operations director, and I have three people reporting to me.",
    "We had a team away day in September, mostly workshops and a dinner.",
    "Training is mostly online now, short modules you do when you have time.",
    "I'd say the culture here is friendly, people help each other out.",
    "The new laptops arrived last month and everyone had to set them up again.",
    "Our annual appraisal is in March, and we set objectives for the year then.",
    "I spend a lot of time on the phone, probably two or three hours a day.",
    "There's a weekly stand-up on Monday morning where we go through priorities.",
    "Parking is a nightmare, you have to be here before eight to get a space.",
    "We recruited two graduates this year and I'm mentoring one of them.",
    "The building is quite old, the heating never works properly in winter.",
    "I studied engineering originally and moved into this role later on.",
    "My day really depends on what comes in, no two days are the same.",
    "We keep our notes in a shared drive, though it's a bit of a mess.",
    "I travel to the other site maybe once a month for a meeting.",
    "Holidays have to be booked through the HR portal at least two weeks ahead.",
    "We have a new intranet, but to be honest nobody really uses it.",
    "I've got a small team, we sit together near the window.",
    "Before this job I worked in retail for a couple of years.",
    "The coffee machine is the main place where people catch up.",
    "We switched to a new video call tool during the pandemic and kept it.",
    "Sorry, could you repeat the question, the line dropped for a second.",
    "Yes, that's right, I've been in this position since 2019.",
    "Can you hear me okay? I'm on my mobile in the car park.",
    "Let me just close the door, it's a bit noisy out here.",
    "That's a good question, let me think about it for a moment.",
    "I think that covers most of it, unless you have anything else.",
    "Happy to help, I hope this is useful for your research.",
    "My background is mostly in logistics and warehouse planning.",
    "We had a fire drill this morning so I'm running a bit late.",
    "The team is split across two floors, which is a bit awkward.",
    "I try to keep Wednesday afternoons free for focused work.",
    "Our department has grown from five people to about twenty.",
    "We celebrate birthdays with cake in the kitchen, it's a nice tradition.",
    "I write a short weekly report that goes to my line manager.",
    "The IT helpdesk usually sorts out problems within a day.",
    "Most of us have been here a long time, turnover is quite low.",
    "I cycle to work when the weather is good, it takes about twenty minutes.",
    "We had a reorganisation two years ago and the team names all changed.",
)


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    try:
        return json.loads(resources.files("coder_assist.theory").joinpath("calibration.json").read_text())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}


def threshold_with_source(framework_id: str, embedder_name: str) -> tuple[float, str]:
    """The calibrated flat abstention threshold for a framework and embedder, and where it came from."""
    entry = _data().get(embedder_name, {}).get(framework_id, {})
    if "threshold" in entry:
        return float(entry["threshold"]), f"calibrated for {embedder_name}"
    return FALLBACK_THRESHOLD, f"fallback default: not calibrated for {embedder_name}"


def calibrated_threshold(framework_id: str, embedder_name: str) -> float:
    """The shipped flat calibration for this framework and embedder, else a conservative default."""
    return threshold_with_source(framework_id, embedder_name)[0]


def hierarchy_with_source(framework_id: str, embedder_name: str) -> tuple[dict[str, Any], str]:
    """The hierarchical mapper's calibrated parameters for a framework and embedder, and their source."""
    entry = _data().get(embedder_name, {}).get(framework_id, {}).get("hierarchical")
    if isinstance(entry, dict) and "threshold" in entry:
        return {**FALLBACK_HIERARCHY, **entry}, f"calibrated for {embedder_name}"
    return dict(FALLBACK_HIERARCHY), f"fallback default: not calibrated for {embedder_name}"
