"""`sdrrl plan`: token ratios with the real (demo) tokenizer, the arithmetic of the estimate, rates from
result files or named defaults, node types and prices. No Ray here (limit=N is an integration test)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from sdrrl_ray.app.cli import main
from sdrrl_ray.config import load_config
from sdrrl_ray.errors import UserError
from sdrrl_ray.planner import estimate as E
from sdrrl_ray.planner import rates as R
from sdrrl_ray.planner import tokens as T
from sdrrl_ray.planner.nodes import get_node
from tests.conftest import ROOT, write_jsonl

DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
LLAMA = os.path.join(ROOT, "jobs", "configs", "llama2-7b-ja.yaml")


@pytest.fixture(scope="module")
def tok(tiny_lm):
    return T.load_tokenizer(tiny_lm, "generate.model")


def instructions(path, n: int) -> str:
    """``n`` records with the same text and distinct ids: token totals must scale exactly with ``n``."""
    return write_jsonl(path, [{"id": f"r{i}", "instruction": "Name three colours of the rainbow.", "input": "",
                               "output": "Red, orange and yellow are three of them."} for i in range(n)])


def demo_cfg(*overrides):
    return load_config(DEMO, ["parallel.enabled=false", *overrides])


# --------------------------------------------------------------------------------------------
# tokens


def test_thai_and_khmer_cost_more_tokens_than_english_with_the_byte_level_demo_tokenizer(tok):
    th = T.token_ratio(tok, T.builtin_sample("en", "th"), "th", "built-in")
    km = T.token_ratio(tok, T.builtin_sample("en", "km"), "km", "built-in")
    assert th.src_tokens == km.src_tokens  # the same English sentences
    assert th.value > 1.0 and km.value > 1.0
    # the demo tokenizer saw Thai (one token per character) but never Khmer: byte fallback inflates it most
    assert km.value > 2.0 and km.value > th.value


def test_every_pipeline_language_has_a_builtin_sample_of_the_same_meanings():
    from sdrrl_ray import languages

    en = T.builtin_sample("en", "ja")
    for iso in languages.PAPER_TARGETS:
        pairs = T.builtin_sample("en", iso)
        assert len(pairs) == len(en) >= 8 and all(a and b for a, b in pairs), iso
    assert T.builtin_sample("fr", "km")


def test_ratio_source_is_the_config_corpus_else_the_demo_data_else_the_builtin_sample(tmp_path):
    pairs, where = T.parallel_sample(load_config(DEMO), "th")
    assert where.startswith("config corpus") and len(pairs) > 100
    cfg = load_config(DEMO, ["parallel.paths.th="])
    assert T.parallel_sample(cfg, "th")[1].startswith("demo data")
    cfg = load_config(DEMO, ["languages.targets=[th,km]", f"parallel.paths.km={tmp_path}/missing.tsv"])
    pairs, where = T.parallel_sample(cfg, "km")
    assert where.startswith("built-in sample") and "missing" in where


def test_params_from_safetensors_headers_and_from_a_model_name(tiny_lm):
    n, how = T.count_params(tiny_lm, "demo")
    assert 5e5 < n < 5e6 and "safetensors" in how
    assert T.params_from_name("/models/Llama-2-7b-hf") == 7e9
    assert T.params_from_name("nllb-200-distilled-600M") == 6e8
    assert T.params_from_name("Qwen2.5-0.5B-Instruct") == 5e8
    assert T.params_from_name("demo") is None


def test_codeswitching_with_a_real_dictionary_changes_tokens_and_p0_changes_nothing(tok):
    from sdrrl_ray.codeswitch.lexicon import load_lexicons
    from sdrrl_ray.demo import assets

    lex = load_lexicons(os.path.dirname(assets.dictionary_path("en", "th")), "en", ["th"])[("en", "th")]
    qs = [r["instruction"] for r in assets.read_instructions()[:300]]
    ids = [str(i) for i in range(len(qs))]
    on = T.codeswitch_effect(tok, qs, lex, lang="en", p=1.0, seed=0, ids=ids)
    off = T.codeswitch_effect(tok, qs, lex, lang="en", p=0.0, seed=0, ids=ids)
    assert on.switched_per_question > 0.5 and on.factor != 1.0 and on.dictionary == "en-th.txt"
    assert off.factor == 1.0 and off.switched_per_question == 0
    assert T.codeswitch_effect(tok, qs, None, lang="en", p=1.0, seed=0, ids=ids).dictionary == "none"


# --------------------------------------------------------------------------------------------
# arithmetic


def test_variant_tokens_apply_the_ratio_to_the_translated_side_and_cut_at_max_length():
    v = E.variant_tokens(np.array([10, 100]), np.array([20, 200]), ratio=2.0, overhead=5, max_length=300)
    assert v["LL"].tolist() == [35, 300] and v["TL"].tolist() == [45, 300]
    assert v["LT"].tolist() == [55, 300] and v["TT"].tolist() == [65, 300]


def test_padding_factor():
    assert E.padding_factor([[5, 5], [5, 5]], micro_batch=2) == 1.0
    assert E.padding_factor([[1], [9]], micro_batch=2) == pytest.approx(1.8)
    assert E.padding_factor([[1], [9]], micro_batch=1) == 1.0


def test_missing_result_files_fall_back_to_named_defaults(tmp_path):
    node = get_node("p5.48xlarge", uses_gpu=True)
    assert R.load_results(str(tmp_path)) == []
    gen = R.generation_rate([], node, "vllm", 7e9)
    train = R.training_rate([], node, 7e9, 3)
    mt = R.translation_rate([], node, "ct2", 3.3e9, 4)
    assert all(r.source.startswith("default") for r in (gen, train, mt))
    assert train.tokens_per_s == pytest.approx(0.40 * 989e12 / (6 * 7e9))
    assert "DESIGN.md" in train.source


def test_committed_cpu_results_are_used_for_a_cpu_node_and_never_for_a_gpu_node():
    results = R.load_results(R.REPO_RESULTS)  # the committed benchmark results
    assert any(os.path.basename(p) == "generate_hf.json" for p, _ in results)
    cpu = get_node("m7i.large", uses_gpu=False)
    gen = R.generation_rate(results, cpu, "hf", 918144)
    assert gen.source.endswith("generate_hf.json") and gen.tokens_per_s > 0
    gpu = R.generation_rate(results, get_node("p5.48xlarge", uses_gpu=True), "hf", 918144)
    assert not gpu.source.endswith("generate_hf.json")  # a CPU measurement never serves a GPU node


def test_a_gpu_rate_is_never_scaled_up_for_a_smaller_model(tmp_path):
    (tmp_path / "generate_gpu.json").write_text(json.dumps(
        {"benchmark": "generate", "engine": "hf", "model": {"params": 1e9}, "device": "NVIDIA H100 80GB HBM3",
         "results": [{"side": "direct", "tokens_per_s": 99999.0}, {"side": "pipeline", "tokens_per_s": 7000.0}]}))
    results = R.load_results(str(tmp_path))
    h100 = get_node("p5.48xlarge", uses_gpu=True)
    assert R.generation_rate(results, h100, "hf", 1e6).tokens_per_s == 7000.0  # the pipeline row, not scaled up
    assert R.generation_rate(results, h100, "hf", 7e9).tokens_per_s == pytest.approx(1000.0)


def test_gpu_results_are_scaled_by_model_size_and_peak(tmp_path):
    (tmp_path / "generate_gpu.json").write_text(json.dumps(
        {"benchmark": "generate", "engine": "vllm", "model": {"params": 1e9},
         "machine": {"cuda": "NVIDIA H100 80GB HBM3"}, "results": [{"side": "pipeline", "tokens_per_s": 10000.0}]}))
    (tmp_path / "train_gpu.json").write_text(json.dumps(
        {"machine": {}, "result": {"device": "NVIDIA H100 80GB HBM3", "params": 1.1e9, "mfu": 0.5}}))
    results = R.load_results(str(tmp_path))
    a100 = get_node("p4d.24xlarge", uses_gpu=True)
    gen = R.generation_rate(results, a100, "vllm", 2e9)
    assert gen.tokens_per_s == pytest.approx(10000 * 0.5 * 312 / 989)
    assert gen.source.endswith("generate_gpu.json") and "model size" in gen.detail and "peak" in gen.detail
    train = R.training_rate(results, a100, 7e9, 3)
    assert train.tokens_per_s == pytest.approx(0.5 * 312e12 / (6 * 7e9))
    assert R.generation_rate(results, a100, "hf", 2e9).source.startswith("default")  # other engine


def test_translate_results_pick_the_backend_and_precision_of_the_node(tmp_path):
    (tmp_path / "translate.json").write_text(json.dumps(
        {"benchmark": "translate", "model": {"kind": "marian-base-random", "parameters": 6.1e7}, "beam": 4,
         "out_len": 32, "machine": {"cpu": "x86", "cpus": 2, "cuda": False},
         "results": [{"backend": "hf", "precision": "float32", "segments_per_s": 10.0, "out_tokens_per_segment": 32.0},
                     {"backend": "ct2", "precision": "float32", "segments_per_s": 17.0, "out_tokens_per_segment": 32.0},
                     {"backend": "ct2", "precision": "int8", "segments_per_s": 25.0, "out_tokens_per_segment": 32.0}]}))
    results = R.load_results(str(tmp_path))
    cpu = get_node("m7i.large", uses_gpu=False)
    rate = R.translation_rate(results, cpu, "ct2", 6.1e7, 4)
    assert rate.tokens_per_s == pytest.approx(25.0 * 32) and "int8" in rate.detail
    assert R.translation_rate(results, cpu, "ct2", 1.22e8, 4).tokens_per_s == pytest.approx(25.0 * 32 / 2)
    assert R.translation_rate(results, cpu, "hf", 6.1e7, 4).tokens_per_s == pytest.approx(10.0 * 32)
    assert R.translation_rate(results, get_node("p5.48xlarge", uses_gpu=True), "ct2", 3.3e9, 4).source.startswith(
        "default")


def test_bad_node_type_is_a_clear_user_error():
    with pytest.raises(UserError, match=r"node_type='p9.huge' is not a known node type \(known: .*p5\.48xlarge"):
        get_node("p9.huge", uses_gpu=True)


def test_cli_bad_node_type_exits_2_with_one_line(capsys):
    assert main(["plan", DEMO, "--node_type=p9.huge"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sdrrl: error: node_type='p9.huge' is not a known node type")


def test_cli_bad_limit_and_price_exit_2(capsys):
    assert main(["plan", DEMO, "limit=abc"]) == 2
    assert "limit='abc' is not a number" in capsys.readouterr().err
    assert main(["plan", DEMO, "limit=0"]) == 2
    assert main(["plan", DEMO, "price_per_hour=-3"]) == 2


