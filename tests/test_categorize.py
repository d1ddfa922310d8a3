"""Focused coding: clustering accepted codes into proposed categories, confirmed by a person."""

from __future__ import annotations

import sqlite3

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


@pytest.fixture
def coded(tmp_path):
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
