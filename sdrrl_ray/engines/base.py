"""Engine interface shared by the generation stage, prompted translation and evaluation: the
decoding settings, the result of one generation, and one frozen options object for building an
engine (:func:`sdrrl_ray.engines.build.build_engine`)."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class EngineOptions:
    """Everything an engine is built with besides the model (a misspelt option is a TypeError here).
    Fields marked vllm are ignored by the hf engine."""

    dtype: str = "auto"  # auto: bfloat16 on GPU; float32 (hf) / bfloat16 (vllm) on CPU
    trust_remote_code: bool = False
    engine_kwargs: dict = field(default_factory=dict)  # extra from_pretrained / vllm.LLM kwargs, applied last
    num_threads: Optional[int] = None  # torch threads in this process
    tensor_parallel_size: int = 1  # vllm
    gpu_memory_utilization: float = 0.9  # vllm, GPU only
    max_model_len: Optional[int] = None  # vllm
    distributed_executor_backend: Optional[str] = None  # vllm; None: "uni" for one rank, else "mp"
    in_process: Optional[bool] = None  # vllm; None: in-process engine core on CPU, vLLM's default on GPU
    seed: int = 0  # vllm's engine seed (per-row sampling seeds come with each request)
    concurrent_calls: int = 1  # vllm: generate() called from this many threads at once shares one engine loop


class Engine(Protocol):
    name: str
    tokenizer: Any  # a transformers tokenizer (chat template, token counts)

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: Optional[list[int]] = None
    ) -> list[GenerationResult]:
        """Complete each rendered prompt. ``seeds`` (one per prompt) make sampling reproducible."""
        ...
