"""Log-likelihoods of the real embedded models against an independent reference
(a full evaluation of every sequence, no prefix reuse, numpy's log-softmax over
all the logits), and the server path against the in-process one."""

import asyncio

import numpy as np
import pytest

from assay.errors import ModelError
from assay.models.llama_cpp import common_prefix
from assay.models.registry import gemma3_path, get_model, smollm2_path
from assay.run.runner import run_eval
from assay.tasks.catalog import SAMPLES
from assay.tasks.likelihood import choice_metrics
from assay.tasks.registry import get_task

from ..servers import llama_server

pytestmark = pytest.mark.slow


class Reference:
    """Every token's log-probability from one full evaluation with logits for all positions."""

    def __init__(self, path, n_ctx=512):
        from llama_cpp import Llama

        self.llama = Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, seed=0)

    def token_logprobs(self, tokens):
        self.llama.reset()
        self.llama.eval(tokens[:-1])
        logits = np.array(self.llama.scores[: len(tokens) - 1], dtype=np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        logsoftmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return [float(logsoftmax[j - 1, tokens[j]]) for j in range(1, len(tokens))]

    def continuation(self, context, continuation):
        encode = lambda text: self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)  # noqa: E731
        context_tokens, whole = encode(context), encode(context + continuation)
        start = max(1, min(common_prefix(context_tokens, whole), len(whole) - 1))
        return sum(self.token_logprobs(whole)[start - 1 :])

    def document(self, text):
        tokens = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        bos = self.llama.token_bos()
        return sum(self.token_logprobs([bos if bos >= 0 else self.llama.token_eos()] + tokens)), len(tokens)


def items_of(names):
    for name in names:
        task = get_task(name, data="sample")
        for item in task.items:
            yield name, item, task.choice_prompt(item)


def check_against_reference(model, reference, names):
    checked = 0
    for name, item, prompt in items_of(names):
        contexts = list(dict.fromkeys(prompt.contexts))
        got = []
        for context in contexts:
            continuations = [c for ctx, c in zip(prompt.contexts, prompt.continuations) if ctx == context]
            sample = asyncio.run(model.loglikelihood(context, continuations))
            assert sample.error is None, (name, sample.error)
            got += [lp.logprob for lp in sample.logprobs]
        want = [reference.continuation(ctx, c) for ctx, c in zip(prompt.contexts, prompt.continuations)]
        assert np.allclose(got, want, atol=1e-3, rtol=0), (name, item.id, got, want)
        # acc and acc_norm follow exactly from the log-probabilities.
        from assay.records import Logprob

        ours = choice_metrics([Logprob(v, 1) for v in got], prompt.choice_texts, item.meta["gold"])
        theirs = choice_metrics([Logprob(v, 1) for v in want], prompt.choice_texts, item.meta["gold"])
        if len(got) > 1:
            assert ours["acc"] == theirs["acc"] and ours["acc_norm"] == theirs["acc_norm"]
        checked += len(got)
    return checked


def test_choices_of_smollm2_equal_a_full_reevaluation():
    model = get_model("smollm2")
    reference = Reference(smollm2_path())
    # Lettered choices, long endings, partial scoring and a single continuation: a few dozen items.
    names = ["mmlu", "arc_easy", "hellaswag", "winogrande", "lambada"]
    assert check_against_reference(model, reference, names) >= 60


def test_choices_of_gemma_equal_a_full_reevaluation():
    # Gemma's 262k vocabulary: a smaller set of items keeps the reference quick.
    model = get_model("gemma3-270m")
    reference = Reference(gemma3_path())
    assert check_against_reference(model, reference, ["arc_easy", "winogrande", "piqa"]) >= 20


def test_bits_per_byte_and_long_documents():
    corpus = SAMPLES / "corpus.txt"
    model = get_model("smollm2")
    reference = Reference(smollm2_path())
    total, nbytes = 0.0, 0
    for line in corpus.read_text(encoding="utf-8").splitlines():
        sample = asyncio.run(model.loglikelihood_rolling(line, 0))
        want, n_tokens = reference.document(line)
        assert sample.logprobs[0].tokens == n_tokens
        assert sample.logprobs[0].logprob == pytest.approx(want, abs=1e-3)
        total += want
        nbytes += len(line.encode("utf-8"))
    result = run_eval(get_task(str(corpus), mode="perplexity"), [model], out=None, progress=False)
    bpb = result.models["smollm2"].metrics["bits_per_byte"]
    assert bpb["value"] == pytest.approx(-total / nbytes / np.log(2), rel=1e-6)
    assert bpb["ci_low"] < bpb["value"] < bpb["ci_high"]


