"""Parsing, pooling, order mapping, costs, caching and bad inputs, with
scripted judges (the real two-judge jury is in test_judge_real.py)."""

from __future__ import annotations

import json
import re
import sqlite3

import pandas as pd
import pytest

from assay.errors import ConfigError, DataError, IncompleteRunError
from assay.judge.judging import ORIGINAL, SWAPPED, _map_back, judge_run, parse_price, price_cost, winrate_annotations
from assay.judge.parse import parse_reply, verdict_schema
from assay.judge.pool import Vote, load_weights, pool_votes
from assay.judge.prompts import load_template
from assay.run.export import export_run
from tests.judge.judge_fakes import ScriptedJudge, make_run

# ----------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text, score",
    [
        ('{"explanation": "clear and right", "rating": 7}', 7.0),
        ("The answer is fine.\nRating: [[7]]", 7.0),
        ('```json\n{"explanation": "ok", "rating": "4"}\n```', 4.0),
        ("Score: 3", 3.0),
        ("I would give it 6/10.", 6.0),
        ("9", 9.0),
    ],
)
def test_pointwise_ratings_are_read(text, score):
    parsed = parse_reply(text, "pointwise", 10)
    assert not parsed.invalid and parsed.score == score and parsed.verdict == str(int(score))


@pytest.mark.parametrize(
    "text",
    [
        "I like this response a lot.",  # no rating at all
        "Rating: [[11]]",  # outside the 1-10 scale
        '{"explanation": "x", "rating": 0}',
        "Rating: [[3]] ... on reflection [[5]]",  # two different ratings
        '{"explanation": "cut off before the rati',  # truncated JSON
        "",
    ],
)
def test_unreadable_ratings_are_invalid_not_defaulted(text):
    parsed = parse_reply(text, "pointwise", 10)
    assert parsed.invalid and parsed.score is None and parsed.verdict is None


@pytest.mark.parametrize(
    "text, choice",
    [
        ('{"explanation": "B is complete", "verdict": "B"}', "B"),
        ("After comparing both, I choose B.", "B"),
        ("[[A]]", "A"),
        ("Both are equally wrong. [[C]]", "tie"),
        ("Assistant A is better because it is correct.", "A"),
        ("Verdict: tie", "tie"),
        ("b", "B"),
    ],
)
def test_pairwise_choices_are_read(text, choice):
    parsed = parse_reply(text, "pairwise")
    assert not parsed.invalid and parsed.verdict == choice


@pytest.mark.parametrize("text", ["Both have merits and flaws.", '{"verdict": "C or D"}', "[[A]] no, [[B]]"])
def test_unreadable_choices_are_invalid(text):
    assert parse_reply(text, "pairwise").invalid


@pytest.mark.parametrize(
    "text, value",
    [
        ('{"explanation": "same number", "verdict": "correct"}', "1"),
        ('{"explanation": "differs", "verdict": "incorrect"}', "0"),
        ("The response says 12, the reference 13. Verdict: incorrect", "0"),
        ("correct", "1"),
        ("This answer is not correct.", "0"),
    ],
)
def test_reference_verdicts_are_read(text, value):
    parsed = parse_reply(text, "reference")
    assert not parsed.invalid and parsed.verdict == value and parsed.score == float(value)


def test_reference_contradiction_is_invalid():
    assert parse_reply("Part is correct and part is incorrect.", "reference").invalid


def test_schema_puts_explanation_before_verdict():
    schema = verdict_schema("pointwise", 5)
    assert list(schema["properties"]) == ["explanation", "rating"]
    assert schema["properties"]["rating"]["enum"] == [1, 2, 3, 4, 5]


# ----------------------------------------------------------------- pooling


def votes(*pairs):
    return [Vote(f"j{i}", v, s, v is None) for i, (v, s) in enumerate(pairs)]


def test_majority_reports_a_split_vote_as_a_tie():
    assert pool_votes(votes(("1", None), ("1", None), ("2", None)), "majority").verdict == "1"
    split = pool_votes(votes(("1", None), ("2", None)), "majority")
    assert split.verdict == "tie" and split.vote_tie
    # An invalid verdict is not a vote: 2 against 1 among the valid ones.
    pooled = pool_votes(votes(("1", None), (None, None), ("2", None), ("2", None)), "majority")
    assert pooled.verdict == "2" and pooled.n_votes == 3 and pooled.n_invalid == 1
    nothing = pool_votes(votes((None, None), (None, None)), "majority")
    assert nothing.verdict is None and nothing.n_invalid == 2


