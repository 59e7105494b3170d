"""Generator.__call__ on dict batches, with a fake engine (no model, no Ray)."""

import numpy as np
import pytest

import sdrrl_ray.stages.generate as generate
from sdrrl_ray.engines.base import GenerationResult


class FakeTokenizer:
    chat_template = None
    eos_token = "</s>"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


class FakeEngine:
    """Answers "answer to <question>"; counts calls so cache hits can be checked."""

    name = "fake"

    def __init__(self, *a, **k):
        self.tokenizer = FakeTokenizer()
        self.calls = 0

    def generate(self, prompts, sampling, seeds=None):
        self.calls += 1
        out = []
        for p in prompts:
            q = p.split("Question: ", 1)[1].split("\nAnswer:", 1)[0]
            text = "" if "silent" in q else f"answer to {q}"
            out.append(GenerationResult(text, len(p.split()), len(text.split()), "stop"))
        return out


@pytest.fixture
def make_generator(monkeypatch, tmp_path):
    monkeypatch.setattr(generate, "build_engine", FakeEngine)

    def make(**kw):
        args = dict(engine="fake", model_path="x", sampling={"max_new_tokens": 8}, seed=0,
                    cache_url=str(tmp_path / "cache"))
        args.update(kw)
        return generate.Generator(**args)

    return make


def batch(questions, sources, status=None):
    n = len(questions)
    return {
        "item_id": np.array([f"i{k}" for k in range(n)], dtype=object),
        "question": np.array(questions, dtype=object),
        "gold_answer": np.array([f"gold {k}" for k in range(n)], dtype=object),
        "status": np.array(status or ["ok"] * n, dtype=object),
        "stage": np.full(n, None, dtype=object),
        "reason": np.full(n, None, dtype=object),
        "detail": np.full(n, None, dtype=object),
        "answer_source": np.array(sources, dtype=object),
        "needs_generation": np.array([s == "self" for s in sources]),
        "extra": np.arange(n),
    }


def test_generates_only_what_is_needed_and_keeps_other_columns(make_generator):
    gen = make_generator()
    out = gen(batch(["q0", "q1", "q2"], ["self", "gold", "self"])).to_pylist()
    assert [r["answer"] for r in out] == ["answer to q0", "gold 1", "answer to q2"]
    assert [r["generated_answer"] for r in out] == ["answer to q0", None, "answer to q2"]
    assert [r["extra"] for r in out] == [0, 1, 2]
    assert gen.engine.calls == 1


def test_cache_is_reused_by_a_new_actor(make_generator):
    make_generator()(batch(["q0", "q1"], ["self", "self"]))
    again = make_generator()
    out = again(batch(["q0", "q1"], ["self", "self"])).to_pylist()
    assert again.engine.calls == 0 and all(r["gen_cached"] for r in out)
    changed = again(batch(["q0 changed", "q1"], ["self", "self"])).to_pylist()
    assert again.engine.calls == 1  # same id, new question text: not reused
    assert changed[0]["answer"] == "answer to q0 changed" and changed[1]["gen_cached"]


def test_rejects_empty_generation_and_long_prompts(make_generator):
    gen = make_generator(max_prompt_tokens=5)
    long_q = "word " * 20
    out = gen(batch(["silent please", long_q, "ok"], ["self", "self", "self"])).to_pylist()
    assert [(r["status"], r["reason"]) for r in out] == [
        ("rejected", "empty_generation"),
        ("rejected", "prompt_too_long"),
        ("ok", None),
    ]
    assert all(r["stage"] == "generate" for r in out[:2])


def test_rejected_input_rows_pass_through(make_generator):
    gen = make_generator()
    b = batch(["q0", "q1"], ["self", "self"], status=["rejected", "ok"])
    b["reason"][0] = "invalid_json"
    out = gen(b).to_pylist()
    assert out[0]["reason"] == "invalid_json" and out[0]["generated_answer"] is None
    assert gen.engine.calls == 1


def test_missing_columns_name_the_stage(make_generator):
    gen = make_generator()
    with pytest.raises(ValueError, match="stage generate needs columns.*answer_source"):
        gen({"item_id": np.array(["a"], dtype=object), "question": np.array(["q"], dtype=object)})
