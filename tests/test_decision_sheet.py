"""The decision sheet: open suggestions out to a CSV, decided in a spreadsheet, back with review --from."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from coder_assist import Project
from coder_assist.errors import InputError
from coder_assist.review.sheet import CONTEXT_COLUMNS, DECISION_COLUMNS

from .scripted import ScriptedProvider

TRANSCRIPT = """Interviewer: How do you judge the supplier?

Ana: =HYPERLINK("http://evil.example","click") is what the portal showed us, and we laughed.

Interviewer: And the price?

Ana: +1 on price, they were fair; but -20% in the second year was a shock to everyone.

Interviewer: Anything else?

Ana: @Bo said the renewal talks were handled by procurement alone, which hurt trust.
"""


def _reply(schema, system, user):  # noqa: ANN001, ANN202 - the scripted provider's callback
    text = user.rsplit("SEGMENT", 1)[-1].split("\n", 1)[-1].strip()
    first = text.split(",")[0].split(";")[0]
    return {"codes": [{"label": "Judging the supplier", "in_vivo": False, "quote": first, "rationale": "=cmd|' /C calc'!A0",
                       "reused_code": None}]}  # fmt: skip


@pytest.fixture
def coded(tmp_path: Path) -> Project:
    (tmp_path / "t1.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (tmp_path / "people.csv").write_text("speaker,side,role_title\nAna,buyer,=2+3\nInterviewer,,\n", encoding="utf-8")
    proj = Project.init(tmp_path / "p", coder="tester", embedder="hash")
    proj.ingest([tmp_path / "t1.txt"], attributes=tmp_path / "people.csv")
    proj.code(provider=ScriptedProvider(default=_reply))
    assert len(proj.suggestion_rows(status="proposed")) >= 3
    yield proj
    proj.close()


def _read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # spreadsheets read it as UTF-8
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_sheet_has_every_open_suggestion_and_no_live_formula(coded: Project, tmp_path: Path) -> None:
    out = tmp_path / "sheet.csv"
    n = coded.write_decision_sheet(out)
    rows = _read(out)
    assert n == len(rows) == len(coded.suggestion_rows(status="proposed"))
    assert list(rows[0]) == [*DECISION_COLUMNS, *CONTEXT_COLUMNS]
    for row in rows:
        assert row["action"] == "" and row["version"].isdigit()
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    segments = {r["segment"] for r in rows}
    assert any(s.startswith("'=HYPERLINK(") for s in segments)
    assert any(s.startswith("'+1 on price") for s in segments) and any(s.startswith("'@Bo said") for s in segments)
    assert {r["rationale"] for r in rows} == {"'=cmd|' /C calc'!A0"}


def test_decided_rows_are_applied_and_empty_rows_skipped(coded: Project, tmp_path: Path) -> None:
    out = tmp_path / "sheet.csv"
    coded.write_decision_sheet(out)
    rows = _read(out)
    rows[0]["action"] = "accept"
    rows[1]["action"], rows[1]["label"] = "edit", "Reading the portal"
    rows[2]["action"], rows[2]["note"] = "reject", "interviewer's framing"
    back = tmp_path / "decided.csv"
    with back.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    decisions = coded.apply_decisions_csv(back, coder="ann")
    assert [(d.suggestion_id, d.to_status) for d in decisions] == [
        (int(rows[0]["id"]), "accepted"), (int(rows[1]["id"]), "edited"), (int(rows[2]["id"]), "rejected")]
    assert "Reading the portal" in {c["label"] for c in coded.code_rows()}
    left = {r["id"] for r in coded.suggestion_rows(status="proposed")}
    assert left == {int(r["id"]) for r in rows[3:]}


def test_a_suggestion_decided_since_the_sheet_was_written_is_a_conflict(coded: Project, tmp_path: Path) -> None:
    out = tmp_path / "sheet.csv"
    coded.write_decision_sheet(out)
    rows = _read(out)
    coded.reject(int(rows[1]["id"]), coder="bo")  # someone else, meanwhile
    rows[0]["action"] = rows[1]["action"] = "accept"
    back = tmp_path / "decided.csv"
    with back.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(InputError, match=r"line 3: .*changed since you saw it"):
        coded.apply_decisions_csv(back, coder="ann")
    assert int(rows[0]["id"]) in {r["id"] for r in coded.suggestion_rows(status="proposed")}  # all or nothing


def test_sheet_into_a_missing_folder_is_one_clear_error(coded: Project, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "sheet.csv"
    with pytest.raises(InputError, match="cannot write") as exc:
        coded.write_decision_sheet(target)
    assert str(target) in str(exc.value) and not target.parent.exists()
