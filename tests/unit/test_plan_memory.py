"""The GPU-memory formulas of cluster/README.md's table: their arithmetic, and the training formula
against the measured 1.1B H100 run (benchmarks/results/train_gpu.json)."""

from __future__ import annotations

import json
import os

import pytest

from sdrrl_ray.planner.memory import GIB, SHAPES, ct2, measured_check, shape_from_config, table, vllm, zero3
from sdrrl_ray.planner.rates import REPO_RESULTS

TRAIN_RESULT = os.path.join(REPO_RESULTS, "train_gpu.json")


def test_the_7b_numbers_follow_the_formulas():
    g = SHAPES["llama-2-7b"]
    v = vllm(g)
    assert v["kv_per_token_mib"] == pytest.approx(0.5)  # 2 x 32 layers x 4096 x 2 bytes
    assert v["weights"] == pytest.approx(2 * 6.738e9 / GIB)
    assert v["concurrent"] == int((0.9 * 80 - v["weights"] - 3) // 0.75)
    z = zero3(g, gpus=8)
    assert z["states"] == pytest.approx(16 * 6.738e9 / 8 / GIB)
    assert zero3(g, checkpointing=False)["activations"] > 10 * z["activations"]
    assert ct2(SHAPES["nllb-3.3b"], "int8")["weights"] == pytest.approx(ct2(SHAPES["nllb-3.3b"])["weights"] / 2)


def test_a_shape_reads_a_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(dict(
        hidden_size=896, num_attention_heads=14, num_key_value_heads=2, num_hidden_layers=24,
        intermediate_size=4864, vocab_size=151936)))
    s = shape_from_config(str(tmp_path), "q", params=0.494e9)
    assert (s.kv_hidden, s.layers, s.vocab) == (128, 24, 151936)
    assert vllm(s)["kv_per_token_mib"] == pytest.approx(vllm(SHAPES["qwen2.5-0.5b"])["kv_per_token_mib"])


@pytest.mark.skipif(not os.path.isfile(TRAIN_RESULT), reason="no committed GPU training result")
def test_the_training_formula_is_within_ten_percent_of_the_measured_peak():
    check = measured_check(TRAIN_RESULT)
    assert check is not None and 0.9 <= 1 / check["ratio"] <= 1.1
    assert any(line.startswith("| check: measured") for line in table(TRAIN_RESULT))
