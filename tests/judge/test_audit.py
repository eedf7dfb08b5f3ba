import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa

from assay.errors import DataError
from assay.judge.agreement import confusion_matrix, fleiss_kappa, krippendorff_alpha
from assay.judge.audit import JURY_NAME, audit, human_pairs_to_labels, load_table

LABELS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "judge_human_labels"
SETS = ("mt-bench.json", "faireval.json", "llmeval2.json")
N_BOOT = 100


@pytest.fixture(scope="module")
def labels() -> pd.DataFrame:
    if not LABELS_DIR.is_dir():
        pytest.skip(f"human-labelled pairs not found at {LABELS_DIR}")
    return pd.concat([human_pairs_to_labels(LABELS_DIR / name) for name in SETS], ignore_index=True)


def position_biased_judge(labels: pd.DataFrame, q: float, name: str, seed: int) -> pd.DataFrame:
    """Sees the truth with probability q in each order; otherwise picks the output shown first."""
    rng = np.random.default_rng(seed)
    rows = []
    for item, label in zip(labels["item"], labels["label"]):
        for order, first_shown in (("original", "1"), ("swapped", "2")):
            verdict = label if rng.random() < q else first_shown
            rows.append({"item": item, "judge": name, "verdict": verdict, "order": order})
    return pd.DataFrame(rows)


def test_human_pairs_to_labels(labels):
    raw = json.loads((LABELS_DIR / "mt-bench.json").read_text())
    mt = human_pairs_to_labels(LABELS_DIR / "mt-bench.json")
    assert len(mt) == len(raw) == 200
    assert list(mt["label"]) == [str(r["label"]) for r in raw]
    assert mt["item"].is_unique
    assert list(human_pairs_to_labels(LABELS_DIR / "mt-bench.json")["item"]) == list(mt["item"])
    assert set(labels["label"]) == {"1", "2"} and labels["item"].is_unique


def test_human_pairs_bad_label(tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"input": "q", "output_1": "a", "output_2": "b", "label": 3}]))
    with pytest.raises(DataError, match=r"pairs\.json record 1, column label: 3 is not one of 1, 2, tie"):
        human_pairs_to_labels(path)


def test_position_biased_judge_matches_expectations(labels):
    q = 0.6
    result = audit(position_biased_judge(labels, q, "biased", seed=1), labels, n_boot=N_BOOT)
    judge = result.judge("biased")
    n = len(labels)
    p1 = float(np.mean(labels["label"] == "1"))
    expected = {
        "original": q + (1 - q) * p1,
        "swapped": q + (1 - q) * (1 - p1),
    }
    tolerance = lambda p: 4 * np.sqrt(p * (1 - p) / n)  # noqa: E731
    assert result.kind == "pairwise" and judge.n == n and judge.n_verdicts == 2 * n
    for order, value in expected.items():
        assert judge.accuracy_by_order[order].value == pytest.approx(value, abs=tolerance(value))
    assert judge.accuracy.value == pytest.approx(np.mean(list(expected.values())), abs=tolerance(0.8))
    consistency = q * q + q * (1 - q)
    assert judge.position_consistency.value == pytest.approx(consistency, abs=tolerance(consistency))
    first = (q * p1 + (1 - q) + q * (1 - p1) + (1 - q)) / 2
    assert judge.first_position_rate.value == pytest.approx(first, abs=tolerance(first))
    assert judge.first_position_rate.low > 0.55  # the bias is detected
    assert judge.both_orders_correct.value <= min(e for e in expected.values())
    assert judge.percent_agreement.value == pytest.approx(100 * judge.accuracy.value)
    for estimate in (judge.accuracy, judge.cohens_kappa, judge.position_consistency):
        assert estimate.low <= estimate.value <= estimate.high
    assert judge.leniency is None and judge.pearson is None


def test_kappa_exposes_what_percent_agreement_hides(labels):
    always_first = pd.DataFrame({"item": labels["item"], "judge": "first", "verdict": "1"})
    judge = audit(always_first, labels, n_boot=N_BOOT).judge("first")
    share_first = float(np.mean(labels["label"] == "1"))
    assert judge.percent_agreement.value == pytest.approx(100 * share_first)
    assert judge.percent_agreement.value > 45
    assert judge.cohens_kappa.value == pytest.approx(0.0, abs=1e-12)
    assert judge.position_consistency is None and list(judge.accuracy_by_order) == ["original"]


