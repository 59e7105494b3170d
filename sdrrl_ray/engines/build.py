"""Build a generation engine by name; heavy imports (torch, transformers, vllm) happen here only."""

from __future__ import annotations

from sdrrl_ray.engines.base import Engine, EngineOptions


def build_engine(engine: str, model_path: str, options: EngineOptions = EngineOptions()) -> Engine:
    """Load ``engine`` ("hf" or "vllm") on ``model_path``; heavy imports happen here.

    Called inside the actor: a model given as an object-storage URL (s3://, gs://, ...) is copied to
    this node's local disk once (shared by the node's actors) and loaded from there.
    """
    from sdrrl_ray.storage import local_model_path

    if engine not in ("hf", "vllm"):
        raise ValueError(f"unknown engine {engine!r}; use 'hf' or 'vllm'")
    model_path = local_model_path(model_path)
    if engine == "hf":
        from sdrrl_ray.engines.hf import HFEngine

        return HFEngine(model_path, options)
    from sdrrl_ray.engines.vllm import VLLMEngine

    return VLLMEngine(model_path, options)