def test_mean_and_median_exclude_invalid():
    v = votes(("2", 2.0), ("8", 8.0), (None, None))
    assert pool_votes(v, "mean").score == 5.0
    assert pool_votes(votes(("1", 1.0), ("2", 2.0), ("9", 9.0), (None, None)), "median").score == 2.0
    assert pool_votes(votes((None, None)), "mean").score is None


def test_weighted_pooling():
    weights = {"j0": 0.9, "j1": 0.1, "j2": 0.1}
    assert pool_votes(votes(("1", None), ("2", None), ("2", None)), "weighted", weights).verdict == "1"
    pooled = pool_votes(votes(("2", 2.0), ("8", 8.0)), "weighted", weights, scores=True)
    assert pooled.score == pytest.approx((0.9 * 2 + 0.1 * 8) / 1.0)
    with pytest.raises(ConfigError, match="no weight for judge 'j2'"):
        pool_votes(votes(("1", None), ("1", None), ("2", None)), "weighted", {"j0": 1, "j1": 1})


def test_weights_from_audit_json(tmp_path):
    audit_json = {
        "judges": [
            {"judge": "a", "cohens_kappa": {"value": 0.5}, "accuracy": {"value": 0.8}},
            {"judge": "b", "cohens_kappa": {"value": -0.2}, "accuracy": {"value": 0.4}},
        ],
        "jury": None,
    }
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit_json))
    assert load_weights(path) == {"a": 0.5, "b": 0.0}  # worse than chance: no say
    assert load_weights(path, metric="accuracy") == {"a": 0.8, "b": 0.4}
    with pytest.raises(ConfigError, match="no cohens_kappa for judge.*c"):
        load_weights(path, judges=["a", "c"])
    with pytest.raises(ConfigError, match="every judge's cohens_kappa is 0 or below"):
        load_weights(path, judges=["b"])


def test_weights_from_a_real_audit(tmp_path):
    from assay.judge.audit import audit

    items = [f"i{k}" for k in range(12)]
    labels = pd.DataFrame({"item": items, "label": ["1", "2"] * 6})
    verdicts = pd.DataFrame(
        {
            "item": items * 2,
            "judge": ["good"] * 12 + ["coin"] * 12,
            "verdict": ["1", "2"] * 6 + ["1", "1", "2", "2"] * 3,
        }
    )
    weights = load_weights(audit(verdicts, labels, n_boot=10).to_dict(), judges=["good", "coin"])
    assert weights["good"] == pytest.approx(1.0) and weights["coin"] < weights["good"]


# ----------------------------------------------------------------- order mapping, costs


def test_swapped_verdicts_map_back_to_the_original_numbering():
    assert _map_back("A", ORIGINAL) == "1" and _map_back("B", ORIGINAL) == "2"
    assert _map_back("A", SWAPPED) == "2" and _map_back("B", SWAPPED) == "1"
    assert _map_back("tie", SWAPPED) == "tie"


def test_cost_arithmetic():
    assert price_cost({"j": (1.0, 2.0)}, "j", 1_000_000, 500_000) == pytest.approx(2.0)
    assert price_cost({"j": (1.0, 2.0)}, "other", 10, 10) is None
    assert parse_price("openai:gpt-4o-mini=0.15/0.60") == ("openai:gpt-4o-mini", (0.15, 0.6))
    for bad in ("gpt=0.15", "=1/2", "m=a/b", "m=-1/2"):
        with pytest.raises(ConfigError, match="MODEL=IN/OUT"):
            parse_price(bad)


# ----------------------------------------------------------------- judging a run

OUTPUTS = {
    "good": {"a": "The answer is 4.", "b": "It is 9.", "c": "Paris."},
    "bad": {"a": "5", "b": "no idea", "c": "Lyon, I think, or maybe somewhere else entirely."},
}
TARGETS = {"a": "4", "b": "9", "c": "Paris"}


def first_output(text):
    return re.search(r"\[The Start of Response A\]\n(.*?)\n\[The End", text, re.S).group(1)


