"""Generation stage: the model answers, in the source language, the items that need its own answer.

A callable class for ``map_batches`` with an actor pool: ``__init__`` loads the engine once per
actor, ``__call__`` adds the generation columns and the chosen ``answer``. Rows that need no
generation pass through untouched; answers already saved for the same key are reused.
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np

from sdrrl_ray import prompts
from sdrrl_ray.engines.base import EngineOptions, SamplingSettings
from sdrrl_ray.engines.build import build_engine
from sdrrl_ray.generation_cache import GenerationCache, question_sha
from sdrrl_ray.schema import StageColumns, require_columns, to_arrow
from sdrrl_ray.seeding import row_seed

INPUT_COLUMNS = {
    "item_id": "stable item id",
    "question": "source-language question",
    "gold_answer": "source-language gold answer",
    "status": "ok | rejected",
    "answer_source": "gold | self",
    "needs_generation": "whether to generate for this row",
    "stage": "stage that rejected the row (set here on a generation reject)",
    "reason": "reject reason",
    "detail": "reject detail",
}
OUTPUT_COLUMNS = {
    "generated_answer": "the model's own answer (null when not generated)",
    "gen_output_tokens": "tokens generated (-1 when not generated)",
    "gen_finish_reason": "stop | length (null when not generated)",
    "gen_cached": "the answer was read from the generation cache",
    "answer": "the chosen answer: gold_answer or generated_answer per answer_source",
}
COLUMNS = StageColumns.of("generate", INPUT_COLUMNS, OUTPUT_COLUMNS)


class Generator:
    def __init__(
        self,
        *,
        engine: str,
        model_path: str,
        sampling: dict,
        seed: int,
        cache_url: str,
        system_prompt: Optional[str] = None,
        max_prompt_tokens: int = 1024,
        engine_options: EngineOptions = EngineOptions(),
    ):
        self.engine = build_engine(engine, model_path, engine_options)
        self.sampling = SamplingSettings(**sampling)
        self.seed = seed
        self.system_prompt = system_prompt
        self.max_prompt_tokens = max_prompt_tokens
        self.cache = GenerationCache(cache_url)
        # with generate.batches_in_flight > 1 the actor runs several calls in threads: the cache and the
        # tokenizer are used under the engine's tokenizer lock; the engine call (its own loop) runs unlocked
        self.lock = getattr(self.engine, "tokenizer_lock", None) or threading.RLock()

    def __call__(self, batch: dict):
        require_columns(batch, INPUT_COLUMNS, "generate")
        with self.lock:
            todo, prompts_text, state = self._prepare(batch)
        results = []
        if todo:
            seeds = [row_seed(self.seed, batch["item_id"][i], "generate") for i in todo]
            results = self.engine.generate(prompts_text, self.sampling, seeds)
        with self.lock:
            return self._finish(batch, todo, results, state)

    def _prepare(self, batch: dict):
        """(rows to generate for, their rendered prompts, the columns being filled)."""
        n = len(batch["item_id"])
        generated = np.full(n, None, dtype=object)
        out_tokens = np.full(n, -1, dtype=np.int64)
        finish = np.full(n, None, dtype=object)
        cached = np.zeros(n, dtype=bool)
        status = np.array(batch["status"], dtype=object)
        stage = np.array(batch["stage"], dtype=object)
        reason = np.array(batch["reason"], dtype=object)
        detail = np.array(batch["detail"], dtype=object)

        todo, prompts_text = [], []
        for i in range(n):
            if status[i] != "ok" or not batch["needs_generation"][i]:
                continue
            item_id, question = batch["item_id"][i], batch["question"][i]
            hit = self.cache.get(item_id, question)
            if hit is not None:
                generated[i], out_tokens[i], finish[i] = (hit["generated_answer"], hit["gen_output_tokens"],
                                                          hit["gen_finish_reason"])
                cached[i] = True
                continue
            prompt = prompts.render_prompt(self.engine.tokenizer, question, self.system_prompt)
            n_tokens = len(self.engine.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            if n_tokens > self.max_prompt_tokens:
                status[i], stage[i], reason[i] = "rejected", "generate", "prompt_too_long"
                detail[i] = f"prompt has {n_tokens} tokens (generate.max_prompt_tokens={self.max_prompt_tokens})"
                continue
            todo.append(i)
            prompts_text.append(prompt)
        return todo, prompts_text, (generated, out_tokens, finish, cached, status, stage, reason, detail)

    def _finish(self, batch: dict, todo: list, results: list, state: tuple):
        generated, out_tokens, finish, cached, status, stage, reason, detail = state
        n = len(batch["item_id"])
        if todo:
            new_rows = []
            for i, res in zip(todo, results):
                generated[i], out_tokens[i], finish[i] = res.text, res.n_output_tokens, res.finish_reason
                new_rows.append(
                    {
                        "item_id": batch["item_id"][i],
                        "question_sha": question_sha(batch["question"][i]),
                        "generated_answer": res.text,
                        "gen_prompt_tokens": res.n_prompt_tokens,
                        "gen_output_tokens": res.n_output_tokens,
                        "gen_finish_reason": res.finish_reason,
                    }
                )
            self.cache.put(new_rows)

        answer = np.full(n, None, dtype=object)
        for i in range(n):
            if status[i] != "ok":
                continue
            if batch["answer_source"][i] == "self":
                if not generated[i] or not generated[i].strip():
                    status[i], stage[i], reason[i] = "rejected", "generate", "empty_generation"
                    detail[i] = "the model's answer is empty"
                    continue
                answer[i] = generated[i]
            else:
                answer[i] = batch["gold_answer"][i]

        batch.update(
            generated_answer=generated,
            gen_output_tokens=out_tokens,
            gen_finish_reason=finish,
            gen_cached=cached,
            answer=answer,
            status=status,
            stage=stage,
            reason=reason,
            detail=detail,
        )
        return to_arrow(batch)
