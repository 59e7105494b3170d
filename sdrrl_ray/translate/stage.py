"""Translation stage: question and answer of each (item, target) row into the row's target language.

A callable class for ``map_batches`` with an actor pool. A batch may mix target languages: rows
are grouped by (src_lang, tgt_lang), every text of a group is cut into sentences
(:mod:`sdrrl_ray.translate.segment`), identical sentences are translated once, and all the
group's sentences go to the backend in one call. Rows whose ``status`` is not ``ok`` pass through
with null translations. A failure of the backend is retried row by row; a row that still fails
gets null translations and the message in ``translate_error`` (the pipeline turns that into a
reject), so one bad row never fails the batch.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from sdrrl_ray.columns import to_arrow
from sdrrl_ray.generate import require_columns
from sdrrl_ray.translate.segment import Plan, reassemble, segment

logger = logging.getLogger(__name__)

INPUT_COLUMNS = {
    "item_id": "stable item id",
    "tgt_lang": "ISO 639-1 target language of the row",
    "src_lang": "ISO 639-1 source language",
    "question_src": "question in the source language",
    "answer_src": "answer in the source language (null: nothing to translate)",
    "status": "ok | rejected (rejected rows pass through)",
}
OUTPUT_COLUMNS = {
    "question_tgt": "question translated into tgt_lang (null when not translated)",
    "answer_tgt": "answer translated into tgt_lang (null when not translated)",
    "translate_error": "null, or why the row could not be translated",
}
CHARS_PER_TOKEN = 3  # conservative: sentences are cut to max_input_tokens * 3 characters


class Translator:
    """``Translator(**TranslateConfig fields, model_path=...)``; ``pool`` is accepted and ignored.

    ``model_path`` is the resolved model; without it (or for per-pair specs such as
    ``demo:marian`` or ``/models/opus-mt-{src}-{tgt}``) ``model`` is resolved per pair on first use.
    ``engine`` / ``engine_options`` configure the ``llm`` backend's generation engine.
    """

    def __init__(
        self,
        *,
        backend: str = "ct2",
        model: str = "",
        model_path: Optional[str] = None,
        family: str = "auto",
        beam_size: int = 4,
        max_input_tokens: int = 256,
        max_decoding_length: int = 512,
        compute_type: str = "auto",
        segment: bool = True,
        engine: str = "hf",
        engine_options: Optional[dict] = None,
        num_threads: Optional[int] = None,
        max_batch_size: int = 32,
        pool: Any = None,
        **backend_options: Any,
    ):
        from sdrrl_ray.translate.models import per_pair

        self.backend_name = backend
        self.model = model
        self.model_path = None if (model and per_pair(model)) else model_path
        self.segment = segment
        self.max_chars = max_input_tokens * CHARS_PER_TOKEN
        self.backend_kwargs = dict(
            family=family,
            beam_size=beam_size,
            max_input_tokens=max_input_tokens,
            max_decoding_length=max_decoding_length,
            compute_type=compute_type,
            engine=engine,
            engine_options=engine_options,
            num_threads=num_threads,
            max_batch_size=max_batch_size,
            **backend_options,
        )
        self._backends: dict[str, Any] = {}
        if self.model_path is not None or (model and not per_pair(model)):
            self._backend_for(None, None)  # load once, in __init__, as every stage does

    def _backend_for(self, src: Optional[str], tgt: Optional[str]):
        from sdrrl_ray.translate.backends import build_backend
        from sdrrl_ray.translate.models import resolve_translation_model

        path = self.model_path or resolve_translation_model(self.model, src, tgt)
        if path not in self._backends:
            self._backends[path] = build_backend(self.backend_name, path, **self.backend_kwargs)
        return self._backends[path]

    def plan(self, text: str, src: str) -> Plan:
        return segment(text, src, max_chars=self.max_chars, split_sentences=self.segment)

    def __call__(self, batch: dict):
        require_columns(batch, INPUT_COLUMNS, "translate")
        n = len(batch["item_id"])
        question_tgt = np.full(n, None, dtype=object)
        answer_tgt = np.full(n, None, dtype=object)
        errors = np.full(n, None, dtype=object)
        groups: dict[tuple[str, str], list[int]] = {}
        for i in range(n):
            if batch["status"][i] == "ok":
                groups.setdefault((batch["src_lang"][i], batch["tgt_lang"][i]), []).append(i)
        for (src, tgt), rows in groups.items():
            plans: dict[tuple[int, str], Plan] = {}
            for i in rows:
                for field in ("question", "answer"):
                    text = batch[f"{field}_src"][i]
                    if not _missing(text):
                        plans[(i, field)] = self.plan(str(text), src)
            results: dict[tuple[int, str], str] = {}
            try:
                keys = list(plans)
                results.update(zip(keys, self._translate(self._backend_for(src, tgt), [plans[k] for k in keys], src, tgt)))
                retry: list[int] = []
            except Exception as exc:  # isolate the rows that fail
                logger.warning("translate %s->%s: a batch of %d rows failed (%s); retrying row by row", src, tgt, len(rows), exc)
                retry = rows
            for i in retry:
                keys = [k for k in ((i, "question"), (i, "answer")) if k in plans]
                try:
                    results.update(zip(keys, self._translate(self._backend_for(src, tgt), [plans[k] for k in keys], src, tgt)))
                except Exception as exc:
                    errors[i] = f"{type(exc).__name__}: {exc}"[:500]
            for (i, field), text in results.items():
                if errors[i] is None:
                    (question_tgt if field == "question" else answer_tgt)[i] = text
        batch.update(question_tgt=question_tgt, answer_tgt=answer_tgt, translate_error=errors)
        return to_arrow(batch)

    def _translate(self, backend, plans: list[Plan], src: str, tgt: str) -> list[str]:
        """Translate every plan's segments in one backend call (each distinct sentence once)."""
        unique: dict[str, int] = {}
        for plan in plans:
            for s in plan.segments:
                unique.setdefault(s, len(unique))
        sentences = list(unique)
        translated = backend.translate_batch(sentences, src, tgt) if sentences else []
        if len(translated) != len(sentences):
            raise RuntimeError(
                f"[Internal] backend {backend.name} returned {len(translated)} translations for {len(sentences)} segments"
            )
        return [reassemble(p, [translated[unique[s]] for s in p.segments], tgt) for p in plans]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
