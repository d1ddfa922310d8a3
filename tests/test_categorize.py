"""Focused coding: clustering accepted codes into proposed categories, confirmed by a person."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from coder_assist import Project
from coder_assist.theory.categorize import cluster
from coder_assist.review.decisions import Conflict


def test_cluster_groups_near_vectors_and_keeps_far_ones_apart():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    vecs = np.vstack([c + 0.05 * rng.standard_normal((4, 8)) for c in centres] + [np.eye(8)[7:8]])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = cluster(vecs, threshold=0.5)
    assert len(set(labels[:4])) == len(set(labels[4:8])) == len(set(labels[8:12])) == 1
    assert len(set(labels)) == 4 and labels[12] not in labels[:12]
    assert cluster(vecs[:1]) == [0]


def two_cluster_project(tmp_path: Path) -> Project:
    """Five hand-applied codes in two clear clusters (invoices, the engineer), one document without a wave."""
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    f = tmp_path / "i.txt"
    f.write_text(
        "Interviewer: Tell me.\n\n"
        "Ana Lima: The invoice was disputed again. Finance disputed every invoice line.\n\n"
        "Ana Lima: Another invoice dispute came from finance in March.\n\n"
        "Ana Lima: Kenny the engineer came at night. The engineer fixed the dock door.\n\n"
        "Ana Lima: Our engineer friend Kenny saved the night shift.\n", encoding="utf-8")  # fmt: skip
    p.ingest([f])
    segs = p.segments()
    p.apply_code("Disputing invoices", segs[1]["id"])
    p.apply_code("Disputing invoice lines", segs[2]["id"])
    p.apply_code("Invoice disputes with finance", segs[2]["id"])
    p.apply_code("Relying on the engineer", segs[3]["id"])
    p.apply_code("Engineer saving the night", segs[4]["id"])
    return p


@pytest.fixture
def coded(tmp_path):
    p = two_cluster_project(tmp_path)
    yield p
    p.close()


def test_categorize_proposes_and_a_person_confirms(coded):
    report = coded.categorize(threshold=0.8)
    assert report.codes == 5 and report.categories >= 1
    props = coded.category_suggestion_rows()
    invoice = next(c for c in props if "Disputing invoices" in c["properties"]["members"])
    assert set(invoice["properties"]["members"]) >= {"Disputing invoices", "Disputing invoice lines"}
    assert "Relying on the engineer" not in invoice["properties"]["members"]
    assert invoice["definition"].startswith("Offline draft") and "invoice" in invoice["top_terms"]
    assert invoice["name"] in invoice["properties"]["members"]  # named by its medoid code
    # Nothing is a category until a person says so, and the engine cannot make one itself.
    assert coded.conn.execute("SELECT count(*) FROM categories").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError, match="human decision"):
        coded.conn.execute("INSERT INTO categories (name, created_at, created_by) VALUES ('x', 't', 'bot')")
    cid = coded.decide_category(invoice["id"], "edit", name="Contesting the bill", coder="ann")
    lineage = {r["label"]: r for r in coded.lineage()}
    assert lineage["Disputing invoices"]["category"] == "Contesting the bill"
    assert lineage["Relying on the engineer"]["category"] in (None,) or lineage["Relying on the engineer"]["category_id"] != cid
    with pytest.raises(Conflict, match="already edited"):
        coded.decide_category(invoice["id"], "reject", coder="bea")
    event = coded.audit_log(type_="decision")[-1]
    assert event["payload"]["target"] == f"category_suggestion:{invoice['id']}" and event["actor"] == "ann"
    assert coded.audit_log(type_="categorize")[0]["payload"]["params"]["method"] == "agglomerative"


def test_categorize_with_too_few_codes_proposes_nothing(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    r = p.categorize()
    assert r.codes == 0 and r.categories == 0 and r.run_id is None


# -- issue 9: categories by meaning, offline --------------------------------------------------------
from coder_assist.theory import categorize as cat  # noqa: E402

PARTICIPANTS_CSV = (
    "participant_id,speaker,side,role_category,role_title,sector,organisation,experience,case,notes\n"
    "B1,Ana Lima,buyer,operations,Operations manager,retail,Northwind Foods,,nw,\n"
    "S1,Kenny Lowe,supplier,delivery,Site engineer,fm,Cresta Facility Services,,nw,\n"
    "S2,Bea Orr,supplier,account,Account director,it,Orbis Systems,,hd,\n"
)
#: (label, passage): three codes share a process across different names (A), three another (B),
#: three share only a name ("Kenny") and nothing else (K).
CODES = [
    ("Chasing Cresta for answers", "We chased Cresta for answers about the late shutters."),
    ("Chasing Orbis for answers", "We chased Orbis for answers about the broken shutters."),
    ("Ringing the account director", "I rang Bea at Orbis and chased her for answers on the shutters."),
    ("Checking invoices", "Finance checked every invoice line against the rate card."),
    ("Checking invoice lines", "I checked each invoice line against the rate card."),
    ("Querying invoices", "We queried the invoice lines that broke the rate card."),
    ("Praising Kenny", "Kenny was brilliant with the dock doors at night."),
    ("Kenny on holiday", "Kenny took a holiday in Spain during the audit."),
    ("Kenny's parking", "Kenny parks his van across the loading bay every morning."),
]  # fmt: skip


class WordsEmbedder:
    """Deterministic fake: a bag of content words (function words and masking words ignored, as a
    sentence model mostly ignores them), feature-hashed and normalised."""

    name = "fake-words"
    _stop = frozenset("the a an i we was with and to for about at on in of her his him them every each that "
                      "someone something place during across".split())  # fmt: skip

    def embed(self, texts):
        import hashlib
        import re

        out = np.zeros((len(texts), 512))
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                if w not in self._stop:
                    w = w[:5]  # a crude stem: chased/chasing, invoice/invoices
                    out[i, int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little") % 512] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@pytest.fixture
def named(tmp_path):
    p = _named_project(tmp_path)
    yield p
    p.close()


def _named_project(folder: Path) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    p = Project.init(folder / "p", coder="ann", embedder="hash")
    csv = folder / "participants.csv"
    csv.write_text(PARTICIPANTS_CSV, encoding="utf-8")
    f = folder / "nw.txt"
    f.write_text("Interviewer: Tell me.\n\n" + "".join(f"Ana Lima: {text}\n\n" for _, text in CODES), encoding="utf-8")
    p.ingest([f], wave=1, attributes=csv)
    segs = [s for s in p.segments() if s["speaker"] == "Ana Lima"]
    for (label, _), seg in zip(CODES, segs):
        p.apply_code(label, seg["id"], coder="ann")
    return p


def _run(p):
    report = cat.categorize(p.store, WordsEmbedder(), "ann")
    rows = [r for r in p.category_suggestion_rows() if r["run_id"] == report.run_id]
    return report, rows


def test_masking_replaces_known_and_recognised_names():
    m = cat.Masker([{"speaker": "Kenny Lowe", "side": "supplier", "organisation": "Cresta Facility Services"}])
    out = m.mask(["Kenny fixed it. We chased Cresta again.", "Then Maria Gomez from Microsoft rang."])
    assert "Kenny" not in out[0] and "Cresta" not in out[0] and "the supplier" in out[0] and "someone" in out[0]
    assert "Maria" not in out[1] and "Microsoft" not in out[1]


def test_codes_sharing_only_a_name_do_not_cluster_but_a_shared_process_does(named):
    report, rows = _run(named)
    groups = [set(r["properties"]["members"]) for r in rows]
    a, b, k = ({lab for lab, _ in CODES[i : i + 3]} for i in (0, 3, 6))
    assert any(g >= a for g in groups) and any(g >= b for g in groups)  # across Cresta / Orbis / Bea
    assert all(len(g & k) <= 1 for g in groups)  # "Kenny" alone puts nothing together
    assert set(report.unclustered) >= k
    # Unmasked, the name alone would have made them look alike.
    raw = WordsEmbedder().embed([f"{lab}. {text}" for lab, text in CODES[6:]])
    assert (raw @ raw.T)[np.triu_indices(3, 1)].min() > 0.15
    params = rows[0]["params"] if isinstance(rows[0]["params"], dict) else __import__("json").loads(rows[0]["params"])
    assert params["masking"].startswith("participants") and params["threshold_rule"]["rule"].startswith("ward")


def test_names_are_processes_never_entity_only_and_definitions_are_drafts(named):
    _, rows = _run(named)
    assert rows
    for r in rows:
        first = r["name"].split()[0].lower()
        assert first.endswith("ing") or first in ("not", "never", "being", "having"), r["name"]
        assert not {"cresta", "orbis", "kenny", "bea"} & {w.lower().strip("'s") for w in r["name"].split()}
        n = len(r["properties"]["members"])
        assert r["definition"].startswith("Offline draft") and f"{n} codes" in r["definition"]
        assert "buyer" in r["definition"] and "wave 1" in r["definition"]
        assert r["properties"]["shared_verbs"] or r["properties"]["shared_objects"]
    invoices = next(r for r in rows if "Checking invoices" in r["properties"]["members"])
    assert invoices["name"].startswith("Checking invoice") and "checking" in invoices["properties"]["shared_verbs"]


def test_categorize_is_deterministic(named, tmp_path):
    first = [(r["name"], r["definition"], r["properties"]["members"]) for r in _run(named)[1]]
    with _named_project(tmp_path / "again") as twin:  # the same codes in another project
        second = [(r["name"], r["definition"], r["properties"]["members"]) for r in _run(twin)[1]]
    assert first == second and first


def test_a_rerun_goes_on_from_the_decisions_and_adds_nothing_on_unchanged_data(named):
    report, rows = _run(named)
    assert report.categories == len(rows) >= 2
    again, fresh = _run(named)
    assert (again.categories, again.already_proposed, fresh) == (0, report.categories, [])
    events = named.audit_log(type_="categorize")
    assert events[-1]["payload"]["already_proposed"] == report.categories
    # Confirm one and reject another: its codes are left out, the rejected cluster is not back.
    kept, dropped = rows[0], rows[1]
    named.decide_category(kept["id"], "accept", coder="ann")
    named.decide_category(dropped["id"], "reject", coder="ann")
    third, new = _run(named)
    assert third.in_categories == len(kept["member_code_ids"])
    placed = set(kept["member_code_ids"])
    assert all(not placed & set(r["member_code_ids"]) for r in new)
    assert all(sorted(r["member_code_ids"]) != sorted(dropped["member_code_ids"]) for r in new)
    assert third.codes == report.codes


def test_name_by_the_most_shared_process_not_in_vivo_not_the_entity():
    labels = ["Ringing the supplier", "Chasing the supplier for answers", "Chasing the account director"]
    name, shared = cat.name_category(labels, [0, 1, 2], [])
    assert name == "Chasing the supplier" and shared["shared_verbs"] == ["chasing"]
    assert shared["shared_objects"] == ["supplier"]
    name, _ = cat.name_category(['"at the end of the day"', "Paying late", '"you know"'], [0, 1, 2], [])
    assert name == "Paying late"
    name, how = cat.name_category(["Having to ring someone about it", "Being unable to pay the invoice"], [1, 0], [])
    assert name == "Being unable to pay the invoice" and how["named_by"] == "most central process label"
    assert cat.process('"in vivo words"') is None and cat.process("Invoice disputes") is None
    ring = cat.Process("having to", "ringing", "someone", "someone", "ring")
    assert cat.process("Having to ring someone about the shutters") == ring
    assert cat.process("Working on the platform").obj == "on the platform"


@pytest.mark.parametrize("n,expected", [(5, (2, 2)), (100, (5, 10)), (488, (11, 22)), (958, (15, 30)), (5000, (30, 30))])
def test_target_range_rule(n, expected):
    assert cat.target_range(n) == expected


def test_chosen_cut_gives_a_number_of_categories_within_the_rule():
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((15, 32))
    vecs = np.vstack([c + 0.3 * rng.standard_normal((6, 32)) for c in centres] + [rng.standard_normal((10, 32))])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    lo, hi = cat.target_range(len(vecs))
    threshold, labels, info = cat.choose_cut(vecs)
    groups = [g for g, c in __import__("collections").Counter(labels).items() if c > 1]
    assert lo <= len(groups) <= hi and info["target_range"] == [lo, hi]
    assert (threshold, labels) == cat.choose_cut(vecs)[:2]  # deterministic
