"""Interviewer detection (ingest.roles): proposals at ingest, uncoded by default, confirmed or
rejected by a named coder, on the real shared transcripts and on synthetic interviews."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.errors import CoderAssistError
from coder_assist.ingest import roles

from .conftest import SHARED

runner = CliRunner()

INTERVIEW = """Sofia Lindqvist: Hi, I'm Sofia and I'm interviewing Marco Bianchi about the supplier renewal. How did it start?

Marco Bianchi: It started with a price review. Our procurement team had collected three quotes and the incumbent was the most expensive by a clear margin. We still valued the relationship, because they had fixed a line stoppage over a weekend the year before.

Sofia Lindqvist: What happened in the first meeting?

Marco Bianchi: The account manager came with a discount already prepared. That made us suspicious, honestly. We wanted to talk about service levels, not only about the price, and the discount felt like a way to avoid that conversation.

Sofia Lindqvist: Did you tell them that?

Marco Bianchi: Yes, quite directly. I said that the weekend repair was the reason we were still talking, and that we needed that kind of response written into the contract. They agreed after two more rounds.

Sofia Lindqvist: And how do you see the relationship now?

Marco Bianchi: Better than before. The new contract has response times, a named engineer and a quarterly review. We pay a little more than the cheapest quote, but the risk is much lower.

Sofia Lindqvist: Thank you, that is very helpful.

Marco Bianchi: You are welcome. I hope it helps the study.
"""

ENTREVISTA = """Ana Souza: Olá, eu sou a Ana e estou entrevistando o Paulo sobre o fornecedor. Como foi a renovação do contrato?

Paulo Lima: Foi difícil no começo. O fornecedor queria aumentar o preço em quinze por cento e nós não tínhamos orçamento para isso. Depois de algumas reuniões chegamos a um acordo sobre o prazo de entrega.

Ana Souza: O que mudou nas reuniões?

Paulo Lima: Eles trouxeram dados de desempenho. Mostraram que as entregas atrasadas tinham caído muito no último ano, e isso mudou a conversa dentro da nossa equipe de compras.

Ana Souza: Quem decidiu no final?

Paulo Lima: A diretora financeira, com o apoio da operação. A operação sempre gostou do fornecedor porque eles resolvem os problemas rapidamente, mesmo fora do horário.

Ana Souza: Você acha que a relação melhorou?

Paulo Lima: Acho que sim. Hoje temos reuniões trimestrais e um contato técnico fixo. O preço subiu um pouco, mas o risco caiu bastante.
"""

FOCUS_GROUP = """Rita Okafor: Welcome, everyone, and thanks for joining this focus group. What do you look for in a supplier?

Ben Ade: Reliability, above everything. When a delivery is late our whole line waits, and the cost of that is far higher than any discount we could get from a cheaper vendor.

Clara Moss: For me it is communication. I want to hear about a problem before it reaches us, not after, and the good suppliers call us first.

Dev Patel: Price matters more in my team, to be honest. We buy commodity parts and the differences in quality between vendors are small.

Emma Stone: I agree with Ben. We moved to a more expensive supplier last year because the old one kept missing dates.

Rita Okafor: How do you check that a supplier keeps its promises?

Ben Ade: We track on-time delivery every month and we share the numbers with them in a quarterly review meeting.

Clara Moss: We do the same, and we also ask our engineers how easy the supplier is to work with, which the numbers do not show.

Dev Patel: Mostly through the invoices and the complaints that reach procurement. It is not very systematic in our case.

Emma Stone: We have a scorecard, but nobody reads it unless something goes wrong.

Rita Okafor: Can you give an example of a promise that was broken?

Ben Ade: A vendor promised a two-day repair service and it took nine days. We changed suppliers after that.

Clara Moss: One supplier promised a dedicated engineer and then rotated three different people through the role in a year.

Dev Patel: I cannot think of a big one. Small delays, mostly, nothing that changed our decisions.

Emma Stone: A price freeze that lasted exactly one quarter before the first increase arrived.

Rita Okafor: Who decides in the end when a supplier should be replaced?

Ben Ade: Operations proposes it and finance signs it off, usually after a long discussion about the switching costs.

Clara Moss: In our company it is a committee, and the users have a real voice in it.

Dev Patel: Procurement, almost always, based on price and the contract terms.

Emma Stone: The plant manager, after talking to the people who work with the supplier every day.
"""

MEETING = """Ann Berg: Okay, the prototype is ready. We tested the battery for six hours yesterday.

Bo Chen: Good. The casing still needs another round though, the clip broke twice.

