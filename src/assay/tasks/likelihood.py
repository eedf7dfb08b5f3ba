"""Per-item metrics of likelihood items, from the log-probabilities a model gave.

Multiple choice (lm-evaluation-harness's definitions where it has them):

- ``acc``: the choice with the highest log-probability is the gold one (the
  first of equal maxima wins, as numpy's argmax). With a single continuation
  (LAMBADA), ``acc`` is whether the model would produce it greedily.
- ``acc_norm``: the same after dividing each log-probability by its choice's
  length in characters; ``acc_bytes``: by its length in UTF-8 bytes.
- ``p_correct``: the gold choice's probability renormalised over the choices
  (a single continuation: its probability itself).
- ``logprob_correct``: the gold continuation's log-probability (nats).
- ``brier``: Σ over choices of (renormalised probability − 1[gold])²; lower is better.

Documents: the sums a corpus-level ratio needs: ``logprob`` (nats), ``tokens``,
``bytes`` (UTF-8) and ``words`` (whitespace-separated), per document.
"""

from __future__ import annotations

import math

from assay.records import Logprob


def choice_metrics(logprobs: list[Logprob], texts: list[str], gold: int) -> dict[str, float]:
    values = [lp.logprob for lp in logprobs]

    def argmax(xs: list[float]) -> int:
        return max(range(len(xs)), key=lambda i: (xs[i], -i))

    top = max(values)
    weights = [math.exp(v - top) for v in values]
    total = sum(weights)
    probs = [w / total for w in weights]
    if len(values) == 1:
        greedy = logprobs[0].greedy
        acc = float(bool(greedy))
        p_correct = math.exp(values[0])
        brier = (1.0 - p_correct) ** 2
    else:
        acc = float(argmax(values) == gold)
        p_correct = probs[gold]
        brier = sum((p - (1.0 if i == gold else 0.0)) ** 2 for i, p in enumerate(probs))
    chars = [max(1, len(t)) for t in texts]
    nbytes = [max(1, len(t.encode("utf-8"))) for t in texts]
    return {
        "acc": acc,
        "acc_norm": float(argmax([v / c for v, c in zip(values, chars)]) == gold) if len(values) > 1 else acc,
        "acc_bytes": float(argmax([v / b for v, b in zip(values, nbytes)]) == gold) if len(values) > 1 else acc,
        "p_correct": p_correct,
        "logprob_correct": values[gold],
        "brier": brier,
    }


def document_metrics(logprob: Logprob, text: str) -> dict[str, float]:
    return {
        "logprob": logprob.logprob,
        "tokens": float(logprob.tokens),
        "bytes": float(len(text.encode("utf-8"))),
        "words": float(max(1, len(text.split()))),
    }
