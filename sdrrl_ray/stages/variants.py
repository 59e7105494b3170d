"""Expansion of each (item, target) into the four language-combination variants (paper-spec 2.5).

=======  ==================  ==================  =======================
variant  question            answer              needs
=======  ==================  ==================  =======================
LL       source              source              nothing
TL       target (T(x))       source              the question translation
LT       source              target (T(a))       the answer translation
TT       target              target              both translations
=======  ==================  ==================  =======================

A variant is emitted when it is in ``subsets`` and the translations it needs passed the filters
(``question_ok`` / ``answer_ok``); a failed answer translation drops LT and TT only.

Dropped variants, design (the project's reject convention: ``status``/``stage``/``reason``/``detail``):
:func:`expand_variants` returns only kept rows by default. With ``rejects=True`` it also returns
the dropped ones, and every row carries ``status`` (``"ok"`` or ``"rejected"``), ``stage``
(``"expand"`` on a dropped variant, else None), ``reason`` (:data:`QUESTION_REJECTED`,
:data:`ANSWER_REJECTED` or :data:`BOTH_REJECTED`) and ``detail``, so one streaming pass can feed
both the transfer set and the rejects sink (split on ``status``). :func:`count_drops` counts the
drops per reason without building rows, for the manifest. Variants not asked for in ``subsets``
are not drops (they are never counted). An input that already has a ``status`` column keeps it:
its rows whose status is not ``"ok"`` (rejected upstream) pass through once, not expanded, with
``subset`` None and their own stage/reason/detail.

The four variants of an item are emitted next to each other (LL, TL, LT, TT), so batches formed
in order keep them together ("within the same batch", paper-spec 2.5).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from sdrrl_ray.schema import LL, LT, PARALLEL_TASKS, TL, TT, VARIANTS

__all__ = ["VARIANTS", "expand_variants", "count_drops", "drop_reason", "INPUT_COLUMNS", "OUTPUT_COLUMNS"]

INPUT_COLUMNS = {
    "item_id": "stable id of the instruction item",
    "tgt_lang": "target language of this row",
    "src_lang": "source language",
    "answer_source": "where the answer came from (gold / self)",
    "question_src": "question in the source language",
    "answer_src": "answer in the source language",
    "question_tgt": "question translated into the target language",
    "answer_tgt": "answer translated into the target language",
    "question_ok": "the question translation passed the filters",
    "answer_ok": "the answer translation passed the filters",
}
OUTPUT_COLUMNS = {
    "id": "f'{item_id}:{tgt_lang}:{subset}', stable and unique",
    "item_id": "as input",
    "subset": "LL | TL | LT | TT",
    "src_lang": "as input",
    "tgt_lang": "as input",
    "question_lang": "language of question",
    "answer_lang": "language of answer",
    "answer_source": "as input",
    "question": "the variant's question",
    "answer": "the variant's answer",
}
REJECT_COLUMNS = {
    "status": "ok | rejected",
    "stage": "'expand' for a dropped variant (None while ok; kept from the input for rows rejected upstream)",
    "reason": "why the row was dropped (None while ok)",
    "detail": "what the variant needed",
}

# variant -> (question side, answer side); "src" or "tgt"
_SIDES = {LL: ("src", "src"), TL: ("tgt", "src"), LT: ("src", "tgt"), TT: ("tgt", "tgt")}
_NEEDS = {
    LL: "nothing",
    TL: "the question translation",
    LT: "the answer translation",
    TT: "the question and answer translations",
}
CONSUMED = ("question_src", "answer_src", "question_tgt", "answer_tgt", "question_ok", "answer_ok")

QUESTION_REJECTED = "question_translation_rejected"
ANSWER_REJECTED = "answer_translation_rejected"
BOTH_REJECTED = "question_and_answer_translation_rejected"


def _flag(value: Any) -> bool:
    """A filter flag: True only for a true boolean/number (None and NaN are failures)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _variants(subsets: Iterable[str]) -> tuple[str, ...]:
    """The requested variants in canonical order; ``mt``/``comp`` (parallel-corpus subsets) are ignored."""
    subsets = tuple(subsets)
    unknown = [s for s in subsets if s not in VARIANTS and s not in PARALLEL_TASKS]
    if unknown:
        raise ValueError(f"expand_variants: unknown subsets {unknown}; choose from {list(VARIANTS)}")
    return tuple(v for v in VARIANTS if v in subsets)


def drop_reason(variant: str, question_ok: Any, answer_ok: Any) -> Optional[str]:
    """Why ``variant`` cannot be built from these filter results, or None when it can."""
    q_side, a_side = _SIDES[variant]
    q_bad = q_side == "tgt" and not _flag(question_ok)
    a_bad = a_side == "tgt" and not _flag(answer_ok)
    if q_bad and a_bad:
        return BOTH_REJECTED
    if q_bad:
        return QUESTION_REJECTED
    if a_bad:
        return ANSWER_REJECTED
    return None


