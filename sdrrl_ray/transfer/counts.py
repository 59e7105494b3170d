"""Counts for ``manifest.json``, from what is on disk (committed kept and reject parts), checked
against what ingest read.

``rows_in`` is the number of records ingest reads from the input files (``InputFile.records``);
every one must appear in the output, as kept rows or as a reject, exactly once per key: a record
missing from the output, or an id written twice, is listed under ``problems`` (the run is then not
complete). Each stage counts in its own unit and satisfies ``in - rejected == out / fanout``; the
run satisfies ``rows_in == rows_out + rows_rejected`` over input records (a record is out when it
produced at least one kept row). Parallel-corpus rows (``item_id`` ``par:...``, a prefix input ids
may not use) are not input records: they are counted by the ``parallel`` stage and the
``mt``/``comp`` subsets.
"""

from __future__ import annotations

from collections import Counter

from sdrrl_ray.ingest.records import RESERVED_ID_PREFIX
from sdrrl_ray.layout.parts import read_parts
from sdrrl_ray.layout.paths import REJECTS, TRANSFER_SET
from sdrrl_ray.schema import SUBSETS


def _stage(unit: str, n_in: int, rejected: int, fanout: int = 1) -> dict:
    return {"unit": unit, "in": n_in, "out": (n_in - rejected) * fanout, "rejected": rejected, "fanout": fanout}


def count_output(out_dir: str, *, n_targets: int, variants: list[str], translated: bool,
                 code_switched: bool, parallel_tasks: int, records_in: int) -> dict:
    kept = read_parts(out_dir, TRANSFER_SET, ["id", "item_id", "subset"])
    rejects = read_parts(out_dir, REJECTS, ["item_id", "stage", "reason", "subset"])
    kept_rows = kept.to_pylist() if kept is not None else []
    reject_rows = rejects.to_pylist() if rejects is not None else []

    def is_record(item_id: str) -> bool:
        return not item_id.startswith(RESERVED_ID_PREFIX)

    kept_items = {r["item_id"] for r in kept_rows if is_record(r["item_id"])}
    all_items = kept_items | {r["item_id"] for r in reject_rows if is_record(r["item_id"])}
    by_stage = Counter(r["stage"] for r in reject_rows)
    subsets = Counter(r["subset"] for r in kept_rows)

    stages = {}
    stages["ingest"] = _stage("record", len(all_items), by_stage["ingest"])
    stages["answer_choice"] = _stage("item", stages["ingest"]["out"], 0)
    stages["generate"] = _stage("item", stages["answer_choice"]["out"], by_stage["generate"])
    items = stages["generate"]["out"]
    if translated:
        stages["translate"] = _stage("item-target-part", items * n_targets * 2, by_stage["translate"])
        stages["filter"] = _stage("item-target-part", stages["translate"]["out"], by_stage["filter"])
    stages["expand"] = _stage("variant", items * n_targets * len(variants), by_stage["expand"])
    if code_switched:
        stages["code_switch"] = _stage("variant", stages["expand"]["out"], 0)
    if parallel_tasks:
        stages["parallel"] = _stage("task", parallel_tasks, by_stage["parallel"])

    problems = []
    if len(all_items) != records_in:
        problems.append(f"ingest read {records_in} record(s) but the output accounts for {len(all_items)}")
    doubled = [i for i, n in Counter(r["id"] for r in kept_rows).items() if n > 1]
    if doubled:
        problems.append(f"{len(doubled)} row id(s) written more than once (first: {doubled[0]})")
    return {
        "rows_in": records_in,
        "rows_out": len(kept_items),
        "rows_rejected": len(all_items - kept_items),
        "rows_written": len(kept_rows),
        "stages": stages,
        "subsets": {s: subsets.get(s, 0) for s in SUBSETS},
        "reject_reasons": dict(sorted(Counter(r["reason"] for r in reject_rows).items())),
        "rejects_written": len(reject_rows),
        "problems": problems,
    }
