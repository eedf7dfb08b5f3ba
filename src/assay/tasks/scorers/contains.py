from assay.records import Item, Score
from assay.tasks.scorers import targets
from assay.tasks.scorers.normalize import normalize_answer


def contains(output: str, item: Item) -> Score:
    """1 when a normalised acceptable target appears, as whole words, in the normalised output."""
    padded = f" {normalize_answer(output)} "
    found = [t for t in map(normalize_answer, targets(item)) if t and f" {t} " in padded]
    return Score(float(bool(found)))