def _check(batch: Mapping[str, Any], source_lang: str) -> None:
    needed = [c for c in INPUT_COLUMNS if c != "src_lang"]
    missing = [c for c in needed if c not in batch]
    if missing:
        raise ValueError(f"expand_variants: batch lacks columns {missing}; it has {sorted(batch)}")
    if "src_lang" in batch:
        bad = [str(s) for s in batch["src_lang"] if str(s) != source_lang]
        if bad:
            raise ValueError(
                f"expand_variants: rows have src_lang={bad[0]!r} but the configured source is {source_lang!r}"
            )


def expand_variants(
    batch: Mapping[str, Any],
    *,
    subsets: Iterable[str] = VARIANTS,
    source_lang: str,
    rejects: bool = False,
) -> dict:
    """One row per (item, target) in, one row per kept variant out (this transform expands).

    Output columns: :data:`OUTPUT_COLUMNS`, then any other input column (repeated on each variant
    of its row); the consumed ``question_src``/``answer_src``/``question_tgt``/``answer_tgt``/
    ``*_ok`` columns are not carried. ``src_lang`` may be absent (then ``source_lang`` fills it);
    when present it must equal ``source_lang``. With ``rejects=True`` dropped variants are
    returned too, marked by the :data:`REJECT_COLUMNS`.

    >>> b = {"item_id": ["a1"], "tgt_lang": ["ja"], "src_lang": ["en"], "answer_source": ["gold"],
    ...      "question_src": ["Hi?"], "answer_src": ["Hello."], "question_tgt": ["やあ?"],
    ...      "answer_tgt": [None], "question_ok": [True], "answer_ok": [False]}
    >>> expand_variants(b, source_lang="en")["id"]
    ['a1:ja:LL', 'a1:ja:TL']
    """
    _check(batch, source_lang)
    variants = _variants(subsets)
    with_status = rejects or "status" in batch
    extra = [c for c in batch if c not in OUTPUT_COLUMNS and c not in CONSUMED and c not in REJECT_COLUMNS]
    columns = list(OUTPUT_COLUMNS) + extra + (list(REJECT_COLUMNS) if with_status else [])
    out: dict[str, list] = {c: [] for c in columns}

    def emit(row: dict, r: int) -> None:
        for c in extra:
            row[c] = batch[c][r]
        for c in columns:
            out[c].append(row.get(c))

    for r in range(len(batch["item_id"])):
        item, tgt = str(batch["item_id"][r]), str(batch["tgt_lang"][r])
        base = {
            "item_id": batch["item_id"][r],
            "src_lang": source_lang,
            "tgt_lang": tgt,
            "answer_source": batch["answer_source"][r],
        }
        if "status" in batch and batch["status"][r] != "ok":  # rejected upstream: carried once, as is
            row = dict(base, id=f"{item}:{tgt}", subset=None, question_lang=source_lang, answer_lang=source_lang,
                       question=batch["question_src"][r], answer=batch["answer_src"][r])
            row.update({c: batch[c][r] for c in REJECT_COLUMNS if c in batch})
            emit(row, r)
            continue
        texts = {
            ("question", "src"): batch["question_src"][r],
            ("answer", "src"): batch["answer_src"][r],
            ("question", "tgt"): batch["question_tgt"][r],
            ("answer", "tgt"): batch["answer_tgt"][r],
        }
        lang = {"src": source_lang, "tgt": tgt}
        for variant in variants:
            reason = drop_reason(variant, batch["question_ok"][r], batch["answer_ok"][r])
            if reason is not None and not rejects:
                continue
            q_side, a_side = _SIDES[variant]
            question, answer = texts[("question", q_side)], texts[("answer", a_side)]
            row = dict(
                base,
                id=f"{item}:{tgt}:{variant}",
                subset=variant,
                question_lang=lang[q_side],
                answer_lang=lang[a_side],
                question="" if question is None else question,
                answer="" if answer is None else answer,
                status="ok" if reason is None else "rejected",
            )
            if reason is not None:
                row.update(stage="expand", reason=reason, detail=f"{variant} needs {_NEEDS[variant]}")
            emit(row, r)
    for c in extra:  # keep numeric pass-through columns numeric
        if isinstance(batch[c], np.ndarray) and batch[c].dtype != object:
            out[c] = np.asarray(out[c], dtype=batch[c].dtype)
    return out


def count_drops(batch: Mapping[str, Any], *, subsets: Iterable[str] = VARIANTS) -> Counter:
    """``{reason: n}`` over the variants of ``subsets`` that this input batch cannot build."""
    variants = _variants(subsets)
    counts: Counter = Counter()
    for q_ok, a_ok in zip(batch["question_ok"], batch["answer_ok"]):
        for variant in variants:
            reason = drop_reason(variant, q_ok, a_ok)
            if reason is not None:
                counts[reason] += 1
    return counts
