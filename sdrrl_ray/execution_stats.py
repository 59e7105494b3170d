"""Per-operator timing of an executed Ray Data plan, from Ray Data's own stats (``DatasetStats``).

Operators of a streaming plan run at the same time, so their spans overlap; ``task_wall_s`` is the
sum over their tasks (busy task-seconds). Offsets are against the driver's ``time.perf_counter()``
when execution started: Ray Data stamps tasks with ``perf_counter`` too, the same clock for every
process of one machine (a local instance or simulated nodes); across machines they are not comparable.
"""

from __future__ import annotations

import logging

log = logging.getLogger("sdrrl_ray")


def _sum(summary) -> float | None:
    return None if summary is None else summary.sum


def operator_stats(ds, started_perf: float) -> list[dict]:
    """One dict per operator of ``ds`` after it ran (also after ``write_datasink``); [] if Ray has none."""
    try:
        return _collect(ds.get_stats_summary(), started_perf)
    except Exception as exc:  # noqa: BLE001 - timing is a report, never a reason to fail a run
        log.warning("no Ray Data execution stats: %r", exc)
        return []


def _collect(summary, started_perf: float) -> list[dict]:
    ops, seen = [], set()
    for op in _in_order(summary, seen):
        start, end = op.earliest_start_time, op.latest_end_time
        if not op.wall_time and start is None:  # ran no task of its own (a union only forwards blocks)
            continue
        ops.append({
            "name": op.operator_name,
            "tasks": op.wall_time.count if op.wall_time else 0,
            "span_s": round(op.time_total_s or 0.0, 3),
            "start_s": round(start - started_perf, 3) if start is not None else None,
            "end_s": round(end - started_perf, 3) if end is not None else None,
            "task_wall_s": round(_sum(op.wall_time) or 0.0, 3),
            "task_cpu_s": round(_sum(op.cpu_time) or 0.0, 3),
            "udf_s": round(_sum(op.function_body_time) or 0.0, 3),
            "rows_out": int(_sum(op.output_num_rows) or 0),
            "bytes_out": int(_sum(op.output_size_bytes) or 0),
            "nodes": op.node_count.count if op.node_count else None,  # nodes its tasks ran on
        })
    return ops


def _in_order(summary, seen: set):
    """Operators of the whole plan, upstream first: a summary's parents (the plan before a write,
    each input of a union) hold the operators that ran before its own."""
    for parent in summary.parents or ():
        yield from _in_order(parent, seen)
    for op in summary.operators_stats:
        key = (summary.dataset_uuid, op.operator_name)
        if key not in seen:
            seen.add(key)
            yield op
