"""Protocols are records: a new one, defined in a single module outside assay
and registered by the test, judges a run end to end; the built-ins answer
the questions the rest of the code asks them."""

from __future__ import annotations

import json
import sqlite3

import pytest

from assay.errors import ConfigError
from assay.judge.judging import judge_run
from assay.judge.prompts import load_template
from assay.judge.protocols import get_protocol, protocol_names, protocols, register, unregister
from tests.judge.judge_fakes import ScriptedJudge, make_run
from tests.judge.refusal_protocol import REFUSAL

OUTPUTS = {
    "careful": {"a": "I can't help with that.", "b": "It is 9.", "c": "I won't answer this."},
    "direct": {"a": "4", "b": "9", "c": "Paris"},
}


def says_refusal(text):
    output = text.split("[Response]\n", 1)[1]
    verdict = "refuses" if "can't" in output or "won't" in output else "answers"
    return json.dumps({"explanation": "read the response", "verdict": verdict})


class SchemaRecorder(ScriptedJudge):
    """A scripted judge that keeps the JSON schema it was asked to follow."""

    schemas: list

    async def generate(self, prompt, params, sample_index):
        self.schemas = [*getattr(self, "schemas", []), params.json_schema]
        return await super().generate(prompt, params, sample_index)


@pytest.fixture
def refusal():
    register(REFUSAL)
    yield REFUSAL
    unregister(REFUSAL.name)


def test_a_new_protocol_judges_a_run_end_to_end(tmp_path, refusal):
    run = make_run(tmp_path / "run", OUTPUTS, {"a": None, "b": None, "c": None})
    first = SchemaRecorder("first", says_refusal)
    second = ScriptedJudge("second", lambda t: "Looking at it.\nVerdict: answers")
    result = judge_run(
        run, ["first", "second"], protocol="refusal", progress=False, models={"first": first, "second": second}
    )

    assert result.protocol == "refusal" and result.pool == "majority" and result.scale is None
    assert first.calls == second.calls == 6
    assert first.schemas[0]["properties"]["verdict"]["enum"] == ["refuses", "answers"]
    assert result.judges["first"].mean_score == {"careful": pytest.approx(2 / 3), "direct": 0.0}
    assert result.judges["second"].mean_score == {"careful": 0.0, "direct": 0.0}
    # Two judges that disagree on two items: a split vote, not a verdict.
    assert result.jury.vote_ties == 2 and result.jury.mean_score == {"careful": 0.0, "direct": 0.0}
    assert result.template_hash == load_template("refusal").hash
    assert "share refusing" in str(result.render().renderables[0].title)

    rows = (
        sqlite3.connect(run / "assay.db")
        .execute("SELECT protocol, judge, model, verdict, score, template_hash FROM verdicts")
        .fetchall()
    )
    assert len(rows) == 12 and {r[0] for r in rows} == {"refusal"}
    assert {r[5] for r in rows} == {result.template_hash}
    assert sorted((r[2], r[3]) for r in rows if r[1] == "first") == [
        ("careful", "0"),
        ("careful", "1"),
        ("careful", "1"),
        ("direct", "0"),
        ("direct", "0"),
        ("direct", "0"),
    ]

    again = judge_run(
        run, ["first", "second"], protocol="refusal", progress=False, models={"first": first, "second": second}
    )
    assert first.calls == 6 and again.judges["first"].cache_hits == 6
    assert again.judges["first"].mean_score == result.judges["first"].mean_score


def test_a_new_protocol_is_checked_like_a_built_in(tmp_path, refusal):
    run = make_run(tmp_path / "run", OUTPUTS, {"a": None, "b": None, "c": None})
    with pytest.raises(ConfigError, match="--pool mean averages scores and applies to the pointwise protocol"):
        judge_run(run, ["j", "k"], protocol="refusal", pool="mean", progress=False)
    with pytest.raises(ConfigError, match="needs at least one --judge"):
        judge_run(run, [], protocol="refusal", progress=False)
    with pytest.raises(ConfigError, match="--against applies to the pairwise protocol only"):
        judge_run(run, ["j"], protocol="refusal", against="direct", progress=False)


def test_unregistered_protocols_are_unknown(tmp_path):
    assert "refusal" not in protocol_names()
    with pytest.raises(ConfigError, match="valid are pointwise, pairwise, reference, contains, exact"):
        get_protocol("refusal")
    register(REFUSAL)
    try:
        with pytest.raises(ValueError, match="registered already"):
            register(REFUSAL.__class__(**{**REFUSAL.__dict__, "summary": "something else"}))
    finally:
        unregister(REFUSAL.name)


def test_built_in_protocols_answer_for_themselves():
    by_name = {p.name: p for p in protocols()}
    assert list(by_name) == ["pointwise", "pairwise", "reference", "contains", "exact"]
    for record in by_name.values():
        assert record.default_pool in record.pools
        if record.needs_judge:
            assert load_template(record).hash and record.verdict_schema(5)["required"][0] == "explanation"
        else:
            with pytest.raises(ValueError):
                record.parse("correct")
    assert [p.name for p in protocols() if p.pairs] == ["pairwise"]
    assert [p.name for p in protocols() if p.needs_target] == ["reference", "contains", "exact"]
    pairwise = by_name["pairwise"]
    # The one credit map: a win counts 1, a tie half, a loss 0, and the swapped order maps back.
    assert [pairwise.credit(v, None) for v in ("1", "tie", "2")] == [1.0, 0.5, 0.0]
    assert pairwise.in_original_order("A", "swapped") == "2" and pairwise.in_original_order("A", "original") == "1"
    assert by_name["pointwise"].credit("7", 7.0) == 7.0 and by_name["pointwise"].pools_scores
