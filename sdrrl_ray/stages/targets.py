"""Target fan-out: one row per (item, target) for kept items; rejected items pass once with no target.

A pure batch function for ``map_batches`` (a task), returning an Arrow table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sdrrl_ray.schema import StageColumns, to_arrow

# columns of an item row that follow it onto its (item, target) rows
_CARRIED = ("item_id", "record", "src_lang", "answer_source", "status", "stage", "reason", "detail",
            "needs_generation", "gen_cached", "source_file", "line")
COLUMNS = StageColumns.of("expand_targets", inputs=("item_id", "status", "question", "answer", "done_targets"),
                          outputs=(*_CARRIED, "tgt_lang", "question_src", "answer_src"), replaces=True)


def expand_targets(batch: dict, *, targets: list[str]) -> pa.Table:
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
    return to_arrow({k: np.array(v, dtype=object) if k not in ("record", "line") else np.array(v)
                     for k, v in out.items()})
