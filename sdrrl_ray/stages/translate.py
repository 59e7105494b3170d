"""Translation stage: question and answer of each (item, target) row into the row's target language.

A callable class for ``map_batches`` with an actor pool. A batch may mix target languages: rows
are grouped by (src_lang, tgt_lang), every text of a group is cut into sentences
(:mod:`sdrrl_ray.mt.segment`), identical sentences are translated once, and all the
group's sentences go to the backend in one call. Rows whose ``status`` is not ``ok`` pass through
with null translations. Sentences already in the translation cache (``cache_url``,
:mod:`sdrrl_ray.translation_cache`) are not translated again. A failure of the backend is
retried row by row; a row that still fails gets null translations and the message in
``translate_error`` (the pipeline turns that into a reject), so one bad row never fails the batch.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

import numpy as np

from sdrrl_ray.mt.backends import BackendOptions
from sdrrl_ray.mt.segment import Plan, reassemble, segment
from sdrrl_ray.schema import StageColumns, require_columns, to_arrow
from sdrrl_ray.translation_cache import TranslationCache

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
COLUMNS = StageColumns.of("translate", INPUT_COLUMNS, OUTPUT_COLUMNS)
CHARS_PER_TOKEN = 3  # conservative: sentences are cut to max_input_tokens * 3 characters


class Translator:
    """``Translator(backend=..., model_paths={target: model}, options=BackendOptions(...))``.

    ``model_paths`` maps each target to its resolved model (one model for all targets, or one per
    pair). A single model is loaded in ``__init__``; several are loaded on their pair's first row.
    """

    def __init__(self, *, backend: str, model_paths: Mapping[str, str], options: BackendOptions = BackendOptions(),
                 segment: bool = True, cache_url: Optional[str] = None):
        self.backend_name = backend
        self.cache = TranslationCache(cache_url) if cache_url else None
        self.model_paths = dict(model_paths)
        self.options = options
        self.segment = segment
        self.max_chars = options.max_input_tokens * CHARS_PER_TOKEN
        self._backends: dict[str, Any] = {}
        if len(set(self.model_paths.values())) == 1:
            self._backend_for(next(iter(self.model_paths)))  # load once, in __init__, as every stage does

    @property
    def backends(self) -> dict:
        """The backends loaded so far, by model path."""
        return dict(self._backends)

    def _backend_for(self, tgt: str):
        from sdrrl_ray.mt.backends import build_backend

        if tgt not in self.model_paths:
            raise ValueError(f"translate: no model for target {tgt!r} (models for {sorted(self.model_paths)})")
        path = self.model_paths[tgt]
        if path not in self._backends:
            self._backends[path] = build_backend(self.backend_name, path, self.options)
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
                results.update(zip(keys, self._translate(self._backend_for(tgt), [plans[k] for k in keys], src, tgt)))
                retry: list[int] = []
            except Exception as exc:  # isolate the rows that fail
                logger.warning("translate %s->%s: a batch of %d rows failed (%s); retrying row by row",
                               src, tgt, len(rows), exc)
                retry = rows
            for i in retry:
                keys = [k for k in ((i, "question"), (i, "answer")) if k in plans]
                try:
                    results.update(zip(keys, self._translate(self._backend_for(tgt), [plans[k] for k in keys],
                                                             src, tgt)))
                except Exception as exc:
                    errors[i] = f"{type(exc).__name__}: {exc}"[:500]
            for (i, field), text in results.items():
                if errors[i] is None:
                    (question_tgt if field == "question" else answer_tgt)[i] = text
        batch.update(question_tgt=question_tgt, answer_tgt=answer_tgt, translate_error=errors)
        return to_arrow(batch)

    def _translate(self, backend, plans: list[Plan], src: str, tgt: str) -> list[str]:
        """Translate every plan's segments in one backend call (each distinct sentence once; sentences saved
        in the translation cache by an earlier batch or run are read from it)."""
        unique: dict[str, int] = {}
        for plan in plans:
            for s in plan.segments:
                unique.setdefault(s, len(unique))
        saved = {s: self.cache.get(src, tgt, s) for s in unique} if self.cache is not None else {}
        table = {s: t for s, t in saved.items() if t is not None}
        todo = [s for s in unique if s not in table]
        translated = backend.translate_batch(todo, src, tgt) if todo else []
        if len(translated) != len(todo):
            raise RuntimeError(
                f"[Internal] backend {backend.name} returned {len(translated)} translations "
                f"for {len(todo)} segments"
            )
        table.update(zip(todo, translated))
        if self.cache is not None:
            self.cache.add(src, tgt, zip(todo, translated))
        return [reassemble(p, [table[s] for s in p.segments], tgt) for p in plans]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
