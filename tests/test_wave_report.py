"""The wave report: what wave 2 changed, on a real project coded by hand (wave 1) and by a scripted
provider whose proposals coders then decide (wave 2)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.errors import CoderAssistError
from coder_assist.theory.waves import kappa, render_text

from .scripted import ScriptedProvider, segment_of

CSV = (
    "participant_id,speaker,side,role_category,role_title,sector,organisation,experience,case,notes\n"
    "R1,Interviewer,researcher,,,,,,,\n"
    "B1,Ana Lima,buyer,,,,,,,\n"
    "B2,Cara Diaz,buyer,,,,,,,\n"
    "S1,Ben Cole,supplier,,,,,,,\n"
)
WAVE1 = {
    "i1.txt": ("Ana Lima", ["We push hard on price every year.", "The old habit of annual tenders stays."]),
    "i2.txt": ("Ben Cole", ["We trust the buyer and price is tight.", "Nothing else comes to mind."]),
}
WAVE2 = {
    "i3.txt": ("Cara Diaz", ["We trust them now and the price is fair.", "A fresh idea came from the supplier."]),
    "i4.txt": ("Ben Cole", ["A fresh idea on tooling helped.", "Trust is built slowly here."]),
}
SCRIPT = 'Slow <script>alert("x")</script> trust'
#: segment text -> (label, quote, reused code) the scripted provider proposes there.
PROPOSALS = {
    "We trust them now and the price is fair.": [("Trust", "We trust them now", "Trust"),
                                                 ("Price pressure", "the price is fair", "Price pressure")],
    "A fresh idea came from the supplier.": [("Fresh idea", "A fresh idea", None),
                                             ("Price pressure", "from the supplier", "Price pressure")],
    "A fresh idea on tooling helped.": [("Fresh idea", "A fresh idea on tooling", None),
                                        ("Old habit", "tooling helped", "Old habit")],
    "Trust is built slowly here.": [("Trust", "Trust is built slowly", "Trust"), ("Patience", "built slowly", None)],
}  # fmt: skip


def _write(tmp_path, files):
    paths = []
    for name, (speaker, answers) in files.items():
        body = "".join(f"Interviewer: Question {i}?\n\n{speaker}: {a}\n\n" for i, a in enumerate(answers))
        (tmp_path / name).write_text(body, encoding="utf-8")
        paths.append(tmp_path / name)
    return paths


def _answers(p, name):
    return [s for s in p.segments(name) if s["speaker"] != "Interviewer"]


def _reply(schema, system, user):
    seg = segment_of(user)
    return {"codes": [{"label": label, "in_vivo": False, "quote": quote, "rationale": "scripted", "reused_code": reused}
                      for label, quote, reused in PROPOSALS.get(seg, [])]}  # fmt: skip


@pytest.fixture
def waves(tmp_path):
    """Wave 1 coded by hand; wave 2 ingested, not yet coded."""
    csv = tmp_path / "participants.csv"
    csv.write_text(CSV, encoding="utf-8")
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    p.ingest(_write(tmp_path, WAVE1), wave=1, attributes=csv)
    p.ingest(_write(tmp_path, WAVE2), wave=2)
    i1, i2 = _answers(p, "i1.txt"), _answers(p, "i2.txt")
    p.apply_code("Price pressure", i1[0]["id"])
    p.apply_code("Trust", i1[0]["id"])
    p.apply_code("Old habit", i1[1]["id"])
    p.apply_code("Trust", i2[0]["id"])
    p.apply_code("Price pressure", i2[0]["id"])
    yield p
    p.close()


def _code_wave2(p):
    p.code(provider=ScriptedProvider(default=_reply, remote=False, base_host=None), wave=2)
    ids = {(r["label"], r["quote"]): r["id"] for r in p.suggestion_rows()}
    p.accept([ids["Trust", "We trust them now"], ids["Price pressure", "the price is fair"]])
    p.accept(ids["Fresh idea", "A fresh idea"])  # creates the code ...
    p.accept(ids["Fresh idea", "A fresh idea on tooling"])  # ... which this proposal did not know of yet
    p.reject([ids["Price pressure", "from the supplier"], ids["Patience", "built slowly"]])
    p.edit(ids["Trust", "Trust is built slowly"], label=SCRIPT)
    # ("Old habit", "tooling helped") stays open
    return ids


@pytest.fixture
def coded(waves):
    _code_wave2(waves)
    # Confirmed categories: one of two wave-2 codes (new in wave 2), one mixing in a wave-1 code (not new).
    code = {c["label"]: c["id"] for c in waves.code_rows()}
    for name, members in (("Renewal", ["Fresh idea", SCRIPT]), ("Relating", ["Trust", "Fresh idea"])):
        waves.conn.execute(
            "INSERT INTO category_suggestions (run_id, provider, model, name, definition, properties, member_code_ids,"
            " medoid_code_id, top_terms, params, created_at) VALUES ('r', 'test', 'test', ?, 'd', '{}', ?, ?, '[]', '{}',"
            " '2026-01-01T00:00:00+00:00')",
            (name, json.dumps([code[m] for m in members]), code[members[0]]),
        )
    waves.conn.commit()
    for row in waves.category_suggestion_rows():
        waves.decide_category(row["id"], "accept")
    return waves


def test_before_wave_2_is_coded_absent_is_not_yet_coded(waves):
    r = waves.wave_report(2)
    assert r.coded is False
    assert r.coverage["participant_segments"] == 4 and r.coverage["segments_touched"] == 0
    assert r.coverage["segments_examined"] == 0 and r.new_codes == []
    assert any("not yet coded" in n for n in r.notes)
    assert "not yet coded" in render_text(r)


def test_new_and_stopped_codes_and_categories(coded):
    r = coded.wave_report(2)
    assert r.coded and r.waves == [1, 2]
    assert r.coverage == {"documents": 2, "segments": 8, "participant_segments": 4, "segments_with_suggestions": 4,
                          "segments_with_codings": 4, "segments_touched": 4, "segments_run": 4,
                          "segments_examined": 4, "segments_in_pending_batches": 0}  # fmt: skip
    assert [(c["label"], c["codings"], c["documents"]) for c in r.new_codes] == [("Fresh idea", 2, 2), (SCRIPT, 1, 1)]
    # Old habit: coded in wave 1, absent in wave 2, with its one proposal there still open.
    assert [(s["label"], s["last_wave"], s["earlier_codings"], s["earlier_documents"], s["open_proposals"])
            for s in r.stopped] == [("Old habit", 1, 1, 1, 1)]  # fmt: skip
    assert [(c["name"], c["members"], c["new_members"]) for c in r.new_categories] == [
        ("Renewal", ["Fresh idea", SCRIPT], ["Fresh idea", SCRIPT])]
    assert r.notes == []  # fully coded, and a kappa figure


def test_prevalence_by_wave_and_side_sorted_by_change(coded):
    r = coded.wave_report(2)
    assert r.sides == ["buyer", "supplier"]
    assert [(p["label"], p["status"], p["change"]) for p in r.prevalence] == [
        ("Fresh idea", "new", 1.0), ("Price pressure", "", -0.5), ("Trust", "", -0.5), ("Old habit", "stopped", -0.5),
        (SCRIPT, "new", 0.5)]  # fmt: skip
    p = {x["label"]: x for x in r.prevalence}
    assert p["Trust"]["by_wave"] == {"1": {"codings": 2, "documents": 2, "participants": 2, "document_share": 1.0},
                                     "2": {"codings": 1, "documents": 1, "participants": 1, "document_share": 0.5}}
    assert p["Trust"]["by_side"] == {
        "buyer": {"1": {"codings": 1, "documents": 1, "participants": 1}, "2": {"codings": 1, "documents": 1, "participants": 1}},
        "supplier": {"1": {"codings": 1, "documents": 1, "participants": 1}, "2": {"codings": 0, "documents": 0, "participants": 0}},
    }  # fmt: skip
    assert {s: p["Fresh idea"]["by_side"][s]["2"]["codings"] for s in r.sides} == {"buyer": 1, "supplier": 1}
    assert p[SCRIPT]["by_side"]["supplier"]["2"]["codings"] == 1 and p[SCRIPT]["by_side"]["buyer"]["2"]["codings"] == 0


def test_saturation_figures_agree_with_the_saturation_module(coded):
    r = coded.wave_report(2)
    assert r.saturation["wave"] == {"wave": 2, "interviews": 2, "new_codes": 2, "new_categories": 1}
    assert [w["new_codes"] for w in r.saturation["waves"]] == [3, 2]
    assert [i["document"] for i in r.saturation["interviews"]] == ["i3.txt", "i4.txt"]
    assert r.saturation["signal"] == coded.saturation().signal


def test_agreement_of_codebook_proposals_and_decisions(coded):
    a = coded.wave_report(2).agreement
    cb, new = a["codebook"], a["new_code"]
    assert {k: cb[k] for k in ("suggestions", "accepted", "edited", "merged", "rejected", "pending", "proposed", "decided")} == {
        "suggestions": 5, "accepted": 2, "edited": 1, "merged": 0, "rejected": 1, "pending": 1, "proposed": 1, "decided": 4}
    assert (cb["acceptance_rate"], cb["kept_rate"], cb["kept_code"], cb["changed_code"]) == (0.5, 0.75, 2, 1)
    assert {k: new[k] for k in ("suggestions", "accepted", "rejected", "pending", "decided")} == {
        "suggestions": 3, "accepted": 2, "rejected": 1, "pending": 0, "decided": 3}
    assert new["acceptance_rate"] == pytest.approx(2 / 3, abs=1e-4)
    # Engine: existing code proposed? Coder: was the applied code in the codebook when it was proposed?
    # Trust, Price pressure: yes/yes; both Fresh idea: no/no (the second was created after it was proposed);
    # the Trust proposal edited into a new code: yes/no.
    k = a["kappa"]
    assert k["table"] == {"existing": {"existing": 2, "new": 1}, "new": {"existing": 0, "new": 2}}
    assert (k["items"], k["observed"], k["expected"]) == (5, 0.8, 0.48)
    assert k["value"] == pytest.approx((0.8 - 0.48) / (1 - 0.48), abs=1e-4)


def test_kappa_says_why_there_is_none():
    assert kappa([])["value"] is None and "no kept" in kappa([])["reason"]
    same = kappa([("new", "new")] * 3)
    assert same["value"] is None and "chance agreement is 1" in same["reason"]
    assert kappa([("existing", "existing"), ("new", "new")])["value"] == 1.0


def test_wave_1_report(coded):
    r = coded.wave_report(1)
    assert [c["label"] for c in r.new_codes] == ["Price pressure", "Trust", "Old habit"]
    assert r.stopped == [] and r.agreement["codebook"]["suggestions"] == 0
    assert r.agreement["kappa"]["value"] is None and any(n.startswith("no kappa") for n in r.notes)
    assert {p["label"]: p["change"] for p in r.prevalence}["Trust"] == 1.0  # no earlier wave


def test_a_wave_without_documents_is_an_error(waves):
    with pytest.raises(CoderAssistError, match=r"wave 3 has no documents \(waves: 1, 2\)"):
        waves.wave_report(3)


def test_cli_json_html_and_errors(coded, tmp_path):
    root = str(coded.root)
    expected = coded.wave_report(2).to_dict()
    coded.close()
    runner = CliRunner()
    out = tmp_path / "w2.html"
    res = runner.invoke(app, ["-p", root, "wave", "report", "2", "--json", "--html", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(json.dumps(expected))
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    for heading in ("New codes", "New categories", "Prevalence by wave and side", "Codes that stopped appearing",
                    "Saturation", "Codebook proposals and human decisions"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page
    assert re.search(r"<tr><td>Old habit</td><td>1</td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">1</td></tr>", page)
    text = runner.invoke(app, ["-p", root, "wave", "report", "2"])
    assert text.exit_code == 0 and "stopped (1): 'Old habit' (last in wave 1, 1 coding; 1 open on wave 2)" in text.stdout
    assert "new codes (2): 'Fresh idea' (2 codings, 2 documents)" in text.stdout
    bad = runner.invoke(app, ["-p", root, "wave", "report", "9"])
    assert bad.exit_code != 0
    assert bad.stderr.strip().splitlines() == ["error: wave 9 has no documents (waves: 1, 2)"]
    assert bad.stdout == ""


def test_wave_report_displays_in_a_notebook(coded):
    r = coded.wave_report(2)
    page = r._repr_html_()
    assert "<h2>Coverage</h2>" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert str(r) == render_text(r) and str(r).startswith("wave 2")
