"""The first step of a transfer-set plan: one Ray Data read task streams the instruction files in
order (so "first occurrence wins" for duplicate ids is well defined) as Arrow blocks of ingest rows
(:func:`sdrrl_ray.ingest.files.iter_rows`), and sets the plan's streaming limits so memory stays flat
as the input grows.
"""

from __future__ import annotations

from typing import Iterator, Optional

import pyarrow as pa

from sdrrl_ray.config import DataConfig
from sdrrl_ray.ingest.files import InputFile, iter_rows
from sdrrl_ray.schema import INGEST_SCHEMA, StageColumns

COLUMNS = StageColumns.of("read", inputs=(), outputs=INGEST_SCHEMA.names)

# Streaming limits of a transfer-set plan, set by read_instructions on the plan's own DataContext:
# - blocks of at most MAX_BLOCK_BYTES. Ray Data merges the blocks a read task yields up to 128 MiB,
#   so the one read task handed the next stages most of a large input as one block, which the
#   stages that take whole blocks (batch_size=None) held as Python objects (2.5 GB in one worker at
#   1M rows);
# - at most MAX_IN_FLIGHT_BYTES of blocks in the object store. By default Ray Data lets the fast
#   stages run ahead of the slowest one until half the object store is full (1.9 GB at 1M rows on
#   a 24 GB machine), so memory grew with the input; 128 MiB is still over a hundred blocks.
MAX_BLOCK_BYTES = 1 << 20
MAX_IN_FLIGHT_BYTES = 128 << 20


def _blocks(files: list[InputFile], cfg: DataConfig, skip_ids: frozenset, block_rows: int) -> Iterator[pa.Table]:
    rows: list[dict] = []
    for row in iter_rows(files, cfg, skip_ids):
        rows.append(row)
        if len(rows) >= block_rows:
            yield pa.Table.from_pylist(rows, schema=INGEST_SCHEMA)
            rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=INGEST_SCHEMA)


def read_instructions(
    files: list[InputFile], cfg: DataConfig, *, skip_ids: frozenset = frozenset(), block_rows: int = 256
):
    """A Ray Dataset of ingest rows, streamed by one read task in file order."""
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class InstructionSource(Datasource):
        def estimate_inmemory_data_size(self) -> Optional[int]:
            return sum(f.size for f in files)

        def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None) -> list:
            meta = BlockMetadata(
                num_rows=None, size_bytes=None, exec_stats=None, input_files=tuple(f.path for f in files)
            )
            return [ReadTask(lambda: _blocks(files, cfg, skip_ids, block_rows), meta, schema=INGEST_SCHEMA)]

        def get_name(self) -> str:
            return "ReadInstructions"

    ds = ray.data.read_datasource(InstructionSource(), override_num_blocks=1)
    ctx = ds.context  # this plan's own copy of the DataContext, shared by the stages chained onto it
    ctx.target_max_block_size = min(ctx.target_max_block_size or MAX_BLOCK_BYTES, MAX_BLOCK_BYTES)
    limits = ctx.execution_options.resource_limits
    in_flight = min(limits.object_store_memory or MAX_IN_FLIGHT_BYTES, MAX_IN_FLIGHT_BYTES)
    ctx.execution_options.resource_limits = limits.copy(object_store_memory=in_flight)
    return ds
