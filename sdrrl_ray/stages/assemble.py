"""Assembly of the transfer-set rows of each (item, target): its variants (:mod:`.variants`) plus
one reject row per failed translated part, so the manifest counts per (item, target, part).

A pure batch function for ``map_batches`` (a task), returning an Arrow table.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from sdrrl_ray.schema import VARIANTS, StageColumns, to_arrow
from sdrrl_ray.stages.variants import CONSUMED, OUTPUT_COLUMNS, REJECT_COLUMNS, expand_variants

PART_COLUMNS = ("question_reason", "answer_reason", "stage")
COLUMNS = StageColumns.of(
    "assemble",
    inputs=("item_id", "tgt_lang", "answer_source", "status", *CONSUMED, *PART_COLUMNS),
    outputs=(*OUTPUT_COLUMNS, *REJECT_COLUMNS, "part", "pair_rows"),
    removes=CONSUMED,
)
_ITEM_STAGES = ("ingest", "generate")  # stages that reject a whole item, before the target fan-out
_TRANSLATE_REASONS = ("translate_error", "missing_translation")  # the backend produced no text


def pair_rows(items: list, targets: list) -> list[int]:
    """Per row: how many rows its (item, target) has here, which is all it will ever write (a row's
    set is built from one input row; resume checks the count, :mod:`sdrrl_ray.layout.resume`)."""
    keys = list(zip(items, targets))
    counts = Counter(keys)
    return [counts[k] for k in keys]


def assemble(batch: dict, *, subsets: list[str], source_lang: str) -> pa.Table:
    """Variants for every (item, target) row, plus one reject row per failed translated part.

    A failed question translation drops TL and TT, a failed answer translation LT and TT
    (:func:`.variants.expand_variants`); the part itself is recorded as a reject with the
    filter's reason, so the manifest counts per (item, target, part).
    """
    variants = expand_variants(batch, subsets=[s for s in subsets if s in VARIANTS],
                               source_lang=source_lang, rejects=True)
    # rows rejected before the target fan-out carry no target (their resume key is (item, None))
    variants["tgt_lang"] = [None if s is not None and s != "ok" and st in _ITEM_STAGES else t
                            for t, s, st in zip(variants["tgt_lang"], variants["status"], variants["stage"])]
    variants["id"] = [i if t is not None or s == "ok" else item
                      for i, t, s, item in zip(variants["id"], variants["tgt_lang"], variants["status"],
                                               variants["item_id"])]
    parts: dict[str, list] = {c: [] for c in variants}
    parts["part"] = []
    for r in range(len(batch["item_id"])):
        if batch["status"][r] != "ok":
            continue
        for part in ("question", "answer"):
            if batch[f"{part}_ok"][r]:
                continue
            row = {c: None for c in parts}
            item, tgt = batch["item_id"][r], batch["tgt_lang"][r]
            row.update(
                id=f"{item}:{tgt}:{part}", item_id=item, src_lang=source_lang, tgt_lang=tgt,
                answer_source=batch["answer_source"][r], record=batch["record"][r] if "record" in batch else None,
                question_lang=tgt if part == "question" else None, answer_lang=tgt if part == "answer" else None,
                question=batch["question_tgt"][r] if part == "question" else None,
                answer=batch["answer_tgt"][r] if part == "answer" else None,
                status="rejected", stage="translate" if batch[f"{part}_reason"][r] in _TRANSLATE_REASONS else "filter",
                reason=batch[f"{part}_reason"][r],
                detail=batch[f"{part}_detail"][r] if f"{part}_detail" in batch else None, part=part,
            )
            for c in parts:
                parts[c].append(row.get(c))
    n_var = len(variants["id"])
    variants["part"] = [None] * n_var
    merged = {c: list(variants[c]) + parts[c] for c in variants}
    merged["pair_rows"] = pair_rows(merged["item_id"], merged["tgt_lang"])
    return to_arrow({k: np.array(v, dtype=object) for k, v in merged.items()})
