"""For runs whose subsets need no translation (LL only): the translation and filter columns, empty
and passing, so that the assembly step reads the same columns as after translation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sdrrl_ray.schema import StageColumns, to_arrow
from sdrrl_ray.stages.filter import PARTS

COLUMNS = StageColumns.of("untranslated", inputs=("item_id",),
                          outputs=[f"{p}_{c}" for p in PARTS for c in ("tgt", "ok", "reason")])


def untranslated(batch: dict) -> pa.Table:
    n = len(batch["item_id"])
    for part in PARTS:
        batch[f"{part}_tgt"] = np.full(n, None, dtype=object)
        batch[f"{part}_ok"] = np.ones(n, dtype=bool)
        batch[f"{part}_reason"] = np.full(n, None, dtype=object)
    return to_arrow(batch)
