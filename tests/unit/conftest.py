"""The unit tier: no Ray and no demo-model build (``make test-fast``, under 2 minutes on 2 cores).

``tiny_lm`` is a random-init Llama with the demo's tokenizer (trained in a second with
``tokenizers``), the same architecture as the demo LM but untrained: for tests that need a real
tokenizer and a real model, not the demo model's outputs. Starting Ray or building a demo model
fails the test that tries.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    import torch

    from sdrrl_ray.demo.build import tokenizer_texts
    from sdrrl_ray.demo.hparams import Hyperparameters
    from sdrrl_ray.demo.tokenizer import train_tokenizer
    from sdrrl_ray.demo.train import make_model

    hp = Hyperparameters()
    folder = tmp_path_factory.mktemp("tiny_lm")
    torch.manual_seed(0)
    tokenizer = train_tokenizer(tokenizer_texts(), hp.vocab_size)
    make_model(tokenizer, hp).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def demo_model():
    raise pytest.UsageError("unit tests build no demo model: use the tiny_lm fixture, or move the test to tests/integration")


@pytest.fixture(autouse=True)
def _no_ray_and_no_demo_build(monkeypatch):
    def refuse(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"a unit test called {what}: start Ray and build demo models in tests/integration only")
        return fail

    import ray

    monkeypatch.setattr(ray, "init", refuse("ray.init"))
    for module in ("sdrrl_ray.demo.build", "sdrrl_ray.demo.mt"):  # every demo model is built or found through it
        monkeypatch.setattr(f"{module}.cached_folder", refuse(f"a demo model ({module})"))
