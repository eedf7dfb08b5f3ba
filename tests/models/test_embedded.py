"""The real embedded models (SmolLM2-135M chat, Gemma 3 270M base), a handful
of items with short outputs."""

import asyncio

import pytest

from assay.errors import ModelError
from assay.models.base import GenParams
from assay.models.registry import get_model
from assay.run.runner import run_eval
from assay.tasks.arithmetic import arithmetic_task

pytestmark = pytest.mark.slow


def test_unknown_model_and_missing_gguf_are_clear():
    with pytest.raises(ModelError, match="unknown model 'gpt5'.*smollm2.*gguf:PATH"):
        get_model("gpt5")
    with pytest.raises(ModelError, match="GGUF file does not exist: /no/such.gguf"):
        get_model("gguf:/no/such.gguf")


def test_embedded_models_declare_their_kind():
    smol, gemma = get_model("smollm2"), get_model("gemma3-270m")
    assert smol.chat is True and gemma.chat is False
    assert smol.family != gemma.family
    # gguf:PATH reads chat-or-base from the file's metadata
    assert get_model(f"gguf:{smol.path}").chat is True
    assert get_model(f"gguf:{gemma.path}").chat is False


def test_both_models_run_deterministically_and_cache(tmp_path):
    task = arithmetic_task({"digits": "1", "n": "3"})
    models = [get_model("smollm2"), get_model("gemma3-270m")]
    first = run_eval(task, models, max_tokens=12, out=tmp_path / "a", progress=False, use_cache=False)
    for name in ("smollm2", "gemma3-270m"):
        s = first.models[name]
        assert s.n_items == 3 and s.model_calls == 3 and s.errors == 0 and s.tokens > 0
        assert 0.0 <= s.score <= 1.0 and s.ci_low <= s.score <= s.ci_high
    again = run_eval(
        task, [get_model("smollm2"), get_model("gemma3-270m")], max_tokens=12, out=tmp_path / "a", progress=False
    )
    assert all(s.model_calls == 0 and s.cache_hits == 3 for s in again.models.values())
    # greedy decoding is deterministic: a fresh directory gives the same outputs
    fresh = run_eval(
        task,
        [get_model("smollm2"), get_model("gemma3-270m")],
        max_tokens=12,
        out=tmp_path / "b",
        progress=False,
        use_cache=False,
    )
    assert {n: s.score for n, s in fresh.models.items()} == {n: s.score for n, s in first.models.items()}


def test_base_model_continues_text_and_chat_model_answers():
    gemma = get_model("gemma3-270m")
    sample = asyncio.run(gemma.generate("The capital of France is", GenParams(0.0, 8, 0), 0))
    assert sample.error is None and sample.text.strip() and sample.tokens_out > 0
    smol = get_model("smollm2")
    sample = asyncio.run(smol.generate([{"role": "user", "content": "Say hello."}], GenParams(0.0, 8, 0), 0))
    assert sample.error is None and sample.text.strip()


def test_json_schema_constrains_output():
    import json

    schema = {"type": "object", "properties": {"rating": {"type": "integer"}}, "required": ["rating"]}
    smol = get_model("smollm2")
    sample = asyncio.run(
        smol.generate(
            [{"role": "user", "content": "Rate the sky from 1 to 10."}], GenParams(0.0, 24, 0, json_schema=schema), 0
        )
    )
    assert isinstance(json.loads(sample.text)["rating"], int)


def test_an_answer_does_not_depend_on_the_requests_before_it():
    # Base-model few-shot prompts share long prefixes, which llama.cpp would reuse.
    gemma = get_model("gemma3-270m")
    task = arithmetic_task({"digits": "3", "ops": "2", "n": "6"})
    params = GenParams(temperature=0.0, max_tokens=10, seed=0, stop=task.stop_for(False))
    prompts = [task.render(item, False) for item in task.items]

    async def answers(order):
        return {i: (await gemma.generate(prompts[i], params, 0)).text for i in order}

    forward = asyncio.run(answers(range(6)))
    backward = asyncio.run(answers(reversed(range(6))))
    assert forward == backward


def test_a_prompt_beyond_the_context_window_says_how_to_fix_it(tmp_path):
    (tmp_path / "long.jsonl").write_text('{"question": "' + "one two three " * 220 + '", "answer": "x"}\n')
    from assay.api import run

    small = run(
        str(tmp_path / "long.jsonl"),
        ["smollm2"],
        max_tokens=4,
        out=tmp_path / "a",
        progress=False,
        use_cache=False,
        n_ctx=256,
    )
    assert small.models["smollm2"].errors == 1
    from assay.run.store import samples_frame

    error = samples_frame(tmp_path / "a")["error"].iloc[0]
    assert "context window" in error and "--n-ctx (now 256)" in error
    large = run(
        str(tmp_path / "long.jsonl"),
        ["smollm2"],
        max_tokens=4,
        out=tmp_path / "a",
        progress=False,
        use_cache=False,
        n_ctx=2048,
    )
    assert large.models["smollm2"].errors == 0 and large.models["smollm2"].model_calls == 1
