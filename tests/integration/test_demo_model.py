"""The demo LM: built offline into a cache, served by HFEngine, answers in the prompt's script.

The build (about 4 minutes of one core) happens once per session, into ``$SDRRL_CACHE`` when the
runner sets it, else into a temporary folder.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from sdrrl_ray.demo import build, measure, train
from sdrrl_ray.demo.build import demo_model_path
from sdrrl_ray.engines.base import EngineOptions, SamplingSettings
from sdrrl_ray.languages import script_share
from sdrrl_ray.prompts import render_prompt

pytestmark = pytest.mark.timeout(600)

SCRIPTS = {"en": "Latn", "ja": "Jpan", "th": "Thai"}
MIN_RATE = 0.7  # the build measured 0.93 / 0.82 / 0.96 (en / ja / th) on these prompts


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> str:
    return os.environ.get("SDRRL_CACHE") or str(tmp_path_factory.mktemp("sdrrl-cache"))


@pytest.fixture(scope="session")
def demo_path(demo_cache) -> str:
    return demo_model_path(demo_cache)


@pytest.fixture(scope="session")
def engine(demo_path):
    from sdrrl_ray.engines.hf import HFEngine

    return HFEngine(demo_path, EngineOptions(num_threads=1))


def test_folder_is_a_safetensors_model_with_chat_template(demo_path, demo_cache):
    assert os.path.dirname(demo_path) == os.path.abspath(demo_cache)
    assert os.path.basename(demo_path) == build.MODEL_PREFIX + build.build_key(build.Hyperparameters())
    files = set(os.listdir(demo_path))
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
            "chat_template.jinja", build.REPORT_FILE} <= files
    assert not any(f.endswith((".bin", ".pt", ".pth")) for f in files)
    leftovers = [f for f in os.listdir(demo_cache) if f.startswith("." + os.path.basename(demo_path))]
    assert not leftovers, "temporary build folder left behind"


def test_loads_with_auto_classes_and_stops_at_end_of_turn(demo_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(demo_path)
    model = AutoModelForCausalLM.from_pretrained(demo_path, use_safetensors=True)
    end = tok.convert_tokens_to_ids("<|end|>")
    assert tok.chat_template and tok.eos_token == "<|end|>"
    assert model.generation_config.eos_token_id == end == model.config.eos_token_id
    assert model.config.head_dim >= 32 and model.config.hidden_size // model.config.num_attention_heads >= 32
    prompt = render_prompt(tok, "What color is the sky?")
    assert prompt == "<|bos|><|user|>What color is the sky?<|end|><|assistant|>"
    for special in ("<|user|>", "<|assistant|>", "<|end|>", "<|pad|>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1


def test_answers_are_in_the_prompts_script(engine):
    prompts = measure.eval_prompts()
    for lang, questions in prompts.items():
        assert len(questions) >= 20
        results = engine.generate([render_prompt(engine.tokenizer, q) for q in questions],
                                  SamplingSettings(max_new_tokens=32))
        rate = sum(script_share(r.text, SCRIPTS[lang]) >= 0.5 for r in results) / len(results)
        assert rate >= MIN_RATE, (lang, rate, [r.text for r in results])
        assert sum(r.finish_reason == "stop" for r in results) >= len(results) // 2, "answers should end"


def test_training_answers_are_approached(engine):
    """The build is short (a few minutes of one core): the model fits its training answers only
    roughly (token F1 measured 0.35 / 0.63 / 0.54 for en / ja / th; characters for ja and th)."""
    from sdrrl_ray.evaluation.metrics.mkqa import token_f1

    examples = train.qa_examples(exclude=measure.HELD_OUT)
    for lang in SCRIPTS:
        sample = [ex for ex in examples if ex.lang == lang][:30]
        results = engine.generate([render_prompt(engine.tokenizer, ex.question) for ex in sample],
                                  SamplingSettings(max_new_tokens=48))
        f1 = sum(token_f1(r.text, ex.answer, lang) for r, ex in zip(results, sample)) / len(sample)
        assert f1 >= 0.2, (lang, f1)


def test_report_records_the_build(demo_path):
    report = build.build_report(demo_path)
    assert report["builder_version"] == build.BUILDER_VERSION
    assert set(report["script_correct"]) == {"en", "ja", "th"}
    assert all(r["rate"] >= MIN_RATE for r in report["script_correct"].values())
    examples = report["examples"]
    assert examples["ja"] > 100 and examples["th"] > 100  # enough to know the scripts and words
    assert examples["en"] >= 4 * (examples["ja"] + examples["th"])  # an English-centric base model
    json.dumps(report)  # plain JSON


def test_second_call_reuses_the_cache(demo_path, demo_cache):
    weights = os.path.join(demo_path, "model.safetensors")
    before = os.stat(weights).st_mtime_ns
    start = time.perf_counter()
    again = demo_model_path(demo_cache)
    assert again == demo_path
    assert time.perf_counter() - start < 5.0
    assert os.stat(weights).st_mtime_ns == before
