"""Columns every row of a run carries: its source language and the targets already complete for
its item (a resumed run fans out only to the others)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa

from sdrrl_ray.schema import StageColumns, to_arrow

COLUMNS = StageColumns.of("run_columns", inputs=("item_id",), outputs=("src_lang", "done_targets"))


def add_run_columns(batch: dict, *, src: str, done_targets: Mapping[str, set]) -> pa.Table:
    n = len(batch["item_id"])
    batch["src_lang"] = np.array([src] * n, dtype=object)
    batch["done_targets"] = np.array([",".join(sorted(done_targets.get(i, ()))) for i in batch["item_id"]],
                                     dtype=object)
    return to_arrow(batch)
