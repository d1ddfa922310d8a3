"""The offline codebook classifier: calibrated on the human codings by leave-one-out, abstaining
when they do not support it, and its codes shown as reuse in an offline run."""

from __future__ import annotations

import numpy as np

from coder_assist import Project
from coder_assist.suggest.classifier import MIN_PREDICTIONS, TARGET_PRECISION, calibrate, train

WHO = ("Finance", "Someone in accounts", "The site manager", "Our controller", "The procurement team", "Zoë's team")
INVOICES = [f"{w} {v} the supplier's invoice against the {o} before it is paid."
            for w in WHO for v, o in (("checks", "rate card"), ("compares", "purchase order"))]
DOORS = [f"{w} saw the engineer {v} the {o} overnight, so the loading bay opened on time."
         for w in WHO for v, o in (("fix", "dock door"), ("repair", "roller shutter"))]


def _clusters(rng, n, k, spread):
    centres = rng.normal(size=(k, 16))
    vecs = np.concatenate([c + spread * rng.normal(size=(n, 16)) for c in centres])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs, [f"c{j}" for j in range(k) for _ in range(n)]


def test_separable_codings_calibrate_and_noise_abstains():
    rng = np.random.default_rng(3)
    vecs, labels = _clusters(rng, 15, 3, 0.2)
    fitted = calibrate(vecs, labels)
    assert fitted is not None
    threshold, precision, recall = fitted
    assert precision >= TARGET_PRECISION and recall * len(labels) >= MIN_PREDICTIONS and -1 <= threshold <= 1
    noise = rng.normal(size=(40, 16))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    assert calibrate(noise, [f"c{i % 5}" for i in range(40)]) is None  # labels that mean nothing: no classifier
    assert calibrate(*_clusters(rng, 3, 3, 0.2)) is None  # nine lucky predictions are not enough evidence


def _project(tmp_path, coded_per_code: int) -> Project:
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    turns = []
    for a, b in zip(INVOICES, DOORS):
        turns += [f"Priya Natarajan: {a}", f"Tom Haverley: {b}"]
    turns += ["Priya Natarajan: We went walking by the river at the weekend, the children loved it.",
              "Tom Haverley: My daughter started school in September and she loves the new teacher.",
              "Priya Natarajan: The weather was lovely, so we had lunch in the garden with the neighbours."]  # left uncoded
    (tmp_path / "w1.txt").write_text("\n\n".join(turns) + "\n", encoding="utf-8")
    (tmp_path / "w2.txt").write_text(
        "Priya Natarajan: Someone in accounts compares every bill with the rate card before it is paid.\n\n"
        "Tom Haverley: We went walking in the hills at the weekend with the children and the dog.\n", encoding="utf-8")  # fmt: skip
    (tmp_path / "people.csv").write_text("participant_id,speaker,side\nP1,Priya Natarajan,buyer\nP2,Tom Haverley,buyer\n")
    p.ingest([tmp_path / "w1.txt"], wave=1, attributes=tmp_path / "people.csv")
    p.ingest([tmp_path / "w2.txt"], wave=2)
    for i, s in enumerate(p.segments("w1.txt")[: 2 * len(INVOICES)]):
        if i // 2 < coded_per_code:  # the i-th invoice and door segments alternate
            label = "Checking invoices before paying" if s["speaker"] == "Priya Natarajan" else "Fixing doors overnight"
            p.apply_code(label, s["id"], coder="ann")
    return p


def test_an_offline_run_proposes_the_codebook_code_from_the_human_codings(tmp_path):
    with _project(tmp_path, coded_per_code=len(INVOICES)) as p:
        clf = train(p.conn, p.vectors.embedder.embed)
        assert clf is not None and set(clf.labels) == {"Checking invoices before paying", "Fixing doors overnight"}
        report = p.code(provider="offline", wave=2)
        rows = p.conn.execute("SELECT s.label, s.reused_code_id, s.reused_label, s.rationale, s.status, g.text"
                              " FROM suggestions s JOIN segments g ON g.id = s.segment_id").fetchall()  # fmt: skip
        assert report.coded == 2
        from_clf = [r for r in rows if r["rationale"].startswith("Codebook classifier")]
        assert len(from_clf) == 1  # the invoice segment, not the walk in the hills
        hit = from_clf[0]
        assert hit["label"] == hit["reused_label"] == "Checking invoices before paying" and hit["reused_code_id"]
        assert "bill" in hit["text"] and hit["status"] == "proposed"  # its quote is grounded in the segment


def test_codes_applied_once_give_no_classifier_and_no_codebook_proposals(tmp_path):
    with _project(tmp_path, coded_per_code=1) as p:
        assert train(p.conn, p.vectors.embedder.embed) is None
        p.code(provider="offline", wave=2)
        assert not [r for r in p.suggestion_rows() if r["rationale"].startswith("Codebook classifier")]
