"""Row-shape transforms between stages: items -> (item, target) rows -> variants + part rejects.

Pure batch functions for ``map_batches`` (tasks), returning Arrow tables.
"""

from __future__ import annotations

import numpy as np

from sdrrl_ray.columns import to_arrow
from sdrrl_ray.variants import expand_variants

# columns of an item row that follow it onto its (item, target) rows
_CARRIED = ("item_id", "record", "src_lang", "answer_source", "status", "stage", "reason", "detail",
            "needs_generation", "gen_cached", "source_file", "line")


def expand_targets(batch: dict, *, targets: list[str]) -> "pa.Table":  # noqa: F821
    """One row per (item, target) for kept items, minus targets already complete in ``done_targets``;
    rejected items pass once with ``tgt_lang`` null."""
    out: dict[str, list] = {c: [] for c in (*_CARRIED, "tgt_lang", "question_src", "answer_src")}
    done = batch.get("done_targets")
    for r in range(len(batch["item_id"])):
        if batch["status"][r] != "ok":
            todo = [None]
        else:
            skip = set(done[r].split(",")) if done is not None and done[r] else set()
            todo = [t for t in targets if t not in skip]
        for tgt in todo:
            for c in _CARRIED:
                out[c].append(batch[c][r] if c in batch else None)
            out["tgt_lang"].append(tgt)
            out["question_src"].append(batch["question"][r])
            out["answer_src"].append(batch["answer"][r] if "answer" in batch else None)
    return to_arrow({k: np.array(v, dtype=object) if k not in ("record", "line") else np.array(v) for k, v in out.items()})


_ITEM_STAGES = ("ingest", "generate")
_TRANSLATE_REASONS = ("translate_error", "missing_translation")  # the backend produced no text  # stages that reject a whole item, before the target fan-out


def assemble(batch: dict, *, subsets: list[str], source_lang: str) -> "pa.Table":  # noqa: F821
    """Variants for every (item, target) row, plus one reject row per failed translated part.

    A failed question translation drops TL and TT, a failed answer translation LT and TT
    (:func:`sdrrl_ray.variants.expand_variants`); the part itself is recorded as a reject with the
    filter's reason, so the manifest counts per (item, target, part).
    """
    variants = expand_variants(batch, subsets=[s for s in subsets if s in ("LL", "TL", "LT", "TT")],
                               source_lang=source_lang, rejects=True)
    # rows rejected before the target fan-out carry no target (their resume key is (item, None))
    variants["tgt_lang"] = [None if s is not None and s != "ok" and st in _ITEM_STAGES else t
                            for t, s, st in zip(variants["tgt_lang"], variants["status"], variants["stage"])]
    variants["id"] = [i if t is not None or s == "ok" else item
                      for i, t, s, item in zip(variants["id"], variants["tgt_lang"], variants["status"], variants["item_id"])]
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
    return to_arrow({k: np.array(v, dtype=object) for k, v in merged.items()})
