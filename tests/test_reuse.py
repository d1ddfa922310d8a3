"""Meaning-based constant comparison of the offline provider (``suggest.reuse``): a paraphrase of an
accepted code reuses it, a label with the same words but another process, a negated label or an
opposite verb does not, labels proposed earlier in the run are reused by meaning too, the coding run
binds it only for the calibrated embedder, and the stored threshold is the one the gold pairs fit."""

from __future__ import annotations

import json

import pytest

from coder_assist import Project
from coder_assist.store.embedders import MiniLMEmbedder
from coder_assist.suggest import reuse
from coder_assist.suggest.providers.base import CodingInput
from coder_assist.suggest.providers.offline import OfflineProvider, close, signature

REPAIRED = "The engineer finally repaired the shutters last week, thank goodness."
TREATED = "We treat the supplier as a partner, not as a vendor."


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def provider(embedder):  # type: ignore[no-untyped-def]
    p = OfflineProvider()
    p.use_meaning(reuse.MeaningIndex(embedder.embed))
    return p


def process(provider: OfflineProvider, text: str, codebook: list[str], earlier: list[str] | None = None):  # type: ignore[no-untyped-def]
    item = CodingInput("seg", text, "P", "src", "", [], codebook, entities={"cresta": "the supplier"},
                       earlier_labels=earlier or [])  # fmt: skip
    reply = provider.propose(item)
    assert reply.error is None and reply.proposal is not None
    codes = [c for c in reply.proposal.codes if not c.in_vivo]
    assert len(codes) == 1, codes
    return codes[0]


def test_a_paraphrase_reuses_the_accepted_code(provider):
    codebook = ["Comparing prices", "Fixing the shutters", "Seeing the supplier as a partner"]
    assert not close(signature("Repairing the shutters"), signature("Fixing the shutters"))  # the lexical rule misses it
    c = process(provider, REPAIRED, codebook)
    assert c.label == c.reused_code == "Fixing the shutters"
    assert "close in meaning (0.9" in c.rationale and "to the accepted code 'Fixing the shutters', so it reuses it" in c.rationale
    # "Seeing" is a light verb: the similarity (0.92) is mostly the shared object's, so no reuse.
    c = process(provider, TREATED, codebook)
    assert c.reused_code is None and c.label == "Treating the supplier as a partner"


def test_without_meaning_the_paraphrase_is_a_new_code():
    """What the tests above would see if meaning-based reuse were off: a new code."""
    c = process(OfflineProvider(), REPAIRED, ["Fixing the shutters"])
    assert c.reused_code is None and c.label == "Repairing the shutters"


def test_the_lexical_rule_comes_first_and_says_so(provider):
    c = process(provider, "Every single morning we rang Cresta about the broken shutters.", ["Ringing the supplier"])
    assert c.reused_code == "Ringing the supplier" and "lexically close" in c.rationale and "meaning" not in c.rationale


def test_same_words_another_process_is_not_reused(provider):
    c = process(provider, "They raised prices twice last year without any warning at all.", ["Comparing prices"])
    assert c.reused_code is None and c.label.startswith("Raising prices")


def test_a_negated_label_is_not_reused_however_similar(provider, embedder):
    index = reuse.MeaningIndex(embedder.embed)
    assert index.similarities([("Not trusting the supplier", "Trusting the supplier")])[0] >= reuse.THRESHOLD
    c = process(provider, "I don't trust the supplier any more after that whole business.", ["Trusting the supplier"])
    assert c.reused_code is None and c.label == "Not trusting the supplier"
    assert index.best("Having to visit the site", ["Visiting the site"]) is None


def test_opposite_verbs_are_not_reused_however_similar(embedder):
    index = reuse.MeaningIndex(embedder.embed)
    for a, b in (("Distrusting the supplier", "Trusting the supplier"), ("Underpaying the supplier", "Overpaying the supplier")):
        assert index.similarities([(a, b)])[0] >= reuse.THRESHOLD
        assert reuse.blocked(reuse.parts(a), reuse.parts(b)) == "opposite verbs"
        assert index.best(a, [b]) is None
    assert reuse.opposite_verbs("raising", "lowering") and reuse.opposite_verbs("winning", "losing")
    # One label acting on the other's action is another process ("Threatening to switch ...").
    assert index.similarities([("Switching suppliers", "Threatening to switch suppliers")])[0] > 0.8
    assert reuse.blocked(reuse.parts("Switching suppliers"), reuse.parts("Threatening to switch suppliers"))
    assert reuse.blocked(reuse.parts("Fixing the shutters"), reuse.parts("Repairing the shutters")) is None
    # Two different verbs, one of them light: the embedding is mostly the object's.
    assert index.similarities([("Bringing the t-shirt", "Having the t-shirt")])[0] > 0.8
    assert reuse.blocked(reuse.parts("Bringing the t-shirt"), reuse.parts("Having the t-shirt")) == "a light verb"
    assert not reuse.opposite_verbs("fixing", "repairing") and not reuse.opposite_verbs("trusting", "trusts")


