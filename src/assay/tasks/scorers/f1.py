from collections import Counter

from assay.records import Item, Score
from assay.tasks.scorers import targets
from assay.tasks.scorers.normalize import normalize_answer


def f1(output: str, item: Item) -> Score:
    """Token-level F1 between output and target (SQuAD's definition), the best over acceptable targets."""
    predicted = normalize_answer(output).split()
    return Score(max(_f1(predicted, normalize_answer(t).split()) for t in targets(item)))


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)
