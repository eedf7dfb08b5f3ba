"""Does evaluating a shared prefix once reproduce a full evaluation exactly?

For one text, every length L, a few numbers of scored tokens k and every cut at
a multiple of four before the first scored row: the log-probabilities of the
last k tokens from one full evaluation against those from evaluating the first
``cut`` tokens, then the rest from the cached state. Counts the cuts that
differ at all (bitwise), split by whether the rest after the cut has at least
eight rows (the rule assay's prefix reuse follows, see docs/likelihood.md).

    .venv/bin/python benchmarks/likelihood_split_exactness.py --model gemma3-270m
"""

from __future__ import annotations

import argparse
import json

from assay.models.llama_cpp import MIN_BATCH, ROW_GROUP, ScoringContext
from assay.models.registry import get_model

TEXT = (
    "Question: The quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon while "
    "the farmer watches from his old wooden porch. What does the fox do next? Think about the animals, the "
    "weather and the time of day before you answer.\nAnswer: it runs away quickly into the forest and hides"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--max-length", type=int, default=66)
    args = parser.parse_args()
    scoring = ScoringContext(get_model(args.model)._load())
    tokens = scoring.tokenize(TEXT)
    checked, differ_long, differ_short = 0, 0, 0
    for length in range(9, min(len(tokens), args.max_length)):
        sequence = tokens[:length]
        for k in (1, 3, 6):
            if length - k < 5:
                continue
            targets = {j - 1: sequence[j] for j in range(length - k, length)}
            scoring.clear()
            full = scoring.decode(sequence[:-1], targets)
            for cut in range(ROW_GROUP, length - k, ROW_GROUP):
                scoring.clear()
                scoring.decode(sequence[:cut], {})
                split = scoring.decode(sequence[:-1], targets, begin=cut)
                checked += 1
                if split != full:
                    if length - 1 - cut >= MIN_BATCH:
                        differ_long += 1
                    else:
                        differ_short += 1
    print(
        json.dumps(
            {
                "model": args.model,
                "cuts_checked": checked,
                f"differ_with_rest_at_least_{MIN_BATCH}": differ_long,
                f"differ_with_rest_under_{MIN_BATCH}": differ_short,
            }
        )
    )


if __name__ == "__main__":
    main()
