"""Construct frameworks (codebooks of theoretical constructs) and their loader.

    from coder_assist.theory.frameworks import find_frameworks, check_references
    frameworks = find_frameworks(project_root)      # built-ins + <root>/frameworks/*.yaml + plug-ins
    problems = check_references(frameworks)         # cross-framework references that do not resolve
    ivpd = frameworks["ivpd"]
    ivpd.construct("locus").definition
    ivpd.text_for_matching("locus")                 # text to embed for similarity mapping

The built-ins live in ``coder_assist/theory/frameworks/data/``; each paraphrases one published framework
in the project's own words (see its ``source_note``).
"""

from __future__ import annotations

from .model import (
    RELATION_TYPES,
    STRUCTURAL_RELATIONS,
    Construct,
    Framework,
    Relation,
    builtin_frameworks,
    check_references,
    find_frameworks,
    load_framework,
    parse_framework,
)

__all__ = [
    "RELATION_TYPES",
    "STRUCTURAL_RELATIONS",
    "Construct",
    "Framework",
    "Relation",
    "builtin_frameworks",
    "check_references",
    "find_frameworks",
    "load_framework",
    "parse_framework",
]
