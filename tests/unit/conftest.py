"""The unit tier: no Ray and no demo-model build (``make test-fast``, under 2 minutes on 2 cores).

Tests that need a real tokenizer and model use ``tiny_lm`` (tests/conftest.py). Starting Ray or
building a demo model fails the test that tries.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_model():
    raise pytest.UsageError("unit tests build no demo model: use the tiny_lm fixture, "
                            "or move the test to tests/integration")


@pytest.fixture(autouse=True)
def _no_ray_and_no_demo_build(monkeypatch):
    def refuse(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"a unit test called {what}: "
                                 "start Ray and build demo models in tests/integration only")
        return fail

    import ray

    monkeypatch.setattr(ray, "init", refuse("ray.init"))
    # every demo model (LM, MT, COMET checkpoints) is built or found through cached_folder
    for module in ("sdrrl_ray.demo.build", "sdrrl_ray.demo.mt", "sdrrl_ray.demo.comet_checkpoints"):
        monkeypatch.setattr(f"{module}.cached_folder", refuse(f"a demo model ({module})"))