def test_cohens_kappa_in_audit_matches_statsmodels(labels):
    verdicts = position_biased_judge(labels, 0.7, "j", seed=2)
    judge = audit(verdicts, labels, n_boot=N_BOOT).judge("j")
    pooled = verdicts.merge(labels[["item", "label"]], on="item")
    table, _ = confusion_matrix(pooled["verdict"], pooled["label"])
    assert judge.cohens_kappa.value == pytest.approx(sm_cohens_kappa(table).kappa)


def test_jury_majority_and_rater_agreement(labels):
    judges = [position_biased_judge(labels, q, f"j{i}", seed=10 + i) for i, q in enumerate((0.7, 0.7, 0.7))]
    verdicts = pd.concat(judges, ignore_index=True)
    result = audit(verdicts, labels, n_boot=N_BOOT, seed=3)
    jury = result.jury
    assert jury is not None and jury.judges == ["j0", "j1", "j2"]
    # Three independent judges: the majority beats every member.
    assert jury.majority.judge == JURY_NAME
    assert jury.majority.accuracy.value > max(j.accuracy.value for j in result.judges)
    assert jury.majority.n_vote_ties == 0  # three votes on two options never tie
    wide = verdicts.pivot_table(index=["item", "order"], columns="judge", values="verdict", aggfunc="first")
    assert jury.fleiss_kappa.value == pytest.approx(fleiss_kappa(wide.to_numpy()))
    coded = wide.replace({"1": 1.0, "2": 2.0}).to_numpy(dtype=float)
    assert jury.krippendorff_alpha.value == pytest.approx(krippendorff_alpha(coded.T, "nominal"))
    assert jury.alpha_level == "nominal" and jury.n_fleiss_subjects == 2 * len(labels)


def test_jury_vote_ties_reported_as_ties(labels):
    perfect = pd.DataFrame({"item": labels["item"], "judge": "perfect", "verdict": labels["label"]})
    first = pd.DataFrame({"item": labels["item"], "judge": "first", "verdict": "1"})
    result = audit(pd.concat([perfect, first]), labels, n_boot=N_BOOT)
    n_label_2 = int((labels["label"] == "2").sum())
    assert result.judge("perfect").accuracy.value == 1.0 and result.judge("perfect").cohens_kappa.value == 1.0
    assert result.jury.majority.n_vote_ties == n_label_2
    # A tied vote is a tie verdict, which matches no human label here.
    assert result.jury.majority.accuracy.value == pytest.approx(1 - n_label_2 / len(labels))