def prefers_shorter(text):
    a = first_output(text)
    b = re.search(r"\[The Start of Response B\]\n(.*?)\n\[The End", text, re.S).group(1)
    return json.dumps({"explanation": "shorter is better", "verdict": "A" if len(a) < len(b) else "B"})


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "run", OUTPUTS, TARGETS)


def test_pairwise_both_orders_mapped_back_and_consistency(run):
    always_a = ScriptedJudge("first", lambda t: '{"explanation": "A", "verdict": "A"}')
    consistent = ScriptedJudge("short", prefers_shorter)
    result = judge_run(
        run, ["first", "short"], protocol="pairwise", progress=False, models={"first": always_a, "short": consistent}
    )
    first = result.judges["first"]
    assert first.n == 6 and first.position_consistency["value"] == 0.0
    assert first.position_consistency["first_position_rate"] == 1.0
    short = result.judges["short"]
    assert short.position_consistency["value"] == 1.0
    # "bad" < "good" alphabetically: model = bad (output 1), model_b = good; shorter wins on a, b; c goes to good.
    assert short.win_rates["bad"] == pytest.approx(2 / 3) and short.win_rates["good"] == pytest.approx(1 / 3)
    # The always-A judge and the shorter-wins judge agree in the original
    # order (the shorter output comes first) and split in the swapped one.
    assert result.jury.vote_ties == 3
    rows = (
        sqlite3.connect(run / "assay.db")
        .execute('SELECT "order", verdict, model, model_b FROM verdicts WHERE judge = ?', ("first",))
        .fetchall()
    )
    assert {(o, v) for o, v, _, _ in rows} == {(ORIGINAL, "1"), (SWAPPED, "2")}
    assert {(m, b) for _, _, m, b in rows} == {("bad", "good")}


def test_invalid_verdicts_are_stored_with_raw_text_and_excluded(run, tmp_path):
    replies = iter(
        [
            '{"explanation": "ok", "rating": 8}',
            "I cannot decide.",
            "Rating: [[4]]",
            "Rating: [[12]]",
            '{"explanation": "fine", "rating": 6}',
            "nonsense",
        ]
    )
    judge = ScriptedJudge("j", lambda t: next(replies))
    result = judge_run(run, ["j"], protocol="pointwise", progress=False, models={"j": judge})
    summary = result.judges["j"]
    assert summary.n == 6 and summary.invalid == 3
    # bad: a, b, c -> 8, invalid, 4; good: a, b, c -> invalid, 6, invalid
    assert summary.mean_score == {"bad": 6.0, "good": 6.0}
    frame = pd.read_sql_query("SELECT * FROM verdicts WHERE invalid = 1", sqlite3.connect(run / "assay.db"))
    assert len(frame) == 3 and frame["score"].isna().all() and frame["verdict"].isna().all()
    assert set(frame["raw"]) == {"I cannot decide.", "Rating: [[12]]", "nonsense"}
    out = export_run(run, tmp_path / "v.csv", what="verdicts")
    exported = pd.read_csv(out.path)
    assert out.rows == 6 and exported["invalid"].sum() == 3
    assert exported["template_hash"].nunique() == 1
    assert exported["template_hash"].iloc[0] == load_template("pointwise").hash


def test_second_run_costs_nothing(run, tmp_path):
    judge = ScriptedJudge("j", lambda t: '{"explanation": "ok", "rating": 5}')
    prices = {"j": (2.0, 10.0)}
    first = judge_run(run, ["j"], protocol="pointwise", prices=prices, progress=False, models={"j": judge})
    assert judge.calls == 6 and first.judges["j"].calls == 6
    assert first.judges["j"].cost == pytest.approx(6 * (100 * 2.0 + 20 * 10.0) / 1e6)
    again = judge_run(run, ["j"], protocol="pointwise", prices=prices, progress=False, models={"j": judge})
    assert judge.calls == 6 and again.judges["j"].calls == 0 and again.judges["j"].cache_hits == 6
    assert again.judges["j"].cost == 0.0 and again.judges["j"].mean_score == first.judges["j"].mean_score
    # Another run directory with the same outputs: the shared response cache answers.
    other = make_run(tmp_path / "copy", OUTPUTS, TARGETS)
    judge_run(other, ["j"], protocol="pointwise", progress=False, models={"j": judge})
    assert judge.calls == 6
    # Another template is another request.
    template = tmp_path / "mine.jinja"
    template.write_text("Rate 1-{{ scale }}: {{ output }} for {{ question }}")
    judge_run(run, ["j"], protocol="pointwise", template=template, progress=False, models={"j": judge})
    assert judge.calls == 12


