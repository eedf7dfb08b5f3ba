from assay.records import Item, Score
from assay.tasks.scorers import targets
from assay.tasks.scorers.normalize import normalize_answer


def exact(output: str, item: Item) -> Score:
    """1 when the normalised output equals a normalised acceptable target."""
    answer = normalize_answer(output)
    return Score(float(any(answer == normalize_answer(t) for t in targets(item))))