def test_a_document_longer_than_the_window_is_scored_completely(shared_data):
    import json

    questions = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:12]
    long_text = " ".join(json.loads(line)["question"] for line in questions)
    small = get_model("smollm2", n_ctx=256)
    scoring_tokens = len(Reference(smollm2_path()).llama.tokenize(long_text.encode(), add_bos=False))
    assert scoring_tokens > 2 * 256
    by_stride = {s: asyncio.run(small.loglikelihood_rolling(long_text, s)).logprobs[0] for s in (0, 128, 64)}
    # Every token scored exactly once whatever the stride.
    assert {lp.tokens for lp in by_stride.values()} == {scoring_tokens}
    # Overlapping windows (each token sees at least half a window): the two strides agree within 1%.
    assert abs(by_stride[128].logprob - by_stride[64].logprob) / abs(by_stride[64].logprob) < 0.01
    # Windows end to end start each window with one token of context: more context can only help on average.
    assert by_stride[128].logprob > by_stride[0].logprob


def test_context_longer_than_the_window_is_a_clear_error(tmp_path):
    small = get_model("smollm2", n_ctx=32)
    sample = asyncio.run(small.loglikelihood("word " * 40, [" end"]))
    assert sample.error and "--n-ctx" in sample.error and "more than the context window (32)" in sample.error


def test_server_agrees_with_in_process_and_misaligned_servers_are_refused(tmp_path, smollm2_server):
    import pandas as pd

    from assay.run.export import export_run

    # llama_cpp.server sorts Gemma's 262k-token vocabulary for every prompt token it echoes:
    # one item (four requests) keeps this test to a few minutes.
    task = get_task("arc_easy", data="sample")
    with llama_server(gemma3_path()) as url:
        served = get_model("openai-completion:gemma", base_urls=[url + "/v1"])
        result = run_eval(task, [served], out=tmp_path / "r", progress=False, limit=1)
        assert result.models["openai-completion:gemma"].n_items == 1
    export_run(tmp_path / "r", tmp_path / "c.csv", what="choices")
    served_lp = pd.read_csv(tmp_path / "c.csv").sort_values("choice")["logprob"].to_list()
    prompt = task.choice_prompt(task.items[0])
    local = asyncio.run(get_model("gemma3-270m").loglikelihood(prompt.contexts[0], prompt.continuations))
    local_lp = [x.logprob for x in local.logprobs]
    # The server reuses the evaluated prefix of its previous request, so its batches are laid
    # out differently and llama.cpp's kernels round differently (measured up to 0.14 nats).
    assert np.allclose(served_lp, local_lp, atol=0.25)
    margin = sorted(local_lp)[-1] - sorted(local_lp)[-2]
    if margin > 0.5:
        assert int(np.argmax(served_lp)) == int(np.argmax(local_lp))
    served = get_model("openai-completion:smollm2", base_urls=[smollm2_server()])
    with pytest.raises(ModelError, match="not those of the prompt's tokens"):
        asyncio.run(served.loglikelihood("Question: 2 + 2 =", [" 4"]))


def test_apply_chat_template_scores_after_the_assistant_cue(tmp_path):
    task = get_task("piqa", data="sample", apply_chat_template=True)
    smol = get_model("smollm2")
    result = run_eval(task, [smol], out=tmp_path / "r", progress=False)
    assert result.models["smollm2"].n_items == 4 and result.models["smollm2"].errors == 0
    plain = run_eval(get_task("piqa", data="sample"), [get_model("smollm2")], out=tmp_path / "p", progress=False)
    chat_lp = result.models["smollm2"].metrics["logprob_correct"]["value"]
    assert chat_lp != plain.models["smollm2"].metrics["logprob_correct"]["value"]
    context = smol.format_chat([{"role": "user", "content": "hi"}])
    assert context.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("name", ["smollm2", "gemma3-270m"])
def test_prefix_reuse_reproduces_full_evaluation_bit_for_bit(name):
    from assay.models.llama_cpp import ScoringContext, score_continuations, split_matches_full_evaluation

    model = get_model(name)
    scoring = ScoringContext(model._load())
    assert split_matches_full_evaluation(scoring, model.n_ctx) is True
    assert split_matches_full_evaluation(scoring, 16) is None  # the probe does not fit: no reuse, no note
    reused = 0
    for _, item, prompt in items_of(["mmlu", "arc_easy", "hellaswag", "piqa"]):
        context = prompt.contexts[0]
        context_tokens = scoring.tokenize(context)
        wholes = [scoring.tokenize(context + c) for c in prompt.continuations]
        starts = [max(1, min(common_prefix(context_tokens, w), len(w) - 1)) for w in wholes]
        full, full_tokens = score_continuations(scoring, wholes, starts, reuse_prefix=False)
        split, split_tokens = score_continuations(scoring, wholes, starts, reuse_prefix=True)
        assert split == full, (name, item.id)  # equal floats, not merely close
        reused += full_tokens - split_tokens
    assert reused > 0  # the shared contexts were in fact evaluated once


def test_a_window_too_small_for_the_probe_still_scores_items_that_fit():
    model = get_model("smollm2", n_ctx=24)
    sample = asyncio.run(model.loglikelihood("Two plus two is", [" four", " five"]))
    assert sample.error is None and len(sample.logprobs) == 2
    assert model._split_exact is False  # each choice evaluated in full
