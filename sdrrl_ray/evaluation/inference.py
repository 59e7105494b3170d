"""Inference for evaluation: Ray Data actor-pool jobs over request rows, through the generation engines.

:class:`EvalInference` is the ``map_batches`` callable class (one model per actor, loaded once):

- ``generate`` rows go through :func:`sdrrl_ray.engines.build.build_engine` (``hf`` or ``vllm``), with the
  project's prompt builder (:func:`sdrrl_ray.prompts.render_prompt`: the chat template when the
  model has one), greedy by default, sampling seeded per request;
- ``loglik`` rows (BELEBELE option scoring) and ``hidden`` rows (alignment sentence vectors) need
  the model's logits and hidden states, so they use the Hugging Face model directly
  (:class:`HFScorer`). With the ``hf`` engine it is the engine's own model; with ``vllm`` they run
  as a second job on an HF actor pool (:func:`run_inference`).

Prompts that do not fit (``eval.max_prompt_tokens``, and the model's positions minus the tokens to
generate) lose the end of their ``body`` (a passage, an article) first; the row says ``truncated``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Optional

import numpy as np
import pyarrow as pa

from sdrrl_ray import prompts
from sdrrl_ray.engines.base import EngineOptions, SamplingSettings
from sdrrl_ray.engines.build import build_engine
from sdrrl_ray.seeding import row_seed

log = logging.getLogger(__name__)

REQUEST_SCHEMA = pa.schema(
    [
        ("req_id", pa.string()),
        ("kind", pa.string()),
        ("prefix", pa.string()),
        ("body", pa.string()),
        ("suffix", pa.string()),
        ("options", pa.string()),  # JSON list of continuations (loglik)
        ("max_new_tokens", pa.int64()),
        ("raw", pa.bool_()),  # hidden: the text as is, without the chat template
    ]
)
OUTPUT_SCHEMA = pa.schema(
    [
        ("req_id", pa.string()),
        ("prediction", pa.string()),
        ("option_logprobs", pa.list_(pa.float64())),
        ("vector", pa.list_(pa.float32())),
        ("n_prompt_tokens", pa.int64()),
        ("n_output_tokens", pa.int64()),
        ("finish_reason", pa.string()),
        ("truncated", pa.bool_()),
    ]
)
SCORER_KINDS = ("loglik", "hidden")


class HFScorer:
    """Option log-likelihoods and last-token hidden states from a Hugging Face causal LM."""

    def __init__(self, model: Any, tokenizer: Any, device: Any = None, batch_size: int = 16):
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.device = device if device is not None else next(model.parameters()).device
        self.batch_size = batch_size
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self._torch = torch

    @classmethod
    def load(cls, model_path: str, options: EngineOptions = EngineOptions()) -> "HFScorer":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype, trust_remote_code, num_threads = options.dtype, options.trust_remote_code, options.num_threads
        engine_kwargs = options.engine_kwargs

        if num_threads:
            torch.set_num_threads(num_threads)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = ((torch.bfloat16 if device.type == "cuda" else torch.float32) if dtype == "auto"
                       else getattr(torch, dtype))
        tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        kwargs = {k: v for k, v in (engine_kwargs or {}).items() if k in ("revision", "attn_implementation")}
        model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype=torch_dtype, trust_remote_code=trust_remote_code, use_safetensors=True, **kwargs
        ).to(device)
        model.eval()
        return cls(model, tok, device)

    def _padded(self, seqs: list[list[int]]):
        torch = self._torch
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        return ids.to(self.device), mask.to(self.device)

    def loglik(self, prompt_ids: list[list[int]], option_ids: list[list[list[int]]]) -> list[list[float]]:
        """Per prompt, the summed log-probability of each option's tokens following it."""
        torch = self._torch
        flat = [(i, k, p + o, len(p), len(o))
                for i, (p, opts) in enumerate(zip(prompt_ids, option_ids)) for k, o in enumerate(opts)]
        out = [[0.0] * len(opts) for opts in option_ids]
        with torch.inference_mode():
            for start in range(0, len(flat), self.batch_size):
                chunk = flat[start:start + self.batch_size]
                ids, mask = self._padded([c[2] for c in chunk])
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
                logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
                targets = ids[:, 1:]
                picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
                for row, (i, k, _, n_prompt, n_opt) in enumerate(chunk):
                    out[i][k] = float(picked[row, n_prompt - 1: n_prompt - 1 + n_opt].sum())
        return out

    def hidden(self, seqs: list[list[int]]) -> list[np.ndarray]:
        """Final-layer hidden state at the last token of each sequence."""
        torch = self._torch
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(seqs), self.batch_size):
                chunk = seqs[start:start + self.batch_size]
                ids, mask = self._padded(chunk)
                states = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
                for row, s in enumerate(chunk):
                    out.append(states[row, len(s) - 1].float().cpu().numpy().astype(np.float32))
        return out