def correctness_data(labels: pd.DataFrame, lenient_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Human: output 1 is "correct" iff it was preferred. Judge: right on every
    correct item, and calls the first ``lenient_share`` of the wrong ones correct."""
    human = pd.DataFrame({"item": labels["item"], "label": (labels["label"] == "1").astype(int)})
    wrong = np.flatnonzero(human["label"].to_numpy() == 0)
    verdict = human["label"].to_numpy().copy()
    verdict[wrong[: int(round(lenient_share * wrong.size))]] = 1
    return pd.DataFrame({"item": human["item"], "judge": "lenient", "verdict": verdict}), human


def test_leniency_on_correctness_verdicts(labels):
    verdicts, human = correctness_data(labels, 0.3)
    result = audit(verdicts, human, n_boot=N_BOOT)
    judge = result.judge("lenient")
    n_wrong = int((human["label"] == 0).sum())
    assert result.kind == "correctness"
    assert judge.leniency.value == pytest.approx(round(0.3 * n_wrong) / n_wrong)
    assert judge.accuracy.value == pytest.approx(1 - round(0.3 * n_wrong) / len(human))
    assert judge.first_position_rate is None


def test_score_correlations(labels):
    rng = np.random.default_rng(4)
    n = len(labels)
    human = pd.DataFrame({"item": labels["item"], "label": rng.integers(1, 11, n)})
    score = np.clip(human["label"] + rng.integers(-2, 3, n), 1, 10)
    verdicts = pd.DataFrame({"item": human["item"], "judge": "scorer", "verdict": score})
    other = verdicts.assign(judge="other", verdict=np.clip(human["label"] + rng.integers(-3, 4, n), 1, 10))
    result = audit(pd.concat([verdicts, other]), human, n_boot=N_BOOT)
    judge = result.judge("scorer")
    assert result.kind == "score"
    assert judge.pearson.value == pytest.approx(stats.pearsonr(score, human["label"]).statistic)
    assert judge.spearman.value == pytest.approx(stats.spearmanr(score, human["label"]).statistic)
    assert judge.kendall.value == pytest.approx(stats.kendalltau(score, human["label"]).statistic)
    assert judge.pearson.value > 0.8
    assert result.jury.alpha_level == "ordinal"


def test_ranking_of_models_is_separate_from_item_agreement(labels):
    # Three models answer the same 150 items; humans find A best, then B, then C.
    items = labels["item"].iloc[:150].tolist()
    rng = np.random.default_rng(5)
    human_rows, fair_rows, biased_rows = [], [], []
    for model, accuracy in (("A", 0.8), ("B", 0.6), ("C", 0.4)):
        correct = (rng.random(len(items)) < accuracy).astype(int)
        for item, c in zip(items, correct):
            human_rows.append({"item": item, "model": model, "label": c})
            fair_rows.append({"item": item, "model": model, "judge": "fair", "verdict": c})
            # Always passes C: agrees with people on A and B, ranks C first.
            biased_rows.append(
                {"item": item, "model": model, "judge": "fond_of_C", "verdict": 1 if model == "C" else c}
            )
    human = pd.DataFrame(human_rows)
    result = audit(pd.DataFrame(fair_rows + biased_rows), human, n_boot=N_BOOT)
    rankings = {r.judge: r for r in result.rankings}
    assert rankings["fair"].spearman.value == pytest.approx(1.0)
    assert rankings["fond_of_C"].spearman.value == pytest.approx(-0.5)
    assert rankings["fond_of_C"].judge_scores["C"] == 1.0
    assert rankings["fair"].human_scores["A"] > rankings["fair"].human_scores["C"]
    assert result.judge("fond_of_C").accuracy.value > 0.75  # item-level agreement still looks good
    assert JURY_NAME in rankings


def test_same_seed_same_numbers_and_json(labels):
    verdicts = pd.concat(
        [position_biased_judge(labels, 0.7, "a", seed=1), position_biased_judge(labels, 0.5, "b", seed=2)]
    )
    first = audit(verdicts, labels, n_boot=50, seed=7).to_dict()
    again = audit(verdicts, labels, n_boot=50, seed=7).to_dict()
    other = audit(verdicts, labels, n_boot=50, seed=8).to_dict()
    assert first == again
    assert first["judges"][0]["accuracy"]["low"] != other["judges"][0]["accuracy"]["low"]
    json.dumps(first, allow_nan=False)
    assert first["judges"][0]["accuracy_by_order"].keys() == {"original", "swapped"}
    assert first["probes"] == []


def test_file_formats_agree(labels, tmp_path):
    verdicts = position_biased_judge(labels.iloc[:60], 0.7, "j", seed=3)
    small = labels.iloc[:60][["item", "label"]]
    verdicts.to_csv(tmp_path / "v.csv", index=False)
    verdicts.to_json(tmp_path / "v.jsonl", orient="records", lines=True)
    verdicts.to_parquet(tmp_path / "v.parquet")
    small.to_csv(tmp_path / "l.csv", index=False)
    results = [
        audit(tmp_path / f"v.{ext}", tmp_path / "l.csv", n_boot=20).to_dict() for ext in ("csv", "jsonl", "parquet")
    ]
    for r in results[1:]:
        assert r["judges"] == results[0]["judges"]
    assert results[0]["verdicts"].endswith("v.csv")
    table = load_table(tmp_path / "v.jsonl")
    assert table.attrs["locations"][:2] == ["line 1", "line 2"]


def test_render_mentions_the_numbers(labels):
    result = audit(position_biased_judge(labels, 0.7, "j", seed=3), labels, n_boot=20)
    text = result.render()
    assert "cohens_kappa" in text and "position_consistency" in text
    assert f"{result.judge('j').accuracy.value:.3f}" in text


# ---------------------------------------------------------------- bad input


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_labels_must_cover_ten_items(labels, tmp_path):
    verdicts = write_csv(tmp_path / "v.csv", position_biased_judge(labels.iloc[:40], 0.7, "j", seed=1))
    few = write_csv(tmp_path / "few.csv", labels.iloc[:6][["item", "label"]])
    with pytest.raises(DataError, match=r"few\.csv cover 6 of the 40 items in verdicts .*v\.csv.*at least 10"):
        audit(verdicts, few, n_boot=10)


def test_partial_coverage_is_reported_not_hidden(labels, tmp_path):
    verdicts = position_biased_judge(labels.iloc[:40], 0.7, "j", seed=1)
    result = audit(verdicts, labels.iloc[:30][["item", "label"]], n_boot=10)
    assert result.coverage.n_labelled_items == 30 and result.coverage.n_verdict_items == 40
    assert result.coverage.n_unlabelled_verdicts == 20
    assert result.judge("j").n == 30
    assert "20 verdicts on 10 unlabelled items" in result.render()


def test_verdict_outside_allowed_set(labels, tmp_path):
    verdicts = position_biased_judge(labels.iloc[:20], 0.7, "j", seed=1)
    verdicts.loc[5, "verdict"] = "3"
    path = write_csv(tmp_path / "v.csv", verdicts)
    with pytest.raises(
        DataError, match=r"v\.csv line 7, column verdict: '3' is not a pairwise verdict; expected 1, 2 or tie"
    ):
        audit(path, labels, n_boot=10)


def test_correctness_verdict_outside_allowed_set(labels):
    verdicts, human = correctness_data(labels.iloc[:30], 0.0)
    verdicts["verdict"] = verdicts["verdict"].astype(float)
    verdicts.loc[3, "verdict"] = 0.5
    with pytest.raises(
        DataError, match=r"verdicts table row 4, column verdict: 0.5 is not a correctness verdict; expected 0 or 1"
    ):
        audit(verdicts, human, n_boot=10)


def test_in_memory_tables_are_named_once(labels):
    verdicts, human = correctness_data(labels.iloc[:30], 0.0)
    with pytest.raises(DataError, match=r"^labels table lacks column\(s\) label;"):
        audit(verdicts, human.drop(columns="label"), n_boot=10)
    with pytest.raises(DataError, match=r"^labels table cover 0 of the 30 items in verdicts table "):
        audit(verdicts, human.assign(item=[f"other-{i}" for i in range(len(human))]), n_boot=10)


def test_bad_order_and_duplicate_verdict(labels, tmp_path):
    verdicts = position_biased_judge(labels.iloc[:20], 0.7, "j", seed=1)
    bad_order = verdicts.copy()
    bad_order.loc[2, "order"] = "reversed"
    with pytest.raises(DataError, match=r"line 4, column order: 'reversed' is not one of original, swapped"):
        audit(write_csv(tmp_path / "v.csv", bad_order), labels, n_boot=10)
    twice = pd.concat([verdicts, verdicts.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match=r"appears more than once \(verdicts table row 1; verdicts table row 41\)"):
        audit(twice, labels, n_boot=10)


def test_missing_column_file_and_bad_json(labels, tmp_path):
    with pytest.raises(
        DataError, match=r"lacks column\(s\) judge; required: item, judge, verdict; found: item, verdict"
    ):
        audit(pd.DataFrame({"item": ["a"], "verdict": ["1"]}), labels)
    with pytest.raises(DataError, match=r"nope\.csv does not exist"):
        audit(tmp_path / "nope.csv", labels)
    bad = tmp_path / "v.jsonl"
    bad.write_text('{"item": "a", "judge": "j", "verdict": "1"}\n{"item": "b", "judge": \n')
    with pytest.raises(DataError, match=r"v\.jsonl line 2: invalid JSON"):
        audit(bad, labels)
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        load_table(tmp_path / "x.txt") if (tmp_path / "x.txt").write_text("a") else None


def test_duplicate_label(labels, tmp_path):
    doubled = pd.concat([labels[["item", "label"]].iloc[:20], labels[["item", "label"]].iloc[[3]]])
    path = write_csv(tmp_path / "l.csv", doubled)
    verdicts = position_biased_judge(labels.iloc[:20], 0.7, "j", seed=1)
    with pytest.raises(
        DataError, match=r"labels .*l\.csv: item=.* appears more than once \(.*l\.csv line 5; .*l\.csv line 22\)"
    ):
        audit(verdicts, path, n_boot=10)


# ---------------------------------------------------------------- invalid verdicts and position consistency


def pairwise_labels(n: int) -> pd.DataFrame:
    return pd.DataFrame({"item": [f"i{i}" for i in range(n)], "label": [("1", "2", "tie")[i % 3] for i in range(n)]})


def test_invalid_verdicts_never_count_as_consistent():
    # 12 items judged in both orders, every verdict invalid: this used to give
    # position_consistency 1.000 [1.000, 1.000] ("invalid" matched "invalid").
    labels = pairwise_labels(12)
    verdicts = pd.DataFrame(
        [
            {"item": i, "judge": "broken", "order": o, "verdict": None, "invalid": True}
            for i in labels["item"]
            for o in ("original", "swapped")
        ]
    )
    judge = audit(verdicts, labels, n_boot=50).judge("broken")
    assert judge.n_invalid == 24
    assert np.isnan(judge.position_consistency.value) and judge.position_consistency.render() == "n/a"
    assert judge.n_consistency_pairs == 0 and judge.n_consistency_invalid == 12
    assert "position_consistency n/a (no unit has a valid verdict in both orders; 12 with an invalid" in judge.render()
    d = judge.to_dict()
    assert d["position_consistency"]["value"] is None and d["n_consistency_pairs"] == 0
    json.dumps(d, allow_nan=False)


def test_consistency_is_over_pairs_with_two_valid_verdicts():
    labels = pairwise_labels(30)
    rows = []
    for k, item in enumerate(labels["item"]):
        # Items 0-9: an invalid verdict in the swapped order (left out whatever
        # the other says); 10-19: the same verdict twice; 20-29: a flip.
        original = "1"
        swapped = {0: None, 1: "1"}.get(k // 10, "2")
        rows.append({"item": item, "judge": "j", "order": "original", "verdict": original, "invalid": False})
        rows.append({"item": item, "judge": "j", "order": "swapped", "verdict": swapped, "invalid": swapped is None})
    judge = audit(pd.DataFrame(rows), labels, n_boot=200).judge("j")
    assert judge.position_consistency.value == pytest.approx(10 / 20)
    assert judge.n_consistency_pairs == 20 and judge.n_consistency_invalid == 10
    assert judge.position_consistency.n_items == 20
    assert judge.position_consistency.low < 0.5 < judge.position_consistency.high
    assert "over 20 units with a valid verdict in both orders; 10 with an invalid verdict left out" in judge.render()


# ---------------------------------------------------------------- model_b and labels, by file and line


def correctness_files(tmp_path: Path, n: int = 24, **columns) -> tuple[Path, Path]:
    items = [f"i{i}" for i in range(n)]
    verdicts = pd.DataFrame(
        {
            "item": items,
            "model": "m",
            "model_b": "",
            "judge": "j",
            "protocol": "reference",
            "order": "original",
            "verdict": [i % 2 for i in range(n)],
            **columns,
        }
    )
    labels = pd.DataFrame({"item": items, "label": [i % 2 for i in range(n)]})
    return write_csv(tmp_path / "v.csv", verdicts), write_csv(tmp_path / "labels.csv", labels)


def test_an_all_empty_model_b_column_is_absent(tmp_path):
    verdicts, labels = correctness_files(tmp_path)
    assert pd.read_csv(verdicts)["model_b"].isna().all()
    result = audit(verdicts, labels, n_boot=20)
    assert result.kind == "correctness" and result.judge("j").accuracy.value == 1.0
    # Empty in some rows only stays an error, naming the row.
    mixed = pd.read_csv(verdicts, dtype=str)
    mixed.loc[3, "model_b"] = "other"
    with pytest.raises(
        DataError, match=r"v\.csv line 2, column model_b: empty, while 1 other row\(s\) .* every row or in none"
    ):
        audit(write_csv(tmp_path / "v.csv", mixed), labels, n_boot=20)


def test_exported_verdicts_of_a_lexical_judge_audit_as_they_are(tmp_path):
    """run -> judge (exact protocol) -> export --what verdicts -> audit, as a user does it."""
    from assay.api import run
    from assay.judge.judging import judge_run
    from assay.run.export import export_run

    from ..servers import stub_server

    items = tmp_path / "q.jsonl"
    items.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": f"q {i}", "answer": "42" if i % 3 else "7"}) + "\n"
            for i in range(12)
        )
    )
    with stub_server() as url:
        run(str(items), ["openai:stub"], out=tmp_path / "r", base_urls=[url + "/v1"], use_cache=False, progress=False)
    judge_run(tmp_path / "r", protocol="exact", progress=False)
    export_run(tmp_path / "r", tmp_path / "v.csv", what="verdicts")
    assert pd.read_csv(tmp_path / "v.csv")["model_b"].isna().all()
    labels = write_csv(
        tmp_path / "labels.csv",
        pd.DataFrame({"item": [f"q{i}" for i in range(12)], "label": [int(i % 3 != 0) for i in range(12)]}),
    )
    result = audit(tmp_path / "v.csv", labels, n_boot=20)
    assert result.kind == "correctness" and result.judge("exact").accuracy.value == 1.0


def test_blank_label_names_file_and_line(tmp_path):
    verdicts, labels = correctness_files(tmp_path)
    text = labels.read_text().splitlines()
    text[6] = "i5,"  # line 7 of the file
    labels.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"labels\.csv line 7, column label: empty; every row needs a label"):
        audit(verdicts, labels, n_boot=10)


def test_a_stray_label_is_named_not_read_as_another_kind(tmp_path):
    verdicts, labels = correctness_files(tmp_path)
    frame = pd.read_csv(labels, dtype=str)
    frame.loc[5, "label"] = "2"  # a typo among 0/1 labels: used to make it a "score" audit
    with pytest.raises(
        DataError,
        match=r"l1\.csv line 7, column label: '2' is not a correctness label \(0 or 1\), "
        r"but every valid verdict is correctness and 23 of the 24 labels are",
    ):
        audit(verdicts, write_csv(tmp_path / "l1.csv", frame), n_boot=10)
    frame.loc[9, "label"] = "3"
    with pytest.raises(DataError, match=r"l2\.csv line 7, column label: '2' \(also .*l2\.csv line 11: '3'\)"):
        audit(verdicts, write_csv(tmp_path / "l2.csv", frame), n_boot=10)
    # Labels that really are scores (most of them outside 0/1) are still read as scores.
    scores = frame.assign(label=[str(1 + i % 5) for i in range(len(frame))])
    assert audit(verdicts, write_csv(tmp_path / "l3.csv", scores), n_boot=10).kind == "score"


def test_a_label_fitting_no_kind_is_named(tmp_path):
    labels = pairwise_labels(20)
    labels.loc[4, "label"] = "3"  # a number among 1/2/tie: this used to raise IndexError
    verdicts = pd.DataFrame({"item": labels["item"], "judge": "j", "verdict": "1"})
    with pytest.raises(
        DataError,
        match=r"labels\.csv line 6, column label: '3' fits none of the verdict kinds.*"
        r"19 of the 20 labels are pairwise",
    ):
        audit(verdicts, write_csv(tmp_path / "labels.csv", labels), n_boot=10)
    labels.loc[4, "label"] = "maybe"
    with pytest.raises(DataError, match=r"line 6, column label: 'maybe' is not a pairwise label"):
        audit(verdicts.assign(verdict="2"), write_csv(tmp_path / "labels.csv", labels), n_boot=10)