def test_unreachable_judge_keeps_what_was_judged_and_resumes(run):
    flaky = ScriptedJudge("j", lambda t: '{"explanation": "ok", "rating": 5}', unreachable_after=2)
    with pytest.raises(IncompleteRunError, match=r"4 verdict\(s\) left") as caught:
        judge_run(run, ["j"], protocol="pointwise", progress=False, models={"j": flaky})
    assert caught.value.result.judges["j"].n == 2
    stored = sqlite3.connect(run / "assay.db").execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
    assert stored == 2
    healthy = ScriptedJudge("j", lambda t: '{"explanation": "ok", "rating": 5}')
    result = judge_run(run, ["j"], protocol="pointwise", progress=False, models={"j": healthy})
    assert healthy.calls == 4 and result.judges["j"].n == 6 and result.judges["j"].cache_hits == 2


def test_lexical_judges(run):
    contains = judge_run(run, [], protocol="contains", progress=False).judges["contains"]
    assert contains.mean_score == {"bad": 0.0, "good": 1.0} and contains.calls == 0
    exact = judge_run(run, [], protocol="exact", progress=False).judges["exact"]
    assert exact.mean_score["good"] < 1.0  # "The answer is 4." is not exactly "4"


def test_reference_jury_with_tied_votes(run):
    yes = ScriptedJudge("yes", lambda t: '{"explanation": "same", "verdict": "correct"}')
    no = ScriptedJudge("no", lambda t: "Verdict: incorrect")
    result = judge_run(run, ["yes", "no"], protocol="reference", progress=False, models={"yes": yes, "no": no})
    assert result.judges["yes"].mean_score == {"bad": 1.0, "good": 1.0}
    assert result.judges["no"].mean_score == {"bad": 0.0, "good": 0.0}
    # Every unit is a 1-1 split: reported as ties, none counted correct or wrong.
    assert result.jury.vote_ties == 6 and result.jury.invalid == 0 and result.jury.mean_score == {}
    payload = result.to_dict()
    assert set(payload["judges"]) == {"yes", "no"} and payload["jury"]["vote_ties"] == 6


def test_winrate_annotations_against_a_baseline(run):
    judge = ScriptedJudge("short", prefers_shorter)
    judge_run(run, ["short"], protocol="pairwise", against="good", progress=False, models={"short": judge})
    frame = winrate_annotations(run, "good")
    assert list(frame.columns[:5]) == ["model", "instruction", "preference", "output", "baseline_output"]
    assert set(frame["model"]) == {"bad"} and len(frame) == 3
    by_item = dict(zip(frame["item"], frame["preference"]))
    assert by_item == {"a": 1.0, "b": 1.0, "c": 0.0}
    from assay.judge.winrate import winrate

    result = winrate(frame, baseline="good", length_controlled=False)
    assert result.models["bad"].n == 3 and result.models["bad"].win_rate == pytest.approx(200 / 3)


# ----------------------------------------------------------------- bad input


