"""Saturation counts new codes per interview in wave order, and signals a plateau."""

from __future__ import annotations

from coder_assist import Project


def _project(tmp_path, codes_per_doc):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    for i, labels in enumerate(codes_per_doc):
        f = tmp_path / f"i{i}.txt"
        f.write_text(f"Interviewer: Question {i}?\n\nAna Lima: Answer number {i} about the supplier.\n", encoding="utf-8")
        p.ingest([f], wave=1 if i < 3 else 2)
        seg = [s for s in p.segments(f"i{i}.txt") if s["speaker"] == "Ana Lima"][0]
        for label in labels:
            p.apply_code(label, seg["id"])
    return p


def test_new_codes_per_interview_and_wave(tmp_path):
    p = _project(tmp_path, [["A", "B", "C"], ["A", "D"], ["E"], ["A"], ["B"], ["C", "F"]])
    s = p.saturation(window=2, share=0.2)
    assert [r["new_codes"] for r in s.interviews] == [3, 1, 1, 0, 0, 1]
    assert [r["cumulative_codes"] for r in s.interviews] == [3, 4, 5, 5, 5, 6]
    assert [(w["wave"], w["interviews"], w["new_codes"]) for w in s.waves] == [(1, 3, 5), (2, 3, 1)]
    assert s.plateau and s.signal.startswith("plateau")  # 0 and 1 new codes, each <= 20% of those known
    p.close()


def test_growing_and_too_early(tmp_path):
    p = _project(tmp_path, [["A"], ["B"], ["C"], ["D"], ["E"]])
    s = p.saturation(window=3)
    assert not s.plateau and s.signal.startswith("still growing")
    p.close()
    q = Project.init(tmp_path / "q", embedder="hash")
    assert q.saturation().signal.startswith("too early")
