"""What needs a CUDA GPU: the engines place the model there and decode in bf16. Not collected by
``make test`` (CI has no GPU); run by path on a GPU machine: ``python -m pytest tests/gpu -q``.
Without a GPU these tests fail: they never skip."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gpu


def test_hf_engine_runs_on_the_gpu_in_bf16(tiny_lm):
    import torch

    from sdrrl_ray.engines.base import SamplingSettings
    from sdrrl_ray.engines.hf import HFEngine

    assert torch.cuda.is_available(), "tests/gpu needs a CUDA GPU"
    engine = HFEngine(tiny_lm)
    assert engine.device.type == "cuda" and next(engine.model.parameters()).dtype == torch.bfloat16
    prompts = ["Question: Name a colour.\nAnswer:", "Question: Count to three.\nAnswer:"]
    greedy = engine.generate(prompts, SamplingSettings(max_new_tokens=8))
    assert [r.n_output_tokens <= 8 for r in greedy] == [True, True]
    assert engine.generate(prompts, SamplingSettings(max_new_tokens=8)) == greedy  # greedy is deterministic
    sampling = SamplingSettings(max_new_tokens=8, temperature=1.0)
    sampled = engine.generate(prompts, sampling, seeds=[1, 2])
    assert engine.generate(prompts, sampling, seeds=[1, 2]) == sampled  # per-row seeds: reproducible
