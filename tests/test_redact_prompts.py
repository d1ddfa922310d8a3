"""Pseudonymisation before text leaves the machine, and the versioned prompt files."""

from __future__ import annotations

import shutil

import pytest

from coder_assist.errors import CoderAssistError
from coder_assist.suggest.prompts import load_prompt, parse_prompt
from coder_assist.suggest.redact import Redactor, from_participants

TEXT = ("Priya said Tom Haverley at Northwind Logistics mailed priya.n@northwind.example and rang "
        "+44 113 496 0000. Natarajan agreed; the Interviewer nodded. Northwind paid.")  # fmt: skip


def test_names_parts_orgs_emails_and_phones_are_replaced_and_restored():
    r = Redactor(["Priya Natarajan", "Tom Haverley", "Interviewer"], ["Northwind Logistics"])
    out = r.redact(TEXT)
    for secret in ("Priya", "Natarajan", "Haverley", "Northwind", "northwind.example", "496"):
        assert secret not in out
    assert "Interviewer" in out  # role labels are not identifiers
    assert r.restore(out) == TEXT
    assert r.summary() == {"PERSON": 6, "ORG": 2, "EMAIL": 1, "PHONE": 1}


def test_placeholders_are_stable_within_a_run():
    r = Redactor(["Priya Natarajan"], [])
    assert r.redact("Priya met Priya.") == "[PERSON_2] met [PERSON_2]."
    assert r.redact("Priya Natarajan") == "[PERSON_1]"  # the longer name wins


def test_unknown_placeholders_are_left_alone():
    r = Redactor(["Ana Lima"], [])
    assert r.restore("[PERSON_9] and [PERSON_1]") == "[PERSON_9] and Ana Lima"


def test_from_participants_and_custom_patterns():
    rows = [{"speaker": "Ana Lima", "organisation": "Vela Foods"}, {"speaker": "Moderator", "organisation": None}]
    r = from_participants(rows, extra_names=["Kenny"], patterns={"ID": r"EMP-\d+"})
    out = r.redact("Ana Lima from Vela Foods asked Kenny about EMP-4471.")
    assert out == "[PERSON_1] from [ORG_1] asked [PERSON_4] about [ID_1]."
    assert r.restore(out) == "Ana Lima from Vela Foods asked Kenny about EMP-4471."


def test_prompt_sha_tracks_the_file(tmp_path):
    p = load_prompt("initial-coding")
    assert p.id == "initial-coding" and p.version == "1" and len(p.sha256) == 64
    system, user = p.render(codebook="- A", source="s", context="c", similar="x", speaker="Ana", segment="SEG")
    assert "- A" in system and user.rstrip().endswith("SEG")  # the segment comes last
    copy = tmp_path / "initial-coding.v1.md"
    shutil.copy(p.path, copy)
    copy.write_text(copy.read_text() + "\n", encoding="utf-8")
    assert parse_prompt(copy).sha256 != p.sha256


def test_prompt_errors_are_explicit(tmp_path):
    with pytest.raises(CoderAssistError, match="no value for placeholder"):
        load_prompt("initial-coding").render(codebook="")
    bad = tmp_path / "x.v1.md"
    bad.write_text("no front matter", encoding="utf-8")
    with pytest.raises(CoderAssistError, match="front matter"):
        parse_prompt(bad)
    with pytest.raises(CoderAssistError, match="no prompt"):
        load_prompt("does-not-exist")


def test_names_in_file_names_and_ids_are_caught_but_common_words_are_not():
    from coder_assist.suggest.redact import Redactor

    r = Redactor(["Graham Okafor", "Will Jones"], ["Northwind Logistics"], {"SITE": r"Daventry"})
    out = r.redact("Document: nw05_okafor_cfo.md, case northwind-facilities. Will Jones will call; Daventry.")
    assert "okafor" not in out.lower() and "northwind" not in out.lower() and "Daventry" not in out
    assert " will call" in out  # "will" is a vocabulary word: only the capitalised name part is an identifier
    assert r.restore(out).startswith("Document: nw05_Okafor_cfo.md, case Northwind-facilities. Will Jones will call")
    assert "[SITE_1]" in out and r.restore("[SITE_1]") == "Daventry"  # custom kinds are restored too
