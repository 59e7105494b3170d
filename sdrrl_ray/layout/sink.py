"""Write kept rows and rejects in one streaming pass, committed together (see :mod:`.parts`).

``SplitParquetSink`` receives the plan's blocks, splits each write task's rows on ``status``
(``ok`` -> ``OUT/transfer_set``, anything else -> ``OUT/rejects``), conforms each side to its schema
and writes both under one part id with :func:`.parts.write_committed`.
"""

from __future__ import annotations

from typing import Iterable, Optional

import pyarrow as pa
import pyarrow.compute as pc
from ray.data.datasource import Datasink

from sdrrl_ray.layout.parts import write_committed
from sdrrl_ray.layout.paths import REJECTS, TRANSFER_SET
from sdrrl_ray.schema import KEPT_SCHEMA, REJECT_SCHEMA, StageColumns

COLUMNS = StageColumns.of("sink", inputs=("id", "item_id", "status"), outputs=())


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones null, others cast."""
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if pa.types.is_floating(col.type) and not pa.types.is_floating(field.type):
                col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)  # NaN from numpy means null
            cols.append(col.cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(cols, schema=schema)


class SplitParquetSink(Datasink):
    def __init__(self, out_dir: str, min_rows: int = 256, owner: Optional[str] = None):
        self.out_dir = out_dir.rstrip("/")
        self._min_rows = min_rows
        self.owner = owner  # the run id of OUT/.lock: a worker outliving a killed driver does not commit

    @property
    def min_rows_per_write(self) -> int:
        return self._min_rows

    def get_name(self) -> str:
        return "WriteTransferSet"

    def write(self, blocks: Iterable, ctx) -> dict:
        tables = [b if isinstance(b, pa.Table) else pa.Table.from_pandas(b) for b in blocks]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return {"kept": 0, "rejected": 0}
        table = pa.concat_tables(tables, promote_options="permissive")
        is_ok = pc.equal(table.column("status"), "ok")
        kept = conform(table.filter(is_ok), KEPT_SCHEMA)
        rejected = conform(table.filter(pc.invert(is_ok)), REJECT_SCHEMA)
        write_committed(self.out_dir, {TRANSFER_SET: kept, REJECTS: rejected}, owner=self.owner)
        return {"kept": kept.num_rows, "rejected": rejected.num_rows}
