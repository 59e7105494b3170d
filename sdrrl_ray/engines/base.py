"""Engine interface shared by the generation stage, prompted translation and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol


@dataclass(frozen=True)
class SamplingSettings:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def key(self) -> dict:
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
        }


@dataclass(frozen=True)
class GenerationResult:
    text: str
    n_prompt_tokens: int
    n_output_tokens: int
    finish_reason: str  # "stop" (end of sequence) or "length" (max_new_tokens reached)


class Engine(Protocol):
    name: str
    tokenizer: Any  # a transformers tokenizer (chat template, token counts)

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: Optional[list[int]] = None
    ) -> list[GenerationResult]:
        """Complete each rendered prompt. ``seeds`` (one per prompt) make sampling reproducible."""
        ...


def build_engine(engine: str, model_path: str, **kwargs: Any) -> Engine:
    """Load ``engine`` ("hf" or "vllm") on ``model_path``; heavy imports happen here.

    Called inside the actor: a model given as an object-storage URL (s3://, gs://, ...) is copied to
    this node's local disk once (shared by the node's actors) and loaded from there.
    """
    from sdrrl_ray.cluster import local_model_path

    model_path = local_model_path(model_path)
    if engine == "hf":
        from sdrrl_ray.engines.hf import HFEngine

        return HFEngine(model_path, **kwargs)
    if engine == "vllm":
        from sdrrl_ray.engines.vllm import VLLMEngine

        return VLLMEngine(model_path, **kwargs)
    raise ValueError(f"unknown engine {engine!r}; use 'hf' or 'vllm'")