def build_scorer(model_path: str, engine: Any, options: EngineOptions) -> HFScorer:
    """The engine's own HF model when it has one (hf engine), else a separately loaded one."""
    model = getattr(engine, "model", None)
    if model is not None and hasattr(model, "parameters"):
        return HFScorer(model, engine.tokenizer, getattr(engine, "device", None))
    return HFScorer.load(model_path, options)


def model_max_positions(model_path: str, options: EngineOptions) -> Optional[int]:
    """Positions the model can attend to (``max_model_len`` when given), from its config; None if unknown."""
    if options.max_model_len:
        return int(options.max_model_len)
    names = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
    local = os.path.join(model_path, "config.json")
    if os.path.isfile(local):
        with open(local, encoding="utf-8") as fh:
            conf = json.load(fh)
        conf = conf.get("text_config", conf) if not any(n in conf for n in names) else conf
        values = [conf.get(n) for n in names]
    else:
        try:
            from transformers import AutoConfig

            conf = AutoConfig.from_pretrained(model_path, trust_remote_code=options.trust_remote_code)
        except Exception:  # not a model the loader can open (test engines): no limit from the model
            return None
        values = [getattr(conf, n, None) for n in names]
    return next((v for v in values if isinstance(v, int) and v > 0), None)


class EvalInference:
    """``map_batches`` callable: request rows in, one output row per request (:data:`OUTPUT_SCHEMA`)."""

    def __init__(
        self,
        *,
        engine: str,
        model_path: str,
        engine_options: EngineOptions = EngineOptions(),
        kinds: tuple = ("generate", "loglik", "hidden"),
        max_prompt_tokens: int = 1024,
        system_prompt: Optional[str] = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
    ):
        from sdrrl_ray.storage import local_model_path

        options = engine_options
        model_path = local_model_path(model_path)  # a trained model under OUT on object storage
        self.engine = build_engine(engine, model_path, options) if "generate" in kinds else None
        self.scorer = None
        if set(kinds) & set(SCORER_KINDS):
            self.scorer = build_scorer(model_path, self.engine, options)
        self.tokenizer = self.engine.tokenizer if self.engine is not None else self.scorer.tokenizer
        self.max_positions = model_max_positions(model_path, options)
        self.max_prompt_tokens = max_prompt_tokens
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed

    # ---------------------------------------------------------------- prompts

    def _ids(self, text: str, special: bool = False) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _render(self, message: str) -> str:
        return prompts.render_prompt(self.tokenizer, message, self.system_prompt)

    def budget(self, reserve: int) -> int:
        limit = self.max_prompt_tokens
        if self.max_positions:
            limit = min(limit, self.max_positions - reserve)
        return max(1, limit)

    def fit(self, prefix: str, body: str, suffix: str, budget: int) -> tuple[str, int, bool]:
        """(prompt, its token count, truncated): the rendered prompt, its body cut to fit ``budget``."""
        prompt = self._render(prefix + body + suffix)
        n = len(self._ids(prompt))
        if n <= budget:
            return prompt, n, False
        if body:
            body_ids = self._ids(body)
            keep = len(body_ids) - (n - budget)
            while keep > 0:
                cut = self.tokenizer.decode(body_ids[:keep]).rstrip("\ufffd")
                prompt = self._render(prefix + cut + suffix)
                n = len(self._ids(prompt))
                if n <= budget:
                    return prompt, n, True
                keep -= max(1, n - budget)
            prompt = self._render(prefix + suffix)
            n = len(self._ids(prompt))
            if n <= budget:
                return prompt, n, True
        ids = self._ids(prompt)[-budget:]  # still too long: keep the end (question and answer cue)
        return self.tokenizer.decode(ids), len(ids), True

    def _continuation(self, prompt: str, option: str) -> str:
        if (not prompts.has_chat_template(self.tokenizer) and prompt and not prompt[-1].isspace()
                and not option[:1].isspace()):
            return " " + option
        return option

    # ---------------------------------------------------------------- batch

    def __call__(self, batch: dict) -> pa.Table:
        n = len(batch["req_id"])
        out = {f.name: [None] * n for f in OUTPUT_SCHEMA}
        out["req_id"] = [str(r) for r in batch["req_id"]]
        kinds = [str(k) for k in batch["kind"]]

        gen_rows = [i for i in range(n) if kinds[i] == "generate"]
        by_tokens: dict[int, list[int]] = {}
        for i in gen_rows:
            by_tokens.setdefault(int(batch["max_new_tokens"][i]), []).append(i)
        for max_new, rows in by_tokens.items():
            texts = []
            for i in rows:
                prompt, n_tok, cut = self.fit(str(batch["prefix"][i]), str(batch["body"][i]), str(batch["suffix"][i]),
                                              self.budget(max_new))
                texts.append(prompt)
                out["truncated"][i] = cut
            sampling = SamplingSettings(max_new_tokens=max_new, temperature=self.temperature, top_p=self.top_p)
            seeds = [row_seed(self.seed, out["req_id"][i], "eval") for i in rows]
            for i, res in zip(rows, self.engine.generate(texts, sampling, seeds)):
                out["prediction"][i] = res.text
                out["n_prompt_tokens"][i] = res.n_prompt_tokens
                out["n_output_tokens"][i] = res.n_output_tokens
                out["finish_reason"][i] = res.finish_reason

        ll_rows = [i for i in range(n) if kinds[i] == "loglik"]
        if ll_rows:
            prompt_ids, option_ids = [], []
            for i in ll_rows:
                options = json.loads(batch["options"][i] or "[]")
                longest = max((len(self._ids(o)) + 1 for o in options), default=1)
                prompt, n_tok, cut = self.fit(str(batch["prefix"][i]), str(batch["body"][i]), str(batch["suffix"][i]),
                                              self.budget(longest))
                prompt_ids.append(self._ids(prompt))
                option_ids.append([self._ids(self._continuation(prompt, o)) for o in options])
                out["truncated"][i] = cut
                out["n_prompt_tokens"][i] = len(prompt_ids[-1])
            for i, scores in zip(ll_rows, self.scorer.loglik(prompt_ids, option_ids)):
                out["option_logprobs"][i] = [float(s) for s in scores]

        hid_rows = [i for i in range(n) if kinds[i] == "hidden"]
        if hid_rows:
            seqs = []
            for i in hid_rows:
                text = str(batch["prefix"][i]) + str(batch["body"][i]) + str(batch["suffix"][i])
                ids = self._ids(text if batch["raw"][i] else self._render(text), special=bool(batch["raw"][i]))
                limit = self.budget(0)
                out["truncated"][i] = len(ids) > limit
                seqs.append(ids[:limit] or [self.scorer.pad_id])
                out["n_prompt_tokens"][i] = len(seqs[-1])
            for i, vec in zip(hid_rows, self.scorer.hidden(seqs)):
                out["vector"][i] = [float(v) for v in vec]
        return pa.Table.from_pydict(out, schema=OUTPUT_SCHEMA)