def test_a_label_proposed_earlier_in_the_run_is_reused_by_meaning(provider):
    first = process(provider, REPAIRED, [])
    assert first.label == "Repairing the shutters" and first.reused_code is None
    second = process(provider, "They fixed the shutters at last, so the trucks could load.", [])
    assert second.label == "Repairing the shutters" and second.reused_code is None
    assert "close in meaning" in second.rationale and "proposed earlier in this work" in second.rationale
    # A resumed run gets the earlier labels of the same work from the store.
    fresh = OfflineProvider()
    fresh.use_meaning(provider._meaning)
    assert process(fresh, "They fixed the shutters at last, so the trucks could load.", [], ["Repairing the shutters"]).label \
        == "Repairing the shutters"  # fmt: skip


def test_the_index_embeds_each_label_once_and_in_batches():
    calls: list[list[str]] = []

    def embed(texts):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return MiniLMEmbedder().embed(texts)

    index = reuse.MeaningIndex(embed)
    codebook = ["Fixing the shutters", "Comparing prices", '"a quoted phrase"']
    index.best("Repairing the shutters", codebook)
    index.best("Repairing the shutters", codebook)
    codebook.append("Ringing the supplier")
    index.best("Mending the shutters", codebook)
    assert calls == [["Fixing the shutters", "Comparing prices"], ["Repairing the shutters"], ["Ringing the supplier"],
                     ["Mending the shutters"]]  # fmt: skip


def test_the_stored_threshold_is_the_fitted_one_and_holds_precision(embedder):
    pairs = reuse.load_pairs()
    assert len(pairs) >= 150 and sum(p["same"] for p in pairs) / len(pairs) >= 0.4
    result = reuse.cross_validate(embedder.embed, pairs)
    assert result["cv"]["precision"] >= 0.8 and result["cv"]["recall"] > 0
    assert result["threshold_all_pairs"] == pytest.approx(reuse.THRESHOLD, abs=1e-4)
    assert result["stored_on_all_pairs"]["precision"] >= 0.8


def test_reuse_is_part_of_the_offline_work_key(tmp_path, monkeypatch):
    before = OfflineProvider.source_sha256()
    changed = tmp_path / "reuse.py"
    changed.write_text(open(reuse.__file__, encoding="utf-8").read().replace("THRESHOLD = ", "THRESHOLD = 0.01 + "))
    monkeypatch.setattr(reuse, "__file__", str(changed))
    assert OfflineProvider.source_sha256() != before
    p = OfflineProvider()
    assert "meaning_reuse" not in p.params()
    p.use_meaning(reuse.MeaningIndex(lambda texts: None))  # type: ignore[arg-type,return-value]
    assert p.params()["meaning_reuse"] == f"{reuse.EMBEDDER}@{reuse.THRESHOLD}"


def _transcript(write):  # type: ignore[no-untyped-def]
    return write("shutters.txt", (
        "Interviewer: What happened with the docks?\n\n"
        f"Dana Hale: {REPAIRED} Before that we were stuck for days.\n\n"
        "Interviewer: And how do you see them now?\n\n"
        f"Dana Hale: {TREATED} That took years.\n"
    ))  # fmt: skip


def test_a_coding_run_reuses_accepted_codes_by_meaning_with_minilm(tmp_path, write):
    proj = Project.init(tmp_path / "p", coder="ann", embedder="minilm")
    try:
        proj.ingest([_transcript(write)])
        code_id = proj.add_code("Fixing the shutters")
        report = proj.code(provider="offline")
        rows = [dict(r) for r in proj.conn.execute("SELECT * FROM suggestions WHERE run_id = ? AND in_vivo = 0", (report.run_id,))]
        reused = [r for r in rows if r["reused_label"] == "Fixing the shutters"]
        assert reused and reused[0]["reused_code_id"] == code_id and reused[0]["label"] == "Fixing the shutters"
        assert "close in meaning" in reused[0]["rationale"]
        params = json.loads(proj.conn.execute("SELECT params FROM coding_runs WHERE id = ?", (report.run_id,)).fetchone()[0])
        assert params["meaning_reuse"] == f"{reuse.EMBEDDER}@{reuse.THRESHOLD}"
    finally:
        proj.close()


def test_other_embedders_keep_reuse_lexical(project, write):
    project.ingest([_transcript(write)])
    project.add_code("Fixing the shutters")
    report = project.code(provider="offline")
    rows = [dict(r) for r in project.conn.execute("SELECT * FROM suggestions WHERE run_id = ?", (report.run_id,))]
    assert rows and all(r["reused_label"] is None for r in rows)
    params = json.loads(project.conn.execute("SELECT params FROM coding_runs WHERE id = ?", (report.run_id,)).fetchone()[0])
    assert "meaning_reuse" not in params

