import re

from assay.errors import ConfigError
from assay.records import Item, Score
from assay.tasks.scorers import NO_MATCH, targets
from assay.tasks.scorers.normalize import normalize_answer


def make_regex_scorer(pattern: str | None):
    """``regex:PATTERN``: the first match (its first group that took part in
    the match, if the pattern has groups) is compared with the target after
    normalisation."""
    if not pattern:
        raise ConfigError("scorer 'regex' needs a pattern: --scorer 'regex:answer: (\\w+)'")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"invalid regex for scorer: {pattern!r}: {exc}") from exc

    def regex(output: str, item: Item) -> Score:
        match = compiled.search(output)
        if match is None:
            return Score(0.0, detail=NO_MATCH)
        if compiled.groups:
            # In "(?:answer: (\d+))|(\d+)" only one of the groups takes part in a match.
            found = next((group for group in match.groups() if group is not None), None)
            if found is None:
                return Score(0.0, detail=f"matched {match.group(0)!r} but no group captured")
        else:
            found = match.group(0)
        answer = normalize_answer(found)
        return Score(float(any(answer == normalize_answer(t) for t in targets(item))), detail=found)

    return regex