def test_bad_inputs(tmp_path, run):
    single = make_run(tmp_path / "single", {"only": OUTPUTS["good"]}, TARGETS)
    j = {"j": ScriptedJudge("j", lambda t: "A")}
    with pytest.raises(DataError, match=r"pairwise judging needs outputs of two models.*\(only\)"):
        judge_run(single, ["j"], protocol="pairwise", progress=False, models=j)
    no_targets = make_run(tmp_path / "nogold", OUTPUTS, {"a": None, "b": None, "c": None})
    with pytest.raises(DataError, match="none of the 3 items has a target"):
        judge_run(no_targets, ["j"], protocol="reference", progress=False, models=j)
    with pytest.raises(DataError, match="--against nobody.*bad, good"):
        judge_run(run, ["j"], protocol="pairwise", against="nobody", progress=False, models=j)
    with pytest.raises(ConfigError, match="lexical judge"):
        judge_run(run, ["j"], protocol="contains", progress=False)
    with pytest.raises(ConfigError, match="--pool mean"):
        judge_run(run, ["j", "k"], protocol="pairwise", pool="mean", progress=False)
    with pytest.raises(ConfigError, match="--weights-from"):
        judge_run(run, ["j", "k"], protocol="pairwise", pool="weighted", progress=False)
    with pytest.raises(ConfigError, match="valid are pointwise"):
        judge_run(run, ["j"], protocol="likert", progress=False)
    with pytest.raises(DataError, match="not a run directory"):
        judge_run(tmp_path / "missing", ["j"], protocol="pointwise", progress=False, models=j)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Verdict: a tie.", "tie"),
        ("I would choose a tie here.", "tie"),
        ("Winner: a draw", None),
        ("I prefer a concise answer, so Output B wins.", None),
        ("Output A is better", "A"),
    ],
)
def test_articles_are_not_votes_for_a(text, expected):
    from assay.judge.parse import parse_reply

    parsed = parse_reply(text, "pairwise")
    assert parsed.verdict == expected and parsed.invalid == (expected is None)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The output is not incorrect.", None),
        ("Partially correct, but misses the units.", None),
        ("The answer is not correct.", "0"),
        ("This is correct.", "1"),
    ],
)
def test_negated_and_hedged_correctness(text, expected):
    from assay.judge.parse import parse_reply

    parsed = parse_reply(text, "reference")
    assert parsed.verdict == expected and parsed.invalid == (expected is None)


def test_probes_of_a_server_judge_run_one_event_loop_each(shared_data):
    # Each probe is its own asyncio.run with the same model: its clients must follow.
    from assay.judge.audit import human_pairs_to_labels
    from assay.judge.probes import run_probes
    from tests.servers import stub_server

    pairs = human_pairs_to_labels(shared_data / "judge_human_labels" / "llmeval2.json").head(4)
    with stub_server() as url:
        results = run_probes(
            "openai:stub",
            items=pairs,
            n=2,
            base_urls=[url + "/v1"],
            max_tokens=8,
            n_boot=50,
            probes=("position", "verbosity"),
        )
    # The stub answers "42" to everything: no verdict, and no crash.
    assert {r.probe for r in results} == {"position", "verbosity"}
    assert all(r.n_invalid >= 2 for r in results)


def test_bias_probes_go_through_the_cache(shared_data):
    # A second probe run asks the shared response cache, not the judge.
    from assay.judge.audit import human_pairs_to_labels
    from assay.judge.probes import run_probes
    from tests.judge.judge_fakes import ScriptedJudge

    pairs = human_pairs_to_labels(shared_data / "judge_human_labels" / "llmeval2.json").head(4)
    judge = ScriptedJudge("fake", lambda text: '{"explanation": "same", "verdict": "tie", "rating": 5}')
    first = run_probes("fake", items=pairs, n=3, model=judge, n_boot=50, probes=("position", "verbosity"))
    calls = judge.calls
    assert calls == 3 * 3 + 3 * 2  # position: identical pair and both orders; verbosity: plain and padded
    again = run_probes("fake", items=pairs, n=3, model=judge, n_boot=50, probes=("position", "verbosity"))
    assert judge.calls == calls
    assert [r.to_dict() for r in again] == [r.to_dict() for r in first]
    run_probes("fake", items=pairs, n=3, model=judge, n_boot=50, probes=("position",), use_cache=False)
    assert judge.calls == calls + 9


def test_pointwise_intervals_stay_on_the_rating_scale():
    # Four ratings 10, 10, 10, 3: the t interval is 8.250 [2.68, 13.82], past the top of a 1-10 scale.
    from assay.judge.judging import ORIGINAL, Outcome, Unit, summarise

    outcomes = [
        Outcome(Unit(f"i{k}", "m", None, ORIGINAL, ()), str(r), float(r), False) for k, r in enumerate([10, 10, 10, 3])
    ]
    summary = summarise("judge", outcomes, "pointwise", ["m"], scale=10)
    interval = summary.intervals["m"]
    assert summary.mean_score["m"] == 8.25
    assert 1 <= interval["low"] < 8.25 < interval["high"] <= 10 and interval["method"] == "bounded-beta"
