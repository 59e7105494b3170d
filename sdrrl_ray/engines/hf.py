"""transformers ``generate`` engine: batched, left-padded, CPU or GPU.

Sampling is seeded per row (a logits processor draws each row's token from its own
``torch.Generator``), so a row's output does not depend on which batch it landed in.
"""

from __future__ import annotations

from typing import Optional

import torch

from sdrrl_ray.engines.base import EngineOptions, GenerationResult, SamplingSettings


class _PerRowSampler:
    """Temperature / top-p sampling with one generator per row; returns a one-hot mask of the pick.

    Used with ``do_sample=False``: greedy argmax over the returned scores is the sampled token.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, device: torch.device):
        self.generators = []
        for seed in seeds:
            g = torch.Generator(device=device)
            g.manual_seed(int(seed) % (2**63))
            self.generators.append(g)
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, idx = torch.sort(probs, descending=True, dim=-1)
            keep = sorted_probs.cumsum(-1) - sorted_probs < self.top_p
            sorted_probs = sorted_probs * keep
            probs = torch.zeros_like(probs).scatter(-1, idx, sorted_probs)
        out = torch.full_like(scores, float("-inf"))
        for row, gen in enumerate(self.generators):
            pick = torch.multinomial(probs[row], 1, generator=gen)
            out[row, pick] = 0.0
        return out


class HFEngine:
    name = "hf"

    def __init__(self, model_path: str, options: EngineOptions = EngineOptions()):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype, trust_remote_code, num_threads = options.dtype, options.trust_remote_code, options.num_threads
        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            model_path,
            dtype=torch_dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
            **options.engine_kwargs,
        ).to(self.device)
        self.model.eval()
        gen_cfg = self.model.generation_config
        eos = gen_cfg.eos_token_id if gen_cfg.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])

    @torch.inference_mode()
    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: Optional[list[int]] = None
    ) -> list[GenerationResult]:
        if not prompts:
            return []
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs: dict = dict(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
            repetition_penalty=sampling.repetition_penalty,
            # decoding is fully specified here; the model's generation_config must not add to it
            temperature=None,
            top_p=None,
            top_k=None,
        )
        if not sampling.greedy:
            seeds = seeds if seeds is not None else list(range(len(prompts)))
            kwargs["logits_processor"] = [_PerRowSampler(seeds, sampling.temperature, sampling.top_p, self.device)]
        out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, ids in enumerate(new.tolist()):
            n, finish = len(ids), "length"
            for i, tok in enumerate(ids):
                if tok in self.eos_ids:
                    n, finish = i, "stop"
                    break
            text = self.tokenizer.decode(ids[:n], skip_special_tokens=True)
            results.append(GenerationResult(text.strip(), int(prompt_lens[row]), n, finish))
        return results
