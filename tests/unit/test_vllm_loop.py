"""The vLLM engine loop builds its engine on its own thread (every torch op on one OpenMP team) and raises a
failed build where it was asked for. The engine here is a fake that records its thread; the real engine's
answers through the loop are checked against ``LLM.generate`` in tests/integration/test_vllm_engine.py."""

from __future__ import annotations

import threading

import pytest

from sdrrl_ray.engines.vllm_loop import EngineLoop


class FakeLLM:
    """Stands in for ``vllm.LLM``: remembers the thread that built it."""

    def __init__(self):
        self.built_on = threading.current_thread()
        self.llm_engine = object()


def test_the_engine_is_built_on_the_loop_thread():
    loop = EngineLoop(FakeLLM)
    assert loop.llm.built_on is loop.thread is not threading.current_thread()
    assert loop.engine is loop.llm.llm_engine


def test_an_engine_that_fails_to_build_raises_in_the_constructor():
    def broken():
        raise ValueError("no model in /nowhere")

    with pytest.raises(ValueError, match="no model in /nowhere"):
        EngineLoop(broken)