Cy Diaz: Did you try the softer plastic? It bends without breaking.

Ann Berg: Not yet. I will order a sample this week and we compare.

Bo Chen: The cost goes up a little with the softer plastic, maybe ten cents a unit.

Cy Diaz: That is fine within the budget, we have margin on the buttons.

Ann Berg: Then we decide on Friday. Can everyone bring their numbers?

Bo Chen: Yes. I will have the supplier quotes by then.

Cy Diaz: I will bring the drop test results and the photos.

Ann Berg: Great. Anything else for today?

Bo Chen: The logo placement. Marketing wants it on the front, I think it belongs on the back.

Cy Diaz: Front is fine if it is small. We can mock both versions up.
"""


def detections(proj: Project) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in roles.proposals(proj.conn):
        out.setdefault(r["document"], set()).add(r["speaker"])
    return out


def coded_speakers(proj: Project, run_id: str) -> set[str]:
    return {r[0] for r in proj.conn.execute(
        "SELECT DISTINCT s.speaker FROM llm_calls c JOIN segments s ON s.id = c.segment_id WHERE c.run_id = ?", (run_id,))}  # fmt: skip


def state(proj: Project) -> dict:
    """What a failed decision must leave untouched."""
    tables = ["speaker_roles", "events", "turns"]
    return {t: [tuple(r) for r in proj.conn.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in tables}


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared not present")
def test_shared_transcripts_hosts_and_interviewers_are_proposed_nothing_else(project):
    report = project.ingest([SHARED], index=False)
    assert report.ok, [str(e) for e in report.failures]
    assert detections(project) == {
        "founders-talk-96.md": {"Adam Stacoviak"},
        "the-changelog-653.md": {"Jerod Santo", "Adam Stacoviak"},
        "cat-allman.vtt": {"Elisabetta Mori"},
        "larry-augustin.vtt": {"Elisabetta Mori"},
    }  # no proposal for the AMI meeting, the Pergunta/Resposta files or the audience questioners
    assert {p.speaker for p in report.proposals} == {"Adam Stacoviak", "Jerod Santo", "Elisabetta Mori"}
    assert all(p.role == "interviewer" and p.score >= roles.THRESHOLD for p in report.proposals)
    warned = [w for w in report.warnings if "looks like the interviewer" in w]
    assert len(warned) == 5
    assert any(w.startswith("founders-talk-96.md: 'Adam Stacoviak' looks like the interviewer (") and
               "their turns will not be coded" in w and "coder-assist speakers confirm founders-talk-96.md" in w
               for w in warned)  # fmt: skip
    rows = {(r["document"], r["speaker"]): r for r in project.speakers()}
    assert rows[("founders-talk-96.md", "Adam Stacoviak")]["role"] == "interviewer"
    assert rows[("founders-talk-96.md", "Adam Stacoviak")]["role_from"] == "proposed"
    assert rows[("founders-talk-96.md", "Michael Grinich")]["role"] is None
    assert rows[("cat-allman.vtt", "Elisabetta Mori")]["question_share"] > 0.5
    # Files that say who asks keep their own roles, nothing added.
    assert rows[("Exp_P1.txt", "Interviewer")]["role_from"] == rows[("Exp_P1.txt", "Respondent")]["role_from"] == "file"
    assert {rows[("original_examples.json", s)]["role"] for s in ("FEE005", "MEE006", "MEE007", "MEE008")} == {"PM", "ID", "UI", "ME"}
    # Detection alone, ignoring the AMI roles: still no interviewer in the meeting.
    ami = project.conn.execute("SELECT id FROM documents WHERE name = 'original_examples.json'").fetchone()[0]
    project.conn.execute("UPDATE turns SET role = NULL WHERE document_id = ?", (ami,))
    assert roles.detect(project.conn, ami) == []
    project.conn.rollback()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared not present")
def test_shared_host_segments_are_not_coded_until_rejected(project):
    path = SHARED / "changelog" / "founders-talk-96.md"
    project.ingest([path])
    run = project.code(provider="offline", limit=60)
    assert run.coded == 60 and coded_speakers(project, run.run_id) == {"Michael Grinich"}
    project.decide_speaker("Adam Stacoviak", "reject", coder="ann")
    again = project.code(provider="offline", limit=60)
    assert "Adam Stacoviak" in coded_speakers(project, again.run_id)


def test_two_person_interview_the_asker_is_proposed_and_not_coded(project, write):
    report = project.ingest([write("renewal.md", INTERVIEW)])
    assert [(p.speaker, p.role) for p in report.proposals] == [("Sofia Lindqvist", "interviewer")]
    evidence = report.proposals[0].evidence
    assert evidence["question_share"] > 0.6 and evidence["intro"] and evidence["first"]
    assert "'Sofia Lindqvist' looks like the interviewer" in report.warnings[0]
    run = project.code(provider="offline")
    assert coded_speakers(project, run.run_id) == {"Marco Bianchi"}
    # Rejecting makes her turns codable: the next run codes them (and only them).
    changed = project.decide_speaker("renewal.md", "reject", coder="ann", note="she is a participant")
    assert [(c["speaker"], c["from"], c["to"]) for c in changed] == [("Sofia Lindqvist", "proposed", "rejected")]
    again = project.code(provider="offline")
    assert coded_speakers(project, again.run_id) == {"Sofia Lindqvist"}
    # Re-ingesting the same file proposes nothing again and keeps the rejection.
    report = project.ingest([write("renewal.md", INTERVIEW)])
    assert report.proposals == [] and not report.warnings
    assert [(r["speaker"], r["status"]) for r in roles.proposals(project.conn)] == [("Sofia Lindqvist", "rejected")]


def test_portuguese_interview_with_names(project, write):
    report = project.ingest([write("entrevista.txt", ENTREVISTA)], index=False)
    assert [(p.speaker, p.role) for p in report.proposals] == [("Ana Souza", "interviewer")]
    assert "entrevistando" in report.proposals[0].evidence["intro"]


def test_focus_group_moderator(project, write):
    report = project.ingest([write("focus.md", FOCUS_GROUP)], index=False)
    assert [(p.speaker, p.role) for p in report.proposals] == [("Rita Okafor", "moderator")]
    assert "looks like the moderator" in report.warnings[0]
    roles_of = {r["speaker"]: r["role"] for r in project.speakers("focus.md")}
    assert roles_of == {"Rita Okafor": "moderator", "Ben Ade": None, "Clara Moss": None, "Dev Patel": None, "Emma Stone": None}


def test_a_meeting_gets_no_interviewer(project, write):
    report = project.ingest([write("meeting.md", MEETING)], index=False)
    assert report.proposals == [] and not report.warnings


def test_nothing_is_proposed_when_something_says_who_asks(project, write):
    labelled = INTERVIEW.replace("Sofia Lindqvist:", "Interviewer:")
    assert project.ingest([write("labelled.md", labelled)], index=False).proposals == []
    csv = write("p.csv", "speaker,side\nSofia Lindqvist,researcher\n")
    project.import_attributes(csv)
    assert project.ingest([write("csv.md", INTERVIEW)], index=False).proposals == []
    # A participant row giving the asker another side says who she is: no proposal either.
    other = INTERVIEW.replace("Sofia Lindqvist", "Sara Holm")
    project.import_attributes(write("q.csv", "speaker,side\nSara Holm,buyer\n"))
    assert project.ingest([write("sided.md", other)], index=False).proposals == []


def test_confirm_and_reject_are_audited_and_a_decision_survives_a_new_version(project, write):
    path = write("renewal.md", INTERVIEW)
    project.ingest([path], index=False)
    rows = project.decide_speaker("Sofia Lindqvist", "confirm", coder="ann", note="checked the recording")
    assert [(r["from"], r["to"]) for r in rows] == [("proposed", "confirmed")]
    event = project.audit_log(type_="speaker-role")[-1]
    assert event["actor"] == "ann" and event["payload"]["action"] == "confirm"
    assert event["payload"]["rows"][0]["speaker"] == "Sofia Lindqvist"
    row = roles.proposals(project.conn)[0]
    assert row["status"] == "confirmed" and row["decided_by"] == "ann" and row["note"] == "checked the recording"
    assert project.audit_log(type_="speaker-role-proposed")[0]["payload"]["proposals"][0]["speaker"] == "Sofia Lindqvist"
    assert project.verify_audit() == []
    # Deciding the same again changes nothing and records nothing.
    assert project.decide_speaker(row["id"], "confirm", coder="ann") == []
    assert len(project.audit_log(type_="speaker-role")) == 1
    # A new version of the file: the confirmation carries over, its turns are the interviewer's.
    path.write_text(INTERVIEW.replace("two more rounds", "three more rounds"), encoding="utf-8")
    report = project.ingest([path], index=False)
    assert report.files[0].status == "new-version" and report.proposals == []
    assert {r["speaker"]: (r["role"], r["role_from"]) for r in project.speakers("renewal.md")}["Sofia Lindqvist"] == (
        "interviewer", "confirmed")  # fmt: skip
    project.decide_speaker(row["id"], "reject", coder="bo")
    assert project.conn.execute("SELECT count(*) FROM turns WHERE role IS NOT NULL").fetchone()[0] == 0
    assert [e["actor"] for e in project.audit_log(type_="speaker-role")] == ["ann", "bo"]


def test_a_missed_interviewer_can_be_marked(project, write):
    project.ingest([write("meeting.md", MEETING)], index=False)
    rows = project.decide_speaker("Ann Berg", "confirm", coder="ann")
    assert [(r["document"], r["speaker"], r["to"]) for r in rows] == [("meeting.md", "Ann Berg", "confirmed")]
    assert {r["speaker"]: r["role"] for r in project.speakers("meeting.md")}["Ann Berg"] == "interviewer"


def test_bad_input_is_one_error_and_changes_nothing(tmp_path, project, write):
    project.ingest([write("renewal.md", INTERVIEW)], index=False)
    before = state(project)
    for targets, message in [
        (["Nobody Here"], "no document or speaker named 'Nobody Here'"),
        (["missing.md"], "no document or speaker named 'missing.md'"),
        (["renewal.md", "Nobody Here"], "Nobody Here"),  # all or nothing
        (["99"], "no speaker role proposal 99"),
    ]:
        with pytest.raises(CoderAssistError, match=message):
            project.decide_speaker(targets, "confirm", coder="ann")
        assert state(project) == before
    with pytest.raises(CoderAssistError, match="unknown speaker action"):
        project.decide_speaker("renewal.md", "approve", coder="ann")
    with pytest.raises(CoderAssistError, match="no document named"):
        project.speakers("missing.md")
    anonymous = Project.init(tmp_path / "anon", embedder="hash")
    try:
        anonymous.ingest([write("renewal.md", INTERVIEW)], index=False)
        with pytest.raises(CoderAssistError, match="needs a named coder"):
            anonymous.decide_speaker("renewal.md", "confirm")
    finally:
        anonymous.close()
    assert state(project) == before


def test_cli_warns_lists_confirms_and_fails_on_one_line(tmp_path, write):
    proj = tmp_path / "proj"
    assert runner.invoke(app, ["init", str(proj), "--embedder", "hash"]).exit_code == 0
    r = runner.invoke(app, ["-p", str(proj), "ingest", str(write("renewal.md", INTERVIEW)), "--no-index"])
    assert r.exit_code == 0, r.output
    assert "warning: renewal.md: 'Sofia Lindqvist' looks like the interviewer" in r.stderr
    assert "coder-assist speakers confirm renewal.md" in r.stderr
    r = runner.invoke(app, ["-p", str(proj), "speakers", "--json"])
    rows = {x["speaker"]: x for x in json.loads(r.stdout)}
    assert rows["Sofia Lindqvist"]["status"] == "proposed" and rows["Marco Bianchi"]["role"] is None
    r = runner.invoke(app, ["-p", str(proj), "speakers"])
    assert r.exit_code == 0 and "Sofia Lindqvist" in r.stdout and "proposed" in r.stdout
    r = runner.invoke(app, ["-p", str(proj), "speakers", "confirm", "renewal.md"])
    assert r.exit_code == 1 and r.stderr.startswith("error: a decision needs a named coder")
    r = runner.invoke(app, ["-p", str(proj), "speakers", "confirm", "Nobody", "--coder", "ann"])
    assert r.exit_code == 1 and r.stderr.strip().count("\n") == 0 and "Nobody" in r.stderr
    r = runner.invoke(app, ["-p", str(proj), "speakers", "confirm", "renewal.md", "--coder", "ann"])
    assert r.exit_code == 0 and "1 confirmed: Sofia Lindqvist in renewal.md" in r.stdout
    r = runner.invoke(app, ["-p", str(proj), "speakers", "reject", "Sofia Lindqvist", "--coder", "bo", "--note", "x"])
    assert r.exit_code == 0 and "1 rejected" in r.stdout


@pytest.mark.parametrize("sentence, question", [
    ("How did it start?", True), ("So what happened next", True), ("Do you remember the date", True),
    ("Tell us about the acquisition.", True), ("When I was an undergrad I met them.", False),
    ("How we talk to each other matters.", False), ("Quantos forks tem o repositório", True),
    ("O que mudou nas reuniões", True), ("Como eu disse, foi difícil.", False), ("Você acha que melhorou", True),
])  # fmt: skip
def test_question_detection(sentence, question):
    assert roles.is_question(sentence) is question