def engine_options(cfg, engine: str) -> EngineOptions:
    """Engine options from the run's config (model loading settings live in ``generate``)."""
    g = cfg.generate
    common = dict(dtype=g.dtype, trust_remote_code=g.trust_remote_code, engine_kwargs=dict(g.engine_kwargs))
    if engine == "hf":
        return EngineOptions(**common, num_threads=max(1, int(cfg.eval.pool.num_cpus)))
    return EngineOptions(**common, tensor_parallel_size=g.tensor_parallel_size,
                         gpu_memory_utilization=g.gpu_memory_utilization, max_model_len=g.max_model_len, seed=cfg.seed)


def passes(engine: str, kinds: set) -> list[tuple[str, tuple]]:
    """(engine, kinds) per actor-pool job: one job with hf; with vllm, generation then an HF scoring job."""
    if engine == "hf":
        return [("hf", tuple(sorted(kinds)))] if kinds else []
    out = []
    if "generate" in kinds:
        out.append((engine, ("generate",)))
    scoring = tuple(sorted(kinds & set(SCORER_KINDS)))
    if scoring:
        out.append(("hf", scoring))
    return out


def run_inference(requests: list[dict], *, cfg, model_path: str, callable_cls: type = EvalInference,
                  on_output: Optional[Callable[[str, dict], None]] = None) -> dict[str, dict]:
    """Run ``requests`` (rows of :data:`REQUEST_SCHEMA`) on ``model_path``; req_id -> output row.

    ``on_output(req_id, row)`` is called for each output as it streams in (the caller saves finished
    units while the job runs)."""
    import ray.data

    from sdrrl_ray.runtime import actor_pool_args

    e = cfg.eval
    results: dict[str, dict] = {}
    kinds = {r["kind"] for r in requests}
    for engine, job_kinds in passes(e.engine, kinds):
        rows = [r for r in requests if r["kind"] in job_kinds]
        rows.sort(key=lambda r: -len(r["prefix"]) - len(r["body"]) - len(r["suffix"]))  # similar lengths batch together
        table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in REQUEST_SCHEMA} for r in rows],
                                     schema=REQUEST_SCHEMA)
        size = e.pool.batch_size
        ds = ray.data.from_arrow([table.slice(i, size) for i in range(0, table.num_rows, size)])  # one block per batch
        ds = ds.map_batches(
            callable_cls,
            fn_constructor_kwargs=dict(
                engine=engine,
                model_path=model_path,
                engine_options=engine_options(cfg, engine),
                kinds=job_kinds,
                max_prompt_tokens=e.max_prompt_tokens,
                system_prompt=cfg.generate.system_prompt,
                temperature=e.temperature,
                top_p=e.top_p,
                seed=cfg.seed,
            ),
            batch_format="numpy",
            **actor_pool_args(e.pool),
        )
        for row in ds.iter_rows():
            results[row["req_id"]] = dict(row)
            if on_output is not None:
                on_output(row["req_id"], results[row["req_id"]])
        log.info("eval inference: %d %s requests on %s (%s)", len(rows), "/".join(job_kinds), model_path, engine)
    return results
