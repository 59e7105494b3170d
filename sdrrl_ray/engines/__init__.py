"""Generation engines behind one small interface (:class:`~sdrrl_ray.engines.base.Engine`).

``hf`` (transformers ``generate``) and ``vllm`` (``vllm.LLM``) are imported only when built, inside
the actor that uses them, so importing :mod:`sdrrl_ray` never loads vllm.
"""

from sdrrl_ray.engines.base import Engine, GenerationResult, SamplingSettings, build_engine

__all__ = ["Engine", "GenerationResult", "SamplingSettings", "build_engine"]
