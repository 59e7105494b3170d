"""Filter stage: judge each translated question and answer; never drops a row.

For each of ``question`` and ``answer`` the stage adds ``<part>_ok``, ``<part>_reason`` (null or the
reject reason), ``<part>_detail`` (what was found) and ``<part>_qe`` (the CometKiwi score, null
when QE is off or the text failed an earlier check). The expand stage keeps the variants whose
parts passed. Checks in order, the first failure is the reason:

1. ``missing_translation`` (no translation: see ``translate_error``) / ``missing_source``;
2. rules (:mod:`sdrrl_ray.filters.rules`): ``empty``, ``copy_of_source``;
3. language-ID (:mod:`sdrrl_ray.filters.langid`): ``langid_mismatch``;
   then the other rules: ``repetition_loop``, ``length_ratio``, ``truncated``;
4. QE (:mod:`sdrrl_ray.filters.qe`), only on texts that passed 1-3, in one batch:
   ``qe_below_threshold`` when the score is below ``filter.qe.threshold``.

Rows whose ``status`` (if the column is present) is not ``ok`` pass through with nulls.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pyarrow as pa

from sdrrl_ray.filters.langid import LanguageIdentifier
from sdrrl_ray.filters.rules import OK, Verdict, check_basic, check_form
from sdrrl_ray.schema import StageColumns, require_columns, to_arrow, with_columns

INPUT_COLUMNS = {
    "src_lang": "ISO 639-1 source language",
    "tgt_lang": "ISO 639-1 target language",
    "question_src": "source question",
    "answer_src": "source answer",
    "question_tgt": "translated question (null: translation failed)",
    "answer_tgt": "translated answer (null: translation failed)",
}
OUTPUT_COLUMNS = {
    "question_ok": "the translated question passed every filter",
    "answer_ok": "the translated answer passed every filter",
    "question_reason": "null, or the reject reason of the question",
    "answer_reason": "null, or the reject reason of the answer",
    "question_detail": "null, or what the failing check found",
    "answer_detail": "null, or what the failing check found",
    "question_qe": "CometKiwi score of the question (null when not scored)",
    "answer_qe": "CometKiwi score of the answer (null when not scored)",
}
COLUMNS = StageColumns.of("filter", INPUT_COLUMNS, OUTPUT_COLUMNS)
PARTS = ("question", "answer")
# ``map_batches`` format for :class:`TranslationFilter`: Arrow in and out (the columns it does not read are never
# converted to and from numpy)
BATCH_FORMAT = "pyarrow"


class TranslationFilter:
    """``TranslationFilter(**FilterConfig fields, languages=[source, *targets])``.

    ``qe`` is a QEConfig or its dict; ``qe_scorer`` replaces the scorer it describes (tests).
    """

    def __init__(
        self,
        *,
        languages: Iterable[str] = (),
        langid: bool = True,
        langid_min_share: float = 0.5,
        rules: bool = True,
        min_length_ratio: float = 0.2,
        max_length_ratio: float = 5.0,
        max_repeat_ngram: int = 4,
        qe: Any = None,
        qe_scorer: Any = None,
    ):
        from sdrrl_ray.config import QEConfig
        from sdrrl_ray.filters.qe import build_qe_scorer

        self.rules = rules
        self.rule_args = dict(min_length_ratio=min_length_ratio, max_length_ratio=max_length_ratio,
                              max_repeat_ngram=max_repeat_ngram)
        self.langid = LanguageIdentifier(languages, min_share=langid_min_share) if langid else None
        if isinstance(qe, dict):
            qe = QEConfig(**qe)
        self.qe = qe or QEConfig()
        self.scorer = qe_scorer if qe_scorer is not None else build_qe_scorer(self.qe)
        self.threshold = self.qe.threshold

    def judge(self, src: Any, tgt: Any, src_lang: str, tgt_lang: str, translate_error: Optional[str] = None) -> Verdict:
        """Rules and language-ID for one text (QE is batched in ``__call__``)."""
        if _missing(src):
            return Verdict(False, "missing_source", "no source text")
        if _missing(tgt):
            return Verdict(False, "missing_translation", translate_error or "no translation")
        src, tgt = str(src), str(tgt)
        if self.rules:
            verdict = check_basic(src, tgt)
            if not verdict.ok:
                return verdict
        if self.langid is not None:
            verdict = self.langid.check(tgt, tgt_lang)
            if not verdict.ok:
                return verdict
        if self.rules:
            return check_form(src, tgt, src_lang, tgt_lang, **self.rule_args)
        return OK

    def __call__(self, batch: Any) -> pa.Table:
        """A dict of columns or an Arrow table (``BATCH_FORMAT``: only the columns read are converted) -> an
        Arrow table with the output columns set."""
        if isinstance(batch, pa.Table):
            return with_columns(batch, (*INPUT_COLUMNS, "status", "translate_error"), self.judge_batch)
        batch.update(self.judge_batch(batch))
        return to_arrow(batch)

    def judge_batch(self, batch: Mapping[str, Any]) -> dict:
        """The output columns for a dict-of-columns batch."""
        require_columns(batch, INPUT_COLUMNS, "filter")
        n = len(batch["src_lang"])
        status = batch.get("status")
        errors = batch.get("translate_error")
        out = {f"{p}_{c}": np.full(n, None, dtype=object) for p in PARTS for c in ("ok", "reason", "detail", "qe")}
        to_score: list[tuple[int, str]] = []
        for i in range(n):
            if status is not None and status[i] != "ok":
                continue
            err = None if errors is None or _missing(errors[i]) else str(errors[i])
            for part in PARTS:
                v = self.judge(batch[f"{part}_src"][i], batch[f"{part}_tgt"][i], batch["src_lang"][i],
                               batch["tgt_lang"][i], err)
                out[f"{part}_ok"][i] = v.ok
                out[f"{part}_reason"][i] = v.reason
                out[f"{part}_detail"][i] = v.detail
                if v.ok and self.scorer is not None:
                    to_score.append((i, part))
        if to_score:
            scores = self.scorer.score([(str(batch[f"{p}_src"][i]), str(batch[f"{p}_tgt"][i])) for i, p in to_score])
            for (i, part), score in zip(to_score, scores):
                out[f"{part}_qe"][i] = float(score)
                if score < self.threshold:
                    out[f"{part}_ok"][i] = False
                    out[f"{part}_reason"][i] = "qe_below_threshold"
                    out[f"{part}_detail"][i] = f"CometKiwi {score:.3f} < {self.threshold}"
        return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
